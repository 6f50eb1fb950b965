"""Demo data generators: deterministic bytes, real codes, and what each source system would deliver (no Spark)."""

import csv
import datetime as dt
import io
import json
import re
import struct
import unicodedata
import zlib
from collections import Counter

import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook

from lakehouse.config.spec import SourceDataset, load_specs
from lakehouse.demo import data as dd

DAY, NEXT = "2026-11-26", "2026-11-27"
PROVINCE_CODES = {p.code for p in dd.provinces()}
COMMUNE_PROVINCE = {c.code: c.province_code for cs in dd.communes_by_province().values() for c in cs}


@pytest.fixture(scope="module")
def specs():
    return load_specs()


@pytest.fixture(scope="module")
def enterprises():
    return {d: dd.enterprises_csv(d) for d in (DAY, NEXT)}


@pytest.fixture(scope="module")
def readings():
    return dd.readings_files(NEXT)


@pytest.fixture(scope="module")
def dossiers():
    return {d: dd.dossier_rows(d) for d in (DAY, NEXT)}


@pytest.fixture(scope="module")
def documents():
    return dd.dossier_documents(NEXT)


def csv_rows(text: str, delimiter: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text), delimiter=delimiter))


# ---- determinism ---------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda seed: dd.enterprises_csv(NEXT, seed, 0.2),
    lambda seed: dd.citizens_csv(NEXT, seed, 0.2),
    lambda seed: dd.sensors_parquet(seed, 0.5),
    lambda seed: dd.readings_files(NEXT, seed, 0.5),
    lambda seed: dd.procedure_rows(seed),
    lambda seed: dd.dossier_rows(NEXT, seed, 0.1),
    lambda seed: dd.dossier_documents(NEXT, seed, 0.3),
    lambda seed: dd.province_report_xlsx(NEXT, seed),
], ids=["enterprises", "citizens", "sensors", "readings", "procedures", "dossiers", "documents", "report"])
def test_same_arguments_give_the_same_bytes(make):
    first = make(2026)
    assert make(2026) == first
    assert make(7) != first


def test_seed_from_is_stable():
    assert dd.seed_from("enterprises", "2026-11-27", 2026) == dd.seed_from("enterprises", "2026-11-27", 2026)
    assert dd.seed_from("a", 1) != dd.seed_from("a", 2)


def test_scale_multiplies_volume():
    small = dd.decode_cp1258(dd.enterprises_csv(NEXT, scale=0.5)).count("\r\n")
    large = dd.decode_cp1258(dd.enterprises_csv(NEXT, scale=2.0)).count("\r\n")
    assert 3 * small < large


# ---- enterprises: Windows-1258 registry, SCD2 changes ------------------------------------

def test_enterprises_are_windows_1258_and_round_trip(enterprises):
    data = enterprises[NEXT]
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    text = dd.decode_cp1258(data)
    assert "\ufffd" not in text
    lines = text.split("\r\n")
    assert lines[-1] == ""
    raw_lines = data.split(b"\r\n")
    for raw, line in zip(raw_lines, lines):
        assert dd.encode_cp1258(line) == raw  # every row round-trips
        assert unicodedata.normalize("NFC", raw.decode("cp1258")) == line
    # toned letters the code page lacks (ệ, ố, ộ…) travel as base letter + combining tone mark
    assert "\u0323" in data.decode("cp1258") and "ộ" in text
    assert dd.decode_cp1258(dd.encode_cp1258("Giải thể; Thành phố Hồ Chí Minh; Đắk Lắk")) == \
        "Giải thể; Thành phố Hồ Chí Minh; Đắk Lắk"


def test_enterprise_rows_look_like_the_registry(enterprises):
    text = dd.decode_cp1258(enterprises[NEXT])
    header = text.split("\r\n", 1)[0]
    assert header.split(";") == dd.ENTERPRISE_FIELDS and header.isascii()
    rows = csv_rows(text, ";")
    assert 200 <= len(rows) <= 320
    assert len({r["tax_code"] for r in rows}) == len(rows)
    for r in rows:
        assert re.fullmatch(r"\d{10}", r["tax_code"])
        assert int(r["province_code"]) in PROVINCE_CODES
        assert re.fullmatch(r"\d{1,3}(\.\d{3})+", r["charter_capital"])  # 1.500.000.000
        for f in ("registered_on", "updated_on"):
            assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", r[f])
        assert r["status"] in {dd.ACTIVE, dd.SUSPENDED, dd.DISSOLVED}
    assert {r["status"] for r in rows} == {dd.ACTIVE, dd.SUSPENDED, dd.DISSOLVED}


def test_consecutive_registry_exports_differ_in_a_handful_of_rows(enterprises):
    before = {r["tax_code"]: r for r in csv_rows(dd.decode_cp1258(enterprises[DAY]), ";")}
    after = {r["tax_code"]: r for r in csv_rows(dd.decode_cp1258(enterprises[NEXT]), ";")}
    assert set(before) <= set(after)  # the registry never forgets an enterprise
    changed = [k for k in after if before.get(k) != after[k]]
    assert 3 <= len(changed) <= 12
    assert all(after[k]["updated_on"] == "27/11/2026" for k in changed)
    assert all(before[k]["status"] != dd.DISSOLVED or before[k] == after[k] for k in before)


# ---- citizens: BOM, CCCD ------------------------------------------------------------------

def test_citizens_are_utf8_with_bom_and_cccd_is_consistent():
    data = dd.citizens_csv(NEXT)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = csv_rows(data.decode("utf-8-sig"), ",")
    assert list(rows[0]) == dd.CITIZEN_FIELDS
    assert 450 <= len(rows) <= 700
    assert len({r["citizen_id"] for r in rows}) == len(rows)
    phones = Counter()
    faults = dd.citizen_faults()
    assert Counter(faults.values()) == dd.CITIZEN_ANOMALIES and set(faults) <= {r["citizen_id"] for r in rows}
    for r in rows:
        cid, born = r["citizen_id"], dt.datetime.strptime(r["date_of_birth"], "%d/%m/%Y").date()
        assert re.fullmatch(r"\d{12}", cid)
        assert int(cid[:3]) in PROVINCE_CODES
        century = {(19, "Nam"): "0", (19, "Nữ"): "1", (20, "Nam"): "2", (20, "Nữ"): "3"}[(born.year // 100, r["sex"])]
        assert (cid[3] == century) == (faults.get(cid) != "cccd_sex_digit") and cid[4:6] == f"{born.year % 100:02d}"
        if faults.get(cid) == "landline_phone":
            assert r["phone"].startswith("024 ")
            continue
        assert COMMUNE_PROVINCE[int(r["commune_code"])] == int(r["province_code"])
        assert dt.datetime.fromisoformat(r["registered_at"]).utcoffset() == dt.timedelta(hours=7)
        phones["+84" if r["phone"].startswith("+84 ") else "0" if r["phone"].startswith("0") else "?"] += 1
    assert phones["+84"] and phones["0"] and not phones["?"]
    assert any(unicodedata.normalize("NFD", r["full_name"]) != r["full_name"] for r in rows)  # diacritics


# ---- sensors and readings --------------------------------------------------------------------

def test_sensors_cover_every_province():
    table = pq.read_table(io.BytesIO(dd.sensors_parquet()))
    assert table.column_names == dd.SENSOR_FIELDS
    rows = table.to_pylist()
    assert {r["province_code"] for r in rows} == PROVINCE_CODES
    assert 60 <= len(rows) <= 80
    assert all(re.fullmatch(r"AQ-\d{2}-\d{3}", r["sensor_id"]) for r in rows)
    assert all(COMMUNE_PROVINCE[r["commune_code"]] == r["province_code"] for r in rows)
    assert all(isinstance(r["installed_on"], dt.date) for r in rows)


def test_readings_hold_exactly_the_documented_faults(readings):
    names = [n for n, _ in readings]
    assert names == sorted(names)
    assert all(re.fullmatch(r"2026-11-27/drop-\d{4}-g\d{2}\.jsonl", n) for n in names)
    sensors = set(dd.reporting_sensors())
    assert len(sensors) == 34
    lines, malformed, late, pm25 = Counter(), 0, 0, Counter()
    for name, data in readings:
        dropped = dd.drop_time(name)
        for line in data.decode("utf-8").splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                malformed += 1
                continue
            assert list(r) == dd.READING_FIELDS and r["sensor_id"] in sensors
            lines[line] += 1
            at = dt.datetime.strptime(r["reading_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
            assert dt.timedelta(0) < dropped - at <= dt.timedelta(minutes=75)
            late += dropped - at > dt.timedelta(minutes=dd.LATE_AFTER_MINUTES)
            pm25[r["pm25"] if r["pm25"] in (-999, "ERR", None) else "ok"] += 1
    keys = Counter((json.loads(line)["sensor_id"], json.loads(line)["reading_at"]) for line in lines)
    assert len(keys) == 34 * 240 and set(keys.values()) == {1}  # a duplicate is the same line again
    expected = dd.READING_ANOMALIES
    assert expected == {"duplicates": 6, "late": 4, "pm25_sentinel": 3, "pm25_non_numeric": 2,
                        "pm25_missing": 2, "malformed": 1}
    assert sum(n - 1 for n in lines.values()) == expected["duplicates"]
    assert late == expected["late"]
    assert pm25[-999] == expected["pm25_sentinel"]
    assert pm25["ERR"] == expected["pm25_non_numeric"]
    assert pm25[None] == expected["pm25_missing"]
    assert malformed == expected["malformed"]
    assert sum(d.count(b"\n") for _, d in readings) == 34 * 240 + 6 + 1


def test_readings_anomaly_counts_hold_at_other_scales_and_dates():
    files = dd.readings_files("2026-12-01", seed=5, scale=0.3)
    bad = sum(1 for _, d in files for line in d.decode().splitlines() if not line.endswith("}"))
    assert bad == dd.READING_ANOMALIES["malformed"]
    assert sum(d.count(b"\n") for _, d in files) == 34 * 240 + 7


# ---- procedures and dossiers ---------------------------------------------------------------

def test_procedures_catalogue():
    rows = dd.procedure_rows()
    assert 18 <= len(rows) <= 25 and list(rows[0]) == dd.PROCEDURE_FIELDS
    assert len({r["procedure_code"] for r in rows}) == len(rows)
    assert all(re.fullmatch(r"\d\.\d{6}", r["procedure_code"]) for r in rows)
    assert all(r["updated_at"].tzinfo == dt.timezone.utc for r in rows)
    assert "CREATE TABLE IF NOT EXISTS public.procedures" in dd.PROCEDURE_DDL
    assert "procedure_code  text PRIMARY KEY" in dd.PROCEDURE_DDL


def test_dossiers_grow_and_only_move_forward(dossiers):
    before = {r["dossier_id"]: r for r in dossiers[DAY]}
    after = {r["dossier_id"]: r for r in dossiers[NEXT]}
    assert set(before) < set(after)
    new = set(after) - set(before)
    assert 50 <= len(new) <= 150
    assert all(after[k]["received_at"].date() == dt.date(2026, 11, 27) for k in new)
    moved = [k for k in before if after[k]["updated_at"] > before[k]["updated_at"]]
    assert moved and all(after[k]["status"] != before[k]["status"] for k in moved)
    order = [dd.RECEIVED, dd.PROCESSING, dd.DONE]
    for k, old in before.items():
        now = after[k]
        assert now["updated_at"] >= old["updated_at"]
        assert {f: now[f] for f in ("procedure_code", "received_at", "due_at")} == \
            {f: old[f] for f in ("procedure_code", "received_at", "due_at")}
        if old["status"] in (dd.DONE, dd.RETURNED):
            assert now == old
        elif now["status"] != dd.RETURNED:
            assert order.index(now["status"]) >= order.index(old["status"])


def test_dossier_rows_are_well_formed(dossiers):
    rows = dossiers[NEXT]
    codes = {p["procedure_code"] for p in dd.procedure_rows()}
    assert {r["status"] for r in rows} == {dd.RECEIVED, dd.PROCESSING, dd.DONE, dd.RETURNED}
    for r in rows:
        assert list(r) == dd.DOSSIER_FIELDS
        assert re.fullmatch(r"HS-2026-\d{6}", r["dossier_id"])
        assert r["procedure_code"] in codes and r["province_code"] in PROVINCE_CODES
        assert all(r[f].tzinfo == dt.timezone.utc for f in ("received_at", "due_at", "updated_at"))
        assert (r["completed_at"] is not None) == (r["status"] == dd.DONE)
        assert r["received_at"] <= r["updated_at"] < dt.datetime(2026, 11, 28, tzinfo=dt.timezone.utc)
    assert dd.dossier_rows("2026-10-31") == []
    assert "CREATE TABLE IF NOT EXISTS public.dossiers" in dd.DOSSIER_DDL
    assert "dossier_id     text PRIMARY KEY" in dd.DOSSIER_DDL


# ---- documents -------------------------------------------------------------------------------

def _check_pdf(data: bytes) -> None:
    xref = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", data).group(1))
    assert data[xref:].startswith(b"xref\n0 ")
    count = int(data[xref:].split(b"\n")[1].split()[1])
    entries = data[xref:].split(b"\n")[2:2 + count]
    for number, entry in enumerate(entries[1:], 1):
        offset = int(entry[:10])
        assert data[offset:].startswith(b"%d 0 obj\n" % number)
    length = int(re.search(rb"/Length (\d+)", data).group(1))
    stream_at = data.index(b"stream\n") + len(b"stream\n")
    assert data[stream_at + length:].startswith(b"\nendstream")


def _check_png(data: bytes) -> None:
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(kind + body)
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    assert kind == b"IEND" and len(zlib.decompress(idat)) == height * (1 + 3 * width)


def _check_jpeg(data: bytes) -> None:
    assert data.endswith(b"\xff\xd9")
    pos, seen = 2, []
    while True:
        marker, length = struct.unpack(">HH", data[pos:pos + 4])
        seen.append(marker)
        pos += 2 + length
        if marker == 0xFFDA:
            break
    assert seen == [0xFFE0, 0xFFDB, 0xFFC0, 0xFFC4, 0xFFC4, 0xFFDA]
    assert data[6:11] == b"JFIF\x00"


def _check_tiff(data: bytes) -> None:
    (ifd,) = struct.unpack("<I", data[4:8])
    (n,) = struct.unpack("<H", data[ifd:ifd + 2])
    tags = {}
    for i in range(n):
        tag, kind, _, value = struct.unpack("<HHII", data[ifd + 2 + 12 * i:ifd + 14 + 12 * i])
        tags[tag] = value & 0xFFFF if kind == 3 else value
    assert list(tags) == sorted(tags)
    assert tags[273] + tags[279] == len(data) == tags[273] + tags[256] * tags[257]


def test_documents_are_valid_files_of_their_type(documents, dossiers):
    assert 25 <= len(documents) <= 40
    received_today = {r["dossier_id"] for r in dossiers[NEXT] if r["received_at"].date() == dt.date(2026, 11, 27)}
    by_ext = {"pdf": ("application/pdf", _check_pdf), "png": ("image/png", _check_png),
              "jpg": ("image/jpeg", _check_jpeg), "tif": ("image/tiff", _check_tiff)}
    kinds = Counter()
    for path, data in documents:
        folder, ext = path.split("/")[0], path.rsplit(".", 1)[1]
        assert folder in received_today
        media_type, check = by_ext[ext]
        assert dd.sniff_media_type(data) == media_type
        check(data)
        kinds[ext] += 1
    assert set(kinds) == set(by_ext)
    assert len({p for p, _ in documents}) == len(documents)
    assert dd.dossier_documents("2026-10-31") == []


# ---- province report (xlsx) -----------------------------------------------------------------

def test_province_report_has_title_header_provinces_and_totals():
    data = dd.province_report_xlsx(NEXT)
    ws = load_workbook(io.BytesIO(data)).active
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    assert rows[0][0] == "BÁO CÁO TÌNH HÌNH TIẾP NHẬN HỒ SƠ" and rows[1][0] == "Tháng 11/2026"
    assert all(v is None for v in rows[2])
    assert rows[3] == dd.REPORT_FIELDS  # header on row 4
    body = rows[4:38]
    assert {r[0] for r in body} == PROVINCE_CODES and all(r[2] == "2026-11" for r in body)
    assert all(v is None for v in rows[38])
    total = rows[39]
    assert total[0] is None and total[1] == "Tổng cộng" and total[3] == sum(r[3] for r in body)
    assert len(rows) == 40


# ---- specs match what the generators emit ---------------------------------------------------

def _emitted_fields(name: str) -> set[str]:
    if name == "enterprises":
        return set(dd.decode_cp1258(dd.enterprises_csv(NEXT, scale=0.1)).split("\r\n", 1)[0].split(";"))
    if name == "citizens":
        return set(next(csv.reader(io.StringIO(dd.citizens_csv(NEXT, scale=0.1).decode("utf-8-sig")))))
    if name == "sensors":
        return set(pq.read_schema(io.BytesIO(dd.sensors_parquet(scale=0.1))).names)
    if name == "air_quality_readings":
        keys = set()
        for _, data in dd.readings_files(NEXT, scale=0.1):
            for line in data.decode().splitlines():
                try:
                    keys |= set(json.loads(line))
                except ValueError:
                    pass
        return keys
    if name == "procedures":
        return set(dd.procedure_rows()[0])
    if name == "dossiers":
        return set(dd.dossier_rows(NEXT, scale=0.05)[0])
    if name == "province_reports":
        ws = load_workbook(io.BytesIO(dd.province_report_xlsx(NEXT))).active
        return {c.value for c in ws[4]}
    if name == "dossier_documents":  # metadata the documents reader derives from each file
        return {"document_path", "size_bytes", "sha256", "media_type", "dossier_id"}
    raise AssertionError(f"no generator for {name}")


@pytest.mark.parametrize("name", sorted(dd.DEMO_SOURCES))
def test_spec_source_fields_exist_in_generated_data(specs, name):
    spec = specs[name]
    assert isinstance(spec, SourceDataset)
    missing = {c.source_field for c in spec.columns} - _emitted_fields(name)
    assert not missing, f"{name}: the spec reads fields the generator does not emit: {sorted(missing)}"


def test_documents_spec_finds_the_dossier_id(specs, documents):
    pattern = re.compile(specs["dossier_documents"].source.dossier_id_pattern)
    for path, _ in documents:
        assert pattern.search(f"landing/dossier_documents/{NEXT}/{path}").group(1) == path.split("/")[0]


def test_demo_sources_cover_every_demo_source_dataset(specs):
    domains = ("enterprises", "citizens", "dossiers", "air_quality")
    assert set(dd.DEMO_SOURCES) == {s.name for d in domains for s in specs.sources(d)}
    got = dd.demo_sources(NEXT, scale=0.1, datasets=["procedures", "province_reports"])
    assert got["procedures"].table == "public.procedures" and got["procedures"].key == ["procedure_code"]
    assert got["province_reports"].files[0][0] == "bao-cao-2026-11.xlsx"
    with pytest.raises(KeyError):
        dd.demo_sources(NEXT, datasets=["nope"])
