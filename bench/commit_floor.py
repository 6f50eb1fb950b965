"""Benchmark: what one small Delta commit costs on the Spark Connect server, with Delta's defaults and with ours.

Every step pays a few commits (bronze, silver, quarantine, the run log, quality results, scores), so their
fixed cost is the floor under every step.  In one run, on the same server, alternating:

* **Delta's defaults** (the reference): a checksum (``.crc``) file written after every commit, a checkpoint
  every 10 commits of a table;
* **the platform's settings** (``lakehouse/io/spark.py``): no checksum file, a checkpoint every 50 commits.

Measured: ``APPENDS`` one-row appends to a fresh table (mean, so the checkpoints count, and median), a read
of it, and ``MERGES`` MERGEs of a 34-row batch into a 34-row keyed table (change feed and deletion vectors
on, as silver's), alternately changing 3 rows and nothing.

    LAKE_HOME=... .venv/bin/python bench/commit_floor.py   # uses the environment's running Spark Connect
                                                             # (`lake up spark` first)
Results: bench/results/commit-floor-<timestamp>.json, with the load average at the start and the end; a
one-minute load above 1.5 at the start marks the run ``quiet: false``.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import write_results  # noqa: E402

APPENDS = 30
MERGES = 10
ROUNDS = 2
QUIET_LOAD = 1.5
DEFAULTS = {"spark.databricks.delta.writeChecksumFile.enabled": "true",
            "spark.databricks.delta.properties.defaults.checkpointInterval": "10"}


def _stats(times: list[float]) -> dict:
    return {"mean": round(statistics.mean(times), 3), "median": round(statistics.median(times), 3),
            "max": round(max(times), 3)}


def measure(spark, bucket: str, conf: dict[str, str]) -> dict:
    """Appends, a read and MERGEs on fresh tables with ``conf`` set in the session."""
    from lakehouse.io import delta_io

    for key, value in conf.items():
        spark.conf.set(key, value)
    try:
        uri = f"s3a://{bucket}/scratch/commit-floor-{uuid.uuid4().hex[:8]}"
        one = spark.createDataFrame([(1, "x")], "a int, b string")
        one.write.format("delta").mode("overwrite").save(uri)
        appends = []
        for _ in range(APPENDS):
            started = time.perf_counter()
            one.write.format("delta").mode("append").save(uri)
            appends.append(time.perf_counter() - started)
        started = time.perf_counter()
        spark.read.format("delta").load(uri).where("a = 1").count()
        read = time.perf_counter() - started

        keyed = f"{uri}-keyed"
        schema = "id int, name string, _row_hash string"
        rows = [(i, f"name {i}", f"h{i}") for i in range(34)]
        delta_io.create(spark.createDataFrame(rows, schema), keyed, change_feed=True)
        same = spark.createDataFrame(rows, schema).localCheckpoint()
        changed = spark.createDataFrame([(i, f"name {i}'", f"h{i}'") if i < 3 else r for i, r in enumerate(rows)],
                                        schema).localCheckpoint()
        merges = {"change": [], "no_change": []}
        for i in range(MERGES):  # changed, changed again (nothing to do), back, back again (nothing), …
            batch = changed if (i // 2) % 2 == 0 else same
            kind = "change" if i % 2 == 0 else "no_change"
            started = time.perf_counter()
            delta_io.merge(spark, batch, keyed, ["id"], source_held=True)
            merges[kind].append(time.perf_counter() - started)
        return {"append": _stats(appends), "read_seconds": round(read, 3),
                "merge_change": _stats(merges["change"]), "merge_no_change": _stats(merges["no_change"])}
    finally:
        for key in conf:
            spark.conf.unset(key)


def main() -> None:
    from lakehouse.core.settings import get_settings
    from lakehouse.io.spark import get_spark, spark_conf

    settings = get_settings()
    spark = get_spark("bench commit floor", settings)
    load_start = os.getloadavg()
    ours = {k: v for k, v in spark_conf(settings).items() if k in DEFAULTS}
    runs: dict[str, list[dict]] = {"delta_defaults": [], "platform": []}
    measure(spark, settings.bucket, ours)  # warm-up, not counted
    for r in range(ROUNDS):
        for label, conf in (("delta_defaults", DEFAULTS), ("platform", ours)):
            print(f"round {r + 1}/{ROUNDS}: {label} ...", flush=True)
            runs[label].append(measure(spark, settings.bucket, conf))
    load_end = os.getloadavg()

    def mean_of(label: str, what: str, stat: str = "mean") -> float:
        return round(statistics.mean(run[what][stat] for run in runs[label]), 3)

    ratios = {what: round(mean_of("platform", what) / mean_of("delta_defaults", what), 3)
              for what in ("append", "merge_change", "merge_no_change")}
    write_results("commit-floor", {
        "command": "python bench/commit_floor.py", "when": dt.datetime.now().isoformat(timespec="seconds"),
        "environment": settings.env.name, "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_start": [round(x, 2) for x in load_start], "load_end": [round(x, 2) for x in load_end],
        "quiet": load_start[0] <= QUIET_LOAD, "appends_per_table": APPENDS, "merges_per_table": MERGES,
        "platform_settings": ours, "reference_settings": DEFAULTS, "runs": runs,
        "summary_seconds": {label: {what: mean_of(label, what) for what in ("append", "merge_change",
                                                                             "merge_no_change")}
                            for label in runs},
        "ratios_platform_vs_delta_defaults": ratios})


if __name__ == "__main__":
    main()
