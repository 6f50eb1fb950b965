"""Broken landed files, one per way a delivery goes wrong, for the file-level checks.

Each file here is what a source system or a data steward really sends on a bad day: a
Windows-1258 export in a UTF-8 dataset, two exports joined into one, a header on its own,
a program renamed .pdf, a workbook cut short by an upload…  ``manifest.yaml`` says, for
each, whether :func:`lakehouse.engine.filecheck.check_file` must refuse it whole (and with
which code) or accept it because the row checks quarantine what is wrong in it.
``tests/unit/test_filecheck.py`` checks every entry.

Run from the repository root to rewrite the files and the manifest::

    .venv/bin/python tests/data/bad_inputs/make_corpus.py

The output is deterministic (fixed seeds, fixed zip timestamps), so a re-run changes
nothing unless a builder here changed (or pyarrow, whose version the Parquet footers
carry).  The 10 MB single-line file is not committed: tests build it with
:func:`write_single_line`.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # the repository, when run as a script

from lakehouse.demo.cp1258 import encode_cp1258  # noqa: E402

STAMP = (2026, 1, 5, 8, 0, 0)  # every zip entry's timestamp, so the bytes do not depend on today

COLUMNS = [
    {"name": "ma_ho_so", "type": "string", "nullable": False},
    {"name": "ho_ten", "type": "string", "nullable": False},
    {"name": "ngay_sinh", "type": "date"},
    {"name": "so_tien", "type": "double"},
]
KEYS = ["ma_ho_so"]
DOCUMENT_COLUMNS = [
    {"name": "document_path", "type": "string", "nullable": False},
    {"name": "sha256", "type": "string"},
    {"name": "media_type", "type": "string"},
]
DOCUMENT_KEYS = ["document_path"]

HEADER = ["ma_ho_so", "ho_ten", "ngay_sinh", "so_tien"]
ROWS = [
    ["HS-0001", "Trần Văn Tý", "1985-03-12", "1500000"],
    ["HS-0002", "Nguyễn Thị Ánh", "1990-07-01", "250000.5"],
    ["HS-0003", "Phạm Đức Hưởng", "1978-11-30", ""],
    ["HS-0004", "Đỗ Thị Ngọc Hoà", "2001-02-14", "75000"],
]


def csv_text(header: list[str] = HEADER, rows: list[list[str]] = ROWS, sep: str = ",", newline: str = "\n") -> str:
    return "".join(sep.join(r) + newline for r in [header, *rows])


GOOD_CSV = csv_text()


def jsonl_text(rows: list[list[str]] = ROWS) -> str:
    import json
    return "".join(json.dumps(dict(zip(HEADER, r)), ensure_ascii=False) + "\n" for r in rows)


# ---- builders for binary formats ---------------------------------------------------------------

def parquet(columns: dict[str, list], types: str | None = None) -> bytes:
    """``columns`` as a Parquet file; ``types`` gives every column that type (an empty list has none of its own)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(pa.table({k: pa.array(v, types) for k, v in columns.items()}), out)
    return out.getvalue()


GOOD_PARQUET_COLUMNS = {name: [r[i] or None for r in ROWS] for i, name in enumerate(HEADER)}


def xlsx(rows: list[list], sheet: str = "HoSo") -> bytes:
    """A workbook with ``rows`` from A1; properties and entry times fixed, so the bytes are stable."""
    from openpyxl import Workbook
    from openpyxl.xml.functions import tostring

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    stamp = dt.datetime(*STAMP)
    wb.properties.created = wb.properties.modified = stamp
    wb.properties.creator = wb.properties.lastModifiedBy = "make_corpus"
    raw = io.BytesIO()
    wb.save(raw)
    wb.properties.modified = stamp  # saving set it to the wall clock
    core = tostring(wb.properties.to_tree())
    src = zipfile.ZipFile(io.BytesIO(raw.getvalue()))
    return rezip([(i.filename, core if i.filename == "docProps/core.xml" else src.read(i.filename))
                  for i in src.infolist()])


def rezip(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in members:
            entry = zipfile.ZipInfo(name, date_time=STAMP)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, data)
    return out.getvalue()


GOOD_XLSX_ROWS = [HEADER, *[[v or None for v in r] for r in ROWS]]


def zip_bomb(megabytes: int = 100) -> bytes:
    """A small archive dressed as a workbook whose sheet unpacks to ``megabytes`` MiB of zeros."""
    workbook = xlsx(GOOD_XLSX_ROWS)
    src = zipfile.ZipFile(io.BytesIO(workbook))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=STAMP)
            entry.compress_type = zipfile.ZIP_DEFLATED
            if info.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(entry, src.read(info.filename))
                continue
            with dst.open(entry, "w", force_zip64=True) as sheet:
                block = b"\x00" * (1 << 20)
                for _ in range(megabytes):
                    sheet.write(block)
    return out.getvalue()


EXE = (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"\x80\x00\x00\x00"
       + b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21"
       + b"This program cannot be run in DOS mode.\r\r\n$" + b"\x00" * 64)  # an inert DOS stub, no code
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56
OLD_XLS = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
       b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
       b"trailer << /Root 1 0 R >>\n%%EOF\n")


def random_bytes(n: int, seed: int = 1258) -> bytes:
    return random.Random(seed).randbytes(n)


def damaged_parquet_footer() -> bytes:
    """Magic at both ends and a plausible length, but the footer's bytes overwritten."""
    good = bytearray(parquet(GOOD_PARQUET_COLUMNS))
    length = int.from_bytes(good[-8:-4], "little")
    start = len(good) - 8 - length
    good[start:len(good) - 8] = b"\xff" * length
    return bytes(good)


# ---- the 10 MB single line (built at test time, not committed) -----------------------------------

def write_single_line(path: Path, size: int = 10 * 1024 * 1024) -> Path:
    """A CSV of one 10 MB line and no line break (a fixed-width export with its line ends stripped)."""
    record = ",".join(ROWS[0]).encode("utf-8") + b";"
    with path.open("wb") as f:
        written = 0
        block = record * (65536 // len(record))
        while written < size:
            part = block[:size - written]
            f.write(part)
            written += len(part)
    return path


# ---- the corpus ---------------------------------------------------------------------------------

@dataclass
class Entry:
    file: str
    dataset_format: str
    build: Callable[[], bytes] | None  # None: built at test time (see ``generated_by``)
    code: str | None                   # None: accepted
    note: str
    source: dict = field(default_factory=dict)
    generated_by: str | None = None


CP1258 = {"encoding": "windows-1258"}

CORPUS = [
    # -- CSV: encodings
    Entry("csv_cp1258_declared_utf8.csv", "csv", lambda: encode_cp1258(GOOD_CSV), "encoding",
          "a Windows-1258 export in a dataset declared UTF-8: once decoded with U+FFFD and replaced good rows"),
    Entry("csv_utf8_declared_cp1258.csv", "csv", lambda: GOOD_CSV.encode(), "encoding",
          "a UTF-8 export in a dataset declared Windows-1258, which would decode it as mojibake", CP1258),
    Entry("csv_utf8_with_a_cp1258_line.csv", "csv",
          lambda: (GOOD_CSV * 3).encode() + encode_cp1258("HS-0009,Lưu Thị Ánh,1999-09-09,1\n"), "encoding",
          "a UTF-8 file with one line pasted from a Windows-1258 file: the reason must not advise Windows-1258"),
    Entry("csv_cp1258_with_a_utf8_line.csv", "csv",
          lambda: encode_cp1258(csv_text(sep=";") * 3) + "HS-0009;Nguyễn Thị Lưu;1999-09-09;1\n".encode(), "encoding",
          "a Windows-1258 file with one line pasted from a UTF-8 file, every byte of which Windows-1258 decodes "
          "(as mojibake) without an error", {**CP1258, "delimiter": ";"}),
    Entry("csv_truncated_inside_a_character.csv", "csv", lambda: GOOD_CSV.encode()[:-10] + "ệ".encode()[:2],
          "encoding", "an upload cut in the middle of a UTF-8 character"),
    Entry("csv_utf16.csv", "csv", lambda: GOOD_CSV.encode("utf-16"), "binary",
          "Excel's 'Unicode text' export (UTF-16): NUL bytes in every other position"),
    Entry("csv_nul_bytes.csv", "csv", lambda: GOOD_CSV.encode() + b"HS-0005,\x00\x00\x00,2000-01-01,1\n", "binary",
          "NUL bytes in a line (a disk or transfer error)"),
    Entry("csv_random_bytes.csv", "csv", lambda: random_bytes(4096), "binary", "random bytes named .csv"),
    Entry("csv_bom_in_middle.csv", "csv",
          lambda: b"\xef\xbb\xbf" + GOOD_CSV.encode() + b"\xef\xbb\xbf" + GOOD_CSV.encode(), "bom_inside",
          "two UTF-8 exports with byte-order marks joined with `cat`", {"encoding": "utf-8-sig"}),
    Entry("csv_empty.csv", "csv", lambda: b"", "empty", "a failed export: 0 bytes"),
    # -- CSV: header
    Entry("csv_wrong_delimiter.csv", "csv", lambda: csv_text(sep=";").encode(), "header_none",
          "semicolon-separated (Excel with Vietnamese regional settings) in a dataset declared ','"),
    Entry("csv_excel_sep_line.csv", "csv", lambda: ("sep=,\n" + GOOD_CSV).encode(), "header_none",
          "Excel's 'sep=,' hint line above the header"),
    Entry("csv_blank_first_line.csv", "csv", lambda: ("\n" + GOOD_CSV).encode(), "header_none",
          "a blank line above the header"),
    Entry("csv_none_of_declared.csv", "csv",
          lambda: "ma_tinh,ten_tinh\n01,Hà Nội\n79,Hồ Chí Minh\n".encode(), "header_none",
          "the provinces file dropped into the dossiers folder"),
    Entry("csv_missing_required.csv", "csv",
          lambda: csv_text(["ma_ho_so", "ngay_sinh", "so_tien"], [[r[0], r[2], r[3]] for r in ROWS]).encode(),
          "header_missing", "ho_ten (not nullable) left out of the export"),
    Entry("csv_duplicate_header.csv", "csv",
          lambda: csv_text(HEADER + ["ho_ten"], [r + [r[1]] for r in ROWS]).encode(), "header_duplicate",
          "ho_ten twice: which one is the name?"),
    Entry("csv_empty_header_name.csv", "csv", lambda: csv_text(HEADER + [""], [r + [""] for r in ROWS]).encode(),
          "header_empty_name", "a trailing delimiter on every line gives an unnamed last column"),
    Entry("csv_header_only.csv", "csv", lambda: csv_text(rows=[]).encode(), "no_rows",
          "an export run on an empty selection"),
    Entry("csv_header_only_blank_lines.csv", "csv", lambda: (csv_text(rows=[]) + "\r\n\r\n  \n").encode(),
          "no_rows", "the header followed only by blank lines"),
    Entry("csv_single_line_10mb.csv", "csv", None, "header_too_long",
          "one 10 MB line without line breaks; built at test time by make_corpus.write_single_line",
          generated_by="write_single_line"),
    # -- CSV: accepted, the row checks handle what is wrong
    Entry("csv_mixed_line_endings.csv", "csv",
          lambda: (",".join(HEADER) + "\r\n" + ",".join(ROWS[0]) + "\n" + ",".join(ROWS[1]) + "\r\n"
                   + ",".join(ROWS[2]) + "\n").encode(), None,
          "\\r\\n and \\n mixed: Spark ends a line at either, so every row is read"),
    Entry("csv_quoted_newlines.csv", "csv",
          lambda: (",".join(HEADER) + "\n" + ",".join(ROWS[0]) + "\n"
                   + 'HS-0002,"Nguyễn Thị\nÁnh",1990-07-01,250000.5\n').encode(), None,
          "a quoted field with a line break: Spark reads CSV line by line (multiLine off), so the two halves are "
          "parse errors the row checks quarantine"),
    Entry("csv_wrong_field_count.csv", "csv", lambda: (GOOD_CSV + "HS-0005,Short\nHS-0006,A,B,C,D,E\n").encode(),
          None, "a short and a long line: parse errors, quarantined by the row checks"),
    Entry("csv_good_cp1258.csv", "csv", lambda: encode_cp1258(csv_text(sep=";")), None,
          "control: a good Windows-1258 export with ';' declared as such", {**CP1258, "delimiter": ";"}),
    Entry("csv_good_utf8_bom.csv", "csv", lambda: b"\xef\xbb\xbf" + GOOD_CSV.encode(), None,
          "control: a byte-order mark at the start is allowed", {"encoding": "utf-8-sig"}),
    # -- JSON Lines
    Entry("jsonl_empty.jsonl", "jsonl", lambda: b"", "empty", "0 bytes"),
    Entry("jsonl_invalid_lines_only.jsonl", "jsonl",
          lambda: b"{ma_ho_so: HS-0001}\n{'ma_ho_so': 'HS-0002'}\n{\"ma_ho_so\": \"HS-0003\",}\n",
          "jsonl_no_valid_line", "JavaScript-ish objects: unquoted keys, single quotes, trailing commas"),
    Entry("jsonl_json_array.jsonl", "jsonl",
          lambda: ("[" + ",".join(jsonl_text().splitlines()) + "]\n").encode(), "jsonl_no_valid_line",
          "one JSON array instead of one object per line"),
    Entry("jsonl_pretty_printed.jsonl", "jsonl",
          lambda: '{\n  "ma_ho_so": "HS-0001",\n  "ho_ten": "Trần Văn Tý"\n}\n'.encode(), "jsonl_no_valid_line",
          "one pretty-printed JSON object spread over lines"),
    Entry("jsonl_scalars_only.jsonl", "jsonl", lambda: b'"HS-0001"\n42\nnull\n[1, 2]\n', "jsonl_no_valid_line",
          "valid JSON values, but none an object"),
    Entry("jsonl_blank_lines_only.jsonl", "jsonl", lambda: b"\n\n   \n\r\n", "jsonl_no_valid_line",
          "blank lines only"),
    Entry("jsonl_csv_renamed.jsonl", "jsonl", lambda: GOOD_CSV.encode(), "jsonl_no_valid_line",
          "a CSV file named .jsonl"),
    Entry("jsonl_cp1258.jsonl", "jsonl", lambda: encode_cp1258(jsonl_text()), "encoding",
          "JSON Lines in Windows-1258: JSON Lines are always UTF-8"),
    Entry("jsonl_some_bad_lines.jsonl", "jsonl",
          lambda: (jsonl_text() + "{not json}\n[1]\n").encode(), None,
          "good lines and a few bad ones: the bad lines are parse errors the row checks quarantine"),
    # -- Parquet
    Entry("parquet_empty.parquet", "parquet", lambda: b"", "empty", "0 bytes"),
    Entry("parquet_text_renamed.parquet", "parquet", lambda: GOOD_CSV.encode(), "not_parquet",
          "a CSV file named .parquet"),
    Entry("parquet_truncated.parquet", "parquet", lambda: parquet(GOOD_PARQUET_COLUMNS)[:-20], "not_parquet",
          "an upload cut short: no PAR1 at the end"),
    Entry("parquet_damaged_footer.parquet", "parquet", damaged_parquet_footer, "not_parquet",
          "PAR1 at both ends but the footer (the schema) overwritten"),
    Entry("parquet_none_of_declared.parquet", "parquet",
          lambda: parquet({"ma_tinh": ["01", "79"], "ten_tinh": ["Hà Nội", "Hồ Chí Minh"]}), "header_none",
          "another dataset's Parquet"),
    Entry("parquet_missing_required.parquet", "parquet",
          lambda: parquet({k: v for k, v in GOOD_PARQUET_COLUMNS.items() if k != "ho_ten"}), "header_missing",
          "ho_ten (not nullable) missing from the schema"),
    Entry("parquet_no_rows.parquet", "parquet", lambda: parquet({k: [] for k in HEADER}, types="string"),
          "no_rows", "the right schema and no rows: an export of an empty selection"),
    Entry("parquet_wrong_type.parquet", "parquet",
          lambda: parquet({**GOOD_PARQUET_COLUMNS, "ngay_sinh": [19850312, 19900701, 19781130, 20010214],
                           "so_tien": ["một triệu", "250000.5", None, "75000"]}), None,
          "ngay_sinh as an integer, so_tien as text: values become text and silver's casts quarantine the rows "
          "that do not cast"),
    # -- Excel
    Entry("xlsx_exe_renamed.xlsx", "xlsx", lambda: EXE, "not_xlsx", "a Windows program named .xlsx"),
    Entry("xlsx_old_xls_renamed.xlsx", "xlsx", lambda: OLD_XLS, "not_xlsx", "an Excel 97-2003 .xls named .xlsx"),
    Entry("xlsx_csv_renamed.xlsx", "xlsx", lambda: GOOD_CSV.encode(), "not_xlsx", "a CSV file named .xlsx"),
    Entry("xlsx_truncated.xlsx", "xlsx", lambda: (lambda b: b[:len(b) // 2])(xlsx(GOOD_XLSX_ROWS)), "not_xlsx",
          "half a workbook: the zip directory at the end is missing"),
    Entry("xlsx_zip_not_workbook.xlsx", "xlsx", lambda: rezip([("readme.txt", b"hello\n")]), "not_xlsx",
          "a zip archive without xl/workbook.xml"),
    Entry("xlsx_zip_bomb.xlsx", "xlsx", zip_bomb, "zip_bomb",
          "a workbook whose sheet unpacks to 100 MiB of zeros (ratio about 1000)"),
    Entry("xlsx_none_of_declared.xlsx", "xlsx", lambda: xlsx([["ma_tinh", "ten_tinh"], ["01", "Hà Nội"]]),
          "header_none", "another report's workbook"),
    Entry("xlsx_missing_required.xlsx", "xlsx",
          lambda: xlsx([["ma_ho_so", "ngay_sinh"], ["HS-0001", "1985-03-12"]]), "header_missing",
          "ho_ten (not nullable) missing from the header row"),
    Entry("xlsx_header_row_wrong.xlsx", "xlsx",
          lambda: xlsx([["BÁO CÁO HỒ SƠ"], [None], *GOOD_XLSX_ROWS]), "header_none",
          "title rows above the header, header_row left at 1: the reason says to set header_row: 3"),
    Entry("xlsx_header_only.xlsx", "xlsx", lambda: xlsx([HEADER]), "no_rows", "a report form never filled in"),
    Entry("xlsx_sheet_missing.xlsx", "xlsx", lambda: xlsx(GOOD_XLSX_ROWS, sheet="Sheet1"), "sheet_missing",
          "the spec names sheet HoSo; the workbook has only Sheet1", {"sheet": "HoSo"}),
    Entry("xlsx_good_title_rows.xlsx", "xlsx",
          lambda: xlsx([["BÁO CÁO HỒ SƠ"], [None], *GOOD_XLSX_ROWS]), None,
          "control: title rows above a header declared at row 3", {"header_row": 3}),
    # -- documents
    Entry("doc_empty.pdf", "documents", lambda: b"", "empty", "0 bytes"),
    Entry("doc_exe_renamed.pdf", "documents", lambda: EXE, "executable", "a Windows program (MZ) named .pdf"),
    Entry("doc_elf_renamed.pdf", "documents", lambda: ELF, "executable", "a Linux program (ELF) named .pdf"),
    Entry("doc_script_renamed.pdf", "documents", lambda: b"#!/bin/sh\necho 'not a document'\n", "executable",
          "a shell script named .pdf"),
    Entry("doc_good.pdf", "documents", lambda: PDF, None, "control: a (tiny) PDF"),
    Entry("doc_unknown_bytes.bin", "documents", lambda: random_bytes(512, seed=7), None,
          "unknown bytes are stored; bronze types them application/octet-stream"),
]


def manifest() -> dict:
    files = []
    for e in CORPUS:
        item = {"file": e.file, "dataset_format": e.dataset_format}
        if e.source:
            item["source"] = e.source
        item["expect"] = "refused" if e.code else "accepted"
        if e.code:
            item["code"] = e.code
        if e.generated_by:
            item["generated_by"] = e.generated_by
        item["note"] = e.note
        files.append(item)
    return {"dataset": "ho_so", "columns": COLUMNS, "keys": KEYS,
            "documents": {"columns": DOCUMENT_COLUMNS, "keys": DOCUMENT_KEYS}, "files": files}


MANIFEST_HEAD = """\
# Broken landed files and what the file-level checks (lakehouse/filecheck.py) do with each.
# Written by make_corpus.py: change that script and run it, do not edit this file by hand.
# `columns`/`keys` are the dataset every csv/jsonl/parquet/xlsx file is meant for;
# `documents` the one for documents. `source` overrides the defaults (kind files, encoding utf-8, delimiter ',').
# expect: refused (with `code`) or accepted (what is wrong is left to the row checks; see `note`).
"""


def main() -> None:
    for entry in CORPUS:
        if entry.build is not None:
            (HERE / entry.file).write_bytes(entry.build())
    data = manifest()
    files = data.pop("files")
    dump = dict(sort_keys=False, allow_unicode=True, width=120)
    text = (yaml.safe_dump(data, default_flow_style=None, **dump)  # one column a line
            + yaml.safe_dump({"files": files}, default_flow_style=False, **dump))
    (HERE / "manifest.yaml").write_text(MANIFEST_HEAD + text, encoding="utf-8")
    print(f"{sum(e.build is not None for e in CORPUS)} files and manifest.yaml in {HERE}")


if __name__ == "__main__":
    main()
