"""Benchmark: what silver's row hash costs, against a cheaper one, on local Spark.

The row hash (``engine.transforms.with_row_hash``) is computed for every row a silver step writes. This measures
today's definition (``core.columns.row_hash_sql``: ``xxhash64`` with a null mask, since Spark's ``xxhash64`` skips
NULLs and without the mask ``(NULL, 5)`` and ``(5, NULL)`` would hash alike) and the one before it (SHA-256 over
the row's JSON, until 2026-12-05) over a cached frame of ``--rows`` rows and 14 columns, each against a plain
projection measured in the same run (the reference). Best of ``--repeat``.

    python bench/row_hash.py [--rows 3000000] [--repeat 3]

Writes ``bench/results/row-hash-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from lakehouse.core.columns import row_hash_sql

    load_start = os.getloadavg()
    spark = (SparkSession.builder.master("local[2]").config("spark.driver.memory", "4g")
             .config("spark.ui.enabled", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.range(args.rows).select(*[(F.col("id") * i).cast("string").alias(f"s{i}") for i in range(8)],
                                       *[(F.col("id") * 1.5 + i).alias(f"d{i}") for i in range(4)],
                                       F.current_date().alias("dt"), (F.col("id") % 7).alias("k")).cache()
    df.count()
    cols = [F.col(c) for c in df.columns]
    variants = {
        "projection (reference)": F.lit("x"),
        "sha256 of to_json (before 2026-12-05)": F.sha2(F.to_json(F.struct(*cols)), 256),
        "xxhash64 with a null mask (row_hash_sql)": F.expr(row_hash_sql(df.columns)),
    }
    best = {}
    for name, expr in variants.items():
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            df.select(expr.alias("h")).agg(F.max("h")).collect()
            times.append(time.perf_counter() - start)
        best[name] = round(min(times), 2)
        print(f"{name}: best {best[name]} s of {args.repeat}", flush=True)
    reference = best["projection (reference)"]
    spark.stop()
    result = {"benchmark": "row_hash", "command": "python bench/row_hash.py", "when": dt.datetime.now(dt.UTC).isoformat(),
              "rows": args.rows, "columns": len(cols), "engine": "local Spark, local[2]", "best_seconds": best,
              "over_reference_seconds": {k: round(v - reference, 2) for k, v in best.items() if v is not reference},
              "machine": {"cpus": os.cpu_count(), "load_average_at_start": load_start,
                          "load_average_at_end": os.getloadavg()}}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"row-hash-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
