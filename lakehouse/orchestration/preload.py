"""Run an Airflow command with the jobs' libraries already imported: `lake up` starts the scheduler so.

    python -m lakehouse.orchestration.preload airflow scheduler --skip-serve-logs

Airflow's LocalExecutor forks its workers from the scheduler, and every task process from a
worker, so a task process has whatever the scheduler imported before it started.  A new Python
process pays seconds to import PySpark's Spark Connect client and Great Expectations
(`python -X importtime`), more than a small job's own work; imported here once, every job task
(`orchestration/jobtask.py`) starts with them.  Nothing is opened before the fork: no Spark
session, no gRPC channel, no Great Expectations context, no thread.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

# what the job tasks import: the jobs (and with them our modules), the Spark Connect client their
# sessions open, and what the silver audit imports inside the job (Great Expectations, the largest)
PRELOAD = ("jobs.land", "jobs.bronze", "jobs.stream", "jobs.silver", "jobs.publish", "jobs.gold", "jobs.maintain",
           "jobs.freshness", "jobs.export_open_data", "pyspark.sql.connect.session", "expectations.suites",
           "expectations.custom")


# in a process forked from a preloaded one: when the import started and the modules it left loaded
# (`jobtask.stale_modules` compares our files with it); in any other process, None and empty
AT: float | None = None
HELD: frozenset[str] = frozenset()


def preload() -> float:
    """Import :data:`PRELOAD`, noting when and what (:data:`AT`, :data:`HELD`); the seconds it took."""
    global AT, HELD
    AT, started = time.time(), time.monotonic()
    for name in PRELOAD:
        importlib.import_module(name)
    HELD = frozenset(sys.modules)
    return time.monotonic() - started


def main(argv: list[str]) -> None:
    if len(argv) < 2 or Path(argv[0]).name != "airflow":
        sys.exit("usage: python -m lakehouse.orchestration.preload PATH/TO/airflow COMMAND [OPTIONS]")
    seconds = preload()
    print(f"[lake] the jobs' libraries imported in {seconds:.1f}s before `airflow {argv[1]}`; "
          "its task processes inherit them", file=sys.stderr, flush=True)
    from airflow.__main__ import main as airflow_main

    sys.argv = argv
    airflow_main()


if __name__ == "__main__":  # run as the module itself, whose AT and HELD the task processes read
    importlib.import_module("lakehouse.orchestration.preload").main(sys.argv[1:])
