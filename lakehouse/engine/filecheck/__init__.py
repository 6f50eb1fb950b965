"""File-level checks on a landed file, before any of its rows is read.

Row checks judge rows one by one, so they cannot see that a whole file is wrong: a
Windows-1258 export in a dataset declared UTF-8 decodes (with replacement characters)
into rows that look valid and replace good silver rows, and a CSV with none of the
declared columns, or random bytes, becomes rows quarantined one by one.  So bronze first
asks :func:`check_file`: ``None`` means the file may be read; a :class:`Refusal` means
it is refused whole, with a stable ``code`` (to count and test) and a ``reason`` a data
steward can act on: the file, what is wrong, where (byte offset, line, columns), and
what would fix it (the encoding that reads it, the delimiter it splits on…).

Pure: the standard library, plus charset_normalizer, pyarrow and openpyxl imported only
by the check that needs them.  A file is seen through a :class:`Blob` (head, tail,
chunks), so the same checks run over S3 objects, local files (:class:`LocalBlob`) and
bytes in tests (:class:`BytesBlob`).  Text is decoded in chunks, never held whole; only
a Parquet footer and an xlsx workbook (at most 64 MiB) are read into memory.

The pure part of reading a CSV header or an Excel header row lives here too
(:func:`csv_header`, :func:`sheet_header`), so the readers and these checks agree on
what a header is.

One module per part: :mod:`.base` (the refusal, the blobs), :mod:`.headers` (header rows,
declared columns), :mod:`.text` (binary content, encodings, byte-order marks), :mod:`.formats`
(CSV, JSON Lines, Parquet, Excel, documents); :func:`check_file` picks the checks a spec needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakehouse.engine.filecheck.base import Blob, BytesBlob, LocalBlob, Refusal
from lakehouse.engine.filecheck.formats import (HEADER_LIMIT, check_csv, check_document, check_jsonl, check_parquet,
                                                check_xlsx)
from lakehouse.engine.filecheck.headers import csv_header, sheet_header

if TYPE_CHECKING:
    from lakehouse.config.spec import SourceDataset

__all__ = ["Blob", "BytesBlob", "HEADER_LIMIT", "LocalBlob", "Refusal", "check_file", "csv_header", "sheet_header"]


def check_file(blob: Blob, spec: SourceDataset) -> Refusal | None:
    """None when the file may be read; a Refusal when it must be refused whole."""
    src = spec.source
    if blob.size == 0:
        return Refusal("empty", f"{blob.name} is empty (0 bytes): the export or the upload probably failed; "
                                f"ask the sender for the file again.")
    if src.kind == "documents":
        return check_document(blob)
    if src.kind == "jdbc":  # extracts the platform wrote itself, as Parquet
        return None
    if src.kind in ("stream", "builtin") or src.format == "jsonl":
        return check_jsonl(blob)
    return {"csv": check_csv, "parquet": check_parquet, "xlsx": check_xlsx}[src.format](blob, spec)
