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
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Protocol

from lakehouse.errors import LakeError

if TYPE_CHECKING:
    from lakehouse.spec import SourceDataset

HEADER_LIMIT = 64 * 1024            # a CSV header line longer than this is not a header
GUESS_BYTES = 256 * 1024            # what charset_normalizer sees to guess an encoding
JSONL_LINE_LIMIT = 16 * 1024 * 1024  # a longer JSON line is not parsed (kept out of memory)
XLSX_LIMIT = 64 * 1024 * 1024       # a workbook is read whole; larger ones are refused
PARQUET_FOOTER_LIMIT = 64 * 1024 * 1024
ZIP_MAX_UNCOMPRESSED = 256 * 1024 * 1024
ZIP_MAX_RATIO = 200
ZIP_RATIO_MIN_SIZE = 1024 * 1024    # a member smaller than this cannot hurt, whatever its ratio
HEADER_ROW_SEARCH = 30              # xlsx: rows searched for the declared header when header_row misses it

PARQUET_MAGIC = b"PAR1"
ZIP_MAGIC = b"PK\x03\x04"
UTF8_BOM = codecs.BOM_UTF8
EXECUTABLES = [(b"MZ", "a Windows program (.exe/.dll)"), (b"\x7fELF", "a Linux program (ELF)"),
               (b"#!", "a script (#!)")]
ALT_DELIMITERS = [";", "\t", "|", ","]
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
_UTF8_CHAR = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# UTF-8 of Vietnamese letters (ạ…ỹ, ă, Ă, đ, Đ, ơ, Ơ, ư, Ư): in Windows-1258 these bytes read as pairs and
# triples such as "á»…" or "Ä‘", which Vietnamese text never holds, so a legacy file holding them has UTF-8 in it
_UTF8_VIETNAMESE = re.compile(rb"\xe1[\xba\xbb][\x80-\xbf]|\xc4[\x82\x83\x90\x91]|\xc6[\xa0\xa1\xaf\xb0]")
_VIETNAMESE = set("ăâđêôơưĂÂĐÊÔƠƯ\u0300\u0301\u0303\u0309\u0323")  # letters and tone marks of cp1258


@dataclass(frozen=True)
class Refusal:
    """Why a landed file is refused whole: a stable code and one sentence for the data steward."""

    code: str
    reason: str


class Blob(Protocol):
    """A landed file as the checks see it: its name and size, its ends, and its content in order."""

    name: str
    size: int

    def head(self, n: int) -> bytes: ...

    def tail(self, n: int) -> bytes: ...

    def chunks(self, size: int = 1 << 20) -> Iterator[bytes]: ...


class LocalBlob:
    """A :class:`Blob` over a local file (tests and `lake ingest`)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.name = str(path)
        self.size = self.path.stat().st_size

    def head(self, n: int) -> bytes:
        with self.path.open("rb") as f:
            return f.read(n)

    def tail(self, n: int) -> bytes:
        with self.path.open("rb") as f:
            f.seek(max(0, self.size - n))
            return f.read()

    def chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        with self.path.open("rb") as f:
            while block := f.read(size):
                yield block


class BytesBlob:
    """A :class:`Blob` over bytes in memory (tests)."""

    def __init__(self, name: str, data: bytes):
        self.name = name
        self.data = data
        self.size = len(data)

    def head(self, n: int) -> bytes:
        return self.data[:n]

    def tail(self, n: int) -> bytes:
        return self.data[max(0, self.size - n):]

    def chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        for start in range(0, self.size, size):
            yield self.data[start:start + size]


def check_file(blob: Blob, spec: SourceDataset) -> Refusal | None:
    """None when the file may be read; a Refusal when it must be refused whole."""
    src = spec.source
    if blob.size == 0:
        return Refusal("empty", f"{blob.name} is empty (0 bytes): the export or the upload probably failed; "
                                f"ask the sender for the file again.")
    if src.kind == "documents":
        return _check_document(blob)
    if src.kind == "jdbc":  # extracts the platform wrote itself, as Parquet
        return None
    if src.kind in ("stream", "builtin") or src.format == "jsonl":
        return _check_jsonl(blob)
    return {"csv": _check_csv, "parquet": _check_parquet, "xlsx": _check_xlsx}[src.format](blob, spec)


# ---- headers (shared with the readers) ---------------------------------------------------

def first_line(text: str) -> str:
    """The first line of a text, whatever its line ending (\\r\\n, \\n or a lone \\r)."""
    return _LINE_BREAK.split(text, 1)[0] if text else ""


def split_header(line: str, delimiter: str) -> list[str]:
    """Column names of a CSV header line: split as CSV (quotes honoured), trimmed, NFC."""
    names = next(csv.reader([line], delimiter=delimiter), [])
    return [unicodedata.normalize("NFC", n.strip()) for n in names]


def csv_header(head: bytes, encoding: str, delimiter: str) -> list[str]:
    """Column names from the first line of a CSV file (BOM removed, NFC, trimmed)."""
    text = head.decode("utf-8-sig" if encoding.startswith("utf-8") else encoding, errors="replace")
    first = first_line(text)
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


def _declared(spec: SourceDataset) -> list[str]:
    """The declared source fields, in column order."""
    return [unicodedata.normalize("NFC", c.source_field) for c in spec.columns]


def _required(spec: SourceDataset) -> list[str]:
    """Fields a file must have: keys and non-nullable columns (every row would be quarantined without them)."""
    return [unicodedata.normalize("NFC", c.source_field) for c in spec.columns
            if not c.nullable or c.name in spec.keys]


def _shown(names: list[str], limit: int = 8) -> str:
    shown = [repr(n if len(n) <= 40 else n[:37] + "...") for n in names[:limit]]
    return ", ".join(shown) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _check_names(blob: Blob, spec: SourceDataset, names: list[str], where: str, hint: str = "") -> Refusal | None:
    """The header-level refusals every tabular format shares."""
    declared = _declared(spec)
    if not set(names) & set(declared):
        fix = hint or f"is this a file of dataset {spec.name}?"
        fix += "" if fix.endswith(("?", ".")) else "."
        return Refusal("header_none", f"{blob.name}: none of the declared columns ({', '.join(declared)}) is in "
                                      f"{where}, which has {_shown(names) or 'nothing'}; {fix}")
    empty = [i + 1 for i, n in enumerate(names) if not n]
    if empty:
        return Refusal("header_empty_name", f"{blob.name}: column {empty[0]} of {where} has no name (a stray "
                                            f"delimiter at the end?); name it or remove the empty column.")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        return Refusal("header_duplicate", f"{blob.name}: {where} names {_shown(dupes)} more than once, so the "
                                           f"values cannot be told apart; rename or remove the repeated columns.")
    missing = [f for f in _required(spec) if f not in names]
    if missing:
        return Refusal("header_missing", f"{blob.name}: {where} lacks the required column(s) {', '.join(missing)} "
                                         f"(keys or declared not nullable), so every row would be quarantined; "
                                         f"export the file with them.")
    return None


def _csv_hint(line: str, spec: SourceDataset) -> str:
    """Why a header line has none of the declared fields, when the line says: Excel's sep= line, another delimiter."""
    if line.lower().startswith("sep="):
        return "line 1 is Excel's 'sep=' hint, not the header: remove it so the header is line 1"
    declared = set(_declared(spec))
    for alt in ALT_DELIMITERS:
        if alt != spec.source.delimiter and set(split_header(line, alt)) & declared:
            return (f"the header splits on {alt!r}, not on the declared {spec.source.delimiter!r}: is the "
                    f"delimiter wrong? (set source.delimiter, or export with {spec.source.delimiter!r})")
    return ""


# ---- text: binary content, encoding, byte-order marks ------------------------------------------

def _codec(encoding: str) -> str:
    """The codec that decodes a declared encoding; utf-8-sig's BOM is allowed at the start either way."""
    return "utf-8" if encoding.startswith("utf-8") else encoding


def _scan_text(blob: Blob, encoding: str, can_declare: bool = True) -> Refusal | None:
    """One streamed pass: NUL bytes, strict decoding in ``encoding``, UTF-8 declared as Windows-1258, BOMs inside.

    ``can_declare``: whether the spec may name another encoding (not for JSON Lines, always UTF-8).
    """
    codec = _codec(encoding)
    decoder = codecs.getincrementaldecoder(codec)("strict")
    utf8 = codecs.getincrementaldecoder("utf-8")("strict") if codec != "utf-8" else None
    first_high = None  # offset of the first non-ASCII byte, while the file may still be UTF-8
    first_utf8 = None  # offset of the first UTF-8 Vietnamese letter in a file declared in a legacy encoding
    offset = 0
    carry = b""  # the last bytes of the previous chunk, so a BOM split between chunks is found
    for chunk in blob.chunks():
        nul = chunk.find(b"\x00")
        if nul >= 0:
            return _binary(blob, offset + nul)
        pending = len(decoder.getstate()[0])  # bytes of a character begun in the previous chunk
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            # a UTF-8 letter whose bytes the legacy encoding lacks (Đ is C4 90; 0x90 is undefined in it), in
            # a file that is not UTF-8 throughout (that one _wrong_encoding tells to declare utf-8)
            near = max(0, exc.start - 2)
            if (codec != "utf-8" and (m := _UTF8_VIETNAMESE.search(exc.object[near:exc.end + 2]))
                    and not _decodes(blob, "utf-8")):
                return _utf8_in_legacy(blob, encoding, offset - pending + near + m.start())
            return _wrong_encoding(blob, encoding, offset - pending + exc.start, exc.object[exc.start:exc.end],
                                   can_declare=can_declare)
        if utf8 is not None:
            try:
                utf8.decode(chunk)
                if first_high is None and (m := _HIGH_BYTE.search(chunk)):
                    first_high = offset + m.start()
            except UnicodeDecodeError:
                utf8 = None
        window = carry + chunk
        base = offset - len(carry)
        bom = window.find(UTF8_BOM, 1 if base == 0 else 0)
        if bom >= 0:
            at = base + bom
            return Refusal("bom_inside", f"{blob.name}: a byte-order mark (EF BB BF) at byte {at} (line "
                                         f"{_line_at(blob, at)}) marks the start of another file: were two files "
                                         f"joined? Send them as separate files.")
        if codec != "utf-8" and first_utf8 is None and (m := _UTF8_VIETNAMESE.search(window)):
            first_utf8 = base + m.start()
        carry = window[-2:]
        offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:  # the file ends inside a multi-byte character
        return _wrong_encoding(blob, encoding, offset - len(exc.object) + exc.start, exc.object[exc.start:],
                               at_end=True)
    if utf8 is not None and first_high is not None:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            return None
        return _utf8_declared_1258(blob, encoding, first_high)
    if first_utf8 is not None:  # some lines in the declared encoding, some in UTF-8
        return _utf8_in_legacy(blob, encoding, first_utf8)
    return None


def _utf8_in_legacy(blob: Blob, encoding: str, at: int) -> Refusal:
    """A file in a legacy encoding with UTF-8 text in it, from byte ``at`` (a UTF-8 Vietnamese letter)."""
    letter = blob.head(at + 3)[at:].decode("utf-8", errors="ignore")[:1]
    return Refusal("encoding", f"{blob.name} is declared {encoding}, but line {_line_at(blob, at)} holds UTF-8 "
                               f"(bytes {_hex(letter.encode())} at byte {at} are {letter!r} in UTF-8): were two "
                               f"exports joined, or a line pasted from another file? Export the whole file again "
                               f"as {encoding}.")


def _utf8_declared_1258(blob: Blob, encoding: str, at: int) -> Refusal:
    """Windows-1258 decodes almost any bytes, so a UTF-8 file would be read as mojibake without an error."""
    char = blob.head(at + 4)[at:].decode("utf-8", errors="ignore")[:1]
    evidence = ("it starts with a UTF-8 byte-order mark" if char == "\ufeff" else
                f"bytes {_hex(char.encode())} at byte {at}, line {_line_at(blob, at)}, are {char!r} in UTF-8")
    return Refusal("encoding", f"{blob.name} is declared {encoding} but is UTF-8 ({evidence}): declare "
                               f"encoding: utf-8 in the dataset spec, or export the file as {encoding}.")


def _one_line(exc: Exception, limit: int = 200) -> str:
    """A library's error message on one line, short enough for a refusal."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _hex(data: bytes) -> str:
    return " ".join(f"0x{b:02X}" for b in data)


def _line_at(blob: Blob, offset: int) -> int:
    """The 1-based line holding byte ``offset`` (a second pass, taken only when refusing)."""
    seen = lines = 0
    for chunk in blob.chunks():
        part = chunk[:max(0, offset - seen)]
        lines += part.count(b"\n")
        seen += len(chunk)
        if seen >= offset:
            break
    return lines + 1


def _binary(blob: Blob, at: int) -> Refusal:
    head = blob.head(2)
    if head in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        what = "it starts with a UTF-16 byte-order mark: export it as UTF-8 text"
    else:
        what = "this is not a text file (a binary or a file of another format?): send the CSV/JSON Lines export"
    return Refusal("binary", f"{blob.name}: a NUL byte at byte {at} (line {_line_at(blob, at)}); {what}.")


def _wrong_encoding(blob: Blob, encoding: str, at: int, bad: bytes, at_end: bool = False,
                    can_declare: bool = True) -> Refusal:
    mostly_utf8 = _codec(encoding) == "utf-8" and _mostly_utf8(blob.head(GUESS_BYTES))
    found = None if at_end or mostly_utf8 else _encoding_that_reads(blob, encoding)
    if at_end:
        fix = "the file ends inside a character, so it was cut short: send it again"
    elif mostly_utf8:
        # naming Windows-1258 here would turn every other line into mojibake
        fix = ("most of the file is UTF-8, so that line was pasted in from another encoding or the file is "
               "damaged: correct that line, or re-export the whole file as UTF-8")
    elif found and found[1] and can_declare:
        fix = (f"the whole file reads as {found[0]}: declare encoding: {found[0]} in the dataset spec, "
               f"or re-export the file as {encoding}")
    elif found and found[1]:
        fix = f"the whole file reads as {found[0]}, but this format is read as {encoding}: re-export it as {encoding}"
    elif found:
        fix = (f"it looks like {found[0]} (a guess from its first {GUESS_BYTES // 1024} KiB), which the platform "
               f"does not read: re-export the file as UTF-8")
    else:
        fix = f"no usual encoding reads it: re-export the file as {encoding}"
    where = f"byte {at} ({_hex(bad)}, line {_line_at(blob, at)})"
    return Refusal("encoding", f"{blob.name}: {where} is not valid {encoding}; {fix}.")


def _mostly_utf8(sample: bytes) -> bool:
    """Whether most non-ASCII bytes form UTF-8 characters (few Windows-1258 texts pair bytes that way)."""
    high = len(_HIGH_BYTE.findall(sample))
    return high > 0 and sum(len(m) for m in _UTF8_CHAR.findall(sample)) * 2 > high


def _decodes(blob: Blob, codec: str) -> bool:
    decoder = codecs.getincrementaldecoder(codec)("strict")
    try:
        for chunk in blob.chunks():
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _sample_text(sample: bytes, codec: str) -> str | None:
    try:
        return codecs.getincrementaldecoder(codec)("strict").decode(sample)  # may end inside a character
    except (UnicodeDecodeError, LookupError):
        return None


def _encoding_that_reads(blob: Blob, declared: str) -> tuple[str, bool] | None:
    """(encoding, True) for a spec encoding that reads the whole file; (guess, False) for charset_normalizer's."""
    sample = blob.head(GUESS_BYTES)
    for candidate in ("utf-8", "windows-1258"):
        if candidate == _codec(declared) or not _decodes(blob, candidate):
            continue
        # Windows-1258 decodes almost any bytes: only name it when the text has Vietnamese letters or tones
        text = _sample_text(sample, candidate) or ""
        if candidate == "utf-8" or _VIETNAMESE & set(text):
            return candidate, True
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - the guess is a courtesy
        return None
    best = from_bytes(sample).best()
    if best is None:
        return None
    name = codecs.lookup(best.encoding).name
    name = "windows-1258" if name == "cp1258" else name
    if name == _codec(declared) or _sample_text(sample, name) is None:
        return None
    return name, False


# ---- CSV ---------------------------------------------------------------------------------------

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


def _check_csv(blob: Blob, spec: SourceDataset) -> Refusal | None:
    src = spec.source
    refusal = _scan_text(blob, src.encoding)
    if refusal:
        return refusal
    head = blob.head(HEADER_LIMIT + 1)
    end = _line_end(head)
    if (end is None and blob.size > HEADER_LIMIT) or (end is not None and end > HEADER_LIMIT):
        return Refusal("header_too_long", f"{blob.name}: its first line is longer than {HEADER_LIMIT // 1024} KiB, "
                                          f"so it is not a header line (a file without line breaks, or the wrong "
                                          f"format?); send a CSV whose first line names the columns.")
    end = len(head) if end is None else end
    line = head[:end].decode(_codec(src.encoding))  # the whole file decoded strictly above
    line = line.removeprefix("\ufeff")
    if not line.strip():
        return Refusal("header_none", f"{blob.name}: line 1 is blank, but it must name the columns "
                                      f"({', '.join(_declared(spec))}); remove the blank lines at the top.")
    names = split_header(line, src.delimiter)
    refusal = _check_names(blob, spec, names, "the header (line 1)", _csv_hint(line, spec))
    if refusal:
        return refusal
    if not _has_content_after(blob, end):
        return Refusal("no_rows", f"{blob.name}: the header is its only line, so it has no rows; was the export "
                                  f"cut short or run on an empty selection?")
    return None


# ---- JSON Lines --------------------------------------------------------------------------------

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


def _check_jsonl(blob: Blob) -> Refusal | None:
    refusal = _scan_text(blob, "utf-8", can_declare=False)
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


# ---- Parquet -------------------------------------------------------------------------------------

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
    if b"\x00" not in head and _sample_text(head, "utf-8") is not None:
        return "text (a CSV or JSON file renamed?)"
    return "not a known format"


def _check_parquet(blob: Blob, spec: SourceDataset) -> Refusal | None:
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
        return Refusal("not_parquet", f"{blob.name}: its Parquet footer cannot be read ({_one_line(exc)}); the file "
                                      f"is damaged: send it again.")
    # Spark matches Parquet columns by their exact names, so they are compared untrimmed
    refusal = _check_names(blob, spec, list(schema.names), "its schema")
    if refusal:
        return refusal
    if pq.read_metadata(pa.BufferReader(blob.tail(footer + 8))).num_rows == 0:
        return Refusal("no_rows", f"{blob.name}: its schema is right but it holds no rows; was the export run on "
                                  f"an empty selection?")
    return None


# ---- Excel ---------------------------------------------------------------------------------------

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


def _check_xlsx(blob: Blob, spec: SourceDataset) -> Refusal | None:
    if blob.size > XLSX_LIMIT:
        return Refusal("not_xlsx", f"{blob.name} is {blob.size >> 20} MiB, more than the {XLSX_LIMIT >> 20} MiB a "
                                   f"workbook is read whole in; split it or export it as CSV.")
    data = blob.head(blob.size)
    if not data.startswith(ZIP_MAGIC):
        return Refusal("not_xlsx", f"{blob.name} is not an .xlsx workbook (those are zip archives); it looks like "
                                   f"{_looks_like(data[:8])}: save it from Excel as .xlsx.")
    try:
        book_zip = zipfile.ZipFile(io.BytesIO(data))
        infos = book_zip.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        return Refusal("not_xlsx", f"{blob.name}: the workbook is truncated or damaged ({_one_line(exc)}); "
                                   f"send it again.")
    refusal = _zip_bomb(blob, infos)
    if refusal:
        return refusal
    if "xl/workbook.xml" not in book_zip.namelist():
        return Refusal("not_xlsx", f"{blob.name} is a zip archive but not an Excel workbook (no xl/workbook.xml; "
                                   f"a .docx, .ods or renamed .zip?): save it from Excel as .xlsx.")
    try:
        return _check_sheet(blob, spec, data)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        return Refusal("not_xlsx", f"{blob.name}: the workbook cannot be opened ({exc.__class__.__name__}: "
                                   f"{_one_line(exc)}); open and save it again in Excel, or send it again.")


def _check_sheet(blob: Blob, spec: SourceDataset, data: bytes) -> Refusal | None:
    from openpyxl import load_workbook

    src = spec.source
    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        if src.sheet and src.sheet not in book.sheetnames:
            return Refusal("sheet_missing", f"{blob.name} has no sheet {src.sheet!r} (its sheets: "
                                            f"{_shown(book.sheetnames)}); rename the sheet or set source.sheet.")
        ws = book[src.sheet] if src.sheet else book.worksheets[0]
        label = f"row {src.header_row} of sheet {ws.title!r}"
        rows = ws.iter_rows(min_row=1, values_only=True)
        declared = set(_declared(spec))
        header: list[str] | None = None
        found_at = None
        for number, values in enumerate(rows, 1):
            names = sheet_header(values)
            if number == src.header_row:
                header = names
            if found_at is None and number != src.header_row and set(names) & declared:
                found_at = number
            if number >= max(src.header_row, HEADER_ROW_SEARCH):
                break
        hint = (f"the declared columns are in row {found_at}: set source.header_row: {found_at}" if found_at
                else "is header_row right, and is this the right workbook?")
        refusal = _check_names(blob, spec, header or [], label, hint)
        if refusal:
            return refusal
        width = len(header)
        for values in ws.iter_rows(min_row=src.header_row + 1, values_only=True):
            if any(v not in (None, "") for v in values[:width]):
                return None
        return Refusal("no_rows", f"{blob.name}: nothing below the header ({label}), so it has no rows; was the "
                                  f"report saved before it was filled in?")
    finally:
        book.close()


# ---- documents -----------------------------------------------------------------------------------

def _check_document(blob: Blob) -> Refusal | None:
    head = blob.head(4)
    for magic, what in EXECUTABLES:
        if head.startswith(magic):
            return Refusal("executable", f"{blob.name} is {what}, not a document, whatever its name; it is not "
                                         f"stored: ask the sender for the real document (PDF or scan).")
    return None
