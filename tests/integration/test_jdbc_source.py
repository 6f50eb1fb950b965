"""Spark reads the ministry's dossier system (a real PostgreSQL) over JDBC through the Spark Connect server.

The source side is written with ``sourcedb.load_rows`` (upserts, as a changing
source system would), the lake side with ``settings.jdbc("ministry_db")``.
"""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakehouse import services
from lakehouse.io import sourcedb
from lakehouse.io.spark import get_spark
from lakehouse.core.settings import get_settings

TABLE = "test_dossiers"
DDL = ("dossier_id bigint PRIMARY KEY, title text NOT NULL, status text NOT NULL, "
       "fee numeric(12, 2), updated_at timestamptz NOT NULL")
UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
T1 = dt.datetime(2026, 11, 2, 8, 0, tzinfo=UTC)

FIRST = [  # what the dossier system holds on day one
    {"dossier_id": 1, "title": "Cấp giấy phép xây dựng", "status": "received",
     "fee": Decimal("150000.00"), "updated_at": T0},
    {"dossier_id": 2, "title": "Đăng ký hộ kinh doanh", "status": "received",
     "fee": None, "updated_at": T0},
    {"dossier_id": 3, "title": "Chứng thực bản sao", "status": "done",
     "fee": Decimal("2000.00"), "updated_at": T0},
]
CHANGES = [  # a day later: dossier 2 moves on, dossier 4 arrives
    {"dossier_id": 2, "title": "Đăng ký hộ kinh doanh", "status": "processing",
     "fee": Decimal("100000.00"), "updated_at": T1},
    {"dossier_id": 4, "title": "Cấp đổi giấy phép lái xe", "status": "received",
     "fee": Decimal("135000.00"), "updated_at": T1},
]


def _rows(df):
    return sorted(tuple(r) for r in df.select(
        "dossier_id", "title", "status", F.col("fee").cast("string").alias("fee"),
        F.date_format("updated_at", "yyyy-MM-dd HH:mm:ss").alias("updated_at")).collect())


def _expected(rows):
    return sorted((r["dossier_id"], r["title"], r["status"], None if r["fee"] is None else str(r["fee"]),
                   r["updated_at"].strftime("%Y-%m-%d %H:%M:%S")) for r in rows)


@pytest.fixture(scope="module")
def source(stack):
    spark_pid = services.select(["spark"], stack)[0].pid()
    cmdline = Path(f"/proc/{spark_pid}/cmdline").read_bytes().decode(errors="replace") if spark_pid else ""
    assert "postgresql-42.7.14.jar" in cmdline, (
        "the running Spark Connect server has no PostgreSQL JDBC driver on its class path; "
        "restart it: `lake down spark && lake up spark` (LAKE_ENV=test)")
    sourcedb.execute("ministry_db", f"DROP TABLE IF EXISTS {TABLE}", settings=stack)
    yield stack
    sourcedb.execute("ministry_db", f"DROP TABLE IF EXISTS {TABLE}", settings=stack)


def test_spark_reads_the_source_table_over_jdbc(source):
    assert sourcedb.load_rows("ministry_db", TABLE, DDL, FIRST, key=["dossier_id"], settings=source) == 3
    spark = get_spark("test jdbc source", get_settings())
    df = spark.read.format("jdbc").options(**source.jdbc("ministry_db"), dbtable=TABLE).load()
    assert [(f.name, f.dataType.simpleString()) for f in df.schema.fields] == [
        ("dossier_id", "bigint"), ("title", "string"), ("status", "string"),
        ("fee", "decimal(12,2)"), ("updated_at", "timestamp")]
    assert _rows(df) == _expected(FIRST)


def test_an_incremental_read_with_a_watermark_sees_only_the_changes(source):
    sourcedb.load_rows("ministry_db", TABLE, DDL, FIRST, key=["dossier_id"], settings=source)
    assert sourcedb.load_rows("ministry_db", TABLE, DDL, CHANGES, key=["dossier_id"], settings=source) == 2
    spark = get_spark("test jdbc source", get_settings())
    jdbc = source.jdbc("ministry_db")
    watermark = T0.strftime("%Y-%m-%d %H:%M:%S+00")

    # the `query` option: Spark wraps it as a subquery and pushes nothing else down
    changed = spark.read.format("jdbc").options(
        **jdbc, query=f"SELECT * FROM {TABLE} WHERE updated_at > TIMESTAMPTZ '{watermark}'").load()
    assert _rows(changed) == _expected(CHANGES)

    # a dbtable subquery, plus a filter Spark pushes down to PostgreSQL
    sub = spark.read.format("jdbc").options(
        **jdbc, dbtable=f"(SELECT * FROM {TABLE} WHERE updated_at > TIMESTAMPTZ '{watermark}') AS changed").load()
    assert _rows(sub.where(F.col("status") == "received")) == _expected([CHANGES[1]])

    # the whole table: upserts replaced dossier 2 in place, nothing was duplicated
    everything = spark.read.format("jdbc").options(**jdbc, dbtable=TABLE).load()
    assert _rows(everything) == _expected([FIRST[0], CHANGES[0], FIRST[2], CHANGES[1]])
    assert sourcedb.execute("ministry_db", f"SELECT max(updated_at) FROM {TABLE}", settings=source) == [(T1,)]
