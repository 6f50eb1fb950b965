"""Ingest a date's landed files into the append-only bronze table.

Every line becomes a row of strings plus ingestion metadata; fields the spec does
not declare are kept in ``_rescued_data``; lines that cannot be parsed go to
quarantine.  A file whose content was already ingested is skipped, so landing
the same file twice (or re-running a date) ingests it once.
"""

from __future__ import annotations

import time

from pyspark.sql import functions as F

from lakehouse import delta_io, jobrun, storage
from lakehouse.jobrun import Accounting
from lakehouse.settings import get_settings
from lakehouse.spark import get_spark
from lakehouse.spec import SourceDataset
from lakehouse.transforms import parse_json_lines, split_parsed


def run(dataset: str, date: str) -> Accounting:
    started = time.monotonic()
    settings = get_settings()
    spec = jobrun.dataset_spec(dataset, SourceDataset, "gold datasets have no bronze table")
    batch = jobrun.batch_id(dataset, date)
    acc = Accounting(dataset, "bronze", batch)
    prefix = f"landing/{dataset}/{date}/"
    s3 = storage.client(settings)
    landed = {o.object_name: o.etag.strip('"') for o in s3.list_objects(settings.bucket, prefix=prefix, recursive=True)}
    if not landed:
        print(f"[bronze] {dataset}: no files under s3://{settings.bucket}/{prefix}; nothing to ingest", flush=True)
        acc.report()
        return acc

    spark = get_spark(f"bronze {dataset}")
    bronze_uri = settings.table_uri("bronze", dataset)
    seen: set[str] = set()
    if delta_io.exists(spark, bronze_uri):
        seen = {r[0] for r in delta_io.read(spark, bronze_uri).select("_source_hash").distinct().collect()}
    todo = {key: etag for key, etag in landed.items() if etag not in seen}
    for key in sorted(set(landed) - set(todo)):
        print(f"[bronze] {dataset}: skip s3://{settings.bucket}/{key} (already ingested)", flush=True)
    if not todo:
        acc.report()
        return acc

    at = jobrun.now_iso()
    files = {f"s3a://{settings.bucket}/{key}": etag for key, etag in todo.items()}
    hashes = spark.createDataFrame(list(files.items()), "_source_file string, _source_hash string")
    lines = (spark.read.text(list(files))
             # _metadata.file_path is URL-encoded; decode it so it matches the key we listed
             .select("value", F.url_decode(F.col("_metadata.file_path")).alias("_source_file"))
             .join(F.broadcast(hashes), "_source_file", "left")
             .withColumn("_landing_date", F.lit(date).cast("date"))
             .withColumn("_batch_id", F.lit(batch))
             .withColumn("_ingested_at", F.to_timestamp(F.lit(at))))
    parsed = parse_json_lines(lines, sorted({c.source_field for c in spec.columns})).cache()
    split = split_parsed(parsed, spec, at)
    acc.rows_in = parsed.count()
    unmatched = parsed.where(F.col("_source_hash").isNull()).select("_source_file").distinct().collect()
    if unmatched:  # never drop rows silently: a path we cannot tie to its landed object stops the job
        raise jobrun.LakeError(f"bronze {dataset}: read rows from files that were not listed in landing: "
                               f"{[r[0] for r in unmatched]}")
    acc.rows_quarantined = split.rejected.count()
    acc.rows_written = split.good.count()
    delta_io.append(split.good, bronze_uri)
    if acc.rows_quarantined:  # new files only, so these rows are new too
        delta_io.append(split.rejected, settings.table_uri("quarantine", dataset))
    parsed.unpersist()
    acc.seconds = time.monotonic() - started
    acc.check()
    acc.report()
    return acc


if __name__ == "__main__":
    jobrun.main(__doc__, run)
