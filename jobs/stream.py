"""Ingest a stream source (IoT readings dropped continuously as JSON Lines) into bronze.

Spark Structured Streaming reads every new file under ``landing/<dataset>/``
with the ``availableNow`` trigger: it takes what has arrived, writes it, and
stops, so a scheduler can run it like a batch job.  The checkpoint under
``_checkpoints/<dataset>/bronze`` remembers which files were read, so a file is
ingested once however often the job runs.  Each micro-batch is split as in
batch bronze: parsed lines to bronze, unparseable ones to quarantine, both
written with Delta's idempotent-write options so a retried micro-batch is not
written twice.  Late and duplicate readings are kept here; silver collapses
duplicates on the key and counts late arrivals.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from lakehouse import delta_io, jobrun
from lakehouse.jobrun import Accounting
from lakehouse.settings import get_settings
from lakehouse.spark import get_spark
from lakehouse.spec import SourceDataset


def checkpoint_uri(settings, dataset: str, stage: str) -> str:
    return f"s3a://{settings.bucket}/_checkpoints/{dataset}/{stage}"


def make_batch_writer(spec: SourceDataset, bronze_uri: str, quarantine_uri: str, app_id: str):
    """The foreachBatch function: split one micro-batch and write both halves idempotently.

    It closes over plain values only, so it can run in a Spark Connect server's Python worker.
    """
    def write(batch, epoch_id: int) -> None:
        import datetime as dt

        from pyspark.sql import functions as F

        from lakehouse.readers import source_fields
        from lakehouse.transforms import parse_json_lines, split_parsed

        # no Spark action before the cache below: the source's input-row metric must count each line once
        at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lines = (batch.select("value", F.url_decode(F.col("_source_file")).alias("_source_file"))
                 .withColumn("_source_hash", F.lit(None).cast("string"))
                 .withColumn("_landing_date", F.to_date(F.lit(at[:10])))
                 .withColumn("_batch_id", F.lit(f"{spec.name}@stream-{epoch_id}"))
                 .withColumn("_ingested_at", F.to_timestamp(F.lit(at))))
        parsed = parse_json_lines(lines, source_fields(spec)).cache()
        split = split_parsed(parsed, spec, at)
        opts = {"txnAppId": app_id, "txnVersion": str(epoch_id), "mergeSchema": "true"}
        split.good.write.format("delta").mode("append").options(**opts).save(bronze_uri)
        split.rejected.write.format("delta").mode("append").options(**opts).save(quarantine_uri)
        parsed.unpersist()
    return write


def run(dataset: str, date: str) -> Accounting:
    settings = get_settings()
    spec = jobrun.dataset_spec(dataset, SourceDataset, "gold datasets have no bronze table")
    if spec.source.kind != "stream":
        raise jobrun.LakeError(f"{dataset} is a {spec.source.kind} source; use jobs.bronze")
    acc = Accounting(dataset, "bronze", jobrun.batch_id(dataset, date))
    with jobrun.logged(acc):
        spark = acc.spark = get_spark(f"stream {dataset}")
        bronze_uri = settings.table_uri("bronze", dataset)
        quarantine_uri = settings.quarantine_uri(dataset)
        landing = f"s3a://{settings.bucket}/landing/{dataset}/"
        before = {uri: _rows(spark, uri) for uri in (bronze_uri, quarantine_uri)}
        pattern = spec.source.pattern if spec.source.pattern != "*" else "*.json*"
        query = (spark.readStream.format("text")
                 .option("recursiveFileLookup", "true").option("pathGlobFilter", pattern)
                 .option("maxFilesPerTrigger", 200)
                 .load(landing)
                 .select("value", F.col("_metadata.file_path").alias("_source_file"))
                 .writeStream.queryName(f"bronze_{dataset}")
                 .option("checkpointLocation", checkpoint_uri(settings, dataset, "bronze"))
                 .foreachBatch(make_batch_writer(spec, bronze_uri, quarantine_uri, f"lake-{dataset}-bronze"))
                 .trigger(availableNow=True)
                 .start())
        query.awaitTermination()
        progress = query.recentProgress or []
        per_batch = [input_rows(p) for p in progress]
        acc.rows_in = sum(per_batch)
        acc.extra["micro_batches"] = sum(1 for n in per_batch if n)
        after = {uri: _rows(spark, uri) for uri in (bronze_uri, quarantine_uri)}
        acc.rows_written = after[bronze_uri] - before[bronze_uri]
        acc.rows_quarantined = after[quarantine_uri] - before[quarantine_uri]
        acc.check()
    return acc


def input_rows(progress: dict) -> int:
    """Lines a micro-batch read, from its progress report."""
    return sum(int(source.get("numInputRows") or 0) for source in progress.get("sources") or [])


def _rows(spark, uri: str) -> int:
    return delta_io.read(spark, uri).count() if delta_io.exists(spark, uri) else 0


if __name__ == "__main__":
    jobrun.main(__doc__, run)
