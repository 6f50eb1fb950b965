"""File-level checks: a wrong landed file is refused whole, with a reason a data steward can act on (no Spark)."""

import importlib.util
import io
import json
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import pytest
import yaml

from lakehouse.config.spec import SourceDataset
from lakehouse.core import legacy_text
from lakehouse.demo.cp1258 import encode_cp1258
from lakehouse.engine import filecheck
from lakehouse.engine.filecheck import BytesBlob, LocalBlob, check_file

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"

COLUMNS = [{"name": "ma_ho_so", "type": "string", "nullable": False},
           {"name": "ho_ten", "type": "string", "nullable": False},
           {"name": "ngay_sinh", "type": "date"},
           {"name": "so_tien", "type": "double"}]
DOCUMENTS = [{"name": "document_path", "type": "string"}, {"name": "sha256", "type": "string"}]

HEADER = "ma_ho_so,ho_ten,ngay_sinh,so_tien\n"
GOOD = HEADER + "HS-0001,Trần Văn Tý,1985-03-12,1500000\nHS-0002,Nguyễn Thị Ánh,1990-07-01,\n"


def spec(columns=COLUMNS, keys=("ma_ho_so",), **source) -> SourceDataset:
    return SourceDataset.model_validate({
        "name": "ho_so", "domain": "t", "description": "d", "grain": "g",
        "source": {"kind": "files", "format": "csv", **source}, "columns": columns, "keys": list(keys)})


def check(data: bytes, name: str = "ho_so.csv", blob=BytesBlob, **source):
    return check_file(blob(name, data), spec(**source))


def code(data: bytes, **source) -> str | None:
    refusal = check(data, **source)
    return refusal.code if refusal else None


class SmallChunks(BytesBlob):
    """Chunks of 5 bytes, so characters, BOMs and lines straddle chunk boundaries."""

    def chunks(self, size=1 << 20):
        return super().chunks(5)


def parquet(columns: dict) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(pa.table(columns), out)
    return out.getvalue()


def xlsx(rows: list[list], title: str = "HoSo") -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = title
    for row in rows:
        wb.active.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def with_member(workbook: bytes, name: str, data: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(workbook))
    return zipped({**{i.filename: src.read(i.filename) for i in src.infolist()}, name: data})


XLSX_ROWS = [["ma_ho_so", "ho_ten", "ngay_sinh", "so_tien"], ["HS-0001", "Trần Văn Tý", "1985-03-12", 1500000]]


# ---- good files are accepted ------------------------------------------------------------------------

def test_good_utf8_csv_is_accepted():
    assert check(GOOD.encode()) is None
    assert check(b"\xef\xbb\xbf" + GOOD.encode(), encoding="utf-8-sig") is None  # a BOM at the start is fine


def test_good_windows_1258_csv_is_accepted():
    # 'ầ' and 'ý' are not in the code page: Vietnamese Windows software writes 'â' plus a combining grave
    data = encode_cp1258(GOOD.replace(",", ";"))
    assert b"Tr\xe2\xccn V\xe3n Ty\xec" in data
    assert check(data, encoding="windows-1258", delimiter=";") is None


def test_good_jsonl_is_accepted():
    lines = [json.dumps({"ma_ho_so": "HS-1", "ho_ten": "Trần Văn Tý"}, ensure_ascii=False)] * 3
    assert check(("\n".join(lines) + "\n").encode(), "f.jsonl", format="jsonl") is None


def test_good_parquet_is_accepted():
    data = parquet({"ma_ho_so": ["HS-1"], "ho_ten": ["Trần Văn Tý"], "so_tien": [1.5], "extra": [True]})
    assert check(data, "f.parquet", format="parquet") is None


def test_good_xlsx_is_accepted():
    assert check(xlsx(XLSX_ROWS), "f.xlsx", format="xlsx") is None
    report = xlsx([["BÁO CÁO HỒ SƠ"], [None], *XLSX_ROWS], title="BaoCao")
    assert check(report, "f.xlsx", format="xlsx", header_row=3, sheet="BaoCao") is None


def test_a_good_document_is_accepted():
    s = spec(columns=DOCUMENTS, keys=("document_path",), kind="documents")
    assert check_file(BytesBlob("a.pdf", b"%PDF-1.4\n%%EOF\n"), s) is None
    assert check_file(BytesBlob("a.bin", bytes(range(256))), s) is None  # unknown bytes are stored


# ---- every format ---------------------------------------------------------------------------------

@pytest.mark.parametrize("source", [{"format": "csv"}, {"format": "jsonl"}, {"format": "parquet"},
                                    {"format": "xlsx"}, {"kind": "documents"}])
def test_an_empty_file_is_refused_in_every_format(source):
    columns, keys = (DOCUMENTS, ("document_path",)) if source.get("kind") else (COLUMNS, ("ma_ho_so",))
    refusal = check_file(BytesBlob("landing/x/f", b""), spec(columns=columns, keys=keys, **source))
    assert refusal.code == "empty"
    assert "landing/x/f" in refusal.reason and "0 bytes" in refusal.reason


# ---- text: binary, encoding, BOM ---------------------------------------------------------------------

def test_a_nul_byte_is_binary_and_its_offset_is_given():
    data = GOOD.encode() + b"HS-3,\x00,2000-01-01,1\n"
    refusal = check(data)
    assert refusal.code == "binary"
    assert f"byte {len(GOOD.encode()) + 5}" in refusal.reason and "line 4" in refusal.reason
    assert "UTF-16" in check(GOOD.encode("utf-16")).reason


def test_windows_1258_declared_utf8_names_the_offset_and_the_encoding_that_reads_it():
    data = encode_cp1258(GOOD)
    refusal = check(data)
    assert refusal.code == "encoding"
    first_bad = next(i for i, b in enumerate(data) if b >= 0x80)
    assert f"byte {first_bad} " in refusal.reason and "line 2" in refusal.reason
    assert "declare encoding: windows-1258" in refusal.reason


def test_utf8_declared_windows_1258_is_refused_though_cp1258_decodes_it():
    # 'Ý' (C3 9D) would hit an undefined cp1258 byte; keep to letters cp1258 decodes as mojibake
    data = (HEADER + "HS-1,Trần Văn Tý,1985-03-12,1\n").encode()
    assert data.decode("cp1258")  # no error: only this check stops the mojibake
    refusal = check(data, encoding="windows-1258")
    assert refusal.code == "encoding"
    assert "is UTF-8" in refusal.reason and "declare encoding: utf-8" in refusal.reason
    assert check(HEADER.encode() + b"HS-1,Tran Van Ty,1985-03-12,1\n", encoding="windows-1258") is None  # ASCII


def test_utf8_with_a_byte_cp1258_lacks_names_utf8():
    refusal = check((HEADER + "HS-1,Nguyễn Văn Học,1985-03-12,1\n").encode(), encoding="windows-1258")
    assert refusal.code == "encoding" and "reads as utf-8" in refusal.reason  # 'ọ' is E1 BB 8D; 8D is undefined


def test_a_utf8_file_with_one_foreign_line_is_not_advised_to_be_windows_1258():
    data = (GOOD * 5).encode() + encode_cp1258("HS-9,Lưu Thị Ánh,1999-09-09,1\n")
    refusal = check(data)
    assert refusal.code == "encoding"
    assert "windows-1258" not in refusal.reason and "most of the file is UTF-8" in refusal.reason


def test_a_file_cut_inside_a_character_is_an_encoding_refusal():
    refusal = check(GOOD.encode() + "ệ".encode()[:2])
    assert refusal.code == "encoding" and "cut short" in refusal.reason


def test_decoding_streams_across_chunk_boundaries():
    data = GOOD.encode() * 3
    assert check(data, blob=SmallChunks) is None  # multi-byte characters split between chunks decode
    bad = data + b"HS-9,\xff,2000-01-01,1\n"
    assert f"byte {len(data) + 5} " in check(bad, blob=SmallChunks).reason


def test_a_bom_inside_the_file_is_refused_with_its_offset():
    one = b"\xef\xbb\xbf" + GOOD.encode()
    for blob in (BytesBlob, SmallChunks):
        refusal = check(one + one, blob=blob, encoding="utf-8-sig")
        assert refusal.code == "bom_inside"
        assert f"byte {len(one)} " in refusal.reason and "joined" in refusal.reason


# ---- legacy Vietnamese encodings: declared, contradicted, detected -----------------------------------------

LEGACY = ("tcvn3", "vni", "viqr")


@pytest.mark.parametrize("encoding", LEGACY)
def test_a_legacy_csv_declared_as_it_is_is_accepted_even_in_small_chunks(encoding):
    data = legacy_text.encode(GOOD, encoding)
    for blob in (BytesBlob, SmallChunks):  # VNI letters and VIQR marks split between chunks
        assert check(data, blob=blob, encoding=encoding) is None


@pytest.mark.parametrize("encoding", ["tcvn3", "vni"])
def test_a_legacy_file_declared_windows_1258_is_refused_with_the_encoding_it_reads_as(encoding):
    data = legacy_text.encode(GOOD, encoding)
    data.decode("cp1258")  # no error: Windows-1258 would read it as mojibake
    refusal = check(data, encoding="windows-1258")
    assert refusal.code == "encoding"
    assert f"declared windows-1258 but reads as {encoding}" in refusal.reason
    assert f"declare encoding: {encoding}" in refusal.reason.lower()
    assert f"is 'Trần' as {encoding}" in refusal.reason  # the first word, both ways


@pytest.mark.parametrize("encoding", ["tcvn3", "vni"])
def test_a_legacy_file_declared_utf8_is_refused_with_the_encoding_it_reads_as(encoding):
    refusal = check(legacy_text.encode(GOOD, encoding))
    assert refusal.code == "encoding" and "is not valid utf-8" in refusal.reason
    assert f"the whole file reads as {encoding}: declare encoding: {encoding}" in refusal.reason


def test_the_legacy_encodings_are_told_apart_from_each_other_and_from_windows_1258():
    tcvn3, vni = legacy_text.encode(GOOD, "tcvn3"), legacy_text.encode(GOOD, "vni")
    assert "reads as vni" in check(vni, encoding="tcvn3").reason
    assert "reads as tcvn3" in check(tcvn3, encoding="vni").reason
    assert "reads as windows-1258" in check(encode_cp1258(GOOD), encoding="tcvn3").reason


def test_two_encodings_that_read_a_file_equally_well_are_both_named():
    refusal = check(HEADER.encode() + b"HS-1,Le\xe2,1985-03-12,1\n", encoding="windows-1258")  # Lê in VNI
    assert "reads as tcvn3 or vni" in refusal.reason and "the one it was typed in" in refusal.reason


def test_an_ascii_file_is_never_contradicted():
    data = HEADER.encode() + b"HS-1,Tran Van Ty,1985-03-12,1\n"
    for encoding in ("windows-1258", "tcvn3", "vni", "viqr"):
        assert check(data, encoding=encoding) is None


def test_a_vni_letter_cut_from_its_mark_names_the_byte():
    data = legacy_text.encode(GOOD, "vni") + b"HS-9,\xf9ng,2000-01-01,1\n"
    refusal = check(data, encoding="vni")
    assert refusal.code == "encoding"
    assert f"byte {len(legacy_text.encode(GOOD, 'vni')) + 5} (0xF9, line 4) is not valid vni" in refusal.reason


@pytest.mark.parametrize("encoding", ["utf-8", "windows-1258", "tcvn3", "vni", "viqr"])
@pytest.mark.parametrize("rows", [1, 40])
def test_auto_detects_each_encoding_with_its_confidence(encoding, rows):
    text = HEADER + "".join(GOOD.splitlines(keepends=True)[1:]) * rows
    data = encode_cp1258(text) if encoding == "windows-1258" else text.encode() if encoding == "utf-8" \
        else legacy_text.encode(text, encoding)
    found = filecheck.read_encoding(BytesBlob("f.csv", data), spec(encoding="auto"))
    assert found.encoding == encoding and found.confidence >= filecheck.encodings.MIN_CONFIDENCE
    assert check_file(BytesBlob("f.csv", data), spec(encoding="auto")) is None


def test_auto_reads_plain_ascii_as_utf8_and_a_bom_as_utf8_sig():
    ascii_only = HEADER.encode() + b"HS-1,Co. ABC,1985-03-12,1\nHS-2,No. 5,1985-03-12,1\n"
    assert filecheck.read_encoding(BytesBlob("f.csv", ascii_only), spec(encoding="auto")).encoding == "utf-8"
    bom = b"\xef\xbb\xbf" + GOOD.encode()
    assert filecheck.read_encoding(BytesBlob("f.csv", bom), spec(encoding="auto")).encoding == "utf-8-sig"
    assert filecheck.read_encoding(BytesBlob("f.csv", bom), spec()).confidence is None  # declared: no guess


def test_auto_refuses_a_file_whose_readings_are_too_close_or_too_weak():
    close = HEADER.encode() + b"HS-1,Le\xe2,1985-03-12,1\n"  # Lê in VNI; Leõ in TCVN3
    refusal = check(close, encoding="auto")
    assert refusal.code == "encoding_unclear" and "too close" in refusal.reason
    assert "tcvn3 1.00, vni 1.00" in refusal.reason and "Declare the encoding" in refusal.reason
    weak = HEADER.encode() + "HS-1,Caf\u00e9 Ph\u00e9nix,2000-01-01,1\n".encode("cp1258")
    refusal = check(weak, encoding="auto")
    assert refusal.code == "encoding_unclear" and "weak" in refusal.reason


def test_auto_still_reads_the_whole_file_strictly_in_what_it_detected():
    start = legacy_text.encode(GOOD, "vni") * 3000  # more than the sample
    assert len(start) > filecheck.DETECT_BYTES
    refusal = check(start + b"HS-9,\xf9ng,2000-01-01,1\n", encoding="auto")
    assert refusal.code == "encoding" and "is not valid vni" in refusal.reason


@pytest.mark.parametrize("encoding", LEGACY + ("windows-1258",))
def test_the_utf8_copy_is_nfc_and_the_same_text_however_the_chunks_fall(encoding):
    data = encode_cp1258(GOOD) if encoding == "windows-1258" else legacy_text.encode(GOOD, encoding)
    for size in (1, 2, 3, 7, len(data)):
        chunks = [data[i:i + size] for i in range(0, len(data), size)]
        text = b"".join(filecheck.utf8_copy(chunks, encoding)).decode()
        assert text == (GOOD.replace("Ánh", "ánh") if encoding == "tcvn3" else GOOD)  # TCVN3: no toned capitals


def test_which_files_spark_reads_from_a_utf8_copy():
    needs = filecheck.encodings.needs_copy
    assert [e for e in LEGACY if needs(e, e)] == list(LEGACY)
    assert not needs("windows-1258", "windows-1258") and not needs("utf-8-sig", "utf-8-sig")
    assert needs("auto", "windows-1258") and needs("auto", "tcvn3")
    assert not needs("auto", "utf-8") and not needs("auto", "utf-8-sig")


def test_the_batch_records_each_files_encoding_and_the_weakest_confidence():
    D = filecheck.Detection
    assert filecheck.encodings.batch_fields("windows-1258", {"landing/x/d/a.csv": D("windows-1258")}) == {
        "encoding": "windows-1258", "encoding_declared": "windows-1258"}
    found = {"landing/x/d/a.csv": D("tcvn3", 0.98), "landing/x/d/b.csv": D("vni", 0.91)}
    assert filecheck.encodings.batch_fields("auto", found) == {
        "encoding": "tcvn3,vni", "encoding_declared": "auto", "encoding_confidence": 0.91,
        "encoding_files": {"a.csv": ["tcvn3", 0.98], "b.csv": ["vni", 0.91]}}
    assert filecheck.encodings.batch_fields("auto", {}) == {}


def test_the_encoding_report_of_lake_ingest_detect_encoding():
    data = legacy_text.encode(GOOD, "tcvn3")
    report = filecheck.encoding_report(BytesBlob("f.csv", data), spec(encoding="windows-1258"))
    assert report["guess"].startswith("tcvn3 1.00") and report["auto"] == "tcvn3"
    assert report["declared"] == "windows-1258: refused [encoding]" and len(report["reasons"]) == 1
    report = filecheck.encoding_report(BytesBlob("f.csv", data), spec(encoding="tcvn3"))
    assert report["declared"] == "tcvn3: accepted" and report["reasons"] == []


def _legacy_font_xlsx(header_font: str, name: bytes, name_font: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.append([legacy_text.encode("ma_ho_so", "tcvn3").decode("cp1252"),
               legacy_text.encode("họ tên", "tcvn3").decode("cp1252")])
    ws.append(["HS-0001", name.decode("latin-1")])
    for cell in ("A1", "B1"):
        ws[cell].font = Font(name=header_font)
    ws["B2"].font = Font(name=name_font)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_an_xlsx_header_in_a_tcvn3_font_is_read_when_the_spec_allows_it():
    columns = [{"name": "ma_ho_so", "type": "string"},
               {"name": "ho_ten", "type": "string", "source": "họ tên", "nullable": False}]
    book = _legacy_font_xlsx(".VnTimeH", legacy_text.encode("Bùi Hữu Lực", "vni"), "VNI-Times")
    for encoding in ("auto", "tcvn3"):
        assert check_file(BytesBlob("f.xlsx", book), spec(columns, format="xlsx", encoding=encoding)) is None
    assert check_file(BytesBlob("f.xlsx", book), spec(columns, format="xlsx")).code == "header_missing"


def test_a_workbook_records_the_encodings_its_cells_fonts_gave():
    """What bronze records for a workbook batch: the legacy encodings that changed a cell, as the spec allows."""
    columns = [{"name": "ma_ho_so", "type": "string"},
               {"name": "ho_ten", "type": "string", "source": "họ tên", "nullable": False}]
    mixed = BytesBlob("f.xlsx", _legacy_font_xlsx(".VnTimeH", legacy_text.encode("Bùi Hữu Lực", "vni"), "VNI-Times"))
    found = {enc: filecheck.read_encoding(mixed, spec(columns, format="xlsx", encoding=enc))
             for enc in ("auto", "tcvn3", "utf-8")}
    assert {enc: d.encoding for enc, d in found.items()} == {"auto": "tcvn3,vni", "tcvn3": "tcvn3", "utf-8": "utf-8"}
    assert [enc for enc, d in found.items() if d.by_font] == ["auto", "tcvn3"]  # utf-8: no font looked at
    assert all(d.confidence is None for d in found.values())
    plain = BytesBlob("p.xlsx", _legacy_font_xlsx("Calibri", "Bùi Hữu Lực".encode("utf-8"), "Times New Roman"))
    assert filecheck.read_encoding(plain, spec(columns, format="xlsx", encoding="auto")).encoding == "utf-8"
    fields = filecheck.encodings.batch_fields("auto", {"landing/x/2026-01-01/f.xlsx": found["auto"]})
    assert fields == {"encoding": "tcvn3,vni", "encoding_declared": "auto", "encoding_by": "font"}


def test_an_xlsx_cell_its_font_cannot_read_is_refused_with_its_coordinate():
    columns = [{"name": "ma_ho_so", "type": "string"}, {"name": "ho_ten", "type": "string", "source": "họ tên"}]
    book = _legacy_font_xlsx(".VnTime", b"\xf9ng", "VNI-Helve")  # a VNI mark with no letter before it
    refusal = check_file(BytesBlob("f.xlsx", book), spec(columns, format="xlsx", encoding="auto"))
    assert refusal.code == "encoding" and "cell B2" in refusal.reason and "'VNI-Helve', so vni" in refusal.reason
    assert check_file(BytesBlob("f.xlsx", book), spec(columns, format="xlsx", encoding="tcvn3")) is None


# ---- CSV header ---------------------------------------------------------------------------------------

def test_a_first_line_over_64_kib_is_not_a_header():
    long_line = ("x" * (filecheck.HEADER_LIMIT + 1) + "\n").encode()
    assert code(long_line + GOOD.encode()) == "header_too_long"
    assert code(b"y" * (filecheck.HEADER_LIMIT + 10)) == "header_too_long"  # no line break at all


def test_an_empty_column_name_is_refused():
    refusal = check(GOOD.replace("\n", ",\n").encode())
    assert refusal.code == "header_empty_name" and "column 5" in refusal.reason


def test_repeated_column_names_are_refused():
    refusal = check(("ma_ho_so,ho_ten,ho_ten \n" + "1,A,B\n").encode())  # trimmed before comparing
    assert refusal.code == "header_duplicate" and "'ho_ten'" in refusal.reason


def test_none_of_the_declared_columns_names_them():
    refusal = check("ma_tinh,ten_tinh\n01,Hà Nội\n".encode())
    assert refusal.code == "header_none"
    assert "ma_ho_so, ho_ten, ngay_sinh, so_tien" in refusal.reason and "'ma_tinh'" in refusal.reason


@pytest.mark.parametrize("wrong", [";", "\t", "|"])
def test_none_of_the_declared_columns_says_when_the_delimiter_is_wrong(wrong):
    refusal = check(GOOD.replace(",", wrong).encode())
    assert refusal.code == "header_none"
    assert f"splits on {wrong!r}" in refusal.reason and "delimiter wrong" in refusal.reason
    assert "splits on ','" in check(GOOD.encode(), delimiter=";").reason


def test_excel_sep_line_and_blank_first_line_are_named():
    assert "'sep='" in check(("sep=,\n" + GOOD).encode()).reason
    refusal = check(("\n" + GOOD).encode())
    assert refusal.code == "header_none" and "line 1 is blank" in refusal.reason


def test_missing_required_columns_are_named():
    refusal = check(b"ma_ho_so,so_tien\nHS-1,1\n")
    assert refusal.code == "header_missing" and "ho_ten" in refusal.reason and "so_tien" not in refusal.reason
    assert code(b"ma_ho_so,ho_ten\nHS-1,A\n") is None  # nullable columns may be absent


def test_a_key_is_required_even_when_nullable_is_left_at_its_default():
    columns = [{"name": "ma_ho_so", "type": "string"}, {"name": "ho_ten", "type": "string"}]
    refusal = check_file(BytesBlob("f.csv", b"ho_ten\nA\n"), spec(columns=columns))
    assert refusal.code == "header_missing" and "ma_ho_so" in refusal.reason


def test_a_header_without_rows_is_refused():
    assert code(HEADER.encode()) == "no_rows"
    assert code(HEADER.rstrip("\n").encode()) == "no_rows"
    assert code((HEADER + "\r\n  \n").encode()) == "no_rows"


def test_header_names_are_nfc_trimmed_and_the_bom_is_removed():
    decomposed = "ma\u0301"  # 'má' decomposed, as Windows-1258 writes it
    columns = [{"name": "ma", "type": "string", "source": "má"}]
    data = ("\ufeff " + decomposed + " \nx\n").encode()
    assert check_file(BytesBlob("f.csv", data), spec(columns=columns, keys=("ma",), encoding="utf-8-sig")) is None


# ---- JSON Lines ------------------------------------------------------------------------------------------

def test_jsonl_without_one_json_object_is_refused():
    refusal = check(b"{a: 1}\n'x'\n", "f.jsonl", format="jsonl")
    assert refusal.code == "jsonl_no_valid_line" and "2 non-blank" in refusal.reason
    assert "array" in check(b'[{"a": 1}, {"a": 2}]\n', "f.jsonl", format="jsonl").reason
    assert "pretty-printed" in check(b'{\n  "a": 1\n}\n', "f.jsonl", format="jsonl").reason
    assert "blank lines" in check(b"\n\n \n", "f.jsonl", format="jsonl").reason


def test_jsonl_scanning_stops_at_the_first_object_and_skips_blank_lines():
    assert code(b'\n\n{"ma_ho_so": "HS-1"}\nnot json at all\n', format="jsonl") is None
    assert code(b'not json\n{"ma_ho_so": "HS-1"}', format="jsonl") is None  # no final line break


def test_jsonl_lines_too_long_to_hold_are_skipped(monkeypatch):
    monkeypatch.setattr(filecheck.formats, "JSONL_LINE_LIMIT", 100)
    long = b'{"a": "' + b"x" * 500 + b'"}\n'
    assert code(long + b'{"a": 1}\n', format="jsonl", blob=SmallChunks) is None
    assert "were not read" in check(long, format="jsonl").reason


def test_stream_and_builtin_sources_get_the_jsonl_checks_jdbc_only_the_empty_one():
    stream = spec(kind="stream", format="jsonl", event_time="ma_ho_so")
    assert check_file(BytesBlob("s.jsonl", b"nope\n"), stream).code == "jsonl_no_valid_line"
    builtin = spec(kind="builtin", format="jsonl", extractor="x")
    assert check_file(BytesBlob("b.jsonl", b"\x00"), builtin).code == "binary"
    jdbc = spec(kind="jdbc", connection="db", table="s.t")  # extracts land as Parquet whatever `format` says
    assert check_file(BytesBlob("j.parquet", parquet({"x": [1]})), jdbc) is None
    assert check_file(BytesBlob("j.parquet", b""), jdbc).code == "empty"


# ---- Parquet ---------------------------------------------------------------------------------------------

def test_a_file_without_parquet_magic_is_not_parquet():
    refusal = check(GOOD.encode(), "f.parquet", format="parquet")
    assert refusal.code == "not_parquet" and "text" in refusal.reason
    good = parquet({"ma_ho_so": ["HS-1"], "ho_ten": ["A"]})
    assert "truncated" in check(good[:-10], "f.parquet", format="parquet").reason
    damaged = good[:-8 - 40] + b"\xff" * 40 + good[-8:]
    assert check(damaged, "f.parquet", format="parquet").code == "not_parquet"
    lying = good[:-8] + (10**9).to_bytes(4, "little") + b"PAR1"
    assert "footer claims" in check(lying, "f.parquet", format="parquet").reason


def test_parquet_schema_is_checked_like_a_header():
    assert code(parquet({"ma_tinh": ["01"]}), format="parquet") == "header_none"
    refusal = check(parquet({"ma_ho_so": ["HS-1"], "so_tien": [1.0]}), format="parquet")
    assert refusal.code == "header_missing" and "ho_ten" in refusal.reason
    # Spark matches Parquet columns by their exact names, so a padded name is not the column
    assert code(parquet({"ma_ho_so": ["HS-1"], " ho_ten": ["A"]}), format="parquet") == "header_missing"


def test_the_parquet_schema_is_read_from_the_footer_only():
    class FooterOnly(BytesBlob):
        def chunks(self, size=1 << 20):
            raise AssertionError("a Parquet file is not streamed")

        def head(self, n):
            assert n <= 8
            return super().head(n)

    data = parquet({"ma_ho_so": ["HS-1"] * 1000, "ho_ten": ["A"] * 1000})
    assert check_file(FooterOnly("f.parquet", data), spec(format="parquet")) is None


# ---- Excel -----------------------------------------------------------------------------------------------

def test_a_file_that_is_not_a_zip_is_not_xlsx():
    refusal = check(b"MZ\x90\x00" + b"\x00" * 60, "f.xlsx", format="xlsx")
    assert refusal.code == "not_xlsx" and "Windows program" in refusal.reason
    assert "97-2003" in check(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "f.xlsx", format="xlsx").reason


def test_a_truncated_workbook_is_not_xlsx():
    whole = xlsx(XLSX_ROWS)
    refusal = check(whole[:len(whole) // 2], "f.xlsx", format="xlsx")
    assert refusal.code == "not_xlsx" and "truncated" in refusal.reason


def test_a_zip_without_a_workbook_is_not_xlsx():
    refusal = check(zipped({"word/document.xml": b"<w/>"}), "f.xlsx", format="xlsx")
    assert refusal.code == "not_xlsx" and "xl/workbook.xml" in refusal.reason


def test_a_workbook_too_large_to_read_whole_is_refused(monkeypatch):
    monkeypatch.setattr(filecheck.formats, "XLSX_LIMIT", 1000)
    refusal = check(xlsx(XLSX_ROWS), "f.xlsx", format="xlsx")
    assert refusal.code == "not_xlsx" and "split it or export it as CSV" in refusal.reason


def test_a_member_that_unpacks_too_much_is_a_zip_bomb(monkeypatch):
    bomb = with_member(xlsx(XLSX_ROWS), "xl/media/zeros.bin", b"\x00" * (2 << 20))
    refusal = check(bomb, "f.xlsx", format="xlsx")
    assert refusal.code == "zip_bomb" and "xl/media/zeros.bin" in refusal.reason
    # nor is it opened to see its cells' fonts, which happens before the checks run
    import openpyxl
    opened, real = [], openpyxl.load_workbook
    monkeypatch.setattr(openpyxl, "load_workbook", lambda *a, **k: opened.append(1) or real(*a, **k))
    assert filecheck.read_encoding(BytesBlob("f.xlsx", bomb), spec(format="xlsx", encoding="auto")).encoding == "auto"
    assert opened == []
    assert filecheck.read_encoding(BytesBlob("f.xlsx", xlsx(XLSX_ROWS)), spec(format="xlsx", encoding="auto")) \
        .encoding == "utf-8" and opened == [1]  # (a sound workbook is opened)
    # a small member compresses as well, but cannot hurt
    assert code(with_member(xlsx(XLSX_ROWS), "xl/media/zeros.bin", b"\x00" * 100_000), format="xlsx") is None


def test_a_workbook_that_unpacks_past_the_total_limit_is_a_zip_bomb(monkeypatch):
    import random

    monkeypatch.setattr(filecheck.formats, "ZIP_MAX_UNCOMPRESSED", 1 << 20)
    big = with_member(xlsx(XLSX_ROWS), "xl/media/noise.bin", random.Random(1).randbytes(2 << 20))  # ratio ~1
    refusal = check(big, "f.xlsx", format="xlsx")
    assert refusal.code == "zip_bomb" and "would unpack to 2 MiB" in refusal.reason


def test_the_xlsx_header_row_is_checked_like_a_csv_header():
    assert code(xlsx([["ma_tinh", "ten_tinh"], ["01", "Hà Nội"]]), format="xlsx") == "header_none"
    refusal = check(xlsx([["ma_ho_so", "so_tien"], ["HS-1", 1]]), "f.xlsx", format="xlsx")
    assert refusal.code == "header_missing" and "ho_ten" in refusal.reason and "sheet 'HoSo'" in refusal.reason
    assert code(xlsx([["ma_ho_so", None, "ho_ten"], ["HS-1", 1, "A"]]), format="xlsx") == "header_empty_name"
    assert code(xlsx([["ma_ho_so", "ho_ten", "ho_ten"], ["HS-1", "A", "B"]]), format="xlsx") == "header_duplicate"


def test_a_header_found_at_another_row_is_named():
    refusal = check(xlsx([["BÁO CÁO"], [None], *XLSX_ROWS]), "f.xlsx", format="xlsx")
    assert refusal.code == "header_none" and "header_row: 3" in refusal.reason


def test_a_sheet_without_rows_below_the_header_is_refused():
    assert code(xlsx([XLSX_ROWS[0], [None, None], []]), format="xlsx") == "no_rows"
    assert code(xlsx([XLSX_ROWS[0], [None] * 4 + ["outside the header's width"]]), format="xlsx") == "no_rows"


def test_a_missing_sheet_is_named():
    refusal = check(xlsx(XLSX_ROWS, title="Sheet1"), "f.xlsx", format="xlsx", sheet="HoSo")
    assert refusal.code == "sheet_missing" and "'Sheet1'" in refusal.reason


# ---- documents -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("head, what", [(b"MZ\x90\x00", "Windows program"), (b"\x7fELF\x02", "Linux program"),
                                        (b"#!/bin/sh\n", "script")])
def test_executables_are_refused_as_documents(head, what):
    s = spec(columns=DOCUMENTS, keys=("document_path",), kind="documents")
    refusal = check_file(BytesBlob("giay_to.pdf", head + b"\x00" * 100), s)
    assert refusal.code == "executable" and what in refusal.reason and "giay_to.pdf" in refusal.reason


# ---- blobs, streaming, purity ----------------------------------------------------------------------------

def test_local_blob_reads_like_bytes_blob(tmp_path):
    data = bytes(range(256)) * 10
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    local, memory = LocalBlob(path), BytesBlob("f.bin", data)
    assert (local.size, local.head(10), local.tail(10)) == (memory.size, memory.head(10), memory.tail(10))
    assert local.tail(10_000) == data and b"".join(local.chunks(100)) == data == b"".join(memory.chunks(100))
    assert str(path) in local.name


def test_a_10_mb_file_is_checked_without_holding_it(tmp_path):
    path = tmp_path / "big.csv"
    row = "HS-0001,Trần Văn Tý,1985-03-12,1500000\n".encode()
    with path.open("wb") as f:
        f.write(HEADER.encode())
        for _ in range(10 * 1024 * 1024 // len(row) // 1000):
            f.write(row * 1000)
    tracemalloc.start()
    try:
        assert check_file(LocalBlob(path), spec()) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert path.stat().st_size > 10_000_000 and peak < 8 * 1024 * 1024


def test_filecheck_imports_neither_spark_nor_its_optional_libraries():
    code = ("import sys, lakehouse.engine.filecheck; "
            "print(sorted(m for m in ('pyspark', 'pyarrow', 'openpyxl', 'charset_normalizer') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"


# ---- the bad-input corpus --------------------------------------------------------------------------------

MANIFEST = yaml.safe_load((CORPUS / "manifest.yaml").read_text(encoding="utf-8"))


def corpus_spec(entry: dict) -> SourceDataset:
    if entry["dataset_format"] == "documents":
        source, columns, keys = {"kind": "documents"}, MANIFEST["documents"]["columns"], MANIFEST["documents"]["keys"]
    else:
        source = {"kind": "files", "format": entry["dataset_format"], **entry.get("source", {})}
        columns, keys = MANIFEST["columns"], MANIFEST["keys"]
    return SourceDataset.model_validate({"name": MANIFEST["dataset"], "domain": "t", "description": "d",
                                         "grain": "g", "source": source, "columns": columns, "keys": keys})


def make_corpus():
    """The corpus script as a module (it is not in a package); its dataclasses need it in sys.modules."""
    if "make_corpus" not in sys.modules:
        loaded = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
        module = importlib.util.module_from_spec(loaded)
        sys.modules["make_corpus"] = module
        loaded.loader.exec_module(module)
    return sys.modules["make_corpus"]


@pytest.mark.parametrize("entry", MANIFEST["files"], ids=[e["file"] for e in MANIFEST["files"]])
def test_corpus_file_is_refused_or_accepted_as_the_manifest_says(entry, tmp_path):
    if entry.get("generated_by"):
        path = getattr(make_corpus(), entry["generated_by"])(tmp_path / entry["file"])
    else:
        path = CORPUS / entry["file"]
    refusal = check_file(LocalBlob(path), corpus_spec(entry))
    if entry["expect"] == "accepted":
        assert refusal is None, refusal
    else:
        assert entry["expect"] == "refused"
        assert refusal is not None and refusal.code == entry["code"], refusal
        assert entry["file"] in refusal.reason


def test_the_corpus_holds_exactly_the_manifest_files_and_stays_small():
    listed = {e["file"] for e in MANIFEST["files"] if not e.get("generated_by")}
    present = {p.name for p in CORPUS.iterdir() if p.is_file()} - {"make_corpus.py", "manifest.yaml"}
    assert present == listed
    assert len(MANIFEST["files"]) >= 25
    assert sum((CORPUS / f).stat().st_size for f in present) < 2_000_000
    codes = {e.get("code") for e in MANIFEST["files"]}
    assert {"empty", "encoding", "binary", "bom_inside", "header_none", "header_missing", "header_duplicate",
            "header_empty_name", "header_too_long", "no_rows", "jsonl_no_valid_line", "not_parquet", "not_xlsx",
            "zip_bomb", "executable"} <= codes


def test_a_utf8_line_in_a_windows_1258_file_is_named_even_where_a_byte_is_undefined_there():
    """Đ is C4 90 in UTF-8, and 0x90 is undefined in Windows-1258: the strict decoder stops there, and the
    reason must still say that the line is UTF-8, not that no encoding reads the file."""
    head = "ma_ho_so;ho_ten;ngay_sinh;so_tien\n"
    body = encode_cp1258(head + "HS-0001;Trần Văn Tý;1985-03-12;1\n") + "HS-0002;Đỗ Đại;1990-01-01;2\n".encode()
    refusal = check(body, encoding="windows-1258", delimiter=";")
    assert refusal.code == "encoding"
    assert "line 3 holds UTF-8" in refusal.reason and "'Đ'" in refusal.reason, refusal.reason
