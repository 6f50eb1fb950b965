"""Benchmark: what a small pipeline pays for Spark start-up, for each way of running its steps.

The same work — the admin_units domain (2 sources, 2 gold tables: 12 steps, land
to publish) for a fresh logical date — run four ways, in the same run:

* ``in_process_connect``: `lake run` (one process, one Spark Connect client) — the default;
* ``in_process_local``: `lake run` with ``LAKE_SPARK_MODE=local`` (one local Spark per pipeline run);
* ``process_per_step_connect``: each step its own `python -m jobs.<job>` (what an Airflow task runs);
* ``process_per_step_local``: the same with a local Spark started by every step (the reference:
  "JVM and jars for every small step").

    .venv/bin/python bench/startup.py      # `local` environment; S3, Spark Connect and Trino must be up
Results: bench/results/startup-<timestamp>.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import write_results  # noqa: E402
from lakehouse.orchestration.pipeline import plan  # noqa: E402
from lakehouse.config.spec import load_specs  # noqa: E402

MODES = ["in_process_connect", "in_process_local", "process_per_step_connect", "process_per_step_local"]


def run(cmd: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
    if proc.returncode != 0:
        errors = [line for line in (proc.stdout + proc.stderr).splitlines()
                  if ("Error" in line or "Exception" in line or line.startswith("error:")) and not line.startswith("\tat ")]
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\nerrors:\n" + "\n".join(errors[:20]))
    return time.monotonic() - started


def measure(mode: str, date: str, target: str) -> dict:
    python = str(ROOT / ".venv" / "bin" / "python")
    env = {"LAKE_SPARK_MODE": "local" if mode.endswith("local") else "connect"}
    if mode.startswith("in_process"):
        return {"seconds": round(run([python, "-m", "lakehouse.cli", "run", target, "--date", date], env), 1)}
    steps = plan(load_specs(), [target])
    per_step = []
    for step in steps:
        per_step.append(run([python, "-m", f"jobs.{step.job}", "--dataset", step.dataset, "--date", date], env))
    return {"seconds": round(sum(per_step), 1), "steps": len(steps),
            "slowest_step_seconds": round(max(per_step), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="admin_units", help="dataset or domain to run (default: admin_units)")
    parser.add_argument("--modes", nargs="*", default=MODES, choices=MODES, help="which ways to measure")
    parser.add_argument("--no-warmup", action="store_true",
                        help="skip the uncounted first run that warms the Spark Connect server's JIT and caches")
    args = parser.parse_args()
    results: dict = {"command": "python bench/startup.py " + " ".join(sys.argv[1:]),
                     "when": dt.datetime.now().isoformat(timespec="seconds"),
                     "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "load_average_at_start": os.getloadavg()},
                     "target": args.target, "modes": {}}
    base = dt.date(2031, 1, 1) + dt.timedelta(days=int(time.time()) % 3000)  # a date no earlier run used
    if not args.no_warmup:  # otherwise the first mode measured pays the server's warm-up for the others
        print(f"warm-up (not counted): lake run {args.target} ...", flush=True)
        results["warmup_seconds"] = measure("in_process_connect", (base - dt.timedelta(days=1)).isoformat(),
                                            args.target)["seconds"]
    for i, mode in enumerate(args.modes):
        date = (base + dt.timedelta(days=i)).isoformat()
        print(f"{mode}: lake run {args.target} for {date} ...", flush=True)
        results["modes"][mode] = {"date": date, **measure(mode, date, args.target)}
        print(f"  {results['modes'][mode]['seconds']} s", flush=True)
    fastest = min(results["modes"], key=lambda m: results["modes"][m]["seconds"])
    results["fastest"] = fastest
    for mode, r in results["modes"].items():
        r["vs_fastest"] = round(r["seconds"] / results["modes"][fastest]["seconds"], 2)
    write_results("startup", results)


if __name__ == "__main__":
    main()
