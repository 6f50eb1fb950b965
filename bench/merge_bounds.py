"""Benchmark: a silver MERGE of sensor readings bounded to its batch's key ranges, against the unbounded one.

A table keyed on (sensor_id, reading_at) grows every hour while a batch covers a quarter of an hour. Silver
bounds its MERGE to the batch's key ranges (``transforms.key_bounds`` → ``delta_io.merge(bounds=…)``) so Delta
reads only the files whose statistics overlap them; the reference, measured in the same run on the same table,
is the same MERGE without bounds. Builds a target of ``--hours`` hourly commits of ``--sensors`` readings a
minute, then merges ``--rounds`` new 15-minute drops each way, alternating which goes first; every drop also
re-sends 1 % of the previous hour's readings with changed values (updates).

    .venv/bin/python bench/merge_bounds.py [--sensors 20000] [--hours 15] [--rounds 3]

Runs on the `local` environment (or `LAKE_ENV`/`LAKE_HOME`); starts S3, PostgreSQL, the metastore and Spark
Connect if needed. Writes ``bench/results/merge-bounds-<timestamp>.json``; the scratch table is deleted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import time
import uuid
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
START = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
QUIET_LOAD = 1.5
SPEC = {"name": "bench_readings", "domain": "bench", "description": "d", "grain": "one row per sensor and minute",
        "source": {"kind": "files"}, "keys": ["sensor_id", "reading_at"], "order_by": "reading_at",
        "columns": [{"name": "sensor_id", "type": "string", "nullable": False},
                    {"name": "reading_at", "type": "timestamp", "nullable": False},
                    {"name": "pm25", "type": "double"}]}


def readings(spark, sensors: int, first_minute: int, minutes: int, salt: float = 0.0):
    """``sensors`` readings a minute for ``minutes`` minutes from ``first_minute`` after START, silver-shaped
    (the row hash is SHA-256 hex, as silver writes it)."""
    from pyspark.sql import functions as F
    start = int(START.timestamp())
    n = sensors * minutes
    return (spark.range(n)
            .select(F.format_string("S%06d", (F.col("id") % sensors).cast("int")).alias("sensor_id"),
                    F.timestamp_seconds(F.lit(start) + (F.lit(first_minute) + (F.col("id") / sensors).cast("long"))
                                        * 60).alias("reading_at"),
                    ((F.col("id") % 997) / 10.0 + F.lit(salt)).alias("pm25"))
            .withColumn("_row_hash", F.sha2(F.to_json(F.struct("sensor_id", "reading_at", "pm25")), 256)))


def drop(spark, sensors: int, minute: int):
    """A 15-minute drop from ``minute`` on, plus 1 % of the hour before it re-sent with new values."""
    fresh = readings(spark, sensors, minute, 15)
    resent = readings(spark, sensors, minute - 60, 60, salt=0.5).sample(fraction=0.01, seed=minute)
    return fresh.unionByName(resent).localCheckpoint()


def bounds_of(batch) -> dict:
    """What silver computes for a batch: ``transforms.key_bounds`` over its counting pass."""
    from pyspark.sql import functions as F

    from lakehouse.config.spec import SourceDataset
    from lakehouse.engine.transforms import RANK, key_bounds, staged_metrics
    spec = SourceDataset.model_validate(SPEC)
    staged = batch.withColumn(RANK, F.lit(1)).withColumn("_quarantined", F.lit(False)).withColumn(
        "_failures", F.array().cast("array<struct<rule_id:string>>")).withColumn("_batch_id", F.lit("b"))
    return key_bounds(staged.agg(*staged_metrics(spec)).collect()[0].asDict(), spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sensors", type=int, default=20_000)
    parser.add_argument("--hours", type=int, default=15, help="hourly commits in the target before the merges")
    parser.add_argument("--rounds", type=int, default=3, help="MERGEs each way")
    args = parser.parse_args()

    from lakehouse import services
    from lakehouse.core.settings import get_settings
    from lakehouse.io import delta_io, storage
    from lakehouse.io.spark import get_spark

    settings = get_settings()
    services.up(["s3", "postgres", "metastore", "spark"], settings)
    spark = get_spark("bench merge bounds", settings)
    uri = settings.table_uri("staging", f"bench_merge_bounds_{uuid.uuid4().hex[:8]}")
    load_start = os.getloadavg()
    try:
        built = time.monotonic()
        for hour in range(args.hours):
            readings(spark, args.sensors, hour * 60, 60).write.format("delta").mode("append").save(uri)
            print(f"[merge-bounds] target: hour {hour + 1}/{args.hours}", flush=True)
        build_seconds = time.monotonic() - built
        detail = delta_io.detail(spark, uri)
        target_rows = args.sensors * 60 * args.hours
        runs: dict[str, list[dict]] = {"bounded": [], "unbounded": []}
        minute = args.hours * 60
        for round_ in range(args.rounds):
            for way in (("bounded", "unbounded") if round_ % 2 == 0 else ("unbounded", "bounded")):
                batch = drop(spark, args.sensors, minute)
                bounds = bounds_of(batch) if way == "bounded" else None
                load = os.getloadavg()[0]
                began = time.monotonic()
                got = delta_io.merge(spark, batch, uri, SPEC["keys"], bounds=bounds)
                seconds = round(time.monotonic() - began, 3)
                runs[way].append({"seconds": seconds, "minute": minute, "load_1m_start": round(load, 2),
                                  "inserted": got["inserted"], "updated": got["updated"]})
                print(f"[merge-bounds] round {round_ + 1} {way}: {seconds:.1f} s "
                      f"({got['inserted']} inserted, {got['updated']} updated; load {load:.2f})", flush=True)
                minute += 15
        medians = {way: statistics.median(r["seconds"] for r in rs) for way, rs in runs.items()}
        result = {
            "benchmark": "merge_bounds", "command": "python bench/merge_bounds.py " + " ".join(
                f"--{k} {v}" for k, v in vars(args).items()),
            "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "load_average_at_start": [round(x, 2) for x in load_start],
                        "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
            "quiet": load_start[0] <= QUIET_LOAD, "quiet_load_threshold": QUIET_LOAD,
            "environment": settings.env.name,
            "target": {"rows": target_rows, "commits": args.hours, "files": detail.get("numFiles"),
                       "bytes": detail.get("sizeInBytes"), "build_seconds": round(build_seconds, 1)},
            "batch": {"fresh_rows": args.sensors * 15, "resent_fraction_of_previous_hour": 0.01},
            "runs": runs, "median_seconds": medians,
            "bounded_vs_unbounded": round(medians["bounded"] / medians["unbounded"], 3),
        }
    finally:
        storage.delete_prefix(uri.split(f"s3a://{settings.bucket}/", 1)[1] + "/", settings)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"merge-bounds-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"[merge-bounds] bounded {medians['bounded']:.1f} s, unbounded {medians['unbounded']:.1f} s "
          f"(median of {args.rounds}): {result['bounded_vs_unbounded']}x; written to {out}", flush=True)


if __name__ == "__main__":
    main()
