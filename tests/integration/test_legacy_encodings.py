"""Legacy Vietnamese encodings through the real stack: one register delivered in TCVN3, VNI, VIQR and UTF-8
reads as the same silver rows with NFC names, from the landed bytes left as they were; a TCVN3 file declared
Windows-1258 (which decodes it without an error, as mojibake) is refused with the encoding it reads as, and
silver keeps its rows.

Cheap on purpose (the CI has a 20-minute budget): one dataset, one bronze + silver run for the four files
(``encoding: auto``, so each file's encoding is also detected and recorded), then the same dataset declared
``windows-1258`` and one bronze run for the mis-declared file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import unicodedata

import pytest
import yaml

from lakehouse.core import legacy_text
from lakehouse.core.errors import LakeError
from lakehouse.engine import jobrun
from lakehouse.io import delta_io, storage
from lakehouse.io.spark import get_spark

from lakehelp import reset, run_log, table, use_datasets

NAME = "leg_register"
DAY1, DAY2 = "2026-05-01", "2026-05-02"
HEADER = "nguon,ma,ho_ten,dia_chi,ngay_sinh"
# TCVN3 has no toned capitals (a name typed with one comes back with the small letter), so the register's
# capitals are untoned ones, and Đ, which TCVN3 has
PEOPLE = [
    ("HS-01", "Nguyễn Văn An", "Số 12 đường Lê Lợi, phường Hoàn Kiếm", "1980-02-01"),
    ("HS-02", "Trần Thị Bình", "xã Đắk Pơ, tỉnh Gia Lai", "1985-03-12"),
    ("HS-03", "Lê Hoàng Cường", "Thôn Phú Mỹ, xã Hòa Vang", "1990-07-01"),
    ("HS-04", "Phạm Thị Dung", "Số 5 ngõ 34 phố Huế", "1975-11-30"),
    ("HS-05", "Hoàng Văn Dũng", "phường Bến Nghé, TP Hồ Chí Minh", "1968-05-05"),
    ("HS-06", "Bùi Hữu Lực", "Khu 3, thị trấn Phong Điền", "1999-09-09"),
    ("HS-07", "Đặng Quốc Việt", "xã Quảng Điền, tỉnh Thừa Thiên Huế", "1972-02-02"),
    ("HS-08", "Vũ Thị Hương", "Số 7 đường Nguyễn Trãi", "1988-08-08"),
    ("HS-09", "Đỗ Mạnh Hùng", "phường Ngũ Hành Sơn, Đà Nẵng", "1991-01-21"),
    ("HS-10", "Ngô Thị Thảo", "xã Yên Thế, tỉnh Bắc Giang", "1983-04-14"),
    ("HS-11", "Dương Văn Khánh", "Số 99 đường Trường Chinh", "1979-12-24"),
    ("HS-12", "Lý Thị Ngọc", "thị xã Sa Pa, tỉnh Lào Cai", "1995-06-16"),
    ("HS-13", "Hồ Sỹ Long", "xã Nghĩa Đàn, tỉnh Nghệ An", "1966-10-10"),
    ("HS-14", "Phan Thị Yến", "Số 1 đường Hùng Vương", "2001-03-08"),
    ("HS-15", "Trương Quang Hải", "xã Cần Giờ", "1987-07-27"),
    ("HS-16", "Mai Thị Lan", "phường Phước Vĩnh, TP Huế", "1993-02-14"),
    ("HS-17", "Đinh Công Tuấn", "Tổ 4, phường Quyết Thắng", "1970-09-02"),
    ("HS-18", "Cao Thị Mỹ Linh", "Số 21 đường Võ Văn Kiệt", "1998-11-11"),
    ("HS-19", "Quách Văn Thắng", "xã Tiền Hải, tỉnh Thái Bình", "1962-01-01"),
    ("HS-20", "Lưu Thị Nguyệt", "Số 3, hẻm 14, đường Phan Đình Phùng", "1984-05-19"),  # quoted in the file
]
ENCODINGS = ("utf-8", "tcvn3", "vni", "viqr")


def register(tag: str, people=PEOPLE) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER.split(","))
    writer.writerows((tag, *row) for row in people)
    return out.getvalue()


def encoded(text: str, encoding: str) -> bytes:
    return text.encode("utf-8") if encoding == "utf-8" else legacy_text.encode(text, encoding)


def write_spec(folder, encoding: str) -> None:
    spec = {"name": NAME, "domain": "legacy_text", "description": "A household register from communes whose "
            "old programs write the legacy Vietnamese encodings.", "grain": "one row per person and sender",
            "source": {"kind": "files", "format": "csv", "pattern": "*.csv", "encoding": encoding},
            "columns": [{"name": "nguon", "type": "string", "nullable": False},
                        {"name": "ma", "type": "string", "nullable": False},
                        {"name": "ho_ten", "type": "string", "nullable": False},
                        {"name": "dia_chi", "type": "string"},
                        {"name": "ngay_sinh", "type": "date"}],
            "keys": ["nguon", "ma"]}
    (folder / f"{NAME}.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")


def run(date: str, jobs: tuple[str, ...]) -> None:
    """The dataset's steps for ``date`` that ``jobs`` names (publishing is not what is tested here)."""
    from lakehouse.config.spec import load_specs
    from lakehouse.orchestration.pipeline import plan, run_steps

    run_steps([s for s in plan(load_specs(), [NAME], with_land=False) if s.job in jobs], date)


def silver_by_sender(spark, settings) -> dict[str, list[tuple]]:
    rows: dict[str, list[tuple]] = {}
    for r in table(spark, "silver", NAME, settings).collect():
        rows.setdefault(r["nguon"], []).append((r["ma"], r["ho_ten"], r["dia_chi"], r["ngay_sinh"].isoformat()))
    return {tag: sorted(found) for tag, found in rows.items()}


@pytest.fixture(scope="module")
def legacy(stack, tmp_path_factory):
    folder = tmp_path_factory.mktemp("legacy_encodings")
    specs = folder / "datasets" / "legacy_text"
    specs.mkdir(parents=True)
    write_spec(specs, "auto")
    with use_datasets(specs.parent):
        reset([NAME], stack)
        yield {"settings": stack, "folder": folder, "specs": specs}
        reset([NAME], stack)
        storage.delete_prefix(f"staging/_utf8/{NAME}/", stack)


def test_a_register_in_each_legacy_encoding_reads_as_its_utf8_copy_then_a_misdeclared_one_is_refused(legacy):
    settings, folder = legacy["settings"], legacy["folder"]
    spark = get_spark("test legacy encodings", settings)
    from lakehouse.orchestration.pipeline import land_files

    since = jobrun.now_iso()
    files = {}
    for encoding in ENCODINGS:
        path = folder / f"so-ho-{encoding}.csv"
        path.write_bytes(encoded(register(encoding), encoding))
        files[encoding] = path
    land_files(NAME, list(files.values()), DAY1)
    run(DAY1, ("bronze", "silver"))

    expected = sorted(PEOPLE)
    by_sender = silver_by_sender(spark, settings)
    assert set(by_sender) == set(ENCODINGS)
    for encoding in ENCODINGS:  # exactly the UTF-8 copy's rows, names in NFC
        assert by_sender[encoding] == expected, encoding
        assert all(unicodedata.is_normalized("NFC", name) for _, name, _, _ in by_sender[encoding])

    # each file's encoding detected and recorded on the batch; the rows name the landed files
    [bronze] = [r for r in run_log(spark, settings, since).collect() if (r["dataset"], r["layer"]) == (NAME, "bronze")]
    extra = json.loads(bronze["extra"])
    assert extra["encoding_declared"] == "auto"
    assert {name: found for name, (found, _) in extra["encoding_files"].items()} == {
        f"so-ho-{e}.csv": e for e in ENCODINGS}
    assert extra["encoding_confidence"] >= 0.6
    read_from = {r[0] for r in table(spark, "bronze", NAME, settings).select("_source_file").distinct().collect()}
    assert read_from == {f"s3a://{settings.bucket}/{settings.landing_key(NAME, DAY1, p.name)}" for p in files.values()}

    # landing keeps the bytes as delivered; the UTF-8 copies Spark read are gone
    fetch = storage.fetcher(settings)
    for path in files.values():
        landed = fetch(f"s3a://{settings.bucket}/{settings.landing_key(NAME, DAY1, path.name)}", None)
        assert hashlib.sha256(landed).digest() == hashlib.sha256(path.read_bytes()).digest()
    assert storage.list_keys(f"staging/_utf8/{NAME}/", settings) == []

    # the steward declares the register windows-1258; a commune sends TCVN3: refused, silver keeps its rows
    write_spec(legacy["specs"], "windows-1258")
    changed = [(ma, name.replace("Văn", "Thanh"), address, born) for ma, name, address, born in PEOPLE]
    wrong = folder / "so-ho-moi.csv"
    wrong.write_bytes(legacy_text.encode(register("tcvn3", changed), "tcvn3"))
    land_files(NAME, [wrong], DAY2)
    with pytest.raises(LakeError) as refusal:
        run(DAY2, ("bronze", "silver"))
    message = str(refusal.value)
    assert "[encoding] so-ho-moi.csv is declared windows-1258 but reads as tcvn3" in message
    assert "declare encoding: tcvn3" in message.lower()
    assert silver_by_sender(spark, settings) == by_sender
    [row] = (delta_io.read(spark, settings.table_uri("ops", "refused_files"))
             .where(f"batch_id = '{NAME}@{DAY2}' AND refused_at >= CAST('{since}' AS TIMESTAMP)").collect())
    assert row["code"] == "encoding" and row["sha256"] == hashlib.sha256(wrong.read_bytes()).hexdigest()
    assert storage.exists(settings.landing_key(NAME, DAY2, wrong.name), settings)
