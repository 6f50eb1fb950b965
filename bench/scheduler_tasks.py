"""Benchmark: one source's DAG through Airflow's real scheduler, against the same steps with `lake run`.

The DAG is `lake__provinces` (land, bronze, silver, publish: a builtin source, so any date has its
batch).  Each round, alternating, on dates this stack has not loaded provinces for:

* the reference: the same four steps as `lake run provinces --date D` runs them, in one new process
  (`pipeline.run_steps`; without the gold tables `lake run` would build from provinces), timed as a whole,
  with the steps' own seconds beside;
* the scheduler: a run of `lake__provinces` for another date triggered through the REST API, timed
  from the trigger until the run succeeded, with each task's duration as Airflow recorded it.

The gold DAGs stay paused, so only the four steps run.  Unpausing the DAG makes the scheduler run it
once for its latest cron time; the benchmark waits for that run before it measures.

    .venv/bin/python bench/scheduler_tasks.py [--rounds 3]   # `local` environment; starts what it needs
Results: bench/results/scheduler-tasks-<timestamp>.json; a one-minute load above 1.5 at the start of a
round marks the round (and the run) ``quiet: false``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import write_results  # noqa: E402
from bench.steps import QUIET_LOAD  # noqa: E402

DAG = "lake__provinces"
DATASET = "provinces"


class Api:
    def __init__(self, settings):
        from lakehouse.orchestration import airflow_env

        self.settings, self.env = settings, airflow_env
        self.token = airflow_env.api_token(settings)

    def __call__(self, path: str, method: str = "GET", body: dict | None = None) -> dict:
        return self.env.api_call(path, self.settings, method, body, token=self.token, timeout=30)


def busy(api: Api) -> bool:
    return any(r["state"] in ("queued", "running") for r in api(f"/api/v2/dags/{DAG}/dagRuns?limit=100")["dag_runs"])


def wait_idle(api: Api, timeout: float = 600) -> None:
    started = time.monotonic()
    while busy(api):
        if time.monotonic() - started > timeout:
            sys.exit(f"{DAG} still has a queued or running run after {timeout:.0f}s")
        time.sleep(1)


def through_scheduler(api: Api, date: str) -> dict:
    run_id = f"bench__{date}__{int(time.time())}"
    started = time.monotonic()
    api(f"/api/v2/dags/{DAG}/dagRuns", "POST", {"logical_date": f"{date}T02:00:00Z", "dag_run_id": run_id})
    while (state := api(f"/api/v2/dags/{DAG}/dagRuns/{run_id}")["state"]) not in ("success", "failed"):
        time.sleep(0.25)
    seconds = round(time.monotonic() - started, 1)
    if state != "success":
        sys.exit(f"{DAG} run {run_id} {state}: see its task logs (`lake airflow tasks ...` or the UI)")
    tasks = api(f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances")["task_instances"]
    return {"date": date, "seconds": seconds,
            "tasks": {t["task_id"]: round(t["duration"], 2) for t in sorted(tasks, key=lambda t: t["start_date"])}}


# what `lake run provinces` runs, without the gold tables built from provinces (their DAGs stay paused)
ONE_PROCESS = """
import sys, time
from lakehouse.config.spec import load_specs
from lakehouse.orchestration.pipeline import plan, run_steps
steps = [s for s in plan(load_specs(), [sys.argv[1]]) if s.dataset == sys.argv[1]]
print(round(sum(seconds for _, _, seconds in run_steps(steps, sys.argv[2])), 2))
"""


def with_lake_run(date: str) -> dict:
    """The four steps as `lake run` runs them, in one new process: its seconds, and the steps' own."""
    started = time.monotonic()
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", ONE_PROCESS, DATASET, date], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    return {"date": date, "seconds": round(time.monotonic() - started, 1),
            "steps_seconds": float(out.strip().splitlines()[-1])}


def unused_dates(settings, count: int) -> list[str]:
    """The newest ``count`` dates before today with no batch of :data:`DATASET` in the run log, oldest first
    (a builtin source: every date has its batch)."""
    from pyspark.sql import functions as F

    from lakehouse.engine import runlog
    from lakehouse.io import delta_io
    from lakehouse.io.spark import get_spark

    spark = get_spark("bench dates", settings)
    used: set[str] = set()
    if delta_io.exists(spark, settings.table_uri("ops", runlog.NAME)):
        used = {r[0] for r in runlog.read(spark, settings).where(F.col("dataset") == DATASET)
                .select("batch_id").distinct().collect()}
    day, found = dt.date.today() - dt.timedelta(days=1), []
    while len(found) < count:
        if f"{DATASET}@{day.isoformat()}" not in used:
            found.append(day.isoformat())
        day -= dt.timedelta(days=1)
    return sorted(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the two, alternating (default 3)")
    args = parser.parse_args()
    from lakehouse import services
    from lakehouse.core.settings import get_settings

    settings = get_settings()
    services.up(["s3", "postgres", "metastore", "spark", "events", "trino", "airflow"], settings)
    api = Api(settings)
    load_start = os.getloadavg()
    results: dict = {"command": "python bench/scheduler_tasks.py " + " ".join(sys.argv[1:]),
                     "when": dt.datetime.now().isoformat(timespec="seconds"),
                     "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "load_average_at_start": load_start},
                     "dag": DAG, "rounds": []}
    dates = unused_dates(settings, 2 * args.rounds + 1)
    was_paused = api(f"/api/v2/dags/{DAG}")["is_paused"]
    api(f"/api/v2/dags/{DAG}", "PATCH", {"is_paused": False})
    try:
        print(f"warm-up: the steps of {DATASET} for {dates[0]}, and {DAG}'s own scheduled run ...", flush=True)
        with_lake_run(dates[0])
        time.sleep(5)  # the unpaused DAG's scheduled run is created by the scheduler's next loop
        wait_idle(api)
        for i in range(args.rounds):
            load = os.getloadavg()
            ref, sched = with_lake_run(dates[1 + 2 * i]), through_scheduler(api, dates[2 + 2 * i])
            print(f"round {i + 1}: one process {ref['seconds']} s (steps {ref['steps_seconds']} s), "
                  f"through the scheduler {sched['seconds']} s "
                  f"{sched['tasks']}", flush=True)
            results["rounds"].append({"load_average_at_start": load, "quiet": load[0] <= QUIET_LOAD,
                                      "lake_run": ref, "scheduler": sched})
    finally:
        api(f"/api/v2/dags/{DAG}", "PATCH", {"is_paused": was_paused})
    lake = statistics.median(r["lake_run"]["seconds"] for r in results["rounds"])
    steps = statistics.median(r["lake_run"]["steps_seconds"] for r in results["rounds"])
    sched = statistics.median(r["scheduler"]["seconds"] for r in results["rounds"])
    tasks = {t: statistics.median(r["scheduler"]["tasks"][t] for r in results["rounds"])
             for t in results["rounds"][0]["scheduler"]["tasks"]}
    results["median_seconds"] = {"lake_run": lake, "lake_run_steps": steps, "scheduler": sched,
                                 "scheduler_tasks": tasks}
    results["ratios"] = {"scheduler_vs_lake_run": round(sched / lake, 2),
                         "scheduler_vs_lake_run_steps": round(sched / steps, 2)}
    results["quiet"] = all(r["quiet"] for r in results["rounds"])
    results["machine"]["load_average_at_end"] = os.getloadavg()
    write_results("scheduler-tasks", results)


if __name__ == "__main__":
    main()
