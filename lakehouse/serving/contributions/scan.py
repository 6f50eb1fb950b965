"""What a contributed file holds, read without the lake (pure): its format by content, its rows, the schema they
imply, a candidate key, and the personal data in it.

The format comes from the file's first bytes, never from its name: Parquet (``PAR1``), an xlsx workbook (a zip),
JSON Lines (an object on the first line) or CSV (text, its delimiter sniffed from the header).  Every value is
read as text, as bronze keeps it; :func:`infer_columns` gives each column the narrowest type all its values read
as (a value with a leading zero stays text: ``0912…`` and ``001…`` are codes, not numbers).

:func:`personal_data` looks at every value: citizen ID numbers (CCCD: 12 digits with a valid province code;
CMND: 9 digits in a column named for them or with a leading zero), mobile numbers, tax codes and e-mail addresses,
also inside free text, and columns of people's names (by the column's name, or most of its values reading as a
Vietnamese full name).  A finding names the column, how many rows hold it and the first rows, never the value.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from expectations import vietnamese
from lakehouse.serving.portal.search import fold

FORMATS = ("csv", "jsonl", "parquet", "xlsx")
FIRST_ROWS = 5          # rows a finding lists
INT_MAX = 2**31 - 1

FAMILY_NAMES = frozenset(fold(n) for n in (
    "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Đinh Trịnh Đào Mai Lương Trương Lâm "
    "Tạ Cao Hà Chu Đoàn Văn Tô Quách Triệu Thái Kiều Lưu Tăng Mạc Khúc Vương Nông Lò Cầm Hứa").split())
NAME_COLUMNS = ("ho ten", "ho va ten", "ten nguoi", "full name", "fullname", "person name", "ten cong dan",
                "nguoi dai dien", "chu ho")
ID_COLUMNS = ("cmnd", "cmt", "chung minh", "cccd", "can cuoc", "id card", "so dinh danh")
TAX_COLUMNS = ("mst", "ma so thue", "tax")
# streets, schools and places are named after people (Lê Duẩn, Trần Hưng Đạo): their values are not people's names
PLACE_COLUMNS = ("duong", "pho", "street", "road", "dia chi", "address", "truong", "school", "cau", "cong vien",
                 "dia diem", "place", "ten tram", "benh vien")
KINDS = {  # kind → (vi, en)
    "cccd": ("số căn cước công dân (CCCD)", "citizen ID numbers (CCCD)"),
    "cmnd": ("số chứng minh nhân dân (CMND)", "old ID card numbers (CMND)"),
    "phone": ("số điện thoại di động", "mobile phone numbers"),
    "tax_code": ("mã số thuế", "tax codes"),
    "email": ("địa chỉ thư điện tử", "e-mail addresses"),
    "name": ("họ tên người", "people's names"),
}
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_DIGIT_RUN = re.compile(r"(?<![\d-])\+?\d[\d .-]{7,16}\d(?![\d])")


class ScanError(ValueError):
    """The file cannot be read as any format a contribution may come in; the reason names what was found."""


@dataclass
class Finding:
    column: str
    kind: str
    rows: int
    first_rows: list[int] = field(default_factory=list)  # 1-based data rows (the header is not a row)

    @property
    def message(self) -> dict[str, str]:
        vi, en = KINDS[self.kind]
        where = ", ".join(str(r) for r in self.first_rows)
        rows = f"{self.rows} row" + ("s" if self.rows != 1 else "")
        listed = ("rows " if len(self.first_rows) > 1 else "row ") + where
        return {"vi": f"Cột '{self.column}' chứa {vi} ở {self.rows} dòng (dòng {where})",
                "en": f"column '{self.column}' holds {en} in {rows} ({listed})"}

    def as_dict(self) -> dict:
        return {**asdict(self), "message": self.message}


@dataclass
class Table:
    format: str
    header: list[str]
    rows: list[list[str | None]]
    delimiter: str = ","
    header_row: int = 1     # a workbook's: the sheet row holding the header, below any title rows


# ---- the format, by content ---------------------------------------------------------------------

NOT_TABLES = [(b"%PDF", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
              (b"GIF8", "a GIF image"), (b"{\\rtf", "an RTF document"),
              (b"\xd0\xcf\x11\xe0", "an old Office file (.xls/.doc)"),
              (b"MZ", "a Windows program"), (b"\x7fELF", "a Linux program"), (b"#!", "a script"),
              (b"\x1f\x8b", "a gzip archive"), (b"Rar!", "a RAR archive"), (b"7z\xbc\xaf", "a 7-Zip archive")]


def sniff_format(head: bytes) -> str:
    """``csv``, ``jsonl``, ``parquet`` or ``xlsx`` from a file's first bytes; :class:`ScanError` otherwise."""
    for magic, what in NOT_TABLES:
        if head.startswith(magic):
            raise ScanError(f"the file is {what}, not a table, whatever its name: send CSV, JSON Lines, Parquet or "
                            "an xlsx workbook")
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if b"\x00" in head[:4096]:
        raise ScanError("the file holds binary content (NUL bytes) and is neither Parquet nor an xlsx workbook")
    if text.startswith(b"{"):
        return "jsonl"
    if not text:
        raise ScanError("the file holds no text")
    return "csv"


def sniff_delimiter(header_line: str) -> str:
    """The separator of a CSV header: the most frequent of comma, semicolon, tab and bar (comma on a tie)."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):   # a workbook's date cell is a datetime at midnight: a date
        return value.date().isoformat() if value.time() == dt.time() and value.tzinfo is None else value.isoformat(
            sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def read_table(data: bytes, encoding: str = "utf-8") -> Table:
    """Every row of a contributed file as text (None for an empty cell), with its header."""
    kind = sniff_format(data[:8192])
    if kind == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
        return Table(kind, list(table.column_names), [[_text(c[r]) for c in columns] for r in range(table.num_rows)])
    if kind == "xlsx":
        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        numbered = [(n, [_text(v) for v in row]) for n, row in enumerate(sheet.iter_rows(values_only=True), 1)]
        book.close()
        numbered = [(n, line) for n, line in numbered if any(v is not None for v in line)]
        if not numbered:
            raise ScanError("the workbook's first sheet is empty")
        first = header_index([line for _, line in numbered])
        header_row, lines = numbered[first][0], [line for _, line in numbered[first:]]
        header = [h or f"column_{i + 1}" for i, h in enumerate(lines[0])]
        while header and lines[0][len(header) - 1] is None and all(len(r) < len(header) or r[len(header) - 1] is None
                                                                   for r in lines[1:]):
            header.pop()   # trailing columns with no header and no value
        _no_cells_past(header, lines[1:], "row")
        return Table(kind, header, [(line + [None] * len(header))[:len(header)] for line in lines[1:]],
                     header_row=header_row)
    text = data.decode(encoding).lstrip("\ufeff")
    if kind == "jsonl":
        records, header = [], []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ScanError(f"line {number} is not JSON: {error.msg}") from None
            if not isinstance(record, dict):
                raise ScanError(f"line {number} is not a JSON object")
            header += [k for k in record if k not in header]
            records.append(record)
        return Table(kind, header, [[_text(r.get(h)) for h in header] for r in records])
    first = text.split("\n", 1)[0]
    delimiter = sniff_delimiter(first)
    lines = [line for line in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if any(line)]
    if not lines:
        raise ScanError("the file holds no header")
    header = [h.strip() or f"column_{i + 1}" for i, h in enumerate(lines[0])]
    _no_cells_past(header, lines[1:], "row")
    return Table(kind, header, [[_text(v) for v in (line + [""] * len(header))[:len(header)]] for line in lines[1:]],
                 delimiter)


def header_index(lines: list[list], look: int = 20) -> int:
    """Which of a sheet's first rows is its header: the first as full as the fullest of them (a report's title
    and subtitle rows above the table fill one cell each)."""
    filled = [sum(v is not None for v in line) for line in lines[:look]]
    return filled.index(max(filled))


def _no_cells_past(header: list, rows: list[list], what: str) -> None:
    """A row with a value past the header's last column cannot be read without losing it: refused, named."""
    for number, row in enumerate(rows, 1):
        extra = [v for v in row[len(header):] if v not in (None, "")]
        if extra:
            raise ScanError(f"{what} {number} has {len(row)} cells but the header names {len(header)} columns; "
                            "quote values that hold the delimiter")


def canonical_csv(table: Table, names: list[str]) -> bytes:
    """The rows as the lake ingests them: UTF-8 CSV, comma-separated, ``names`` as the header (a Delta column
    name holds no space or punctuation, so the contributor's headers stay in the spec's descriptions)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    writer.writerows([["" if v is None else v for v in row] for row in table.rows])
    return out.getvalue().encode("utf-8")


# ---- the schema the values imply ------------------------------------------------------------------

def column_name(header: str, taken: set[str]) -> str:
    """A spec's column name for a source header: folded to ASCII snake case, unique (``Họ tên`` → ``ho_ten``)."""
    name = re.sub(r"[^a-z0-9_]", "", "_".join(fold(header).split())) or "column"
    if not name[0].isalpha():
        name = f"c_{name}"
    base, n = name, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


_INT = re.compile(r"[+-]?(?:0|[1-9]\d*)")
_DOUBLE = re.compile(r"[+-]?(?:0|[1-9]\d*)\.\d+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}/\d{2}/\d{4}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")


def _is_date(value: str) -> bool:
    if not _DATE.fullmatch(value):
        return False
    try:
        (dt.date.fromisoformat(value) if "-" in value else dt.datetime.strptime(value, "%d/%m/%Y"))
    except ValueError:
        return False
    return True


def value_type(values: list[str]) -> str:
    """The narrowest type every value reads as: int, bigint, double, boolean, date, timestamp, else string."""
    if not values:
        return "string"
    if all(_INT.fullmatch(v) for v in values):
        return "int" if all(abs(int(v)) <= INT_MAX for v in values) else "bigint"
    if all(_INT.fullmatch(v) or _DOUBLE.fullmatch(v) for v in values):
        return "double"
    if all(v.lower() in ("true", "false") for v in values):
        return "boolean"
    if all(_is_date(v) for v in values):
        return "date"
    if all(_TIMESTAMP.fullmatch(v) for v in values):
        return "timestamp"
    return "string"


def infer_columns(table: Table) -> list[dict]:
    """Per column: spec name, source header, type, empty cells, distinct values."""
    taken: set[str] = set()
    out = []
    for i, header in enumerate(table.header):
        values = [row[i] for row in table.rows if row[i] is not None]
        out.append({"name": column_name(header, taken), "source": header, "type": value_type(values),
                    "nulls": len(table.rows) - len(values), "distinct": len(set(values))})
    return out


def candidate_key(columns: list[dict], rows: int) -> list[str]:
    """A column with a value in every row and no value twice (one whose name says id or code first); else every
    column, so that only rows identical in every column are one row."""
    unique = [c for c in columns if rows and c["nulls"] == 0 and c["distinct"] == rows]
    hinted = [c for c in unique if re.search(r"(^|_)(id|ma|code|so)($|_)", c["name"])]
    chosen = (hinted or unique)[:1]
    return [c["name"] for c in chosen] or [c["name"] for c in columns]


# ---- personal data ----------------------------------------------------------------------------------

def _looks_like_name(value: str) -> bool:
    words = value.split()
    return (2 <= len(words) <= 5 and all(w[:1].isupper() and w[1:].islower() for w in words if w.isalpha())
            and all(w.isalpha() for w in words) and fold(words[0]) in FAMILY_NAMES)


def _kinds_in(value: str, id_column: bool, tax_column: bool) -> Iterator[str]:
    """The kinds of personal data one cell holds (the whole value, or numbers and addresses inside text).

    Nine and ten digits are also amounts and counts: they are ID or tax numbers only with a leading zero, in a
    column named for them, or (tax codes) written with their branch number.
    """
    if _EMAIL.search(value):
        yield "email"
    for run in [value] + _DIGIT_RUN.findall(value):
        digits = re.sub(r"[\s.\-]", "", run)
        if not re.fullmatch(r"\+?\d+", digits):
            continue
        if len(digits) == 12 and vietnamese.cccd_problem(digits) is None:
            yield "cccd"
        elif vietnamese.phone_problem(digits) is None:
            yield "phone"
        elif len(digits) == 9 and (id_column or digits.startswith("0")):
            yield "cmnd"
        elif (re.fullmatch(r"\d{10}(?:-?\d{3})?", run.strip()) and vietnamese.tax_code_problem(run.strip()) is None
              and (tax_column or digits.startswith("0") or len(digits) == 13)):
            yield "tax_code"


def personal_data(table: Table, columns: list[dict]) -> list[Finding]:
    """Every kind of personal data each column holds, with the rows it is in (none listed twice)."""
    findings: list[Finding] = []
    for i, col in enumerate(columns):
        folded = fold(col["source"])
        id_column = any(h in folded for h in ID_COLUMNS)
        tax_column = any(h in folded.split() or " " in h and h in folded for h in TAX_COLUMNS)
        hits: dict[str, list[int]] = {}
        names = 0
        for number, row in enumerate(table.rows, 1):
            value = row[i]
            if value is None:
                continue
            for kind in dict.fromkeys(_kinds_in(value, id_column, tax_column)):
                hits.setdefault(kind, []).append(number)
            names += _looks_like_name(value)
        filled = len(table.rows) - col["nulls"]
        place = any(h in folded.split() or " " in h and h in folded for h in PLACE_COLUMNS)
        if filled and (any(h in folded for h in NAME_COLUMNS) or (names * 2 > filled and not place)):
            rows = [n for n, row in enumerate(table.rows, 1) if row[i] is not None]
            hits["name"] = rows
        for kind, rows in hits.items():
            findings.append(Finding(col["source"], kind, len(rows), rows[:FIRST_ROWS]))
    return findings
