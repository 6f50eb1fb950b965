"""Build a gold table from silver tables with the SQL declared in its spec."""

from __future__ import annotations

import time

from lakehouse import delta_io, jobrun
from lakehouse.settings import get_settings
from lakehouse.spark import get_spark
from lakehouse.spec import GoldDataset
from lakehouse.transforms import gold_sql


def run(dataset: str, date: str) -> int:
    started = time.monotonic()
    settings = get_settings()
    spec = jobrun.dataset_spec(dataset, GoldDataset, "jobs.gold builds gold datasets only")
    spark = get_spark(f"gold {dataset}")
    for dep in spec.depends_on:
        uri = settings.table_uri("silver", dep)
        if not delta_io.exists(spark, uri):
            raise jobrun.LakeError(f"gold {dataset} reads silver {dep}, which does not exist yet ({uri})")
        delta_io.read(spark, uri).createOrReplaceTempView(dep)
    result = spark.sql(gold_sql(spec))
    delta_io.overwrite(result, settings.table_uri("gold", dataset))
    rows = delta_io.read(spark, settings.table_uri("gold", dataset)).count()
    print(f"[gold] {dataset}: {rows} rows ({time.monotonic() - started:.1f}s)", flush=True)
    return rows


if __name__ == "__main__":
    jobrun.main(__doc__, run)
