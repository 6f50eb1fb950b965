"""Delta Lake reads and writes, in Spark SQL so they run on Spark Connect too.

(delta-spark's Python `DeltaTable` API needs Delta's Connect plugin, which is not
published for Spark 4.1; SQL reaches the same Delta commands.)  Delta on S3
is safe for concurrent commits only inside one Spark driver (S3SingleDriverLogStore):
in `connect` mode every job commits through the one Spark Connect server, and
Airflow's per-dataset pools keep two MERGEs off one table (see dags/README.md).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField

from lakehouse.core import sql
from lakehouse.core.columns import ROW_HASH, ROW_HASH_COMMENT, row_hash_sql
from lakehouse.core.errors import LakeError


def _table(uri: str) -> str:
    return "delta.`" + uri.replace("`", "``") + "`"


def exists(spark: SparkSession, uri: str) -> bool:
    """Is there a Delta table at ``uri``?

    Resolving the table's schema loads only its newest metadata (≈ 0.03 s); DESCRIBE
    DETAIL also computed its size from every file (up to seconds on a long log).
    """
    from pyspark.errors import AnalysisException

    try:
        spark.read.format("delta").load(uri).schema
    except AnalysisException:
        return False
    return True


def read(spark: SparkSession, uri: str) -> DataFrame:
    return spark.read.format("delta").load(uri)


def append(df: DataFrame, uri: str) -> int:
    """Add rows; a column the table lacks is added to it (bronze gains new source fields); rows written.

    Parallel appends to one table (Airflow tasks writing ``ops/run_log``) are safe:
    they commit through one Spark driver, and Delta retries a blind append on the
    next version.  The exception is the table's very first commit: when several
    writers create it at once, all but one fail with DELTA_PROTOCOL_CHANGED; they
    try again once the winner's version 0 exists, and then simply append.
    """
    for attempt in range(3):
        observed, seen = counted(df)
        try:
            # a table created here (bronze, quarantine, ops) compacts itself once it holds 50 small files:
            # appends of a few rows each would otherwise make every later read open thousands of files
            (observed.write.format("delta").mode("append").option("mergeSchema", "true")
             .option("delta.autoOptimize.autoCompact", "true").save(uri))
            return int(seen.get.get("rows", 0))
        except Exception as exc:  # Spark Connect wraps it: match Delta's error class
            if "DELTA_PROTOCOL_CHANGED" not in str(exc) or attempt == 2:
                raise


def append_all(writes: list[tuple[DataFrame, str]]) -> None:
    """Append each ``(rows, uri)`` to its table, the commits side by side (one small commit is mostly waiting).

    Every write is tried; the first failure is raised once all have ended.
    """
    if len(writes) <= 1:
        for df, uri in writes:
            append(df, uri)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(writes)) as pool:
        futures = [pool.submit(append, df, uri) for df, uri in writes]
    for future in futures:
        future.result()


def properties(spark: SparkSession, uri: str) -> dict[str, str]:
    """The table's properties (not its protocol versions); reads only its newest metadata."""
    return {k: v for k, v in spark.sql(f"SHOW TBLPROPERTIES {_table(uri)}").collect()
            if k not in ("delta.minReaderVersion", "delta.minWriterVersion")}


def set_properties(spark: SparkSession, uri: str, props: dict[str, str]) -> None:
    pairs = ", ".join(f"'{k}' = '{v}'" for k, v in props.items())
    spark.sql(f"ALTER TABLE {_table(uri)} SET TBLPROPERTIES ({pairs})").collect()


def version(spark: SparkSession, uri: str) -> int:
    return int(spark.sql(f"DESCRIBE HISTORY {_table(uri)} LIMIT 1").select("version").collect()[0][0])


def create(df: DataFrame, uri: str, partition_by: list[str] | None = None, change_feed: bool = False) -> int:
    """Write the first version of a table; rows written.

    ``change_feed`` records row changes (and turns on deletion vectors), set in the same commit.
    """
    observed, seen = counted(df)
    writer = observed.write.format("delta").mode("overwrite")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if change_feed:
        # row changes feed incremental gold; deletion vectors let MERGE mark replaced rows instead of
        # rewriting whole files, so an increment costs what it changes, not what the table holds
        writer = writer.option("delta.enableChangeDataFeed", "true").option("delta.enableDeletionVectors", "true")
    writer.save(uri)
    return int(seen.get.get("rows", 0))


def evolve_schema(spark: SparkSession, df: DataFrame, uri: str) -> dict[str, StructField]:
    """Add the columns ``df`` has and the table lacks; a changed type is refused with the column named.

    Returns the table's columns as they were before (a column's comment is its metadata).
    """
    current = {f.name: f for f in spark.read.format("delta").load(uri).schema.fields}
    added = []
    for f in df.schema.fields:
        if f.name not in current:
            added.append(f"`{f.name}` {f.dataType.simpleString()}")
        elif current[f.name].dataType != f.dataType:
            raise LakeError(f"{uri}: column {f.name} is {current[f.name].dataType.simpleString()} in the table but "
                            f"{f.dataType.simpleString()} in the spec; a type change needs a new table "
                            "(rename the column, or rebuild the table from bronze)")
    if added:
        spark.sql(f"ALTER TABLE {_table(uri)} ADD COLUMNS ({', '.join(added)})").collect()
    return current


def rehash(spark: SparkSession, uri: str, columns: dict[str, StructField], hashed: list[str]) -> bool:
    """Recompute the table's stored row hashes with today's definition, once; whether it did.

    ``columns``: the table's (``evolve_schema``' answer); ``hashed``: the business columns the hash covers.
    The ``_row_hash`` column's comment names the definition its values follow (``columns.ROW_HASH_COMMENT``);
    while it names another (or none), every row is re-hashed in one UPDATE, then the comment is set, so a
    MERGE never compares hashes of two definitions (each unchanged row would look changed, and an SCD2 table
    would open a new, identical version of every key).  Stopped between the two commits, the next MERGE
    simply re-hashes again.
    """
    field = columns.get(ROW_HASH)
    if field is not None and field.metadata.get("comment") == ROW_HASH_COMMENT:
        return False
    print(f"[delta] {uri}: re-hashing every row once ({ROW_HASH}: {ROW_HASH_COMMENT})", flush=True)
    spark.sql(f"UPDATE {_table(uri)} SET `{ROW_HASH}` = {row_hash_sql(hashed)}").collect()
    spark.sql(f"ALTER TABLE {_table(uri)} ALTER COLUMN `{ROW_HASH}` COMMENT {sql.literal(ROW_HASH_COMMENT)}").collect()
    return True


def counted(df: DataFrame, *metrics) -> tuple[DataFrame, Observation]:
    """``df`` observed while it is written: ``rows`` (every row that passed), plus any other aggregates.

    The numbers come from the write's own pass (no second read); ``observation.get`` holds
    them once the write has run.
    """
    observation = Observation()
    return df.observe(observation, F.count(F.lit(1)).alias("rows"), *metrics), observation


def measure(df: DataFrame, *metrics) -> dict:
    """``rows`` and any other aggregates over ``df``, in one pass (for a batch held in the server's memory)."""
    return df.agg(F.count(F.lit(1)).alias("rows"), *metrics).collect()[0].asDict()


def replace_where(df: DataFrame, uri: str, condition: str) -> int:
    """Replace exactly the rows matching ``condition`` with ``df`` (idempotent re-runs); rows written.

    Without a table, ``df`` creates it (even empty).
    """
    spark = df.sparkSession
    observed, seen = counted(df)
    if exists(spark, uri):
        observed.write.format("delta").mode("overwrite").option("replaceWhere", condition).save(uri)
    else:
        observed.write.format("delta").mode("overwrite").save(uri)
    return int(seen.get.get("rows", 0))


def overwrite(df: DataFrame, uri: str, *metrics) -> dict:
    """Replace the table's rows (and schema) in one atomic commit; what was observed while writing.

    ``rows`` is always counted; ``metrics`` are more aggregates over the written rows.
    """
    observed, seen = counted(df, *metrics)
    observed.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(uri)
    return dict(seen.get)


MATERIALIZE = "spark.databricks.delta.merge.materializeSource"


def _merged(spark: SparkSession, uri: str, sql: str, source_held: bool = False) -> dict[str, int]:
    """Run a MERGE; rows inserted, updated and deleted (its own answer), and ``source_rows`` it read.

    ``source_rows`` comes from the MERGE's commit, found by a token in its user metadata;
    a MERGE that changed nothing commits nothing, and then has none.
    ``source_held``: the source is already computed and held in the server's memory (a local
    checkpoint), so both of the MERGE's passes read the same rows; Delta's own copy of a
    source that is not a plain Delta scan is then only cost (0.4–0.6 s of a small batch's MERGE).
    """
    import uuid

    token = f"lake-merge-{uuid.uuid4().hex}"
    key = "spark.databricks.delta.commitInfo.userMetadata"
    spark.conf.set(key, token)
    if source_held:
        spark.conf.set(MATERIALIZE, "none")
    try:
        answer = spark.sql(sql).collect()[0].asDict()
    finally:
        spark.conf.unset(key)
        if source_held:
            spark.conf.unset(MATERIALIZE)
    out = {"inserted": int(answer.get("num_inserted_rows") or 0), "updated": int(answer.get("num_updated_rows") or 0),
           "deleted": int(answer.get("num_deleted_rows") or 0)}
    last = (spark.sql(f"DESCRIBE HISTORY {_table(uri)} LIMIT 1")
            .select("operation", "operationMetrics", "userMetadata").collect()[0])
    if last["userMetadata"] == token and last["operation"] == "MERGE":
        out["source_rows"] = int((last["operationMetrics"] or {}).get("numSourceRows", 0))
    return out


def _on(keys: list[str], left: str = "t", right: str = "s") -> str:
    return " AND ".join(f"{left}.`{k}` <=> {right}.`{k}`" for k in keys)


def _create_keyed(spark: SparkSession, df: DataFrame, uri: str, partition_by: list[str] | None) -> dict[str, int]:
    """A silver table's first batch: create it and report its rows as the merge metrics would."""
    written = create(df, uri, partition_by, change_feed=True)
    return {"inserted": written, "updated": 0, "deleted": 0, "source_rows": written}


def merge(spark: SparkSession, df: DataFrame, uri: str, keys: list[str], mode: str = "merge",
          partition_by: list[str] | None = None, order_by: str | None = None,
          source_held: bool = False, bounds: dict[str, tuple[object, object, str]] | None = None,
          hashed: list[str] | None = None) -> dict[str, int]:
    """Write a de-duplicated batch into a keyed table; re-running the same batch changes nothing.

    * ``merge``: upsert; rows whose ``_row_hash`` is unchanged are not touched, and with
      ``order_by`` a row older than the stored one does not replace it (re-running an old date).
    * ``append``: insert keys not yet present; existing rows are never changed.
    * ``snapshot``: the batch is the whole table: upsert, and delete keys it lacks.
    Returns Delta's operation metrics (rows inserted / updated / deleted).
    ``source_held``: ``df`` is read from a local checkpoint, de-duplicated before it (see :func:`_merged`).
    ``bounds``: ``{key: (smallest, largest, type)}`` that ``df``'s keys lie within (``transforms.key_bounds``):
    with ``merge`` and ``append`` the condition also bounds the target's keys by them, so Delta reads only the
    files whose statistics overlap the batch; ``snapshot`` ignores them (its delete must see every key).
    ``hashed``: the columns ``_row_hash`` covers; the table's stored hashes are brought to today's definition
    first (:func:`rehash`).
    """
    if not exists(spark, uri):
        return _create_keyed(spark, df, uri, partition_by)
    columns = evolve_schema(spark, df, uri)
    if hashed:
        rehash(spark, uri, columns, hashed)
    view = "_lake_merge_source"
    df.createOrReplaceTempView(view)
    newer = f" AND (t.`{order_by}` IS NULL OR s.`{order_by}` >= t.`{order_by}`)" if order_by else ""
    clauses = {
        "merge": [f"WHEN MATCHED AND t.`{ROW_HASH}` <> s.`{ROW_HASH}`{newer} THEN UPDATE SET *",
                  "WHEN NOT MATCHED THEN INSERT *"],
        "append": ["WHEN NOT MATCHED THEN INSERT *"],
        "snapshot": [f"WHEN MATCHED AND t.`{ROW_HASH}` <> s.`{ROW_HASH}` THEN UPDATE SET *",
                     "WHEN NOT MATCHED THEN INSERT *",
                     "WHEN NOT MATCHED BY SOURCE THEN DELETE"],
    }[mode]
    on = _on(keys) + (_within(bounds) if bounds and mode != "snapshot" else "")
    return _merged(spark, uri, f"MERGE INTO {_table(uri)} t USING {view} s ON {on} {' '.join(clauses)}", source_held)


def _within(bounds: dict[str, tuple[object, object, str]]) -> str:
    """`` AND t.k >= <smallest> AND t.k <= <largest>`` for each bounded key, as literals Delta's file skipping reads."""
    return "".join(f" AND t.`{k}` >= {sql.spark_literal(low, type_)} AND t.`{k}` <= {sql.spark_literal(high, type_)}"
                   for k, (low, high, type_) in bounds.items())


def merge_scd2(spark: SparkSession, df: DataFrame, uri: str, keys: list[str],
               partition_by: list[str] | None = None, hashed: list[str] | None = None) -> dict[str, int]:
    """Keep history: a changed row closes the current version and opens a new one.

    ``df`` carries ``valid_from`` (when this version became true).  A batch older
    than a key's current version is ignored for that key, so re-running an old
    date never rewrites history; a same-time correction updates in place.  ``hashed``: as for :func:`merge`.
    """
    staged = df.withColumns({"valid_to": F.lit(None).cast("timestamp"), "is_current": F.lit(True)})
    if not exists(spark, uri):
        return _create_keyed(spark, staged, uri, partition_by)
    columns = evolve_schema(spark, staged, uri)
    if hashed:
        rehash(spark, uri, columns, hashed)
    view = "_lake_scd2_source"
    staged.createOrReplaceTempView(view)
    merge_keys = ", ".join(f"s.`{k}` AS `_mk_{k}`" for k in keys)
    null_keys = ", ".join(f"CAST(NULL AS {f.dataType.simpleString()}) AS `_mk_{f.name}`"
                          for k in keys for f in staged.schema.fields if f.name == k)
    on_current = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    changed = f"t.`{ROW_HASH}` <> s.`{ROW_HASH}`"
    merged = _merged(spark, uri, f"""
        MERGE INTO {_table(uri)} t
        USING (
            SELECT s.*, {merge_keys} FROM {view} s
            UNION ALL
            SELECT s.*, {null_keys} FROM {view} s JOIN {_table(uri)} t
              ON {on_current} AND t.is_current AND {changed} AND s.valid_from > t.valid_from
        ) s
        ON {" AND ".join(f"t.`{k}` = s.`_mk_{k}`" for k in keys)} AND t.is_current
        WHEN MATCHED AND {changed} AND s.valid_from > t.valid_from
          THEN UPDATE SET t.valid_to = s.valid_from, t.is_current = false
        WHEN MATCHED AND {changed} AND s.valid_from = t.valid_from
          THEN UPDATE SET {", ".join(f"t.`{c}` = s.`{c}`" for c in staged.columns)}
        WHEN NOT MATCHED THEN INSERT ({", ".join(f"`{c}`" for c in staged.columns)})
          VALUES ({", ".join(f"s.`{c}`" for c in staged.columns)})
    """)
    merged.pop("source_rows", None)  # the source holds extra rows for the versions it closes
    return merged


def sql_name(uri: str) -> str:
    """How SQL names the Delta table at ``uri``."""
    return _table(uri)


def detail(spark: SparkSession, uri: str) -> dict:
    """DESCRIBE DETAIL as a dict (numFiles, sizeInBytes, partitionColumns, properties, ...)."""
    return spark.sql(f"DESCRIBE DETAIL {_table(uri)}").collect()[0].asDict()
