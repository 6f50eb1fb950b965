"""Benchmark: what each step of one demo day costs, against the floor of one Delta commit.

Plays the demo sources for a date of the demo's month that this stack has not loaded
(`lake generate`; the demo's sizes grow with the date), after uncounted warm-up days,
then runs every dataset
through land, bronze, silver, publish and gold with `lake run --all` in its own
process, as a user would, and reads each step's seconds from its summary table.
The reference, measured in the same run on the same Spark Connect server right before
the measured day, is the floor any step pays: a one-row Delta append followed by a read of it.

The targets are for a warm server, as a Spark Connect server that runs for days is: its JVM compiles
its hot code during the first days it plays: after one warm-up day a demo day took 1.25–1.5 times what
it took after four (bench/README.md). Each warm-up day's time, step medians and silver rows are recorded
too, so the results show how far from cold the measured day is.

    .venv/bin/python bench/steps.py            # `local` environment; starts S3, PostgreSQL,
                                               # the metastore, Spark Connect, events and Trino if needed
    .venv/bin/python bench/steps.py --airflow  # then one more day through the DAGs (`lake run --all
                                               # --airflow`: each DAG's `dag.test` in one Airflow process)
Results: bench/results/steps-<timestamp>.json.  Before the measured day the benchmark waits (up to
4 minutes) for the one-minute load to fall to 1.5, as the warm-up day and generating the data raise it.
The load is recorded at the start, before the measured day and at the end; a one-minute load still above
1.5 right before the measured day (other work kept it up) marks the run ``quiet: false``.
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

SERVICES = ["s3", "postgres", "metastore", "spark", "events", "trino"]
SMALL = 10_000  # the "small batch": a silver step on at most this many rows
QUIET_LOAD = 1.5  # one-minute load above this at the start (2 cores): the figures are not from a quiet machine
WARMUP_DAYS = 4  # days played before the measured one (see the module's docstring)
SETTLE_SECONDS = 240  # before the measured day: wait at most this long for the load to fall to QUIET_LOAD


def floor_seconds(repeat: int = 5) -> dict:
    """The reference: median seconds of a one-row Delta append and of reading it back, on the shared server."""
    from lakehouse.core.settings import get_settings
    from lakehouse.io import delta_io
    from lakehouse.io.spark import get_spark

    settings = get_settings()
    spark = get_spark("bench floor", settings)
    uri = f"s3a://{settings.bucket}/bench/step_floor"
    appends, reads = [], []
    for i in range(repeat + 1):  # the first of each is a warm-up
        started = time.monotonic()
        delta_io.append(spark.createDataFrame([(i, "x")], "n int, s string"), uri)
        appended = time.monotonic()
        delta_io.read(spark, uri).where(f"n = {i}").collect()
        if i:
            appends.append(appended - started)
            reads.append(time.monotonic() - appended)
    return {"append_one_row": round(statistics.median(appends), 2), "read_it": round(statistics.median(reads), 2),
            "commit_and_read": round(statistics.median(a + r for a, r in zip(appends, reads)), 2)}


def parse_summary(out: str) -> list[dict]:
    """The step table `lake run` prints: step | dataset | in | written | quarantined | duplicates | seconds."""
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) == 7 and cells[0] in ("land", "bronze", "silver", "publish", "gold"):
            rows.append({"step": cells[0], "dataset": cells[1], "rows_in": int(cells[2]) if cells[2] else None,
                         "seconds": float(cells[6])})
    return rows


def summarise(steps: list[dict]) -> dict:
    out = {}
    for job in ("land", "bronze", "silver", "publish", "gold"):
        times = [s["seconds"] for s in steps if s["step"] == job]
        if times:
            out[job] = {"steps": len(times), "median": round(statistics.median(times), 2), "max": max(times)}
    small = [s["seconds"] for s in steps if s["step"] == "silver" and (s["rows_in"] or 0) <= SMALL]
    if small:
        out["silver_small"] = {"steps": len(small), "median": round(statistics.median(small), 2),
                               "max": max(small), "rows_at_most": SMALL}
    return out


def settle(limit: float = SETTLE_SECONDS) -> float:
    """Wait until the one-minute load is at most :data:`QUIET_LOAD` (at most ``limit`` seconds); seconds waited."""
    started = time.monotonic()
    while os.getloadavg()[0] > QUIET_LOAD and time.monotonic() - started < limit:
        time.sleep(5)
    return round(time.monotonic() - started, 1)


def fresh_dates(settings, count: int) -> list[str]:
    """The newest ``count`` dates of the demo's month that no run of this stack has loaded, oldest first."""
    from lakehouse.demo.dossiers import DOSSIER_EPOCH
    from lakehouse.engine import runlog
    from lakehouse.io import delta_io
    from lakehouse.io.spark import get_spark

    spark = get_spark("bench dates", settings)
    used: set[str] = set()
    if delta_io.exists(spark, settings.table_uri("ops", runlog.NAME)):
        used = {r[0].rsplit("@", 1)[-1] for r in runlog.read(spark, settings).select("batch_id").distinct().collect()
                if r[0] and "@" in r[0]}
    day, found = dt.date.today() - dt.timedelta(days=2), []
    while len(found) < count and day > DOSSIER_EPOCH:
        if day.isoformat() not in used:
            found.append(day.isoformat())
        day -= dt.timedelta(days=1)
    if len(found) < count:
        sys.exit(f"no {count} unused dates left after {DOSSIER_EPOCH}: run it on a new stack (make clean-state)")
    return sorted(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="demo data scale (default 1: the demo's day)")
    parser.add_argument("--warmup-days", type=int, default=WARMUP_DAYS, metavar="N",
                        help=f"days played before the measured one, not counted (default {WARMUP_DAYS})")
    parser.add_argument("--no-warmup", action="store_true",
                        help="the same as --warmup-days 0: measure the first day on the server (cold)")
    parser.add_argument("--airflow", action="store_true",
                        help="also play the next fresh date through the Airflow DAGs and record its time beside")
    args = parser.parse_args()
    from lakehouse import services
    from lakehouse.core.settings import get_settings

    settings = get_settings()
    services.up(SERVICES, settings)
    # the demo's sizes grow with the date: stay in its month
    warmups = 0 if args.no_warmup else max(0, args.warmup_days)
    dates = fresh_dates(settings, warmups + (2 if args.airflow else 1))
    warmup_dates, date, through_airflow = dates[:warmups], dates[warmups], dates[warmups + 1:]
    python = str(ROOT / ".venv" / "bin" / "python")
    load_start = os.getloadavg()
    results: dict = {"command": "python bench/steps.py " + " ".join(sys.argv[1:]),
                     "when": dt.datetime.now().isoformat(timespec="seconds"),
                     "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "load_average_at_start": load_start},
                     "quiet": load_start[0] <= QUIET_LOAD, "scale": args.scale}
    def play(day: str, *how: str, settled: bool = False) -> tuple[float, str]:
        subprocess.run([python, "-m", "lakehouse.cli", "generate", "--date", day, "--scale", str(args.scale)],
                       cwd=ROOT, check=True, capture_output=True)
        if settled:  # what came before (the warm-up day, generating this one) must not load the measured day
            results["machine"]["seconds_waited_for_load"] = settle()
            results["machine"]["load_average_before_day"] = os.getloadavg()
            results["quiet"] = os.getloadavg()[0] <= QUIET_LOAD  # other work would have kept it above
        started = time.monotonic()
        proc = subprocess.run([python, "-m", "lakehouse.cli", "run", "--all", "--date", day, *how], cwd=ROOT,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"lake run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return round(time.monotonic() - started, 1), proc.stdout

    warmed = []  # the targets are for a warm server: the first days pay the JVM's warm-up
    for n, day in enumerate(warmup_dates, 1):
        print(f"warm-up day {n}/{warmups} (not counted): lake generate, lake run --all --date {day} ...", flush=True)
        seconds, out = play(day)
        steps = parse_summary(out)
        medians = {job: v["median"] for job, v in summarise(steps).items()}
        silver_rows = sum(s["rows_in"] or 0 for s in steps if s["step"] == "silver")  # days differ in size
        warmed.append({"date": day, "day_seconds": seconds, "step_medians": medians, "silver_rows_in": silver_rows})
        print(f"  {seconds} s; step medians {medians}", flush=True)
    if warmed:
        results["warmup"] = {"days": warmed}
    print("reference: a one-row Delta commit and read on the shared server ...", flush=True)
    results["reference_floor_seconds"] = floor_seconds()
    print(f"lake generate, lake run --all --date {date} ...", flush=True)
    results["date"] = date
    results["day_seconds"], out = play(date, settled=True)
    steps = parse_summary(out)
    results["steps"] = steps
    results["by_step"] = summarise(steps)
    floor = results["reference_floor_seconds"]["commit_and_read"]
    results["ratios"] = {f"{job}_median_vs_floor": round(v["median"] / floor, 1)
                         for job, v in results["by_step"].items()}
    # the memory the running stack holds after the day (RSS with children), as `lake status` shows it
    memory = {r["service"]: r["rss_mb"] for r in services.status(settings) if r["rss_mb"] != ""}
    results["stack_memory_mb"] = {**memory, "total": sum(memory.values())}
    if through_airflow:  # the same kind of day, each DAG in turn and each task its own process
        day = through_airflow[0]
        print(f"lake generate, lake run --all --airflow --date {day} ...", flush=True)
        results["airflow"] = {"date": day, "command": f"lake run --all --airflow --date {day}",
                              "load_average_before_day": os.getloadavg(), "day_seconds": play(day, "--airflow")[0]}
        results["ratios"]["airflow_day_vs_lake_run_day"] = round(
            results["airflow"]["day_seconds"] / results["day_seconds"], 2)
    results["machine"]["load_average_at_end"] = os.getloadavg()
    write_results("steps", results)


if __name__ == "__main__":
    main()
