"""File-level checks on a landed file, before any of its rows is read.

Row checks judge rows one by one, so they cannot see that a whole file is wrong: a
Windows-1258 export in a dataset declared UTF-8 decodes (with replacement characters)
into rows that look valid and replace good silver rows, and a CSV with none of the
declared columns, or random bytes, becomes rows quarantined one by one.  So bronze first
asks :func:`check_file`: ``None`` means the file may be read; a :class:`Refusal` means
it is refused whole, with a stable ``code`` (to count and test) and a ``reason`` a data
steward can act on: the file, what is wrong, where (byte offset, line, columns), and
what would fix it (the encoding that reads it, the delimiter it splits on…).

A CSV declared ``encoding: auto`` is first given its encoding by :func:`read_encoding` (a guess from its
first bytes, refused when unsure); the checks then read it in that encoding.  A file in TCVN3 or VNI declared
Windows-1258 (or the reverse) decodes without an error, so the text checks also ask whether it clearly reads
as another encoding (:mod:`.encodings`).

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
(CSV, JSON Lines, Parquet, Excel, documents), :mod:`.encodings` (the guess, the legacy Vietnamese encodings,
legacy fonts in Excel); :func:`check_file` picks the checks a spec needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakehouse.engine.filecheck.base import Blob, BytesBlob, LocalBlob, Refusal
from lakehouse.core import legacy_text
from lakehouse.engine.filecheck.encodings import DETECT_BYTES, UTF8_READ, Detection, detect, sample, utf8_copy
from lakehouse.engine.filecheck.formats import (HEADER_LIMIT, check_csv, check_document, check_jsonl, check_parquet,
                                                check_xlsx, xlsx_encoding, xlsx_safe_to_open)
from lakehouse.engine.filecheck.headers import csv_header, sheet_header

if TYPE_CHECKING:
    from lakehouse.config.spec import SourceDataset

__all__ = ["Blob", "BytesBlob", "DETECT_BYTES", "Detection", "HEADER_LIMIT", "LocalBlob", "Refusal", "UTF8_READ",
           "check_file", "csv_header", "encoding_report", "read_encoding", "sheet_header", "utf8_copy",
           "xlsx_safe_to_open"]


def read_encoding(blob: Blob, spec: SourceDataset) -> Detection | Refusal:
    """The encoding a landed CSV is read in: the declared one, or for ``encoding: auto`` the one guessed from
    its first :data:`DETECT_BYTES` (with the guess's confidence), or a refusal when the guess is unsure. For a
    workbook: what its text cells' fonts give (:func:`xlsx_encoding`)."""
    src = spec.source
    if src.format == "xlsx" and src.kind == "files":
        return xlsx_encoding(blob, spec)
    if src.format != "csv" or src.kind != "files" or src.encoding != "auto" or blob.size == 0:
        return Detection(src.encoding)
    return detect(blob)


def check_file(blob: Blob, spec: SourceDataset, encoding: str | None = None) -> Refusal | None:
    """None when the file may be read; a Refusal when it must be refused whole.

    ``encoding``: the encoding a CSV is read in when the spec says ``auto`` (what :func:`read_encoding` gave);
    guessed here when not given.
    """
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
    if src.format == "csv":
        if encoding is None:
            found = read_encoding(blob, spec)
            if isinstance(found, Refusal):
                return found
            encoding = found.encoding
        return check_csv(blob, spec, encoding)
    return {"parquet": check_parquet, "xlsx": check_xlsx}[src.format](blob, spec)


def encoding_report(blob: Blob, spec: SourceDataset) -> dict:
    """What ``lake ingest --detect-encoding`` shows of one CSV file, reading nothing into the lake: the guess
    (``guess``: encodings best first, with their confidence), what ``encoding: auto`` would read it in (or its
    refusal), and whether the file checks accept it with the spec's declared encoding."""
    ranked = legacy_text.guess(sample(blob)) if blob.size else []
    auto = detect(blob) if blob.size else Refusal("empty", f"{blob.name} is empty (0 bytes).")
    declared = check_file(blob, spec)
    return {"file": blob.name, "bytes": blob.size,
            "guess": ", ".join(f"{name} {confidence:.2f}" for name, confidence in ranked[:3]) or "–",
            "auto": auto.encoding if isinstance(auto, Detection) else f"refused [{auto.code}]",
            "declared": f"{spec.source.encoding}: " + (f"refused [{declared.code}]" if declared else "accepted"),
            "reasons": [r.reason for r in (auto, declared) if isinstance(r, Refusal)]}
