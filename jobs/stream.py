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

Before the stream starts, every landed file none of whose lines is in bronze or
quarantine yet goes through the same file checks as batch bronze
(``lakehouse.engine.filecheck``): a refused file is recorded in ``ops/refused_files``,
moved to ``landing/<dataset>/_refused/`` (the stream reads no folder whose name
starts with ``_``, and has not read the file, so landing a fixed copy under the
same name ingests it), and the run fails once the other files are in.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from lakehouse.config.spec import SourceDataset
from lakehouse.core.settings import get_settings
from lakehouse.engine import jobrun
from lakehouse.engine.jobrun import Accounting
from lakehouse.io import delta_io
from lakehouse.io.spark import get_spark


def checkpoint_uri(settings, dataset: str, stage: str) -> str:
    return f"s3a://{settings.bucket}/_checkpoints/{dataset}/{stage}"


def make_batch_writer(spec: SourceDataset, bronze_uri: str, quarantine_uri: str, app_id: str):
    """The foreachBatch function: split one micro-batch and write both halves idempotently.

    It closes over plain values only, so it can run in a Spark Connect server's Python worker.
    """
    def write(batch, epoch_id: int) -> None:
        import datetime as dt

        from pyspark.sql import functions as F

        from lakehouse.engine.readers import source_fields
        from lakehouse.engine.transforms import parse_json_lines, split_parsed

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
    with jobrun.logged(acc, settings):
        spark = acc.spark = get_spark(f"stream {dataset}", settings)
        bronze_uri = settings.table_uri("bronze", dataset)
        quarantine_uri = settings.quarantine_uri(dataset)
        landing = f"s3a://{settings.bucket}/landing/{dataset}/"
        before = {uri: _rows(spark, uri) for uri in (bronze_uri, quarantine_uri)}
        pattern = spec.source.pattern if spec.source.pattern != "*" else "*.json*"
        refused = refuse_new_files(spark, spec, pattern, (bronze_uri, quarantine_uri), acc, settings)
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
        if refused:
            raise jobrun.LakeError(
                f"bronze {dataset}: {len(refused)} file(s) refused, moved to s3://{settings.bucket}/"
                f"{REFUSED_PREFIX.format(dataset=dataset)}: "
                + "; ".join(f"[{code}] {reason.rstrip('.')}" for _, code, reason in refused)
                + ". Land a fixed copy (the same name will do) and run again; `lake sql \"SELECT * FROM "
                  "lake.ops.refused_files\"` lists every refusal")
    return acc


REFUSED_PREFIX = "landing/{dataset}/_refused/"  # the stream reads no folder whose name starts with "_"


def refuse_new_files(spark, spec: SourceDataset, pattern: str, tables: tuple[str, ...], acc: Accounting,
                     settings) -> list[tuple[str, str, str]]:
    """Check every landed file the stream has not ingested yet; refuse the wrong ones before it starts.

    Not ingested yet: none of its lines is in bronze or quarantine (a file whose every line is
    malformed is refused by the checks, so an accepted file always leaves a row). A refused file is
    recorded, then moved under ``_refused/``. The refusals: (where it is now, code, reason).
    """
    import fnmatch

    from lakehouse.engine.refusals import record_refusals, refusals
    from lakehouse.io import storage

    prefix = f"landing/{spec.name}/"
    landed = [key for key in storage.list_objects(prefix, settings)
              if not any(part.startswith(("_", ".")) for part in key[len(prefix):].split("/"))
              and fnmatch.fnmatch(key.rsplit("/", 1)[-1], pattern)]
    if not landed:
        return []
    seen: set[str] = set()
    for uri in tables:
        if delta_io.exists(spark, uri):
            seen |= {r[0] for r in delta_io.read(spark, uri).where(F.col("_source_file").startswith(
                f"s3a://{settings.bucket}/{prefix}")).select("_source_file").distinct().collect()}
    refused = refusals(spec, [key for key in landed if f"s3a://{settings.bucket}/{key}" not in seen], [], settings)
    if not refused:
        return []
    moved = {}
    for key, (_, code, reason) in sorted(refused.items()):
        target = REFUSED_PREFIX.format(dataset=spec.name) + key[len(prefix):]
        storage.move(key, target, settings)
        print(f"[bronze] {spec.name}: REFUSED s3://{settings.bucket}/{key} ({code}): {reason.rstrip('.')}; "
              f"moved to s3://{settings.bucket}/{target}", flush=True)
        moved[target] = (storage.S3Blob(target, settings), code, reason)
    acc.extra["files_refused"] = len(moved)
    record_refusals(spark, moved, acc, settings)
    return [(f"s3://{settings.bucket}/{key}", code, reason) for key, (_, code, reason) in sorted(moved.items())]


def input_rows(progress: dict) -> int:
    """Lines a micro-batch read, from its progress report."""
    return sum(int(source.get("numInputRows") or 0) for source in progress.get("sources") or [])


def _rows(spark, uri: str) -> int:
    return delta_io.read(spark, uri).count() if delta_io.exists(spark, uri) else 0


if __name__ == "__main__":
    jobrun.main(__doc__, run)
