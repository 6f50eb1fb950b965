"""Land a dataset's source as files under ``landing/<dataset>/<date>/``.

* ``builtin`` sources run their extractor (no Spark) and land one file.
* ``jdbc`` sources are read with Spark over JDBC and landed as Parquet: the whole
  table (a snapshot), or with a ``watermark`` only rows whose watermark is above
  the highest one already ingested from earlier dates.  A date that already has
  a complete extract (``_SUCCESS``) is not extracted again, so re-running a date
  lands the same files.
* ``files``, ``stream`` and ``documents`` sources are dropped into landing by the
  source system or `lake ingest`: nothing to do here.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from lakehouse.config.spec import SourceDataset
from lakehouse.core import sql
from lakehouse.core.settings import get_settings
from lakehouse.engine import connectors, jobrun
from lakehouse.io import delta_io, storage


def watermark_query(table: str, column: str, last: str | None) -> str:
    """The extract query: everything, or rows above the last watermark (pure)."""
    if last is None:
        return f"SELECT * FROM {table}"
    literal = last if last.lstrip("-").replace(".", "", 1).isdigit() else sql.literal(last)
    return f"SELECT * FROM {table} WHERE {column} > {literal}"


def last_watermark(spark, spec: SourceDataset, date: str, settings) -> str | None:
    """The highest watermark ingested into bronze from dates before ``date`` (a number or a timestamp)."""
    uri = settings.table_uri("bronze", spec.name)
    if not delta_io.exists(spark, uri):
        return None
    bronze = delta_io.read(spark, uri)
    column = spec.source.watermark
    if column not in bronze.columns:
        return None
    earlier = bronze.where(F.col("_landing_date") < F.lit(date).cast("date"))
    value = F.col(column)
    row = earlier.agg(F.max(value.try_cast("decimal(38,6)")).cast("string"),
                      F.max(value.try_cast("timestamp")).cast("string")).collect()[0]
    return row[0] if row[0] is not None else row[1]


def land_jdbc(spec: SourceDataset, date: str) -> str:
    from lakehouse.io.spark import get_spark

    settings = get_settings()
    prefix = f"landing/{spec.name}/{date}/"
    if storage.exists(prefix + "_SUCCESS", settings):
        print(f"[land] {spec.name}: s3://{settings.bucket}/{prefix} already holds this date's extract", flush=True)
        return prefix
    spark = get_spark(f"land {spec.name}", settings)
    last = last_watermark(spark, spec, date, settings) if spec.source.watermark else None
    query = watermark_query(spec.source.table, spec.source.watermark, last) if spec.source.watermark \
        else f"SELECT * FROM {spec.source.table}"
    conn = settings.jdbc(spec.source.connection)
    extract = (spark.read.format("jdbc").options(**conn)
               .option("query", query).option("sessionInitStatement", "SET TIME ZONE 'UTC'")
               .option("fetchsize", 10000).load())
    extract.coalesce(1).write.mode("overwrite").parquet(f"s3a://{settings.bucket}/{prefix}")
    rows = spark.read.parquet(f"s3a://{settings.bucket}/{prefix}").count()
    kind = f"rows with {spec.source.watermark} > {last}" if last else "rows (full snapshot)"
    print(f"[land] {spec.name}: {rows:,} {kind} from {spec.source.connection}:{spec.source.table} "
          f"-> s3://{settings.bucket}/{prefix}", flush=True)
    return prefix


def run(dataset: str, date: str) -> str | None:
    """Land the source for ``date``; returns the key or prefix landed, or None when nothing is extracted."""
    spec = jobrun.dataset_spec(dataset, SourceDataset, "gold datasets have nothing to land")
    if spec.source.kind == "jdbc":
        return land_jdbc(spec, date)
    extracted = connectors.extract(spec)
    if extracted is None:
        print(f"[land] {dataset}: {spec.source.kind} source: files are dropped into landing, nothing to extract",
              flush=True)
        return None
    filename, body = extracted
    settings = get_settings()
    key = settings.landing_key(dataset, date, filename)
    digest = storage.put_bytes(key, body, settings)
    print(f"[land] {dataset}: {len(body):,} bytes -> s3://{settings.bucket}/{key} (sha256 {digest[:12]})", flush=True)
    return key


if __name__ == "__main__":
    jobrun.main(__doc__, run)
