"""The column names the platform reserves, in one place (pure).

A spec's own columns match ``^[a-z]`` (``spec.base.NAME_RE``), so a name starting with ``_``
is reserved: bronze adds ``_source_file``, ``_source_hash``, ``_landing_date``, ``_batch_id``,
``_ingested_at`` and ``_rescued_data``; below are what refining carries through to silver, the
row hash a MERGE compares, and the quarantine table's columns.
"""

ROW_META = ("_source_file", "_batch_id", "_ingested_at", "_quarantine_id")  # carried through refining
ROW_HASH = "_row_hash"  # a silver row's business columns, hashed: MERGE leaves a row whose hash is unchanged
# how the row hash is computed, stored as its column's comment in each silver table: a table whose comment differs
# (or has none: SHA-256 over the row's JSON, before 2026-12-05) has its hashes recomputed once before a MERGE
ROW_HASH_COMMENT = "xxhash64 of the business columns and their NULL mask, 16 hex digits"
QUARANTINE_COLUMNS = ["dataset", "layer", "rule_id", "dimension", "reason", "record",
                      "_source_file", "_batch_id", "_quarantined_at", "failures", "quarantine_id",
                      "replayed_at", "replay_batch"]


def row_hash_sql(columns: list[str]) -> str:
    """The row hash of ``columns`` as a Spark SQL expression: the one definition, for new rows and for re-hashing.

    ``xxhash64`` reads each value as Spark holds it (a timestamp as microseconds, text as UTF-8), so the
    session's time zone cannot change it; it skips NULLs, so the mask of which columns are NULL is hashed
    too (``(NULL, 5)`` and ``(5, NULL)`` would hash alike without it).  64 bits: two versions of one key
    are taken for the same with odds of 1 in 2^64; 16 hexadecimal digits, a quarter of a SHA-256's.
    """
    names = ["`" + c.replace("`", "``") + "`" for c in columns]
    mask = ", ".join(f"{n} IS NULL" for n in names)
    return f"lpad(hex(xxhash64(array({mask}), {', '.join(names)})), 16, '0')"
