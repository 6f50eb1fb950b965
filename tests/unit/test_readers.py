"""Readers turn landed files of each format into the same parsed shape (local Spark, local files)."""

import io
import json
import unicodedata
from pathlib import Path

import pytest

from lakehouse.config.spec import SourceDataset
from lakehouse.core.errors import LakeError
from lakehouse.demo import data as demo_data
from lakehouse.engine.readers import csv_header, read_csv, read_documents, read_parquet, xlsx_rows


def spec(source: dict, columns: list[dict]) -> SourceDataset:
    return SourceDataset.model_validate({
        "name": "t", "domain": "t", "description": "d", "grain": "g", "source": source,
        "columns": columns, "keys": [columns[0]["name"]]})


def fetch(uri: str, length: int | None = None) -> bytes:
    data = Path(uri.removeprefix("file:")).read_bytes()
    return data[:length] if length else data


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return f"file:{path}"


FIRMS = [{"name": "tax_code", "type": "string"}, {"name": "firm_name", "type": "string"},
         {"name": "capital", "type": "decimal(18,0)", "number_format": "vi"}]


def test_csv_header_strips_the_bom_and_reads_the_delimiter():
    assert csv_header("\ufeffa,b,c\n1,2,3\n".encode("utf-8"), "utf-8-sig", ",") == ["a", "b", "c"]
    assert csv_header(demo_data.encode_cp1258("mã;tên\n"), "windows-1258", ";") == ["mã", "tên"]
    with pytest.raises(LakeError, match="repeats column names"):
        csv_header(b"a,a\n", "utf-8", ",")


def test_windows_1258_csv_with_an_extra_column_and_a_broken_line(spark, tmp_path):
    text = ("tax_code;firm_name;capital;note\n"
            "0101;Công ty Hoà Bình Bậc;1.500.000;x\n"
            "0102;Short\n"
            "0103;Đà Nẵng;2.000;\n")
    uri = write(tmp_path, "firms.csv", demo_data.encode_cp1258(text))
    s = spec({"kind": "files", "format": "csv", "encoding": "windows-1258", "delimiter": ";"}, FIRMS)
    rows = sorted(read_csv(spark, s, [uri], fetch).collect(), key=lambda r: r["_raw"] or r["tax_code"])
    assert len(rows) == 3
    good = [r for r in rows if r["_parse_error"] is None]
    bad = [r for r in rows if r["_parse_error"] is not None]
    assert [r["tax_code"] for r in good] == ["0101", "0103"]
    # decoded from Windows-1258 (tones as combining marks); silver makes it NFC
    assert unicodedata.normalize("NFC", good[0]["firm_name"]) == "Công ty Hoà Bình Bậc"
    assert good[0]["capital"] == "1.500.000"
    assert json.loads(good[0]["_rescued_data"]) == {"note": "x"}
    assert bad[0]["_raw"] == "0102;Short"
    assert "4 fields" in bad[0]["_parse_error"]


def test_csv_files_with_different_headers_are_read_by_name(spark, tmp_path):
    a = write(tmp_path, "a.csv", "tax_code,firm_name\n1,A\n".encode())
    b = write(tmp_path, "b.csv", "\ufefffirm_name,capital,tax_code\nB,3,2\n".encode())
    s = spec({"kind": "files", "format": "csv", "encoding": "utf-8-sig"}, FIRMS)
    rows = {r["tax_code"]: r for r in read_csv(spark, s, [a, b], fetch).collect()}
    assert (rows["1"]["firm_name"], rows["1"]["capital"]) == ("A", None)
    assert (rows["2"]["firm_name"], rows["2"]["capital"]) == ("B", "3")


def test_parquet_values_become_text_and_undeclared_columns_are_rescued(spark, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(pa.table({"tax_code": ["1"], "capital": [12], "extra": [True]}), out)
    uri = write(tmp_path, "f.parquet", out.getvalue())
    s = spec({"kind": "files", "format": "parquet"}, FIRMS)
    row = read_parquet(spark, s, [uri], fetch).collect()[0]
    assert (row["tax_code"], row["capital"], row["firm_name"]) == ("1", "12", None)
    assert json.loads(row["_rescued_data"]) == {"extra": "true"}


def test_xlsx_report_form_skips_title_rows_and_blank_rows():
    header, rows = xlsx_rows(demo_data.province_report_xlsx("2026-11-27"), header_row=4, sheet=None)
    assert header[:2] == ["province_code", "province_name"]
    assert len(rows) == 35  # 34 provinces and the totals row; the blank row between is not a record
    assert rows[-1][0] is None
    with pytest.raises(LakeError, match="no sheet"):
        xlsx_rows(demo_data.province_report_xlsx("2026-11-27"), 4, "Sheet that is not there")


def test_documents_become_metadata_rows_typed_by_their_bytes(spark, tmp_path):
    files = dict(demo_data.dossier_documents("2026-11-27"))
    uris = []
    for rel, body in list(files.items())[:6]:
        target = tmp_path / "landing" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        uris.append(f"file:{target}")
    s = spec({"kind": "documents", "dossier_id_pattern": r"(HS-\d{4}-\d{6})/"},
             [{"name": n, "type": "string"} for n in ("document_path", "size_bytes", "sha256", "media_type",
                                                      "dossier_id")])
    rows = read_documents(spark, s, uris, fetch, base=f"file:{tmp_path}/landing/").collect()
    assert len(rows) == 6
    for row in rows:
        body = files[row["document_path"]]
        assert row["size_bytes"] == str(len(body))
        assert row["media_type"] == demo_data.sniff_media_type(body)
        assert row["dossier_id"] == row["document_path"].split("/")[0]
        import hashlib
        assert row["sha256"] == hashlib.sha256(body).hexdigest()


# ---- legacy Vietnamese encodings ------------------------------------------------------------------------

PEOPLE = [{"name": "ma", "type": "string", "source": "mã"}, {"name": "ho_ten", "type": "string", "source": "họ tên"}]
REGISTER = "mã,họ tên\nHS-1,Bùi Hữu Lực\nHS-2,\"Nguyễn, Thị Ánh\"\nHS-3,Đặng Quốc Việt\n"


@pytest.mark.parametrize("encoding", ["tcvn3", "vni", "viqr"])
def test_csv_header_reads_the_legacy_encodings(encoding):
    from lakehouse.core import legacy_text

    head = legacy_text.encode(REGISTER, encoding)
    assert csv_header(head, encoding, ",") == ["mã", "họ tên"]
    assert csv_header(head[:12], encoding, ",") == ["mã", "họ tên"][:len(csv_header(head[:12], encoding, ","))]


@pytest.mark.parametrize("encoding", ["vni", "viqr"])
def test_a_legacy_csv_is_read_from_its_utf8_copy_and_its_rows_name_the_landed_file(spark, tmp_path, encoding):
    from lakehouse.core import legacy_text
    from lakehouse.engine.filecheck import utf8_copy

    landed = tmp_path / "landing" / "dan_cu.csv"
    landed.parent.mkdir()
    landed.write_bytes(legacy_text.encode(REGISTER, encoding))
    copy = tmp_path / "staging" / "dan_cu.csv"
    copy.parent.mkdir()
    chunks = [landed.read_bytes()[i:i + 7] for i in range(0, landed.stat().st_size, 7)]  # letters cut in two
    copy.write_bytes(b"".join(utf8_copy(chunks, encoding)))
    s = spec({"kind": "files", "format": "csv", "encoding": encoding}, PEOPLE)
    frame = read_csv(spark, s, [f"file:{landed}"], fetch, copies={f"file:{landed}": f"file:{copy}"})
    rows = {r["mã"]: r for r in frame.collect()}
    assert {k: r["họ tên"] for k, r in rows.items()} == {"HS-1": "Bùi Hữu Lực", "HS-2": "Nguyễn, Thị Ánh",
                                                          "HS-3": "Đặng Quốc Việt"}
    assert all(unicodedata.is_normalized("NFC", r["họ tên"]) for r in rows.values())
    assert {r["_source_file"] for r in rows.values()} == {f"file:{landed}"}
    assert landed.read_bytes() == legacy_text.encode(REGISTER, encoding)  # the landed bytes are kept


def _legacy_workbook() -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from lakehouse.core import legacy_text

    typed = lambda text, encoding: legacy_text.encode(text, encoding).decode("cp1252")  # noqa: E731 (as Excel keeps it)
    wb = Workbook()
    ws = wb.active
    ws.append(["BÁO CÁO DÂN CƯ"])
    ws.append([typed("mã", "tcvn3"), "họ tên"])
    ws.append(["HS-1", typed("Bùi Hữu Lực", "tcvn3")])
    ws.append(["HS-2", typed("Nguyễn Thị Ánh", "vni")])
    ws.append(["HS-3", "Đặng Quốc Việt"])  # Unicode, in a legacy font: kept as it is
    ws.append(["HS-4", "Trần Văn Tý"])
    for cell, font in (("A2", ".VnTimeH"), ("B3", ".VnTime"), ("B4", "VNI-Times"), ("B5", ".VnArial")):
        ws[cell].font = Font(name=font)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_xlsx_cells_in_legacy_fonts_are_decoded_as_the_spec_allows():
    book = _legacy_workbook()
    header, rows = xlsx_rows(book, header_row=2, sheet=None, encoding="auto")
    assert header == ["mã", "họ tên"]
    assert [r[1] for r in rows] == ["Bùi Hữu Lực", "Nguyễn Thị Ánh", "Đặng Quốc Việt", "Trần Văn Tý"]
    _, rows = xlsx_rows(book, header_row=2, sheet=None, encoding="tcvn3")
    assert rows[0][1] == "Bùi Hữu Lực" and rows[1][1] != "Nguyễn Thị Ánh"  # VNI cells are left alone
    header, rows = xlsx_rows(book, header_row=2, sheet=None)  # utf-8: every cell as it is
    assert header[0] != "mã" and rows[0][1] != "Bùi Hữu Lực"
