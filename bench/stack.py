"""Benchmark the local stack: start-up, one pipeline run, memory, and the Spark session choice.

Reference measured in the same run: the same gold job with Spark started per job
(`LAKE_SPARK_MODE=local`) against the shared Spark Connect server (`connect`).

    .venv/bin/python bench/stack.py            # uses the `local` environment; stops nothing it did not start
Results: bench/results/stack-<timestamp>.json
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lakehouse import services  # noqa: E402
from lakehouse.core.settings import get_settings  # noqa: E402


def timed(cmd: list[str], env: dict | None = None) -> float:
    started = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return round(time.monotonic() - started, 1)


def write_results(name: str, results: dict) -> Path:
    """Print ``results`` and keep them as ``bench/results/<name>-<timestamp>.json``."""
    out = ROOT / "bench" / "results" / f"{name}-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"written to {out.relative_to(ROOT)}")
    return out


def main() -> None:
    lake = str(ROOT / ".venv" / "bin" / "lake")
    python = str(ROOT / ".venv" / "bin" / "python")
    date = dt.date.today().isoformat()
    results: dict = {"command": "python bench/stack.py", "when": dt.datetime.now().isoformat(timespec="seconds"),
                     "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    settings = get_settings()
    was_running = {s.name for s in services.all_services(settings) if s.pid() is not None}
    print("lake up (services that were stopped) ...", flush=True)
    results["lake_up_seconds"] = timed([lake, "up", "--no-install"])
    results["services_already_running"] = sorted(was_running)
    print("pipeline run (lake run admin_units) ...", flush=True)
    results["dag_run_seconds"] = timed([lake, "run", "admin_units", "--date", date])
    rows = services.status(settings)
    results["memory_mb"] = {r["service"]: r["rss_mb"] for r in rows}
    results["memory_mb_total"] = sum(r["rss_mb"] for r in rows if r["rss_mb"] != "")
    job = [python, "-m", "jobs.gold", "--dataset", "communes_with_province", "--date", date]
    print("gold job, Spark Connect vs Spark per job ...", flush=True)
    results["gold_job_seconds"] = {
        "connect_shared_server": timed(job, {"LAKE_SPARK_MODE": "connect"}),
        "local_spark_per_job (reference)": timed(job, {"LAKE_SPARK_MODE": "local"}),
    }
    write_results("stack", results)


if __name__ == "__main__":
    main()
