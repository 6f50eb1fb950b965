"""Ingest a date's landed files into the append-only bronze table.

Every record becomes a row of strings plus ingestion metadata (``_source_file``,
``_source_hash``, ``_landing_date``, ``_batch_id``, ``_ingested_at``); fields the
spec does not declare are kept in ``_rescued_data``; records that cannot be
parsed go to quarantine.  An object already ingested with the same content is
skipped, so landing the same file twice (or re-running a date) ingests it once.

A CSV in an encoding Spark has no codec for (TCVN3, VNI, VIQR, or what ``encoding:
auto`` found in anything but UTF-8) is decoded here into a UTF-8 copy under
``staging/_utf8/<dataset>/<date>/``, which Spark reads; the landed file stays as it
was delivered, and its rows name it.  The encoding each file was read in (and, for
``auto``, how sure the guess was) goes to the run log's ``extra``.

Stream sources (``kind: stream``) are read by ``jobs.stream`` instead.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from lakehouse.config.spec import SourceDataset
from lakehouse.core.settings import get_settings
from lakehouse.engine import jobrun, readers
from lakehouse.engine.jobrun import Accounting
from lakehouse.engine.filecheck import encodings
from lakehouse.engine.refusals import record_refusals, refusals
from lakehouse.engine.transforms import split_parsed
from lakehouse.io import delta_io, storage
from lakehouse.io.spark import get_spark


def landed_files(spec: SourceDataset, date: str, settings) -> tuple[str, dict[str, str], list[str]]:
    """The date's landed objects that match the spec's pattern (key → ETag), and those that do not."""
    prefix = f"landing/{spec.name}/{date}/"
    found = storage.list_objects(prefix, settings)
    keep, strays = {}, []
    for key, etag in found.items():
        relative = key[len(prefix):]
        name = relative.rsplit("/", 1)[-1]
        if name.startswith(("_", ".")):  # _SUCCESS markers and hidden files are not data
            continue
        if spec.source.matches(relative):
            keep[key] = etag
        else:
            strays.append(key)
    return prefix, keep, sorted(strays)


def run(dataset: str, date: str) -> Accounting:
    settings = get_settings()
    spec = jobrun.dataset_spec(dataset, SourceDataset, "gold datasets have no bronze table")
    if spec.source.kind == "stream":
        from jobs import stream
        return stream.run(dataset, date)
    acc = Accounting(dataset, "bronze", jobrun.batch_id(dataset, date))
    with jobrun.logged(acc, settings):
        prefix, landed, strays = landed_files(spec, date, settings)
        if not landed and not strays:
            print(f"[bronze] {dataset}: no files under s3://{settings.bucket}/{prefix} matching "
                  f"{spec.source.pattern!r}; nothing to ingest", flush=True)
            return acc
        spark = get_spark(f"bronze {dataset}", settings)
        acc.spark = spark
        bronze_uri = settings.table_uri("bronze", dataset)
        # an object is ingested once: the same key with the same content (ETag) is skipped; a new
        # day's file with yesterday's content is not (for a snapshot, going back is a change too)
        # (an object's key holds its date, and its rows carry that `_landing_date`: the table's file
        # statistics skip every other day's files instead of bronze being read whole on every run)
        seen: set[tuple[str, str]] = set()
        if delta_io.exists(spark, bronze_uri):
            seen = {(r[0], r[1]) for r in delta_io.read(spark, bronze_uri)
                    .where(F.col("_landing_date") == F.lit(date).cast("date"))
                    .select("_source_file", "_source_hash").distinct().collect()}
        uri_of = lambda key: f"s3a://{settings.bucket}/{key}"  # noqa: E731
        todo = {key: etag for key, etag in landed.items() if (uri_of(key), etag) not in seen}
        for key in sorted(set(landed) - set(todo)):
            print(f"[bronze] {dataset}: skip s3://{settings.bucket}/{key} (already ingested)", flush=True)
        # a wrong file is refused whole (never read as rows): it stays in landing for a fix, is recorded
        # in ops/refused_files, and fails this run once the other files are in
        found: dict = {}  # key → the encoding it is read in (filecheck.Detection)
        refused = refusals(spec, sorted(todo), strays, settings, found)
        for key, (_, code, reason) in sorted(refused.items()):
            print(f"[bronze] {dataset}: REFUSED s3://{settings.bucket}/{key} ({code}): {reason}", flush=True)
            todo.pop(key, None)
        if refused:
            acc.extra["files_refused"] = len(refused)
            record_refusals(spark, refused, acc, settings)
        acc.extra["files"] = len(todo)
        acc.extra["files_skipped"] = len(landed) - len(todo) - len(set(refused) & set(landed))
        if spec.source.format in ("csv", "xlsx") and spec.source.kind == "files":
            acc.extra.update(encodings.batch_fields(spec.source.encoding, {k: found[k] for k in todo if k in found}))
            for key in sorted(todo):
                if key in found and found[key].confidence is not None:
                    print(f"[bronze] {dataset}: {key.rsplit('/', 1)[-1]} is read as {found[key].encoding} "
                          f"(encoding: auto, confidence {found[key].confidence:.2f})", flush=True)
        if todo:
            copies = utf8_copies(spec, {k: found[k].encoding for k in todo if k in found}, date, settings)
            try:
                ingest(spark, spec, todo, prefix, date, acc, settings, copies)
            finally:
                if copies:
                    remove_copies(dataset, date, settings)
        if refused:
            raise jobrun.LakeError(
                f"bronze {dataset}: {len(refused)} file(s) refused for {date}, kept in landing: "
                + "; ".join(f"[{code}] {reason.rstrip('.')}" for _, (_, code, reason) in sorted(refused.items()))
                + f". Fix or replace them under s3://{settings.bucket}/{prefix} and run the date again "
                  "(files already ingested are skipped); `lake sql \"SELECT * FROM lake.ops.refused_files\"` "
                  "lists every refusal")
    return acc


def copies_prefix(dataset: str, date: str) -> str:
    """Where the UTF-8 copies of a date's legacy-encoded files are written (removed once bronze has read them)."""
    return f"staging/_utf8/{dataset}/{date}/"


def remove_copies(dataset: str, date: str, settings) -> None:
    """Remove the UTF-8 copies once bronze holds their rows (a failure to do so only leaves them behind)."""
    try:
        storage.delete_prefix(copies_prefix(dataset, date), settings)
    except Exception as exc:  # never hide the run's own outcome
        print(f"[bronze] {dataset}: warning: the UTF-8 copies under {copies_prefix(dataset, date)} were not "
              f"removed ({exc.__class__.__name__}: {exc})", flush=True)


def utf8_copies(spec: SourceDataset, read_in: dict[str, str], date: str, settings) -> dict[str, str]:
    """A UTF-8 copy (NFC) of each landed CSV Spark cannot read in the encoding it is in (``read_in``: key →
    encoding), decoded as it streams; landed URI → copy URI."""
    import tempfile

    uri_of = lambda key: f"s3a://{settings.bucket}/{key}"  # noqa: E731
    landing = f"landing/{spec.name}/{date}/"
    out = {}
    for key, encoding in sorted(read_in.items()):
        if spec.source.format != "csv" or not encodings.needs_copy(spec.source.encoding, encoding):
            continue
        copy = copies_prefix(spec.name, date) + key[len(landing):]
        with tempfile.NamedTemporaryFile(suffix=".csv") as tmp:
            for part in encodings.utf8_copy(storage.S3Blob(key, settings).chunks(), encoding):
                tmp.write(part)
            tmp.flush()
            storage.put_file(copy, tmp.name, settings)
        print(f"[bronze] {spec.name}: {key.rsplit('/', 1)[-1]} decoded from {encoding} for Spark "
              f"(s3://{settings.bucket}/{copy})", flush=True)
        out[uri_of(key)] = uri_of(copy)
    return out


def ingest(spark, spec: SourceDataset, todo: dict[str, str], prefix: str, date: str, acc: Accounting,
           settings, copies: dict[str, str] | None = None) -> None:
    """Read the new landed files into bronze (unparseable records to quarantine), counting as they are written.

    ``copies``: landed URI → the UTF-8 copy Spark reads instead."""
    dataset = spec.name
    bronze_uri = settings.table_uri("bronze", dataset)
    uri_of = lambda key: f"s3a://{settings.bucket}/{key}"  # noqa: E731
    kind = "binary" if spec.source.kind == "documents" else spec.source.format
    print(f"[bronze] {dataset}: reading {len(todo)} file(s) ({spec.source.kind}, {kind})", flush=True)

    at = jobrun.now_iso()
    files = {uri_of(key): etag for key, etag in todo.items()}
    hashes = spark.createDataFrame(list(files.items()), "_source_file string, _source_hash string")
    parsed = (readers.read_landed(spark, spec, sorted(files), storage.fetcher(settings),
                                  base=f"s3a://{settings.bucket}/{prefix}", copies=copies)
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


if __name__ == "__main__":
    jobrun.main(__doc__, run)
