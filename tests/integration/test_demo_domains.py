"""Every kind of source, end to end on the real stack: a whole demo day, then a second day for the
sources whose claims need one (history, a watermark, a stream's second day, gold by partition).

The sources are played by `lakehouse.demo` (files into S3, rows into PostgreSQL);
`lake run --all` runs every dataset through bronze, silver and gold with one
Spark Connect session.  Each expectation below is computed from the generator's
own output, not from what the pipeline wrote.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json

import pytest
from pyspark.sql import functions as F

from lakehouse.config.spec import load_specs
from lakehouse.demo import data as demo_data, land_demo
from lakehouse.engine import jobrun
from lakehouse.io import delta_io
from lakehouse.orchestration.pipeline import plan, run_steps
from lakehelp import reset, run_log, table

DAY1, DAY2 = "2026-11-26", "2026-11-27"
SCALE = 0.5
SOURCE_TABLES = ["public.dossiers", "public.procedures"]
# day 2: SCD2 history, the JDBC watermark, the stream's second day with its gold partition, and the
# batch that test_running_the_same_day_again replays; every other source proves its claims on day 1
SECOND_DAY = ["enterprises", "dossiers", "air_quality_readings", "province_reports"]


def csv_rows(body: bytes, encoding: str, delimiter: str) -> list[dict]:
    text = demo_data.decode_cp1258(body) if encoding == "cp1258" else body.decode(encoding)
    return list(csv.DictReader(io.StringIO(text), delimiter=delimiter))


def expected_late(files: list[tuple[str, bytes]], lateness_minutes: int = 60) -> int:
    """Readings more than `lateness` behind the newest reading of the files that arrived before theirs."""
    late, seen = 0, None
    for _, body in sorted(files):
        newest = None
        for line in body.decode().splitlines():
            try:
                at = dt.datetime.fromisoformat(json.loads(line)["reading_at"].replace("Z", "+00:00"))
            except ValueError:
                continue  # the malformed line
            if seen is not None and at < seen - dt.timedelta(minutes=lateness_minutes):
                late += 1
            newest = at if newest is None or at > newest else newest
        seen = newest if seen is None or (newest and newest > seen) else seen
    return late


@pytest.fixture(scope="module")
def lake(stack):
    from lakehouse.io.spark import get_spark

    specs = load_specs()
    reset(list(specs.datasets), stack, SOURCE_TABLES)
    since = jobrun.now_iso()
    results = {}
    for day, names in ((DAY1, list(specs.datasets)), (DAY2, SECOND_DAY)):
        land_demo(day, scale=SCALE, datasets=None if day == DAY1 else names, settings=stack)
        results[day] = {(step.job, step.dataset): out for step, out, _ in run_steps(plan(specs, names), day)}
    return {"spark": get_spark("tests", stack), "settings": stack, "results": results, "since": since}


def acc(lake, day, job, dataset):
    return lake["results"][day][(job, dataset)]


def test_windows_1258_csv_keeps_enterprise_history_as_scd2(lake):
    day1 = {r["tax_code"]: r for r in csv_rows(demo_data.enterprises_csv(DAY1, scale=SCALE), "cp1258", ";")}
    day2 = {r["tax_code"]: r for r in csv_rows(demo_data.enterprises_csv(DAY2, scale=SCALE), "cp1258", ";")}
    changed = sum(1 for k in day2 if k in day1 and day1[k] != day2[k])
    silver = table(lake["spark"], "silver", "enterprises", lake["settings"])
    assert silver.count() == len(day2) + changed
    current = {r["tax_code"]: r for r in silver.where("is_current").collect()}
    assert set(current) == set(day2)
    sample = next(iter(sorted(day2)))
    assert current[sample]["enterprise_name"] == day2[sample]["enterprise_name"]  # NFC after the legacy encoding
    closed = silver.where("NOT is_current").collect()
    assert len(closed) == changed and all(r["valid_to"] is not None for r in closed)
    assert acc(lake, DAY2, "silver", "enterprises").rows_quarantined == 0


def test_utf8_bom_csv_and_parquet_and_excel_forms(lake):
    spark, settings = lake["spark"], lake["settings"]
    citizens = csv_rows(demo_data.citizens_csv(DAY1, scale=SCALE), "utf-8-sig", ",")
    silver = table(spark, "silver", "citizens", settings)
    faults = demo_data.citizen_faults(scale=SCALE)
    wrong_sex = {cid for cid, kind in faults.items() if kind == "cccd_sex_digit"}
    assert silver.count() == len(citizens) - len(wrong_sex)
    assert silver.where(F.col("citizen_id").isNull()).count() == 0  # the BOM did not eat the first column
    # the Vietnamese validators: a CCCD whose sex digit disagrees is quarantined, a landline only warned about
    quarantined = table(spark, "quarantine", "citizens", settings).collect()
    assert {r["_batch_id"] for r in quarantined} == {jobrun.batch_id("citizens", DAY1)}
    assert {(r["rule_id"], json.loads(r["record"])["citizen_id"]) for r in quarantined} == \
        {("cccd__citizen_id", cid) for cid in wrong_sex}
    assert all(r["reason"].startswith("citizen_id: ") and "sex" in r["reason"] for r in quarantined)
    results = (table(spark, "ops", "quality_results", settings)
               .where((F.col("dataset") == "citizens") & (F.col("batch_id") == jobrun.batch_id("citizens", DAY1))
                      & (F.col("kind") == "load"))
               .orderBy(F.col("checked_at").desc()).collect())
    latest = {r["rule_id"]: r for r in results if r["check_id"] == results[0]["check_id"]}
    assert (latest["phone__phone"]["unexpected_count"], latest["phone__phone"]["action"]) == \
        (demo_data.CITIZEN_ANOMALIES["landline_phone"], "warn")
    assert latest["cccd__citizen_id"]["unexpected_count"] == len(wrong_sex)
    assert latest["nfc__full_name"]["success"] and latest["admin_unit__commune_code"]["success"]

    import pyarrow.parquet as pq
    sensors = pq.read_table(io.BytesIO(demo_data.sensors_parquet(scale=SCALE)))
    assert table(spark, "silver", "sensors", settings).count() == sensors.num_rows

    for day in (DAY1, DAY2):  # 34 provinces, and the totals row without a province code set aside
        report = acc(lake, day, "silver", "province_reports")
        assert (report.rows_in, report.rows_written, report.rows_quarantined) == (35, 34, 1)
    quarantine = table(spark, "quarantine", "province_reports", settings).collect()
    assert {r["rule_id"] for r in quarantine} == {"not_null__province_code"}


def test_jdbc_snapshot_and_incremental_watermark(lake):
    spark, settings = lake["spark"], lake["settings"]
    assert table(spark, "silver", "procedures", settings).count() == len(demo_data.procedure_rows())
    day1 = demo_data.dossier_rows(DAY1, scale=SCALE)
    day2 = demo_data.dossier_rows(DAY2, scale=SCALE)
    newest1 = max(r["updated_at"] for r in day1)
    assert acc(lake, DAY1, "bronze", "dossiers").rows_in == len(day1)
    assert acc(lake, DAY2, "bronze", "dossiers").rows_in == sum(1 for r in day2 if r["updated_at"] > newest1)
    silver = {r["dossier_id"]: r for r in table(spark, "silver", "dossiers", settings).collect()}
    assert len(silver) == len(day2)
    latest = max(day2, key=lambda r: r["updated_at"])
    assert silver[latest["dossier_id"]]["status"] == latest["status"]


def test_iot_stream_quarantines_faults_collapses_duplicates_and_counts_late_readings(lake):
    files = demo_data.readings_files(DAY1, scale=SCALE)
    lines = sum(len(body.decode().splitlines()) for _, body in files)
    faults = demo_data.READING_ANOMALIES
    bronze = acc(lake, DAY1, "bronze", "air_quality_readings")
    assert (bronze.rows_in, bronze.rows_quarantined) == (lines, faults["malformed"])
    silver = acc(lake, DAY1, "silver", "air_quality_readings")
    bad = faults["pm25_sentinel"] + faults["pm25_non_numeric"] + faults["pm25_missing"]
    assert silver.rows_in == lines - faults["malformed"]
    assert (silver.rows_quarantined, silver.duplicates_collapsed) == (bad, faults["duplicates"])
    assert silver.extra["late"] == expected_late(files)
    distinct = len(demo_data.reporting_sensors(scale=SCALE)) * 240
    assert table(lake["spark"], "silver", "air_quality_readings", lake["settings"]).count() == 2 * (distinct - bad)
    reasons = {r["rule_id"] for r in table(lake["spark"], "quarantine", "air_quality_readings",
                                           lake["settings"]).collect()}
    assert reasons == {"parse", "range__pm25", "cast__pm25", "not_null__pm25"}


def test_gold_is_rebuilt_only_for_the_partitions_a_new_day_touches(lake):
    gold = acc(lake, DAY2, "gold", "air_quality_hourly_by_province")
    assert gold.extra["mode"] == "incremental" and gold.extra["partitions"] == 1
    hours = table(lake["spark"], "gold", "air_quality_hourly_by_province", lake["settings"])
    assert sorted(r[0].isoformat() for r in hours.select("reading_date").distinct().collect()) == [DAY1, DAY2]


def test_documents_become_metadata_with_hashes_and_media_types(lake):
    docs = dict(demo_data.dossier_documents(DAY1, scale=SCALE))
    rows = {r["document_path"]: r for r in table(lake["spark"], "silver", "dossier_documents",
                                                 lake["settings"]).collect()}
    assert set(rows) == set(docs)
    for path, body in docs.items():
        assert rows[path]["sha256"] == hashlib.sha256(body).hexdigest()
        assert rows[path]["size_bytes"] == len(body)
        assert rows[path]["media_type"] == demo_data.sniff_media_type(body)
        assert rows[path]["dossier_id"] == path.split("/")[0]


def test_every_run_is_logged_and_balances(lake):
    log = run_log(lake["spark"], lake["settings"], lake["since"]).collect()
    steps = sum(len(r) for r in lake["results"].values())
    logged = [r for r in log if r["layer"] in ("bronze", "silver", "gold")]
    assert len(logged) == sum(1 for day in lake["results"].values() for job, _ in day if job in ("bronze", "silver", "gold"))
    assert steps > len(logged)
    for r in logged:
        assert r["status"] == "success"
        if r["layer"] != "gold":
            assert r["rows_in"] == r["rows_written"] + r["rows_quarantined"] + r["duplicates_collapsed"], r


def test_running_the_same_day_again_changes_nothing(lake):
    spark, settings = lake["spark"], lake["settings"]
    names = ["enterprises", "dossiers", "air_quality_readings", "province_reports"]

    def fingerprint():
        out = {}
        for layer in ("bronze", "silver", "quarantine"):
            for name in names:
                uri = settings.quarantine_uri(name) if layer == "quarantine" else settings.table_uri(layer, name)
                if not delta_io.exists(spark, uri):
                    continue  # nothing was ever quarantined
                df = table(spark, layer, name, settings).drop("_quarantined_at")
                cols = [c for c in df.columns if c not in ("_ingested_at",)]
                out[(layer, name)] = sorted(hashlib.sha256(repr(r).encode()).hexdigest()
                                            for r in df.select(*cols).collect())
        return out

    before = fingerprint()
    again = {(s.job, s.dataset): out for s, out, _ in run_steps(plan(load_specs(), names), DAY2)}
    assert fingerprint() == before
    for name in names:
        assert again[("bronze", name)].rows_written == 0
