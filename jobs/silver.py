"""Refine a date's bronze batch into silver: typed, NFC text, de-duplicated, merged.

Rows that break a row-level rule go to ``quarantine/<dataset>`` with the rule,
dimension and reason.  After the merge, Great Expectations validates the silver
table; a failed rule with action ``fail`` fails the job.  Re-running a date
changes no row.
"""

from __future__ import annotations

import time

from pyspark.sql import functions as F

from lakehouse import delta_io, jobrun, quality
from lakehouse.jobrun import Accounting
from lakehouse.settings import get_settings
from lakehouse.spark import get_spark
from lakehouse.spec import SourceDataset
from lakehouse.transforms import refine


def run(dataset: str, date: str) -> Accounting:
    started = time.monotonic()
    settings = get_settings()
    spec = jobrun.dataset_spec(dataset, SourceDataset, "build gold datasets with jobs.gold")
    batch = jobrun.batch_id(dataset, date)
    acc = Accounting(dataset, "silver", batch)
    spark = get_spark(f"silver {dataset}")
    bronze_uri = settings.table_uri("bronze", dataset)
    silver_uri = settings.table_uri("silver", dataset)
    if not delta_io.exists(spark, bronze_uri):
        raise jobrun.LakeError(f"{dataset}: no bronze table at {bronze_uri}; run the bronze job first")

    bronze = delta_io.read(spark, bronze_uri).where(F.col("_batch_id") == batch).cache()
    acc.rows_in = bronze.count()
    if acc.rows_in == 0:
        print(f"[silver] {dataset}: bronze has no rows for batch {batch}; nothing new", flush=True)
    else:
        at = jobrun.now_iso()
        split = refine(bronze, spec, at)
        good = split.good.cache()
        acc.rows_written = good.count()
        acc.rows_quarantined = split.rejected.count()
        acc.duplicates_collapsed = split.duplicates.count()
        acc.check()  # before anything is written
        acc.extra = delta_io.merge(spark, good, silver_uri, spec.keys)
        # re-running the batch replaces its quarantine rows instead of adding them again
        delta_io.replace_where(split.rejected, settings.table_uri("quarantine", dataset),
                               f"layer = 'silver' AND _batch_id = '{batch}'")
        good.unpersist()
    bronze.unpersist()

    if delta_io.exists(spark, silver_uri):
        current = delta_io.read(spark, silver_uri)
        validation = quality.validate(current, spec, run_name=batch, settings=settings)
        for r in validation.results:
            mark = "ok  " if r.success else "FAIL"
            print(f"[quality] {mark} {r.rule_id} ({r.dimension}, {r.action}) unexpected={r.unexpected_count}",
                  flush=True)
        if validation.docs_index:
            print(f"[quality] Data Docs: {validation.docs_index}", flush=True)
        if not validation.success:
            failed = ", ".join(r.rule_id for r in validation.failed_rules if r.action == "fail")
            raise jobrun.LakeError(f"silver {dataset}: quality rules with action 'fail' failed: {failed}")
    acc.seconds = time.monotonic() - started
    acc.report()
    return acc


if __name__ == "__main__":
    jobrun.main(__doc__, run)
