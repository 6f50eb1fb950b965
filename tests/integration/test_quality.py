"""Quality on the real stack: exact quarantine counts per rule and dimension, a `fail` rule that keeps
the batch from Trino, a stale dataset, the report a quality officer reads, and a quarantine replay.

The datasets are in tests/integration/datasets/quality: qa_people breaks every kind of rule, one
line per case; qa_offices is its master data.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakehouse.config.spec import load_specs
from lakehouse.core.errors import LakeError
from lakehouse.demo import data as demo_data
from lakehouse.engine import jobrun
from lakehouse.io import trino
from lakehouse.orchestration.pipeline import Step, land_files, plan, run_steps
from lakehouse.quality import scorecard
from lakehelp import ingest, reset, run_log, table, use_datasets

HERE = Path(__file__).resolve().parent
DATASETS = ["qa_offices", "qa_people"]
HEADER = "person_id,full_name,date_of_birth,sex,phone,tax_code,commune_code,office_code,status,score,registered_on"
DAY1, DAY2 = "2026-11-02", "2026-11-03"


def cccd(province: int, born: dt.date, sex: str, serial: int) -> str:
    return demo_data.citizen_id(province, born, sex, serial)


def commune() -> int:
    from vietnam_provinces import Ward
    return min(int(w.code) for w in Ward.iter_all())


AN = cccd(1, dt.date(1990, 5, 1), "Nam", 123)
LAN = cccd(79, dt.date(2001, 3, 3), "Nữ", 5)
WRONG_SEX = cccd(1, dt.date(1985, 7, 7), "Nữ", 7)    # the card says a woman; the row says Nam


def dirty_lines() -> list[tuple[str, str]]:
    """(line, where it must end up): every rule broken by one line, one line breaking two."""
    c = commune()
    return [
        (f"{AN},Nguyễn Văn An,01/05/1990,Nam,0912345678,0101234567,{c},1,active,50,01/11/2026", "silver"),
        (f"{LAN},Trần Thị Lan,03/03/2001,Nữ,024 3825 1234,0101234568-001,{c},1,pending,70,01/11/2026",
         "silver, with a phone and a status warning"),
        (f"{WRONG_SEX},Lê Văn Cường,07/07/1985,Nam,0987654321,0101234569,{c},1,active,10,01/11/2026",
         "quarantine: cccd"),
        (f"{cccd(1, dt.date(1970, 1, 1), 'Nam', 11)},Phạm Văn Dũng,01/01/1970,Nam,,12345,{c},1,active,20,01/11/2026",
         "quarantine: tax_code"),
        (f"{cccd(1, dt.date(1971, 1, 1), 'Nam', 12)},Hoàng Văn Em,01/01/1971,Nam,,0101234570,99999,1,active,20,"
         "01/11/2026", "quarantine: admin_unit"),
        (f"{cccd(1, dt.date(1972, 1, 1), 'Nam', 13)},Vũ Văn Phúc,01/01/1972,Nam,,0101234571,{c},9,active,20,"
         "01/11/2026", "quarantine: conform (office 9 is not in the master data yet)"),
        (f"{cccd(1, dt.date(1973, 1, 1), 'Nam', 14)},,01/01/1973,Nam,,0101234572,{c},1,active,20,01/11/2026",
         "quarantine: not_null full_name"),
        (f"{cccd(1, dt.date(1974, 1, 1), 'Nam', 15)},Đỗ Văn Giang,01/01/1974,Nam,,999,{c},9,closed,20,01/11/2026",
         "quarantine: tax_code first, conform too"),
        (f"{AN},Nguyễn Văn An,01/05/1990,Nam,0912345678,0101234567,{c},1,active,50,01/11/2026", "duplicate"),
    ]


def csv_file(folder: Path, name: str, lines: list[str]) -> Path:
    path = folder / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def offices(folder: Path, codes: list[int]) -> Path:
    path = folder / "offices.jsonl"
    path.write_text("".join(json.dumps({"office_code": c, "office_name": f"Văn phòng {c}"}) + "\n" for c in codes),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def qa(stack, tmp_path_factory):
    from lakehouse.io.spark import get_spark

    with use_datasets(HERE / "datasets"):
        reset(DATASETS, stack)
        tmp = tmp_path_factory.mktemp("quality")
        ingest("qa_offices", [offices(tmp, [1, 2])], DAY1)
        since = jobrun.now_iso()
        day1 = ingest("qa_people", [csv_file(tmp, "people-1.csv", [line for line, _ in dirty_lines()])], DAY1)
        yield {"spark": get_spark("tests", stack), "settings": stack, "tmp": tmp, "day1": day1, "since": since}


def results(spark, settings, batch: str, kind: str = "load") -> dict:
    rows = (table(spark, "ops", "quality_results", settings)
            .where((F.col("dataset") == "qa_people") & (F.col("batch_id") == batch) & (F.col("kind") == kind))
            .orderBy(F.col("checked_at").desc()).collect())
    return {r["rule_id"]: r for r in rows if r["check_id"] == rows[0]["check_id"]}


def test_a_dirty_file_gives_exact_quarantine_counts_per_rule_and_dimension(qa):
    spark, settings = qa["spark"], qa["settings"]
    silver = qa["day1"][("silver", "qa_people")]
    assert (silver.rows_in, silver.rows_written, silver.rows_quarantined, silver.duplicates_collapsed) == (9, 2, 6, 1)

    quarantined = (table(spark, "quarantine", "qa_people", settings)
                   .where(F.col("_batch_id") == jobrun.batch_id("qa_people", DAY1)).collect())
    first = {}
    for r in quarantined:  # the rule that names each row
        first[r["rule_id"]] = first.get(r["rule_id"], 0) + 1
    assert first == {"cccd__person_id": 1, "tax_code__tax_code": 2, "admin_unit__commune_code": 1,
                     "conform__office_code": 1, "not_null__full_name": 1}
    by_dimension = {}
    for r in quarantined:
        by_dimension[r["dimension"]] = by_dimension.get(r["dimension"], 0) + 1
    assert by_dimension == {"dung": 3, "sach": 2, "du": 1}
    every = {}
    for r in quarantined:  # every rule each row broke
        for f in r["failures"]:
            every[f["rule_id"]] = every.get(f["rule_id"], 0) + 1
    assert every == {"cccd__person_id": 1, "tax_code__tax_code": 2, "admin_unit__commune_code": 1,
                     "conform__office_code": 2, "not_null__full_name": 1}
    both = next(r for r in quarantined if len(r["failures"]) == 2)
    assert (both["rule_id"], both["reason"]) == ("tax_code__tax_code",
                                                 "tax_code: tax code must be 10 digits, 13 digits, or 10 digits-3 digits")
    wrong = next(r for r in quarantined if r["rule_id"] == "cccd__person_id")
    assert json.loads(wrong["record"])["person_id"] == WRONG_SEX and "sex" in wrong["reason"]

    # Great Expectations counted the same rows, and the warnings left their rows in silver
    got = results(spark, settings, jobrun.batch_id("qa_people", DAY1))
    assert {k: (v["unexpected_count"], v["success"]) for k, v in got.items()
            if k in every or k in ("phone__phone", "in_set__status")} == {
        "cccd__person_id": (1, False), "tax_code__tax_code": (2, False), "admin_unit__commune_code": (1, False),
        "conform__office_code": (2, False), "not_null__full_name": (1, False),
        "phone__phone": (1, False), "in_set__status": (1, False)}
    assert got["range__score"]["success"] and got["row_count"]["success"]
    assert (got["unique__person_id"]["unexpected_count"], got["unique__person_id"]["engine"]) == (1, "spark")
    assert got["phone__phone"]["examples"] == ["024 3825 1234"]
    assert {r["person_id"] for r in table(spark, "silver", "qa_people", settings).collect()} == {AN, LAN}


def test_the_scorecard_scores_each_dimension_from_the_rules(qa):
    spark, settings = qa["spark"], qa["settings"]
    card = (table(spark, "ops", "quality_scorecard", settings)
            .where((F.col("dataset") == "qa_people") & (F.col("batch_id") == jobrun.batch_id("qa_people", DAY1)))
            .orderBy(F.col("checked_at").desc()).first())
    assert (card["status"], card["rows_in"], card["rows_written"], card["rows_quarantined"],
            card["duplicates_collapsed"]) == ("published", 9, 2, 6, 1)
    # đủ: not-null of person_id, full_name (1 of 9 empty) and registered_on, and the row count
    assert card["du"] == pytest.approx(round(100 * (3 + 8 / 9) / 4, 2))
    # sạch: the tax code (2 of 9) and one row per key (1 of 9 collapsed as a duplicate)
    assert card["sach"] == pytest.approx(round(100 * (7 / 9 + 8 / 9) / 2, 2))
    # sống: the newest record is weeks old (2d allowed), the load is fresh
    assert card["song"] == pytest.approx(50.0)
    # đúng: cccd, phone, admin_unit and status each fail 1 of 9 rows, the office code 2 of 9; the score range
    # and the five typed columns' casts (date_of_birth, commune_code, office_code, score, registered_on) none
    assert card["dung"] == pytest.approx(93.94)  # 100 * (4 * 8/9 + 7/9 + 6 * 9/9) / 11, worked by hand
    assert card["overall"] == pytest.approx(81.12)  # (93.94 + 97.22 + 83.33 + 50) / 4, worked by hand


def test_a_failed_fail_rule_keeps_the_batch_from_trino(qa):
    spark, settings = qa["spark"], qa["settings"]
    before = trino.query("SELECT person_id FROM lake.silver.qa_people ORDER BY person_id", settings)[1]
    newcomer = cccd(1, dt.date(1980, 2, 2), "Nam", 21)
    lines = [f"{newcomer},Ngô Văn Hải,02/02/1980,Nam,0912000000,0101234599,{commune()},1,active,50,02/11/2026",
             f"{AN},Nguyễn Văn An,01/05/1990,Nam,0912345678,0101234567,{commune()},1,active,150,02/11/2026"]
    land_files("qa_people", [csv_file(qa["tmp"], "people-2.csv", lines)], DAY2)
    run_steps(plan(load_specs(), ["qa_people"], with_land=False)[:1], DAY2)  # bronze
    with pytest.raises(LakeError, match=r"not published: rules with action 'fail' failed: range__score") as refused:
        run_steps([s for s in plan(load_specs(), ["qa_people"], with_land=False) if s.job == "silver"], DAY2)
    assert str(refused.value).endswith(f"are in {settings.table_uri('staging', 'qa_people')}")  # where to look
    after = trino.query("SELECT person_id FROM lake.silver.qa_people ORDER BY person_id", settings)[1]
    assert after == before  # neither the newcomer nor the bad score
    log = run_log(spark, settings, qa["since"].replace("Z", "")).where(
        (F.col("dataset") == "qa_people") & (F.col("batch_id") == jobrun.batch_id("qa_people", DAY2))
        & (F.col("layer") == "silver")).collect()
    assert [r["status"] for r in log] == ["failed"] and "range__score" in log[0]["error"]
    got = results(spark, settings, jobrun.batch_id("qa_people", DAY2))
    assert (got["range__score"]["success"], got["range__score"]["unexpected_count"]) == (False, 1)
    card = (table(spark, "ops", "quality_scorecard", settings)
            .where(F.col("batch_id") == jobrun.batch_id("qa_people", DAY2)).first())
    assert card["status"] == "blocked"
    refused = table(spark, "staging", "qa_people", settings)  # the refused batch, kept for the steward
    assert sorted(r["person_id"] for r in refused.collect()) == sorted([newcomer, AN])
    assert {r["_batch_id"] for r in refused.collect()} == {jobrun.batch_id("qa_people", DAY2)}


def test_a_stale_dataset_is_reported_late_by_the_scheduled_check(qa):
    from jobs import freshness

    spark, settings = qa["spark"], qa["settings"]
    checked = freshness.run("qa_people", DAY2)
    by_id = {r.rule_id: r for r in checked}
    assert not by_id["freshness__event"].success  # newest registered_on is 2026-11-01, 2 days allowed
    assert by_id["freshness__event"].examples[0].startswith("2026-11-01")
    assert by_id["freshness__load"].success      # the last good load ran minutes ago
    card = (table(spark, "ops", "quality_scorecard", settings)
            .where((F.col("dataset") == "qa_people") & (F.col("kind") == "freshness"))
            .orderBy(F.col("checked_at").desc()).first())
    assert card["song"] == pytest.approx(50.0)
    last_load = (table(spark, "ops", "quality_scorecard", settings)
                 .where((F.col("dataset") == "qa_people") & (F.col("kind") == "load"))
                 .orderBy(F.col("checked_at").desc()).first())
    assert (card["dung"], card["du"], card["sach"]) == (last_load["dung"], last_load["du"], last_load["sach"])


def test_the_report_shows_scores_failures_quarantine_and_freshness(qa):
    from lakehouse.quality.quality_report import render_text

    settings = qa["settings"]
    trino.register_ops(settings)
    [report] = scorecard.reports(["qa_people"], settings)
    assert report["latest"]["status"] == "blocked"      # day 2's batch
    assert report["quarantine"]["open_rows"] == 6
    assert {r["rule_id"]: r["rows"] for r in report["quarantine"]["by_rule"]}["tax_code__tax_code"] == 2
    assert report["freshness"]["ok"] is False and report["freshness"]["newest_event"].startswith("2026-11-01")
    assert report["trend"] and all(t["overall"] is not None for t in report["trend"])
    text = render_text(report, "vi")
    assert "qa_people" in text and "range__score" in text
    index = scorecard.write_site([report], settings)
    page = (index.parent / "qa_people.html").read_text(encoding="utf-8")
    assert "range__score" in page and "Điểm phải từ 0 đến 100" in page
    assert (index.parent / "en" / "qa_people.html").exists()
    assert (index.parent / "quarantine" / "qa_people.csv").read_text(encoding="utf-8").count("\n") == 7  # header + 6


def test_replay_after_the_master_data_is_fixed_balances_and_closes_rows(qa):
    spark, settings = qa["spark"], qa["settings"]
    ingest("qa_offices", [offices(qa["tmp"], [1, 2, 9])], DAY2)  # office 9 opens
    [(_, replay, _)] = run_steps([Step("replay", "qa_people")], DAY2)
    assert (replay.rows_in, replay.rows_written, replay.rows_quarantined, replay.duplicates_collapsed) == (6, 1, 5, 0)
    assert replay.balanced
    quarantine = table(spark, "quarantine", "qa_people", settings)
    closed = quarantine.where(F.col("replayed_at").isNotNull()).collect()
    assert [json.loads(r["record"])["office_code"] for r in closed] == ["9"]
    assert closed[0]["replay_batch"] == replay.batch_id
    still = {r["rule_id"]: r for r in quarantine.where(F.col("replayed_at").isNull()).collect()}
    both = next(r for r in still.values() if json.loads(r["record"])["tax_code"] == "999")
    assert [f["rule_id"] for f in both["failures"]] == ["tax_code__tax_code"]  # office 9 is known now
    assert both["replay_batch"] == replay.batch_id
    assert table(spark, "silver", "qa_people", settings).count() == 3
    logged = run_log(spark, settings, qa["since"].replace("Z", "")).where(F.col("layer") == "replay").collect()
    assert [(r["rows_in"], r["rows_written"], r["rows_quarantined"], r["status"]) for r in logged] == \
        [(6, 1, 5, "success")]
