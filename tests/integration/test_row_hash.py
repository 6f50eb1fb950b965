"""A silver table hashed with the row hash's earlier definition (SHA-256 over the row's JSON) is re-hashed once,
before its next MERGE: unchanged rows stay untouched, and an SCD2 table opens no new version of a re-delivered key.
"""

from __future__ import annotations

import datetime
import uuid

COLUMNS = ["code", "name", "since"]
ROWS = [(1, "Hà Nội", None), (2, "Huế", datetime.date(2025, 7, 1)), (3, None, datetime.date(2025, 7, 1))]


def batch(spark, rows, valid_from: str | None = None):
    from pyspark.sql import functions as F
    df = spark.createDataFrame(rows, "code int, name string, since date")
    return df.withColumn("valid_from", F.lit(valid_from).cast("timestamp")) if valid_from else df


def hashed_the_old_way(df):
    from pyspark.sql import functions as F

    from lakehouse.core.columns import ROW_HASH
    return df.withColumn(ROW_HASH, F.sha2(F.to_json(F.struct(*COLUMNS)), 256))


def test_a_table_hashed_the_old_way_is_rehashed_once_then_merges_leave_unchanged_rows_alone(stack):
    from lakehouse.core.columns import ROW_HASH, ROW_HASH_COMMENT
    from lakehouse.engine.transforms import with_row_hash
    from lakehouse.io import delta_io, storage
    from lakehouse.io.spark import get_spark

    spark = get_spark("row hash", stack)
    tag = uuid.uuid4().hex[:8]
    keyed, history = (stack.table_uri("ops", f"rehash_{which}_{tag}") for which in ("keyed", "scd2"))

    def operations(uri):
        return [r[0] for r in spark.sql(f"DESCRIBE HISTORY {delta_io.sql_name(uri)}").select("operation")
                .orderBy("version").collect()]

    try:
        delta_io.merge(spark, hashed_the_old_way(batch(spark, ROWS)), keyed, ["code"])  # creates it
        delta_io.merge_scd2(spark, hashed_the_old_way(batch(spark, ROWS, "2026-01-01")), history, ["code"])

        same = delta_io.merge(spark, with_row_hash(batch(spark, ROWS), COLUMNS), keyed, ["code"], hashed=COLUMNS)
        assert (same["inserted"], same["updated"]) == (0, 0)  # without the re-hash: 3 rows "changed"
        table = spark.read.format("delta").load(keyed)
        assert table.schema[ROW_HASH].metadata.get("comment") == ROW_HASH_COMMENT
        assert sorted(tuple(r) for r in table.collect()) == \
            sorted(tuple(r) for r in with_row_hash(batch(spark, ROWS), COLUMNS).collect())
        after_rehash = operations(keyed)
        assert after_rehash[1:3] == ["UPDATE", "CHANGE COLUMN"], after_rehash

        changed = [(1, "Hà Nội", datetime.date(2026, 1, 1))] + ROWS[1:]
        again = delta_io.merge(spark, with_row_hash(batch(spark, changed), COLUMNS), keyed, ["code"], hashed=COLUMNS)
        assert (again["inserted"], again["updated"]) == (0, 1)
        assert operations(keyed) == after_rehash + ["MERGE"]  # re-hashed once, not on every MERGE

        redelivered = with_row_hash(batch(spark, ROWS, "2026-02-01"), COLUMNS)
        delta_io.merge_scd2(spark, redelivered, history, ["code"], hashed=COLUMNS)
        versions = spark.read.format("delta").load(history)
        assert versions.count() == 3 and versions.where("is_current").count() == 3  # no new version of any key
    finally:
        for uri in (keyed, history):
            storage.delete_prefix(uri.split(f"s3a://{stack.bucket}/", 1)[1] + "/", stack)
