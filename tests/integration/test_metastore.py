"""The Hive Metastore on the real stack: Spark and Trino see the same table names.

The publish step registers a dataset's tables through Trino; Spark then reads
them by name, a table Spark names is queryable in Trino, the names live in
PostgreSQL and outlive a metastore restart, and the metastore listens on
127.0.0.1 only.  The specs are tests/integration/datasets/access (acc_people,
silver; acc_contacts, gold built from it).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from lakehouse import services
from lakehouse.io import storage, trino
from lakehouse.core.settings import get_settings
from lakehelp import ingest, reset, use_datasets

HERE = Path(__file__).resolve().parent
SPECS = HERE / "datasets" / "access"
DATASETS = ["acc_people", "acc_contacts"]
PEOPLE = [
    {"person_id": 1, "citizen_id": "001090000123", "full_name": "Nguyễn Văn An", "date_of_birth": "1990-05-01",
     "phone": "0912345678", "region_code": 1},
    {"person_id": 2, "citizen_id": "079301000005", "full_name": "Trần Thị Lan", "date_of_birth": "2001-03-03",
     "phone": None, "region_code": 79},
]
SCRATCH = "mst_spark_named"  # a table Spark registers by name
# its folder, new per run: SeaweedFS keeps a deleted table's empty folders, and Spark
# refuses CREATE TABLE … LOCATION on a folder that is not empty
SCRATCH_FOLDER = f"{SCRATCH}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def published(stack, tmp_path_factory):
    from lakehouse.io.spark import get_spark

    source = tmp_path_factory.mktemp("metastore") / "people.jsonl"
    source.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in PEOPLE), encoding="utf-8")
    def forget_scratch() -> None:
        get_spark("test-metastore", stack).sql(f"DROP TABLE IF EXISTS gold.{SCRATCH}").collect()
        storage.delete_prefix(f"gold/{SCRATCH_FOLDER}/", stack)

    with use_datasets(SPECS):
        reset(DATASETS, stack)
        forget_scratch()  # an interrupted earlier run may have left it
        ingest("acc_people", [source], "2026-11-21")
        yield stack
        forget_scratch()
        reset(DATASETS, stack)


def _trino_rows(sql: str, settings) -> list[tuple]:
    return trino.query(sql, settings)[1]


def _spark_rows(sql: str) -> list[tuple]:
    from lakehouse.io.spark import get_spark

    return [tuple(r) for r in get_spark("test-metastore", get_settings()).sql(sql).collect()]


def test_spark_reads_by_name_what_trino_registered(published):
    for layer, table, key in (("silver", "acc_people", "person_id"), ("gold", "acc_contacts", "person_id")):
        columns = "person_id, full_name, region_code"
        in_trino = _trino_rows(f"SELECT {columns} FROM lake.{layer}.{table} ORDER BY {key}", published)
        assert in_trino and in_trino == _spark_rows(f"SELECT {columns} FROM {layer}.{table} ORDER BY {key}")
    spark_tables = {name for _, name, temporary in _spark_rows("SHOW TABLES IN silver") if not temporary}
    trino_tables = {r[0] for r in _trino_rows("SHOW TABLES FROM lake.silver", published)}
    assert "acc_people" in spark_tables and "acc_people" in trino_tables


def test_a_table_spark_names_is_queryable_in_trino(published):
    location = published.table_uri("gold", SCRATCH_FOLDER)
    _spark_rows(f"CREATE TABLE gold.{SCRATCH} USING delta LOCATION '{location}' AS "
                "SELECT region_code, count(*) AS people FROM silver.acc_people GROUP BY region_code")
    assert _trino_rows(f"SELECT region_code, people FROM lake.gold.{SCRATCH} ORDER BY 1", published) == [
        (1, 1), (79, 1)]
    _spark_rows(f"DROP TABLE gold.{SCRATCH}")  # and a name Spark drops is gone from Trino
    assert (SCRATCH,) not in _trino_rows("SHOW TABLES FROM lake.gold", published)


def _registered(settings) -> dict[str, str]:
    """``layer.table`` → location, read from the metastore's own PostgreSQL tables."""
    with services._pg_connect(settings, services.postgres_socket_dir(settings), dbname=services.METASTORE_DB) as conn:
        rows = conn.execute('SELECT d."NAME", t."TBL_NAME", s."LOCATION" FROM "TBLS" t '
                            'JOIN "DBS" d ON d."DB_ID" = t."DB_ID" JOIN "SDS" s ON s."SD_ID" = t."SD_ID"').fetchall()
    return {f"{db}.{table}": location for db, table, location in rows}


def test_the_names_live_in_postgres_and_outlive_a_metastore_restart(published):
    registered = _registered(published)
    assert registered["silver.acc_people"] == published.table_uri("silver", "acc_people", scheme="s3")
    assert registered["gold.acc_contacts"] == published.table_uri("gold", "acc_contacts", scheme="s3")
    before = _trino_rows("SELECT count(*) FROM lake.gold.acc_contacts", published)
    services.down(["metastore"], published)
    services.up(["metastore"], published)
    assert _registered(published) == registered
    assert _trino_rows("SELECT count(*) FROM lake.gold.acc_contacts", published) == before
    assert _spark_rows("SELECT count(*) FROM gold.acc_contacts") == before


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of sockets listening on ``port`` (IPv4 and IPv6), from /proc/net."""
    found = set()
    for name in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_the_metastore_listens_on_127_0_0_1_only(published):
    addresses = _listening_addresses(published.env.services.metastore.port)
    # 127.0.0.1 as /proc writes it, in IPv4 or as an IPv4-mapped IPv6 address
    assert addresses and addresses <= {"0100007F", "0000000000000000FFFF00000100007F"}
