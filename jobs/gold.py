"""Build a gold table from silver tables with the SQL declared in its spec.

A gold spec with ``incremental`` is rebuilt in part: the silver rows changed
since the last build (Delta's change data feed) name the partitions they fall
in, and only those partitions are recomputed and replaced.  The silver version
a build has read is kept as a table property, so a re-run with no new silver
changes rewrites nothing.  Without ``incremental`` the table is rebuilt whole.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from lakehouse.config.spec import GoldDataset
from lakehouse.core import sql
from lakehouse.core.settings import get_settings
from lakehouse.engine import jobrun
from lakehouse.engine.jobrun import Accounting
from lakehouse.engine.transforms import gold_sql
from lakehouse.io import delta_io
from lakehouse.io.spark import get_spark

VERSION_MARK = "lake.gold.source_version"


def changed_partitions(spark, spec: GoldDataset, silver_uri: str, since: int, until: int) -> list:
    """Partition values touched by silver changes in versions (since, until]."""
    inc = spec.incremental
    changes = (spark.read.format("delta").option("readChangeFeed", "true")
               .option("startingVersion", since + 1).option("endingVersion", until).load(silver_uri))
    changes.createOrReplaceTempView(f"_changes_{inc.source}")
    rows = spark.sql(f"SELECT DISTINCT {inc.expression} AS v FROM _changes_{inc.source}").collect()
    return sorted(r[0] for r in rows if r[0] is not None)




def run(dataset: str, date: str) -> Accounting:
    settings = get_settings()
    spec = jobrun.dataset_spec(dataset, GoldDataset, "jobs.gold builds gold datasets only")
    acc = Accounting(dataset, "gold", jobrun.batch_id(dataset, date))
    with jobrun.logged(acc, settings):
        spark = acc.spark = get_spark(f"gold {dataset}", settings)
        gold_uri = settings.table_uri("gold", dataset)
        silver = {}
        for dep in spec.depends_on:
            uri = settings.table_uri("silver", dep)
            if not delta_io.exists(spark, uri):
                raise jobrun.LakeError(f"gold {dataset} reads silver {dep}, which does not exist yet ({uri})")
            silver[dep] = uri
            delta_io.read(spark, uri).createOrReplaceTempView(dep)

        inc = spec.incremental
        if inc and delta_io.exists(spark, gold_uri):
            source_uri = silver[inc.source]
            now = delta_io.version(spark, source_uri)
            done = delta_io.properties(spark, gold_uri).get(VERSION_MARK)
            if done is not None and int(done) >= now:
                print(f"[gold] {dataset}: {inc.source} unchanged since version {done}; nothing to rebuild", flush=True)
                acc.extra["mode"] = "unchanged"
                return acc
            if done is not None:
                values = changed_partitions(spark, spec, source_uri, int(done), now)
                listed = ", ".join(sql.literal(v) for v in values)
                acc.extra.update(mode="incremental", partitions=len(values))
                if values:
                    # recompute only the touched partitions: the driving table is narrowed to them
                    delta_io.read(spark, source_uri).where(f"({inc.expression}) IN ({listed})") \
                        .createOrReplaceTempView(inc.source)
                    result = spark.sql(gold_sql(spec)).where(F.col(inc.column).cast("string")
                                                             .isin([str(v) for v in values]))
                    # counted while it is written (no pass of its own)
                    acc.rows_in = acc.rows_written = delta_io.replace_where(
                        result, gold_uri, f"CAST({inc.column} AS STRING) IN ({listed})")
                delta_io.set_properties(spark, gold_uri, {VERSION_MARK: str(now)})
                print(f"[gold] {dataset}: rebuilt {len(values)} {inc.column} partition(s) "
                      f"from {inc.source} versions {int(done) + 1}..{now}", flush=True)
                return acc

        result, written = delta_io.counted(spark.sql(gold_sql(spec)))  # counted while it is written
        writer = result.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        if spec.partition_by:
            writer = writer.partitionBy(*spec.partition_by)
        writer.save(gold_uri)
        acc.rows_in = acc.rows_written = int(written.get["rows"])
        if inc:  # after reading the write's metrics: setting a property is a commit of its own
            delta_io.set_properties(spark, gold_uri, {VERSION_MARK: str(delta_io.version(spark, silver[inc.source]))})
        acc.extra["mode"] = "full"
        print(f"[gold] {dataset}: {acc.rows_written:,} rows (full rebuild)", flush=True)
    return acc


if __name__ == "__main__":
    jobrun.main(__doc__, run)
