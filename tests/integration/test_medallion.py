"""The engine on a deliberately dirty file: exact counts, idempotent re-runs, SCD2 history, schema evolution.

The datasets live in tests/integration/datasets; a test that changes a spec
(a new column, a changed type) writes the changed copy to a temporary folder.
Files are landed through the real S3 server and run by the same pipeline
`lake ingest` uses.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakehouse.core.errors import LakeError
from lakehouse.demo import data as demo_data
from lakehouse.engine import jobrun
from lakehelp import ingest, reset, run_log, table, use_datasets

HERE = Path(__file__).resolve().parent
DATASETS = ["eng_regions", "eng_firms", "eng_firms_by_region"]
HEADER = "tax_code;firm_name;region_code;capital;updated_on"

DIRTY = [  # one line per case; the comment says where it must end up
    "0101;Công ty Hoà Bình;1;1.500.000;01/11/2026",       # silver
    "0102;Công ty Đà Nẵng;2;2.000;02/11/2026",            # silver
    "0101;Công ty Hoà Bình;1;1.500.000;01/11/2026",       # duplicate of the first line
    "0103;Thiếu cột",                                     # bronze quarantine: too few fields
    "0104;Công ty Vùng Lạ;99;1.000;02/11/2026",           # silver quarantine: region 99 is unknown
    "0105;Công ty Vốn Chữ;1;abc;02/11/2026",              # silver quarantine: capital is not a number
    ";Công ty Không Mã;1;1.000;02/11/2026",               # silver quarantine: the key is empty
    "0106;Công ty Âm Vốn;2;-5;02/11/2026",                # silver quarantine: capital below 0
    "",                                                   # a blank line is not a record
    unicodedata.normalize("NFD", "0107;Hợp tác xã Thuận Phước;2;700;03/11/2026"),  # silver, as NFC
]


def csv_file(tmp_path: Path, name: str, lines: list[str], header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_bytes(demo_data.encode_cp1258("\r\n".join([header, *lines]) + "\r\n"))
    return path


def changed_specs(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the test datasets with one line of eng_firms.yaml replaced."""
    folder = tmp_path / "engine"
    folder.mkdir(exist_ok=True)
    for f in (HERE / "datasets" / "engine").glob("*.yaml"):
        text = f.read_text(encoding="utf-8")
        if f.name == "eng_firms.yaml":
            assert old in text
            text = text.replace(old, new)
        (folder / f.name).write_text(text, encoding="utf-8")
    return tmp_path


def fingerprint(spark, settings) -> dict:
    out = {}
    for layer, name in [("bronze", "eng_firms"), ("silver", "eng_firms"), ("quarantine", "eng_firms"),
                        ("gold", "eng_firms_by_region")]:
        df = table(spark, layer, name, settings)
        cols = [c for c in df.columns if c not in ("_ingested_at", "_quarantined_at")]
        out[(layer, name)] = sorted(hashlib.sha256(repr(r).encode()).hexdigest() for r in df.select(*cols).collect())
    return out


@pytest.fixture(scope="module")
def engine(stack, tmp_path_factory):
    from lakehouse.io.spark import get_spark

    with use_datasets(HERE / "datasets"):
        reset(DATASETS, stack)
        tmp = tmp_path_factory.mktemp("engine")
        regions = tmp / "regions.jsonl"
        regions.write_text('{"region_code": 1, "region_name": "Miền Bắc"}\n{"region_code": 2, "region_name": "Miền Nam"}\n',
                           encoding="utf-8")
        ingest("eng_regions", [regions], "2026-11-01")
        yield {"spark": get_spark("tests", stack), "settings": stack, "tmp": tmp, "since": jobrun.now_iso()}


@pytest.fixture(scope="module")
def dirty(engine):
    return ingest("eng_firms", [csv_file(engine["tmp"], "firms-2026-11-02.csv", DIRTY)], "2026-11-02")


def test_a_dirty_file_is_accounted_for_row_by_row(engine, dirty):
    bronze, silver = dirty[("bronze", "eng_firms")], dirty[("silver", "eng_firms")]
    assert (bronze.rows_in, bronze.rows_written, bronze.rows_quarantined) == (9, 8, 1)
    assert (silver.rows_in, silver.rows_written, silver.rows_quarantined, silver.duplicates_collapsed) == (8, 3, 4, 1)

    spark, settings = engine["spark"], engine["settings"]
    rows = {r["tax_code"]: r for r in table(spark, "silver", "eng_firms", settings).collect()}
    assert set(rows) == {"0101", "0102", "0107"}
    assert rows["0107"]["firm_name"] == "Hợp tác xã Thuận Phước"  # Windows-1258 + NFD in, NFC out
    assert str(rows["0101"]["capital"]) == "1500000"
    reasons = {r["rule_id"]: r["reason"] for r in table(spark, "quarantine", "eng_firms", settings).collect()}
    assert reasons == {
        "parse": "line does not have the header's 5 fields separated by ';'",
        "conform__region_code": "region_code: 99 is not a known eng_regions.region_code",
        "cast__capital": "capital: cannot read 'abc' as decimal(18,0)",
        "not_null__tax_code": "tax_code: required but empty",
        "range__capital": "capital: -5 is outside [0, …]",
    }
    gold = {r["region_code"]: r["firm_count"] for r in table(spark, "gold", "eng_firms_by_region", settings).collect()}
    assert gold == {1: 1, 2: 2}


def test_the_run_log_holds_each_run_and_a_run_that_does_not_balance_fails_loudly(engine, dirty):
    log = run_log(engine["spark"], engine["settings"], dirty[("bronze", "eng_firms")].started_at.replace("Z", ""))
    mine = {(r["layer"], r["dataset"]): r for r in log.where(F.col("dataset") == "eng_firms").collect()}
    assert (mine[("silver", "eng_firms")]["rows_in"], mine[("silver", "eng_firms")]["rows_quarantined"]) == (8, 4)
    bad = jobrun.Accounting("eng_firms", "silver", "x", rows_in=3, rows_written=1)
    with pytest.raises(LakeError, match="does not balance"):
        bad.check()


def test_running_the_same_batch_again_changes_nothing(engine, dirty):
    before = fingerprint(engine["spark"], engine["settings"])
    again = ingest("eng_firms", [csv_file(engine["tmp"], "firms-2026-11-02.csv", DIRTY)], "2026-11-02")
    assert again[("bronze", "eng_firms")].extra["files_skipped"] == 1
    assert fingerprint(engine["spark"], engine["settings"]) == before


def test_a_change_opens_a_new_version_and_an_old_date_never_rewrites_history(engine, dirty):
    spark, settings = engine["spark"], engine["settings"]
    day2 = ["0101;Công ty Hoà Bình;1;2.500.000;05/11/2026",   # capital raised
            "0102;Công ty Đà Nẵng;2;2.000;02/11/2026",         # unchanged
            "0108;Công ty Mới;1;10;05/11/2026"]                # new
    ingest("eng_firms", [csv_file(engine["tmp"], "firms-2026-11-05.csv", day2)], "2026-11-05")
    versions = table(spark, "silver", "eng_firms", settings).where("tax_code = '0101'").orderBy("valid_from").collect()
    assert [str(v["capital"]) for v in versions] == ["1500000", "2500000"]
    assert [v["is_current"] for v in versions] == [False, True]
    assert versions[0]["valid_to"] == versions[1]["valid_from"]
    assert table(spark, "silver", "eng_firms", settings).count() == 5  # 0101 twice, 0102, 0107, 0108

    history = fingerprint(spark, settings)[("silver", "eng_firms")]
    old = ["0101;Công ty Hoà Bình;1;1.500.000;01/11/2026"]   # yesterday's state, delivered again later
    ingest("eng_firms", [csv_file(engine["tmp"], "firms-late.csv", old)], "2026-11-06")
    assert fingerprint(spark, settings)[("silver", "eng_firms")] == history


def test_a_new_source_column_is_added_to_silver(engine, dirty, tmp_path):
    spark, settings = engine["spark"], engine["settings"]
    updated = "  - {name: updated_on, type: date, nullable: false}\n"
    os.environ["LAKE_DATASETS_DIR"] = str(changed_specs(tmp_path, updated, updated + "  - {name: phone, type: string}\n"))
    try:
        lines = ["0109;Công ty Điện Thoại;2;50;07/11/2026;+84 912 345 678"]
        out = ingest("eng_firms", [csv_file(engine["tmp"], "firms-2026-11-07.csv", lines, HEADER + ";phone")],
                     "2026-11-07")
    finally:
        os.environ["LAKE_DATASETS_DIR"] = str(HERE / "datasets")
    assert out[("silver", "eng_firms")].rows_written == 1
    silver = table(spark, "silver", "eng_firms", settings)
    assert "phone" in silver.columns
    phones = {r["tax_code"]: r["phone"] for r in silver.where("is_current").collect()}
    assert phones["0109"] == "+84 912 345 678" and phones["0102"] is None


def test_a_type_change_is_refused_with_the_column_named(engine, dirty, tmp_path):
    os.environ["LAKE_DATASETS_DIR"] = str(changed_specs(
        tmp_path, '{name: capital, type: "decimal(18,0)", number_format: vi}', "{name: capital, type: bigint}"))
    try:
        with pytest.raises(LakeError, match="column capital is decimal\\(18,0\\) in the table but bigint in the spec"):
            ingest("eng_firms", [csv_file(engine["tmp"], "firms-2026-11-08.csv",
                                          ["0110;Công ty Số Nguyên;1;7;08/11/2026"])], "2026-11-08")
    finally:
        os.environ["LAKE_DATASETS_DIR"] = str(HERE / "datasets")
