"""Delta Lake reads and writes, in Spark SQL so they run on Spark Connect too.

(delta-spark's Python `DeltaTable` API needs Delta's Connect plugin, which is not
published for Spark 4.1; SQL reaches the same Delta commands.)  Delta on S3
allows one writer per table at a time; callers (one task per table, one DAG run
per domain at a time) make sure of that.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from lakehouse.transforms import ROW_HASH


def _table(uri: str) -> str:
    return "delta.`" + uri.replace("`", "``") + "`"


def exists(spark: SparkSession, uri: str) -> bool:
    """Is there a Delta table at ``uri``?"""
    from pyspark.errors import AnalysisException

    try:
        detail = spark.sql(f"DESCRIBE DETAIL {_table(uri)}").select("format").collect()
    except AnalysisException:
        return False
    return bool(detail) and detail[0][0] == "delta"


def read(spark: SparkSession, uri: str) -> DataFrame:
    return spark.read.format("delta").load(uri)


def append(df: DataFrame, uri: str) -> None:
    df.write.format("delta").mode("append").save(uri)


def replace_where(df: DataFrame, uri: str, condition: str) -> None:
    """Replace exactly the rows matching ``condition`` with ``df`` (idempotent re-runs)."""
    spark = df.sparkSession
    if exists(spark, uri):
        df.write.format("delta").mode("overwrite").option("replaceWhere", condition).save(uri)
    elif not df.isEmpty():
        df.write.format("delta").mode("overwrite").save(uri)


def overwrite(df: DataFrame, uri: str) -> None:
    """Replace the table's rows (and schema) in one atomic commit."""
    df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(uri)


def merge(spark: SparkSession, df: DataFrame, uri: str, keys: list[str]) -> dict[str, int]:
    """Upsert ``df`` on ``keys``; rows whose ``_row_hash`` is unchanged are not touched.

    Re-running the same batch is therefore a no-op on the data.  Returns Delta's
    operation metrics (rows inserted / updated).
    """
    if not exists(spark, uri):
        df.write.format("delta").mode("overwrite").save(uri)
        return {"inserted": df.count(), "updated": 0}
    view = "_lake_merge_source"
    df.createOrReplaceTempView(view)
    on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    spark.sql(f"""
        MERGE INTO {_table(uri)} t USING {view} s ON {on}
        WHEN MATCHED AND t.`{ROW_HASH}` <> s.`{ROW_HASH}` THEN UPDATE SET *
        WHEN NOT MATCHED THEN INSERT *
    """).collect()
    last = spark.sql(f"DESCRIBE HISTORY {_table(uri)} LIMIT 1").select("operation", "operationMetrics").collect()[0]
    metrics = last["operationMetrics"] or {}
    if last["operation"] != "MERGE":
        return {"inserted": 0, "updated": 0}
    return {"inserted": int(metrics.get("numTargetRowsInserted", 0)),
            "updated": int(metrics.get("numTargetRowsUpdated", 0))}
