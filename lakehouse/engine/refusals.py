"""Landed files refused whole, before any of their rows is read, and their ``ops/refused_files`` rows.

Batch bronze (``jobs.bronze``) checks the date's landed files, a stream source (``jobs.stream``) every
file its stream has not read yet; both refuse with the same checks (``engine.filecheck``) and record
the refusals the same way.
"""

from __future__ import annotations

from lakehouse.config.spec import SourceDataset
from lakehouse.engine.jobrun import Accounting
from lakehouse.io import delta_io, storage

REFUSED = "refused_files"  # ops table: one row per refused file
REFUSED_SCHEMA = ("refused_at timestamp, dataset string, batch_id string, run_id string, source_file string, "
                  "size_bytes bigint, sha256 string, code string, reason string")


def refusals(spec: SourceDataset, keys: list[str], strays: list[str], settings,
             encodings: dict | None = None) -> dict[str, tuple]:
    """The landed files refused whole, before any of their rows is read: key → (blob, code, reason).

    A file the pattern does not match is refused too: it was delivered to this dataset, and
    ignoring it would report a day without rows as a success.  ``encodings``, when given, is
    filled with the encoding each accepted file is read in (key → ``filecheck.Detection``: the
    declared one, or what ``encoding: auto`` found, with its confidence).
    """
    from lakehouse.engine import filecheck

    out = {}
    for key in strays:
        out[key] = (storage.S3Blob(key, settings), "pattern",
                    f"{key.rsplit('/', 1)[-1]}: the name does not match source.pattern {spec.source.pattern!r}; "
                    "rename the file (or change the pattern) and land it again")
    for key in keys:
        blob = storage.S3Blob(key, settings)
        found = filecheck.read_encoding(blob, spec)
        refusal = found if isinstance(found, filecheck.Refusal) else filecheck.check_file(blob, spec, found.encoding)
        if refusal is not None:
            out[key] = (blob, refusal.code, refusal.reason)
        elif encodings is not None:
            encodings[key] = found
    return out


def record_refusals(spark, refused: dict[str, tuple], acc: Accounting, settings) -> None:
    """Append the refusals to ``ops/refused_files`` now (the run is about to fail), and make the table
    queryable in Trino, where the error message sends the steward (no publish runs after a failed bronze)."""
    delta_io.append(refused_rows(spark, refused, acc, settings), settings.table_uri("ops", REFUSED))
    try:
        from lakehouse.io import trino
        trino.register_ops(settings)
    except Exception as exc:  # Trino down: the rows are kept; the next publish registers the table
        print(f"[bronze] {acc.dataset}: refusals recorded; not yet queryable in Trino "
              f"({exc.__class__.__name__}: {exc}); `lake up trino` then any publish registers lake.ops.*", flush=True)


def refused_rows(spark, refused: dict[str, tuple], acc: Accounting, settings):
    """The ``ops/refused_files`` rows of this run's refused files (path, size, SHA-256, reason)."""
    import datetime as dt

    at = dt.datetime.now(dt.timezone.utc)
    rows = [(at, acc.dataset, acc.batch_id, acc.run_id, f"s3://{settings.bucket}/{key}", blob.size, blob.sha256(),
             code, reason) for key, (blob, code, reason) in sorted(refused.items())]
    return spark.createDataFrame(rows, REFUSED_SCHEMA)
