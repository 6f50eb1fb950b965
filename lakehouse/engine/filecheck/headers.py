"""CSV and Excel header rows, as the readers and the checks both read them, and the check that the declared
columns are there."""

from __future__ import annotations

import csv
import re
import unicodedata
from typing import TYPE_CHECKING

from lakehouse.core import legacy_text
from lakehouse.core.errors import LakeError
from lakehouse.engine.filecheck.base import Blob, Refusal

if TYPE_CHECKING:
    from lakehouse.config.spec import SourceDataset

ALT_DELIMITERS = [";", "\t", "|", ","]
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")


def first_line(text: str) -> str:
    """The first line of a text, whatever its line ending (\\r\\n, \\n or a lone \\r)."""
    return _LINE_BREAK.split(text, 1)[0] if text else ""


def split_header(line: str, delimiter: str) -> list[str]:
    """Column names of a CSV header line: split as CSV (quotes honoured), trimmed, NFC."""
    names = next(csv.reader([line], delimiter=delimiter), [])
    return [unicodedata.normalize("NFC", n.strip()) for n in names]


def csv_header(head: bytes, encoding: str, delimiter: str) -> list[str]:
    """Column names from the first line of a CSV file (BOM removed, NFC, trimmed)."""
    if encoding in legacy_text.ENCODINGS:  # its first line only: the head may end inside a letter
        try:
            first = legacy_text.decode(_LINE_BREAK_BYTES.split(head, 1)[0], encoding)
        except legacy_text.LegacyDecodeError as exc:
            raise LakeError(f"the header line is not {encoding}: {exc}") from None
    else:
        first = first_line(head.decode("utf-8-sig" if encoding.startswith("utf-8") else encoding, errors="replace"))
    names = split_header(first, delimiter)
    if not names or any(not n for n in names):
        raise LakeError(f"the header line {first!r} has an empty column name")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise LakeError(f"the header line repeats column names {dupes}")
    return names


def sheet_header(values: tuple | list) -> list[str]:
    """Column names of an Excel header row: up to its last filled cell, trimmed, NFC ('' for a blank cell)."""
    width = max((i + 1 for i, v in enumerate(values) if v not in (None, "")), default=0)
    return [unicodedata.normalize("NFC", str(v).strip()) if v is not None else "" for v in values[:width]]


def declared_columns(spec: SourceDataset) -> list[str]:
    """The declared source fields, in column order."""
    return [unicodedata.normalize("NFC", c.source_field) for c in spec.columns]


def _required(spec: SourceDataset) -> list[str]:
    """Fields a file must have: keys and non-nullable columns (every row would be quarantined without them)."""
    return [unicodedata.normalize("NFC", c.source_field) for c in spec.columns
            if not c.nullable or c.name in spec.keys]


def listed(names: list[str], limit: int = 8) -> str:
    shown = [repr(n if len(n) <= 40 else n[:37] + "...") for n in names[:limit]]
    return ", ".join(shown) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_names(blob: Blob, spec: SourceDataset, names: list[str], where: str, hint: str = "") -> Refusal | None:
    """The header-level refusals every tabular format shares."""
    declared = declared_columns(spec)
    if not set(names) & set(declared):
        fix = hint or f"is this a file of dataset {spec.name}?"
        fix += "" if fix.endswith(("?", ".")) else "."
        return Refusal("header_none", f"{blob.name}: none of the declared columns ({', '.join(declared)}) is in "
                                      f"{where}, which has {listed(names) or 'nothing'}; {fix}")
    empty = [i + 1 for i, n in enumerate(names) if not n]
    if empty:
        return Refusal("header_empty_name", f"{blob.name}: column {empty[0]} of {where} has no name (a stray "
                                            f"delimiter at the end?); name it or remove the empty column.")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        return Refusal("header_duplicate", f"{blob.name}: {where} names {listed(dupes)} more than once, so the "
                                           f"values cannot be told apart; rename or remove the repeated columns.")
    missing = [f for f in _required(spec) if f not in names]
    if missing:
        return Refusal("header_missing", f"{blob.name}: {where} lacks the required column(s) {', '.join(missing)} "
                                         f"(keys or declared not nullable), so every row would be quarantined; "
                                         f"export the file with them.")
    return None


def csv_hint(line: str, spec: SourceDataset) -> str:
    """Why a header line has none of the declared fields, when the line says: Excel's sep= line, another delimiter."""
    if line.lower().startswith("sep="):
        return "line 1 is Excel's 'sep=' hint, not the header: remove it so the header is line 1"
    declared = set(declared_columns(spec))
    for alt in ALT_DELIMITERS:
        if alt != spec.source.delimiter and set(split_header(line, alt)) & declared:
            return (f"the header splits on {alt!r}, not on the declared {spec.source.delimiter!r}: is the "
                    f"delimiter wrong? (set source.delimiter, or export with {spec.source.delimiter!r})")
    return ""
