"""`lake run --airflow`: each DAG's run for one date, as `airflow dags test` makes it, all in one process.

    python -m lakehouse.orchestration.dagtest DATE DAG_ID [DAG_ID ...]   (with Airflow's environment)

`airflow dags test DAG DATE` starts a new Airflow process for every DAG, and a demo day has 16:
most of such a day went into their start-up.  Here the DAGs are built once (as the DAG file
builds them) and each one's ``dag.test`` runs in turn in this process, its job tasks calling the
jobs in it (`orchestration/jobtask.py`), so PySpark, Great Expectations and the Spark session
are opened once.  The runs are real DAG runs in Airflow's metadata database, as with the CLI.
It stops at the first DAG run that fails (exit 1), as `lake run` stops at the first failed step.
"""

from __future__ import annotations

import datetime as dt
import sys
import time


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m lakehouse.orchestration.dagtest YYYY-MM-DD DAG_ID [DAG_ID ...]", file=sys.stderr)
        return 2
    date, dag_ids = argv[0], argv[1:]
    logical_date = dt.datetime.combine(dt.date.fromisoformat(date), dt.time(), tzinfo=dt.timezone.utc)
    from lakehouse.orchestration.dags import build_all_dags

    dags = build_all_dags()
    unknown = [d for d in dag_ids if d not in dags]
    if unknown:
        print(f"error: no DAG {', '.join(unknown)}", file=sys.stderr)
        return 2
    for dag_id in dag_ids:
        started = time.monotonic()
        print(f"[lake] running DAG {dag_id} for {date} through Airflow (`dag.test`)", flush=True)
        run = dags[dag_id].test(logical_date=logical_date)
        state = str(getattr(run, "state", "unknown"))
        print(f"[lake] {dag_id} {state} in {time.monotonic() - started:.0f}s", flush=True)
        if state != "success":
            print(f"error: the run of {dag_id} for {date} ended {state}; its task logs are above", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
