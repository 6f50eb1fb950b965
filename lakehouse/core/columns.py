"""The column names the platform reserves, in one place (pure).

A spec's own columns match ``^[a-z]`` (``spec.base.NAME_RE``), so a name starting with ``_``
is reserved: bronze adds ``_source_file``, ``_source_hash``, ``_landing_date``, ``_batch_id``,
``_ingested_at`` and ``_rescued_data``; below are what refining carries through to silver, the
row hash a MERGE compares, and the quarantine table's columns.
"""

ROW_META = ("_source_file", "_batch_id", "_ingested_at", "_quarantine_id")  # carried through refining
ROW_HASH = "_row_hash"  # a silver row's business columns, hashed: MERGE leaves a row whose hash is unchanged
QUARANTINE_COLUMNS = ["dataset", "layer", "rule_id", "dimension", "reason", "record",
                      "_source_file", "_batch_id", "_quarantined_at", "failures", "quarantine_id",
                      "replayed_at", "replay_batch"]
