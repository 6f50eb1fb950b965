"""Ingest a date's landed files into the append-only bronze table.

Every record becomes a row of strings plus ingestion metadata (``_source_file``,
``_source_hash``, ``_landing_date``, ``_batch_id``, ``_ingested_at``); fields the
spec does not declare are kept in ``_rescued_data``; records that cannot be
parsed go to quarantine.  An object already ingested with the same content is
skipped, so landing the same file twice (or re-running a date) ingests it once.

Stream sources (``kind: stream``) are read by ``jobs.stream`` instead.
"""

from __future__ import annotations

import fnmatch

from pyspark.sql import functions as F

from lakehouse import delta_io, jobrun, readers, storage
from lakehouse.jobrun import Accounting
from lakehouse.settings import get_settings
from lakehouse.spark import get_spark
from lakehouse.spec import SourceDataset
from lakehouse.transforms import split_parsed


def landed_files(spec: SourceDataset, date: str, settings) -> tuple[str, dict[str, str]]:
    """The date's landed objects that match the spec's pattern: key → ETag."""
    prefix = f"landing/{spec.name}/{date}/"
    found = storage.list_objects(prefix, settings)
    keep = {}
    for key, etag in found.items():
        relative = key[len(prefix):]
        name = relative.rsplit("/", 1)[-1]
        if name.startswith(("_", ".")):  # _SUCCESS markers and hidden files are not data
            continue
        if fnmatch.fnmatch(relative, spec.source.pattern) or fnmatch.fnmatch(name, spec.source.pattern):
            keep[key] = etag
    return prefix, keep


def run(dataset: str, date: str) -> Accounting:
    settings = get_settings()
    spec = jobrun.dataset_spec(dataset, SourceDataset, "gold datasets have no bronze table")
    if spec.source.kind == "stream":
        from jobs import stream
        return stream.run(dataset, date)
    acc = Accounting(dataset, "bronze", jobrun.batch_id(dataset, date))
    with jobrun.logged(acc):
        prefix, landed = landed_files(spec, date, settings)
        if not landed:
            print(f"[bronze] {dataset}: no files under s3://{settings.bucket}/{prefix} matching "
                  f"{spec.source.pattern!r}; nothing to ingest", flush=True)
            return acc
        spark = get_spark(f"bronze {dataset}")
        acc.spark = spark
        bronze_uri = settings.table_uri("bronze", dataset)
        # an object is ingested once: the same key with the same content (ETag) is skipped; a new
        # day's file with yesterday's content is not (for a snapshot, going back is a change too)
        seen: set[tuple[str, str]] = set()
        if delta_io.exists(spark, bronze_uri):
            seen = {(r[0], r[1]) for r in delta_io.read(spark, bronze_uri)
                    .select("_source_file", "_source_hash").distinct().collect()}
        uri_of = lambda key: f"s3a://{settings.bucket}/{key}"  # noqa: E731
        todo = {key: etag for key, etag in landed.items() if (uri_of(key), etag) not in seen}
        for key in sorted(set(landed) - set(todo)):
            print(f"[bronze] {dataset}: skip s3://{settings.bucket}/{key} (already ingested)", flush=True)
        acc.extra["files"] = len(todo)
        acc.extra["files_skipped"] = len(landed) - len(todo)
        if not todo:
            return acc
        kind = "binary" if spec.source.kind == "documents" else spec.source.format
        print(f"[bronze] {dataset}: reading {len(todo)} file(s) ({spec.source.kind}, {kind})", flush=True)

        at = jobrun.now_iso()
        files = {uri_of(key): etag for key, etag in todo.items()}
        hashes = spark.createDataFrame(list(files.items()), "_source_file string, _source_hash string")
        parsed = (readers.read_landed(spark, spec, sorted(files), storage.fetcher(settings),
                                      base=f"s3a://{settings.bucket}/{prefix}")
                  .join(F.broadcast(hashes), "_source_file", "left")
                  .withColumn("_landing_date", F.lit(date).cast("date"))
                  .withColumn("_batch_id", F.lit(acc.batch_id))
                  .withColumn("_ingested_at", F.to_timestamp(F.lit(at))))
        # never drop rows silently: a row read from a path we cannot tie to its landed object fails the
        # write itself (nothing is committed); the counts are observed while the rows are written
        unlisted = f"bronze {dataset}: read rows from a file that was not listed in landing: "
        parsed = parsed.withColumn("_source_hash", F.coalesce(
            "_source_hash", F.raise_error(F.concat(F.lit(unlisted), F.col("_source_file")))))
        observed, read = delta_io.counted(parsed, F.count_if(F.col("_parse_error").isNotNull()).alias("bad"))
        try:
            acc.rows_written = delta_io.append(split_parsed(observed, spec, at).good, bronze_uri)
        except Exception as exc:
            if unlisted in str(exc):
                raise jobrun.LakeError(unlisted + str(exc).split(unlisted, 1)[1].split("\n", 1)[0]) from None
            raise
        acc.rows_in = int(read.get["rows"])
        if read.get["bad"]:  # new files only, so these rows are new too
            # (a second read of the new files, only when they hold unparseable records)
            acc.rows_quarantined = delta_io.append(split_parsed(parsed, spec, at).rejected,
                                                   settings.quarantine_uri(dataset))
        acc.check()
    return acc


if __name__ == "__main__":
    jobrun.main(__doc__, run)
