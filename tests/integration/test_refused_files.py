"""A wrong file is refused whole, before any of its rows is read, and never replaces good rows.

The case that once lost data: a Windows-1258 export ingested into a dataset declared UTF-8 was
decoded with replacement characters and replaced 919 good names in silver.  Now the file is
refused, recorded in ``ops/refused_files`` and kept in landing; silver keeps its rows; after the
steward replaces the file, running the date again ingests it.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.core.errors import LakeError
from lakehouse.engine import jobrun
from lakehouse.io import storage
from lakehouse.io.spark import get_spark

from lakehelp import ingest, reset, run_log, table, use_datasets

HERE = Path(__file__).parent
DATASETS = HERE / "datasets" / "refusal"
ROOT = HERE.parent.parent
NAME = "ref_people"
HEADER = "ma_ho_so,ho_ten,ngay_sinh,so_tien"
DAY1, DAY2, DAY3 = "2026-03-01", "2026-03-02", "2026-03-03"
PEOPLE = [("HS-001", "Trần Văn Tý", "1980-02-01", "1200.5"),
          ("HS-002", "Nguyễn Thị Ánh", "1991-11-30", "80"),
          ("HS-003", "Lê Đức Thọ", "1975-07-15", "0")]


def csv_bytes(rows, encoding="utf-8") -> bytes:
    from lakehouse.demo.cp1258 import encode_cp1258  # Vietnamese the legacy way: base letters + combining marks

    text = "\n".join([HEADER, *(",".join(r) for r in rows)]) + "\n"
    return encode_cp1258(text) if encoding == "cp1258" else text.encode(encoding)


def names(spark, settings) -> dict[str, str]:
    return {r["ma_ho_so"]: r["ho_ten"] for r in table(spark, "silver", NAME, settings).collect()}


SINCE = jobrun.now_iso()  # ops tables outlive a test run: count only this run's refusals


def refused(spark, settings, date: str) -> list:
    from lakehouse.io import delta_io
    return (delta_io.read(spark, settings.table_uri("ops", "refused_files"))
            .where(f"dataset = '{NAME}' AND batch_id = '{NAME}@{date}' "
                   f"AND refused_at >= CAST('{SINCE}' AS TIMESTAMP)").collect())


STREAM = "ref_gauges"


@pytest.fixture(scope="module")
def ref(stack, tmp_path_factory):
    with use_datasets(DATASETS):
        reset([NAME, STREAM], stack)
        yield {"settings": stack, "tmp": tmp_path_factory.mktemp("refused")}
        reset([NAME, STREAM], stack)


def test_a_legacy_encoded_export_is_refused_and_silver_keeps_its_names(ref):
    settings, tmp = ref["settings"], ref["tmp"]
    spark = get_spark("test refused files", settings)
    good = tmp / "people-1.csv"
    good.write_bytes(csv_bytes(PEOPLE))
    ingest(NAME, [good], DAY1)
    before = names(spark, settings)
    assert before == {p[0]: p[1] for p in PEOPLE}

    legacy = tmp / "people-2.csv"  # the same register, exported by the old system in Windows-1258
    changed = [(i, n.replace("Tý", "Tú"), d, m) for i, n, d, m in PEOPLE]
    legacy.write_bytes(csv_bytes(changed, "cp1258"))
    with pytest.raises(LakeError) as refusal:
        ingest(NAME, [legacy], DAY2)
    message = str(refusal.value)
    assert "people-2.csv" in message and "[encoding]" in message and "windows-1258" in message

    assert names(spark, settings) == before  # no U+FFFD, no replaced row
    [row] = refused(spark, settings, DAY2)
    assert row["code"] == "encoding"
    assert row["sha256"] == hashlib.sha256(legacy.read_bytes()).hexdigest()
    assert row["size_bytes"] == legacy.stat().st_size
    key = settings.landing_key(NAME, DAY2, "people-2.csv")
    assert storage.exists(key, settings)  # kept in landing for the steward

    # the steward re-exports it as UTF-8 under the same name, and runs the date again
    storage.put_bytes(key, csv_bytes(changed), settings)
    from lakehouse.config.spec import load_specs
    from lakehouse.orchestration.pipeline import plan, run_steps
    run_steps(plan(load_specs(), [NAME], with_land=False), DAY2)
    assert names(spark, settings) == {p[0]: p[1] for p in changed}
    assert len(refused(spark, settings, DAY2)) == 1  # the fix adds no refusal


def test_a_file_without_the_declared_columns_is_refused_not_quarantined_row_by_row(ref):
    settings, tmp = ref["settings"], ref["tmp"]
    spark = get_spark("test refused files", settings)
    before = names(spark, settings)
    wrong = tmp / "export.csv"
    wrong.write_text("a,b\n1,2\n3,4\n", encoding="utf-8")
    with pytest.raises(LakeError, match=r"\[header_none\] export\.csv: none of the declared columns"):
        ingest(NAME, [wrong], DAY3)
    assert names(spark, settings) == before
    from lakehouse.io import delta_io
    if delta_io.exists(spark, settings.quarantine_uri(NAME)):  # no row of it was ever quarantined
        assert table(spark, "quarantine", NAME, settings).where(f"_batch_id = '{NAME}@{DAY3}'").count() == 0
    assert [r["code"] for r in refused(spark, settings, DAY3)] == ["header_none"]
    # where the error message sends the steward: queryable at once, though no publish ran after the failure
    from lakehouse.io import trino
    rows = trino.query(f"SELECT DISTINCT code FROM lake.ops.refused_files WHERE batch_id = '{NAME}@{DAY3}'",
                       settings)[1]
    assert rows == [("header_none",)]


def test_lake_ingest_refuses_a_file_the_pattern_does_not_match_before_landing_it(ref):
    settings, tmp = ref["settings"], ref["tmp"]
    odd = tmp / "people.txt"
    odd.write_bytes(csv_bytes(PEOPLE))
    env = {**os.environ, "LAKE_DATASETS_DIR": str(DATASETS)}
    done = subprocess.run([sys.executable, "-m", "lakehouse.cli", "ingest", NAME, str(odd), "--date", "2026-03-09"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "'*.csv'" in done.stderr + done.stdout and "people.txt" in done.stderr + done.stdout
    assert storage.list_keys(f"landing/{NAME}/2026-03-09/", settings) == []


def test_two_lake_ingest_runs_of_one_dataset_at_once_lose_no_commit(ref):
    """The drill: both runs start together, each job takes its dataset's lock in turn, and both batches land."""
    settings, tmp = ref["settings"], ref["tmp"]
    env = {**os.environ, "LAKE_DATASETS_DIR": str(DATASETS)}
    batches = {"2026-03-10": [("HS-101", "Phạm Văn Bình", "1970-01-01", "5")],
               "2026-03-11": [("HS-102", "Đỗ Thị Cúc", "1972-02-02", "6"), ("HS-103", "Vũ Văn Dần", "1973-03-03", "7")]}
    procs = []
    for date, rows in batches.items():
        path = tmp / f"people-{date}.csv"
        path.write_bytes(csv_bytes(rows))
        procs.append(subprocess.Popen([sys.executable, "-m", "lakehouse.cli", "ingest", NAME, str(path), "--date", date],
                                      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[-3000:] for o in outputs]
    # whether they met depends on timing (the waiting itself is tests/unit/test_jobrun.py's); say if they did
    print("one run waited for the other:", any(f"{NAME}: waiting for" in o for o in outputs))
    spark = get_spark("test refused files", settings)
    got = names(spark, settings)
    assert all(got.get(i) == n for rows in batches.values() for i, n, _, _ in rows)
    logged = {(r["layer"], r["batch_id"], r["status"]) for r in run_log(spark, settings, "2026-01-01")
              .where(f"dataset = '{NAME}' AND batch_id IN ('{NAME}@2026-03-10', '{NAME}@2026-03-11')").collect()}
    assert logged == {(layer, f"{NAME}@{d}", "success") for layer in ("bronze", "silver") for d in batches}


def gauge_lines(readings: list[tuple[str, str, str, float]]) -> str:
    return "".join(json.dumps({"gauge_id": g, "read_at": t, "station": st, "level_cm": v}, ensure_ascii=False) + "\n"
                   for g, t, st, v in readings)


def test_a_stream_source_checks_each_new_file_before_the_stream_reads_it(ref):
    """Stream sources are read by Structured Streaming, which would decode a legacy file with
    replacement characters: their new files go through the same checks first."""
    from lakehouse.demo.cp1258 import encode_cp1258

    settings, tmp = ref["settings"], ref["tmp"]
    spark = get_spark("test refused files", settings)
    day = "2026-03-12"
    good = tmp / "gauge-0800.jsonl"
    good.write_text(gauge_lines([("G1", "2026-03-12T08:00:00Z", "Cầu Long Biên", 512.0),
                                 ("G2", "2026-03-12T08:00:00Z", "Bến Thủy", 230.5)]), encoding="utf-8")
    legacy = tmp / "gauge-0815.jsonl"  # a gateway's firmware writing Windows-1258
    legacy.write_bytes(encode_cp1258(gauge_lines([("G1", "2026-03-12T08:15:00Z", "Cầu Long Biên", 515.0)])))
    with pytest.raises(LakeError) as refusal:
        ingest(STREAM, [good, legacy], day)
    message = str(refusal.value)
    assert "[encoding]" in message and "gauge-0815.jsonl" in message and "_refused/" in message
    rows = {r["gauge_id"]: r["station"] for r in table(spark, "bronze", STREAM, settings).collect()}
    assert rows == {"G1": "Cầu Long Biên", "G2": "Bến Thủy"}  # the good file in, nothing of the legacy one
    from lakehouse.io import delta_io
    [row] = (delta_io.read(spark, settings.table_uri("ops", "refused_files"))
             .where(f"dataset = '{STREAM}' AND refused_at >= CAST('{SINCE}' AS TIMESTAMP)").collect())
    moved = f"landing/{STREAM}/_refused/{day}/gauge-0815.jsonl"
    assert (row["code"], row["source_file"]) == ("encoding", f"s3://{settings.bucket}/{moved}")
    assert row["sha256"] == hashlib.sha256(legacy.read_bytes()).hexdigest()
    assert storage.exists(moved, settings) and not storage.exists(settings.landing_key(STREAM, day, legacy.name),
                                                                  settings)

    # the fixed file, landed under the same name, is read by the stream: it never read the refused one
    legacy.write_text(gauge_lines([("G1", "2026-03-12T08:15:00Z", "Cầu Long Biên", 515.0)]), encoding="utf-8")
    ingest(STREAM, [legacy], day)
    silver = {(r["gauge_id"], r["read_at"].isoformat()): r["station"]
              for r in table(spark, "silver", STREAM, settings).collect()}
    assert len(silver) == 3 and set(silver.values()) == {"Cầu Long Biên", "Bến Thủy"}
