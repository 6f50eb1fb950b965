"""Per-format checks: CSV, JSON Lines, Parquet, Excel (with its zip-bomb guard) and documents."""

from __future__ import annotations

import io
import json
import zipfile
from typing import TYPE_CHECKING, Iterator

from lakehouse.engine.filecheck.base import Blob, Refusal
from lakehouse.engine.filecheck.headers import (check_names, csv_hint, declared_columns, listed, sheet_header,
                                                split_header)
from lakehouse.core.legacy_text import LegacyDecodeError
from lakehouse.engine.filecheck.encodings import Detection, cell_decoder, decode, font_encoding, row_values
from lakehouse.engine.filecheck.text import one_line, sample_text, scan_text

if TYPE_CHECKING:
    from lakehouse.config.spec import SourceDataset

HEADER_LIMIT = 64 * 1024            # a CSV header line longer than this is not a header
JSONL_LINE_LIMIT = 16 * 1024 * 1024  # a longer JSON line is not parsed (kept out of memory)
XLSX_LIMIT = 64 * 1024 * 1024       # a workbook is read whole; larger ones are refused
PARQUET_FOOTER_LIMIT = 64 * 1024 * 1024
ZIP_MAX_UNCOMPRESSED = 256 * 1024 * 1024
ZIP_MAX_RATIO = 200
ZIP_RATIO_MIN_SIZE = 1024 * 1024    # a member smaller than this cannot hurt, whatever its ratio
HEADER_ROW_SEARCH = 30              # xlsx: rows searched for the declared header when header_row misses it
PARQUET_MAGIC = b"PAR1"
ZIP_MAGIC = b"PK\x03\x04"
EXECUTABLES = [(b"MZ", "a Windows program (.exe/.dll)"), (b"\x7fELF", "a Linux program (ELF)"),
               (b"#!", "a script (#!)")]


def _line_end(head: bytes) -> int | None:
    ends = [i for i in (head.find(b"\n"), head.find(b"\r")) if i >= 0]
    return min(ends) if ends else None


def _has_content_after(blob: Blob, start: int) -> bool:
    """Whether anything but blank lines follows byte ``start``."""
    seen = 0
    for chunk in blob.chunks():
        part = chunk[max(0, start - seen):] if seen + len(chunk) > start else b""
        seen += len(chunk)
        if part.strip():
            return True
    return False


def check_csv(blob: Blob, spec: SourceDataset, encoding: str | None = None) -> Refusal | None:
    """``encoding``: what the file is read in, when not the declared one (the one ``encoding: auto`` found)."""
    src = spec.source
    encoding = encoding or src.encoding
    refusal = scan_text(blob, encoding)
    if refusal:
        return refusal
    head = blob.head(HEADER_LIMIT + 1)
    end = _line_end(head)
    if (end is None and blob.size > HEADER_LIMIT) or (end is not None and end > HEADER_LIMIT):
        return Refusal("header_too_long", f"{blob.name}: its first line is longer than {HEADER_LIMIT // 1024} KiB, "
                                          f"so it is not a header line (a file without line breaks, or the wrong "
                                          f"format?); send a CSV whose first line names the columns.")
    end = len(head) if end is None else end
    line = decode(head[:end], encoding)  # the whole file decoded strictly above
    line = line.removeprefix("\ufeff")
    if not line.strip():
        return Refusal("header_none", f"{blob.name}: line 1 is blank, but it must name the columns "
                                      f"({', '.join(declared_columns(spec))}); remove the blank lines at the top.")
    names = split_header(line, src.delimiter)
    refusal = check_names(blob, spec, names, "the header (line 1)", csv_hint(line, spec))
    if refusal:
        return refusal
    if not _has_content_after(blob, end):
        return Refusal("no_rows", f"{blob.name}: the header is its only line, so it has no rows; was the export "
                                  f"cut short or run on an empty selection?")
    return None


def _lines(blob: Blob) -> Iterator[bytes | None]:
    """The file's lines without their ending; None for a line longer than :data:`JSONL_LINE_LIMIT`."""
    buffer, skipping = b"", False
    for chunk in blob.chunks():
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            yield None if skipping or len(line) > JSONL_LINE_LIMIT else line
            skipping = False
        if len(buffer) > JSONL_LINE_LIMIT:
            buffer, skipping = b"", True
    if buffer or skipping:
        yield None if skipping or len(buffer) > JSONL_LINE_LIMIT else buffer


def check_jsonl(blob: Blob) -> Refusal | None:
    refusal = scan_text(blob, "utf-8", can_declare=False)
    if refusal:
        return refusal
    counted = too_long = 0
    first = ""
    for line in _lines(blob):
        if line is None:
            counted += 1
            too_long += 1
            continue
        text = line.decode("utf-8").strip()  # decoded strictly above
        if counted == 0:
            text = text.removeprefix("\ufeff")
        if not text:
            continue
        counted += 1
        first = first or text
        try:
            if isinstance(json.loads(text), dict):
                return None
        except ValueError:
            pass
    if not counted:
        hint = "it holds only blank lines: send the JSON Lines export again"
    elif first.startswith("["):
        hint = "it looks like one JSON array: write one JSON object per line (JSON Lines) instead"
    elif first == "{":
        hint = ("it looks like one JSON document spread over several lines (pretty-printed?): write each "
                "object on one line")
    elif first.startswith("{"):
        hint = ("its lines look like objects but are not JSON: names and texts need double quotes, and no comma "
                "may end an object")
    elif too_long:
        hint = f"{too_long} line(s) longer than {JSONL_LINE_LIMIT >> 20} MiB were not read: split the records"
    else:
        hint = "send JSON Lines: one JSON object such as {\"field\": \"value\"} per line"
    return Refusal("jsonl_no_valid_line", f"{blob.name}: none of its {counted} non-blank line(s) is a JSON "
                                          f"object; {hint}.")


def _looks_like(head: bytes) -> str:
    """What a file's first bytes say it is, for a refusal's reason."""
    for magic, what in EXECUTABLES:
        if head.startswith(magic):
            return what
    if head.startswith(ZIP_MAGIC):
        return "a zip archive (an .xlsx workbook?)"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "an old Excel 97-2003 (.xls) or Office file"
    if head.startswith(PARQUET_MAGIC):
        return "a Parquet file"
    if head.startswith(b"%PDF"):
        return "a PDF"
    if b"\x00" not in head and sample_text(head, "utf-8") is not None:
        return "text (a CSV or JSON file renamed?)"
    return "not a known format"


def check_parquet(blob: Blob, spec: SourceDataset) -> Refusal | None:
    head, tail = blob.head(8), blob.tail(8)
    if not head.startswith(PARQUET_MAGIC):
        return Refusal("not_parquet", f"{blob.name} does not start with PAR1, so it is not Parquet; it looks like "
                                      f"{_looks_like(head)}: send the Parquet export.")
    if blob.size < 12 or not tail.endswith(PARQUET_MAGIC):
        return Refusal("not_parquet", f"{blob.name} starts as Parquet but does not end with PAR1: it is truncated "
                                      f"(an interrupted upload or export?); send it again.")
    footer = int.from_bytes(tail[:4], "little")
    if footer + 12 > blob.size or footer > PARQUET_FOOTER_LIMIT:
        return Refusal("not_parquet", f"{blob.name}: its footer claims {footer} bytes in a file of {blob.size}, so "
                                      f"it is damaged or truncated; send it again.")
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(pa.BufferReader(blob.tail(footer + 8)))
    except Exception as exc:  # pyarrow raises several kinds for a damaged footer
        return Refusal("not_parquet", f"{blob.name}: its Parquet footer cannot be read ({one_line(exc)}); the file "
                                      f"is damaged: send it again.")
    # Spark matches Parquet columns by their exact names, so they are compared untrimmed
    refusal = check_names(blob, spec, list(schema.names), "its schema")
    if refusal:
        return refusal
    if pq.read_metadata(pa.BufferReader(blob.tail(footer + 8))).num_rows == 0:
        return Refusal("no_rows", f"{blob.name}: its schema is right but it holds no rows; was the export run on "
                                  f"an empty selection?")
    return None


def _zip_bomb(blob: Blob, infos: list[zipfile.ZipInfo]) -> Refusal | None:
    total = sum(i.file_size for i in infos)
    if total > ZIP_MAX_UNCOMPRESSED:
        return Refusal("zip_bomb", f"{blob.name} would unpack to {total >> 20} MiB (more than "
                                   f"{ZIP_MAX_UNCOMPRESSED >> 20} MiB), so it is not opened; split the workbook or "
                                   f"export it as CSV.")
    for info in infos:
        ratio = info.file_size / info.compress_size if info.compress_size else float("inf")
        if info.file_size >= ZIP_RATIO_MIN_SIZE and ratio > ZIP_MAX_RATIO:
            return Refusal("zip_bomb", f"{blob.name}: its part {info.filename} unpacks {ratio:.0f} times larger "
                                       f"({info.file_size >> 20} MiB), which real workbooks never do (a zip bomb?); "
                                       f"it is not opened: ask the sender where the file came from.")
    return None


def xlsx_safe_to_open(blob: Blob) -> Refusal | None:
    """What is checked before openpyxl may open a workbook at all: its size, that it is a zip holding a workbook,
    and no zip bomb (also for a contributed file, before its header is known)."""
    if blob.size > XLSX_LIMIT:
        return _too_big(blob)
    return _workbook_zip(blob, blob.head(blob.size))


def check_xlsx(blob: Blob, spec: SourceDataset) -> Refusal | None:
    refusal = xlsx_safe_to_open(blob)
    if refusal:
        return refusal
    data = blob.head(blob.size)
    try:
        return _check_sheet(blob, spec, data)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        return Refusal("not_xlsx", f"{blob.name}: the workbook cannot be opened ({exc.__class__.__name__}: "
                                   f"{one_line(exc)}); open and save it again in Excel, or send it again.")


def _too_big(blob: Blob) -> Refusal:
    return Refusal("not_xlsx", f"{blob.name} is {blob.size >> 20} MiB, more than the {XLSX_LIMIT >> 20} MiB a "
                               f"workbook is read whole in; split it or export it as CSV.")


def _workbook_zip(blob: Blob, data: bytes) -> Refusal | None:
    """What is checked before openpyxl may open a workbook (``data``, its bytes): that it is a zip holding a
    workbook, and no zip bomb."""
    if not data.startswith(ZIP_MAGIC):
        return Refusal("not_xlsx", f"{blob.name} is not an .xlsx workbook (those are zip archives); it looks like "
                                   f"{_looks_like(data[:8])}: save it from Excel as .xlsx.")
    try:
        book_zip = zipfile.ZipFile(io.BytesIO(data))
        infos = book_zip.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        return Refusal("not_xlsx", f"{blob.name}: the workbook is truncated or damaged ({one_line(exc)}); "
                                   f"send it again.")
    refusal = _zip_bomb(blob, infos)
    if refusal:
        return refusal
    if "xl/workbook.xml" not in book_zip.namelist():
        return Refusal("not_xlsx", f"{blob.name} is a zip archive but not an Excel workbook (no xl/workbook.xml; "
                                   f"a .docx, .ods or renamed .zip?): save it from Excel as .xlsx.")
    return None


def _check_sheet(blob: Blob, spec: SourceDataset, data: bytes) -> Refusal | None:
    from openpyxl import load_workbook

    src = spec.source
    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        if src.sheet and src.sheet not in book.sheetnames:
            return Refusal("sheet_missing", f"{blob.name} has no sheet {src.sheet!r} (its sheets: "
                                            f"{listed(book.sheetnames)}); rename the sheet or set source.sheet.")
        ws = book[src.sheet] if src.sheet else book.worksheets[0]
        label = f"row {src.header_row} of sheet {ws.title!r}"
        legacy = src.encoding != "utf-8"  # text cells in a legacy font are decoded (TCVN3, VNI)
        decode_cell = cell_decoder(src.encoding)
        refusal = _scan_fonts(blob, ws, decode_cell)[1] if legacy else None
        if refusal:
            return refusal
        rows = ws.iter_rows(min_row=1, values_only=not legacy)
        declared = set(declared_columns(spec))
        header: list[str] | None = None
        found_at = None
        for number, values in enumerate(rows, 1):
            names = sheet_header(row_values(values, decode_cell) if legacy else values)
            if number == src.header_row:
                header = names
            if found_at is None and number != src.header_row and set(names) & declared:
                found_at = number
            if number >= max(src.header_row, HEADER_ROW_SEARCH):
                break
        hint = (f"the declared columns are in row {found_at}: set source.header_row: {found_at}" if found_at
                else "is header_row right, and is this the right workbook?")
        refusal = check_names(blob, spec, header or [], label, hint)
        if refusal:
            return refusal
        width = len(header)  # (a row's emptiness does not depend on its font)
        for values in ws.iter_rows(min_row=src.header_row + 1, values_only=True):
            if any(v not in (None, "") for v in values[:width]):
                return None
        return Refusal("no_rows", f"{blob.name}: nothing below the header ({label}), so it has no rows; was the "
                                  f"report saved before it was filled in?")
    finally:
        book.close()


def xlsx_encoding(blob: Blob, spec: SourceDataset) -> Detection:
    """The encodings a workbook's text cells are read in, by their fonts (``.Vn*``: TCVN3, ``VNI-*``: VNI, as
    far as the spec's encoding allows): the legacy ones whose decoding changed a cell, comma-separated, else
    ``utf-8``. Declared ``utf-8`` (no font looked at), or a workbook ``check_xlsx`` refuses (too big, not a
    workbook, a zip bomb: never opened here) or that cannot be opened: the declared encoding."""
    src = spec.source
    if src.encoding == "utf-8" or not blob.size or blob.size > XLSX_LIMIT:  # no font is looked at
        return Detection(src.encoding)
    data = blob.head(blob.size)
    if _workbook_zip(blob, data):  # refused by check_xlsx: never opened
        return Detection(src.encoding)
    from openpyxl import load_workbook

    decode_cell = cell_decoder(src.encoding)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a damaged workbook; the checks say which
        return Detection(src.encoding)
    try:
        ws = book[src.sheet] if src.sheet and src.sheet in book.sheetnames else book.worksheets[0]
        found, _ = _scan_fonts(blob, ws, decode_cell)  # an undecodable cell: refused by the checks
    finally:
        book.close()
    return Detection(",".join(sorted(found)) or "utf-8", by_font=True)


def _scan_fonts(blob: Blob, ws, decode_cell) -> tuple[set[str], Refusal | None]:
    """One pass over a sheet's text cells: the legacy encodings whose decoding changed a cell, and the first cell
    in a legacy font whose characters are not that font's encoding (a VNI mark with no letter, a byte TCVN3
    lacks), refused with its coordinate: read anyway, its text would be garbled."""
    found: set[str] = set()
    for cells in ws.iter_rows():
        for cell in cells:
            if not isinstance(cell.value, str):
                continue
            font = getattr(cell.font, "name", None)
            try:
                if decode_cell(cell.value, font) != cell.value:
                    found.add(font_encoding(font))
            except LegacyDecodeError as exc:
                return found, Refusal("encoding", f"{blob.name}: cell {cell.coordinate} of sheet {ws.title!r} is in "
                                                  f"the font {font!r}, so {font_encoding(font)}, but its text is not: "
                                                  f"{exc.reason} (in {cell.value[:40]!r}); correct the cell, or "
                                                  f"convert the workbook to Unicode and set encoding: utf-8.")
    return found, None


def check_document(blob: Blob) -> Refusal | None:
    head = blob.head(4)
    for magic, what in EXECUTABLES:
        if head.startswith(magic):
            return Refusal("executable", f"{blob.name} is {what}, not a document, whatever its name; it is not "
                                         f"stored: ask the sender for the real document (PDF or scan).")
    return None
