"""Refine bronze rows into silver: typed, NFC text, conformed codes, de-duplicated, merged.

Which bronze rows: the date's batch (``<dataset>@<date>``), or for a stream
source every row ingested since the last silver run.  How they are written
follows the spec's ``load_mode`` (append, merge, scd2, snapshot); re-running a
date changes no row.  Rows that break a row-level rule go to
``quarantine/<dataset>`` with the rule, dimension and reason.  After the write,
Great Expectations validates the silver table; a failed rule with action
``fail`` fails the job.
"""

from __future__ import annotations

import time

from pyspark.sql import functions as F

from lakehouse import delta_io, jobrun, quality
from lakehouse.jobrun import Accounting
from lakehouse.settings import get_settings
from lakehouse.spark import get_spark
from lakehouse.spec import SourceDataset, load_catalog
from lakehouse.transforms import late_rows, refine

STREAM_MARK = "lake.silver.ingested_through"  # silver table property: bronze rows up to here are done


def master_codes(spark, spec: SourceDataset, settings) -> dict:
    """For each conformed column, the master table's valid codes (current versions only)."""
    codes = {}
    catalog = load_catalog()
    for col in spec.columns:
        if col.conform is None:
            continue
        uri = settings.table_uri("silver", col.conform.dataset)
        if not delta_io.exists(spark, uri):
            raise jobrun.LakeError(f"silver {spec.name}: column {col.name} is conformed to "
                                   f"{col.conform.dataset}, which has no silver table yet; run it first")
        master = delta_io.read(spark, uri)
        if catalog[col.conform.dataset].load_mode == "scd2":
            master = master.where("is_current")
        codes[col.name] = master.select(col.conform.column)
    return codes


def current_rows(spark, spec: SourceDataset, uri: str):
    table = delta_io.read(spark, uri)
    return table.where("is_current") if spec.load_mode == "scd2" else table


def run(dataset: str, date: str) -> Accounting:
    settings = get_settings()
    spec = jobrun.dataset_spec(dataset, SourceDataset, "build gold datasets with jobs.gold")
    acc = Accounting(dataset, "silver", jobrun.batch_id(dataset, date))
    with jobrun.logged(acc):
        spark = acc.spark = get_spark(f"silver {dataset}")
        bronze_uri = settings.table_uri("bronze", dataset)
        silver_uri = settings.table_uri("silver", dataset)
        quarantine_uri = settings.table_uri("quarantine", dataset)
        if not delta_io.exists(spark, bronze_uri):
            raise jobrun.LakeError(f"{dataset}: no bronze table at {bronze_uri}; run the bronze job first")

        bronze = delta_io.read(spark, bronze_uri)
        through = None
        if spec.source.kind == "stream":
            done = delta_io.properties(spark, silver_uri).get(STREAM_MARK) if delta_io.exists(spark, silver_uri) else None
            through = bronze.agg(F.max("_ingested_at").cast("string")).collect()[0][0]
            batch = bronze.where(F.col("_ingested_at") > F.lit(done).cast("timestamp")) if done else bronze
            batch = batch.where(F.col("_ingested_at") <= F.lit(through).cast("timestamp"))
        else:
            batch = bronze.where(F.col("_batch_id") == acc.batch_id)
        at = jobrun.now_iso()
        split = refine(batch, spec, at, master_codes(spark, spec, settings))
        # one aggregation pass counts everything; the write is the only pass that sorts
        counts = split.counts.collect()[0]
        acc.rows_in, acc.rows_quarantined = counts["rows_in"], counts["rejected"]
        acc.rows_written = counts["distinct_keys"]
        acc.duplicates_collapsed = counts["valid"] - counts["distinct_keys"]
        acc.check()  # before anything is written
        if acc.rows_in == 0:
            print(f"[silver] {dataset}: no new bronze rows for {acc.batch_id}; nothing to do", flush=True)
        else:
            if spec.source.event_time:
                seen = (delta_io.read(spark, silver_uri).agg(F.max(spec.source.event_time)).collect()[0][0]
                        if delta_io.exists(spark, silver_uri) else None)
                acc.extra["late"] = late_rows(split.good, spec, seen).count()
            if spec.load_mode == "scd2":
                valid_from = (F.col(spec.order_by).cast("timestamp") if spec.order_by
                              and spec.column(spec.order_by).type in ("date", "timestamp")
                              else F.lit(date).cast("timestamp"))
                acc.extra.update(delta_io.merge_scd2(spark, split.good.withColumn("valid_from", valid_from),
                                                     silver_uri, spec.keys, spec.partition_by))
            else:
                acc.extra.update(delta_io.merge(spark, split.good, silver_uri, spec.keys, spec.load_mode,
                                                spec.partition_by, spec.order_by))
            source_rows = acc.extra.pop("source_rows", None)
            if source_rows is not None and source_rows != acc.rows_written:  # the write saw what we counted
                raise jobrun.LakeError(f"silver {dataset}: counted {acc.rows_written} rows to write but the "
                                       f"write read {source_rows}; nothing about this batch can be trusted")
            # re-running a batch replaces its quarantine rows instead of adding them again
            batches = [r[0] for r in batch.select("_batch_id").distinct().collect()]
            listed = ", ".join("'" + b.replace("'", "''") + "'" for b in batches)
            delta_io.replace_where(split.rejected, quarantine_uri, f"layer = 'silver' AND _batch_id IN ({listed})")
        if through and delta_io.exists(spark, silver_uri):
            delta_io.set_properties(spark, silver_uri, {STREAM_MARK: through})

        if delta_io.exists(spark, silver_uri):
            checked = time.monotonic()
            validation = quality.validate(current_rows(spark, spec, silver_uri), spec, run_name=acc.batch_id,
                                          settings=settings)
            acc.extra["quality_seconds"] = round(time.monotonic() - checked, 1)
            for r in validation.results:
                mark = "ok  " if r.success else "FAIL"
                print(f"[quality] {mark} {r.rule_id} ({r.dimension}, {r.action}) unexpected={r.unexpected_count}",
                      flush=True)
            if validation.docs_index:
                print(f"[quality] Data Docs: {validation.docs_index}", flush=True)
            if not validation.success:
                failed = ", ".join(r.rule_id for r in validation.failed_rules if r.action == "fail")
                raise jobrun.LakeError(f"silver {dataset}: quality rules with action 'fail' failed: {failed}")
    return acc


if __name__ == "__main__":
    jobrun.main(__doc__, run)
