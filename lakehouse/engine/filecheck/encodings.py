"""Which encoding a landed text file is in, and reading the legacy Vietnamese ones (TCVN3, VNI, VIQR) (pure).

- :func:`detect`: the encoding of a CSV declared ``encoding: auto``, guessed (``core.legacy_text.guess``) from
  its first :data:`DETECT_BYTES`, or a refusal when the guess is weak or not clearly ahead of the next one
  (:data:`MIN_CONFIDENCE`, :data:`MIN_LEAD`).
- :func:`contradiction`: a file that decoded without an error in its declared single-byte encoding
  (:data:`SNIFFED`) but clearly reads as another one (a TCVN3 file declared Windows-1258): the same guess and
  thresholds.
- :func:`incremental`: a decoder fed chunk by chunk, for Python's codecs and the legacy ones alike, which
  :func:`utf8_copy` uses to write the UTF-8 copy Spark reads.
- :func:`font_encoding`, :func:`cell_text`: an Excel text cell typed in a legacy font (``.VnTime``: TCVN3,
  ``VNI-Times``: VNI), decoded.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Iterator

from lakehouse.core import legacy_text
from lakehouse.engine.filecheck.base import Blob, Refusal

DETECT_BYTES = 64 * 1024  # what a guess reads: the file's start, up to its last line break within this many bytes
# A guess is trusted when its best candidate scores at least MIN_CONFIDENCE (for a single-byte encoding: the
# share of the words holding non-ASCII letters that read as Vietnamese syllables) and leads the next candidate
# by at least MIN_LEAD. Registers of one to a hundred rows score 0.75-1.0 in their own encoding, leading by
# 0.33 or more; a mojibake reading scores about 0.15. Below either, the file is refused, not guessed.
MIN_CONFIDENCE = 0.6
MIN_LEAD = 0.2
SNIFFED = ("windows-1258", "tcvn3", "vni")  # declared encodings that decode almost any bytes without an error
UTF8_READ = ("utf-8", "utf-8-sig")  # what Spark reads as it is; every other encoding is given to it as a copy
_BREAKS = b"\n\r\t "  # a legacy letter's bytes never span one of these


def trusted(confidence: float, runner_up: float) -> bool:
    """Whether a guess is strong enough and far enough ahead (confidences have three decimals)."""
    return confidence >= MIN_CONFIDENCE and round(confidence - runner_up, 3) >= MIN_LEAD


@dataclass(frozen=True)
class Detection:
    """The encoding a file is read in, how sure the guess is (None: declared, not guessed), and the ranking."""

    encoding: str
    confidence: float | None = None
    ranked: tuple[tuple[str, float], ...] = ()
    by_font: bool = False  # a workbook: its text cells were read by their fonts' encodings


def codec_of(encoding: str) -> str:
    """The codec that decodes a declared encoding; utf-8-sig's BOM is allowed at the start either way."""
    return "utf-8" if encoding.startswith("utf-8") else encoding


def sample(blob: Blob, size: int = DETECT_BYTES) -> bytes:
    """The file's first ``size`` bytes, cut after the last line break when the file goes on (so no character
    or letter is cut in two); the whole head when it holds no line break."""
    head = blob.head(size)
    if blob.size <= len(head):
        return head
    end = max(head.rfind(b"\n"), head.rfind(b"\r"))
    return head[:end + 1] if end >= 0 else head


def _reading(name: str) -> str:
    """A guess's name as the spec spells the encoding it is read in (plain ASCII is read as UTF-8)."""
    return "utf-8" if name == "ascii" else name


def detect(blob: Blob) -> Detection | Refusal:
    """The encoding of a file declared ``encoding: auto``, or a refusal naming the candidates when unsure."""
    ranked = legacy_text.guess(sample(blob))
    if not ranked:
        return Refusal("encoding_unclear", f"{blob.name}: none of the encodings the platform reads (UTF-8, "
                                           f"Windows-1258, TCVN3, VNI, VIQR) decodes its first "
                                           f"{DETECT_BYTES // 1024} KiB; export the file as UTF-8.")
    (best, confidence), second = ranked[0], (ranked[1] if len(ranked) > 1 else ("", 0.0))
    if not trusted(confidence, second[1]):
        other = f", {second[0]} {second[1]:.2f}" if second[0] else ""
        why = (f"the best reading is weak ({best} {confidence:.2f}{other}; at least {MIN_CONFIDENCE} is needed)"
               if confidence < MIN_CONFIDENCE else
               f"two readings are too close ({best} {confidence:.2f}{other}; the best must lead by {MIN_LEAD})")
        return Refusal("encoding_unclear", f"{blob.name}: its encoding cannot be told with encoding: auto: {why}, "
                                           f"judged by how many of its words read as Vietnamese syllables. "
                                           f"Declare the encoding in the dataset spec (utf-8, windows-1258, "
                                           f"tcvn3, vni or viqr), or export the file as UTF-8.")
    return Detection(_reading(best), confidence, tuple(ranked))


def contradiction(blob: Blob, declared: str) -> tuple[list[str], float, bytes] | None:
    """(the encodings it reads as, best first, that reading's confidence, the first word holding a non-ASCII
    byte) for a file declared in one of :data:`SNIFFED` that clearly reads as another encoding; None when it
    does not (or holds only ASCII in its first :data:`DETECT_BYTES`, which every one of them reads alike).
    Several encodings when the best does not lead the others by :data:`MIN_LEAD`."""
    if declared not in SNIFFED:
        return None
    head = sample(blob)
    if head.isascii():
        return None
    ranked = legacy_text.guess(head)
    if not ranked:
        return None
    best, confidence = ranked[0]
    own = dict(ranked).get(declared, 0.0)  # 0 when the declared encoding does not decode the sample
    if best == declared or not trusted(confidence, own):
        return None
    close = [_reading(name) for name, other in ranked if name != declared and not trusted(confidence, other)]
    return close, confidence, _first_word(head)


def _first_word(data: bytes) -> bytes:
    """The first run of bytes between ASCII spaces and punctuation that holds a non-ASCII byte."""
    for word in re.split(rb"[\s,;|\"'()\[\]{}<>=:/]+", data):
        if not word.isascii():
            return word[:40]
    return b""


def decode(data: bytes, encoding: str) -> str:
    """Bytes in a spec's encoding, strictly (a legacy one through ``core.legacy_text``, as NFC)."""
    if encoding in legacy_text.ENCODINGS:
        return legacy_text.decode(data, encoding)
    return data.decode(codec_of(encoding))


# ---- decoding chunk by chunk -------------------------------------------------------------------------------

class _Pieces:
    """An incremental decoder that decodes up to the last space or line break it has seen, keeping the rest for
    the next chunk, so a letter (a VNI base and its marks, a VIQR vowel and its marks) is never cut in two;
    each piece is made NFC. A byte the encoding lacks raises :class:`UnicodeDecodeError` like Python's codecs,
    its ``object`` the bytes held plus the chunk."""

    def __init__(self, encoding: str):
        self.encoding = encoding
        self.pending = b""

    def _decode(self, data: bytes) -> str:
        if self.encoding in legacy_text.ENCODINGS:
            return legacy_text.decode(data, self.encoding)
        return unicodedata.normalize("NFC", data.decode(self.encoding))

    def decode(self, chunk: bytes, final: bool = False) -> str:
        data = self.pending + chunk
        cut = len(data) if final else max(data.rfind(bytes([b])) for b in _BREAKS) + 1
        piece, self.pending = data[:cut], data[cut:]
        try:
            return self._decode(piece)
        except legacy_text.LegacyDecodeError as exc:
            raise UnicodeDecodeError(self.encoding, data, exc.offset, exc.offset + 1, exc.reason) from None
        except UnicodeDecodeError as exc:
            raise UnicodeDecodeError(self.encoding, data, exc.start, exc.end, exc.reason) from None

    def getstate(self) -> tuple[bytes, int]:
        return self.pending, 0


def incremental(encoding: str, nfc: bool = False):
    """A decoder fed chunk by chunk (``decode(chunk, final=False)``, ``getstate()``) for a spec's encoding:
    Python's own for UTF-8 and Windows-1258 (``nfc``: pieces cut at spaces and made NFC, as the legacy ones
    always are), :class:`_Pieces` for TCVN3, VNI and VIQR."""
    if encoding in legacy_text.ENCODINGS or (nfc and codec_of(encoding) != "utf-8"):
        return _Pieces(encoding)
    return codecs.getincrementaldecoder(codec_of(encoding))("strict")


def is_legacy(encoding: str) -> bool:
    return encoding in legacy_text.ENCODINGS


def utf8_copy(chunks: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    """A file's chunks in ``encoding`` as NFC UTF-8 chunks (for Spark, which has no legacy codec), streamed; a
    byte the encoding lacks raises :class:`UnicodeDecodeError` (the file checks refused such a file already)."""
    decoder = incremental(encoding, nfc=True)
    for chunk in chunks:
        yield decoder.decode(chunk).encode("utf-8")
    yield decoder.decode(b"", final=True).encode("utf-8")


# ---- Excel cells in legacy fonts ---------------------------------------------------------------------------

def font_encoding(font_name: str | None) -> str | None:
    """``tcvn3`` for the TCVN3 fonts (``.VnTime``, ``.VnArial``, ``.VnTimeH``…), ``vni`` for the VNI ones
    (``VNI-Times``, ``VNI-Helve``…), None for any other font."""
    name = (font_name or "").strip()
    if name.lower().startswith(".vn"):
        return "tcvn3"
    if name.upper().startswith("VNI-"):
        return "vni"
    return None


def _font_bytes(text: str) -> bytes | None:
    """The font's bytes behind a cell's text: Excel stored each typed byte as the Windows-1252 character (or,
    for the five bytes Windows-1252 lacks, the Latin-1 one); None when a character is no such byte, so the
    text is Unicode already."""
    out = bytearray()
    for char in text:
        try:
            out += char.encode("cp1252")
        except UnicodeEncodeError:
            if ord(char) > 0xFF:
                return None
            out.append(ord(char))
    return bytes(out)


def cell_text(text: str, encoding: str) -> str:
    """A text cell typed in a ``tcvn3`` or ``vni`` font, as NFC Unicode; a cell already in Unicode (a character
    no byte of the font gives) is returned as it is. `legacy_text.LegacyDecodeError` when its bytes cannot be
    that encoding."""
    data = _font_bytes(text)
    if data is None or data.isascii():
        return text
    return legacy_text.decode(data, encoding)


def cell_decoder(declared: str):
    """``decode(value, font_name)`` for the cells of a workbook whose spec declares ``declared``: text in a
    legacy font the declaration covers (``auto``: both) is decoded, anything else returned as it is."""
    allowed = {"auto": ("tcvn3", "vni"), "tcvn3": ("tcvn3",), "vni": ("vni",)}.get(declared, ())

    def decode_cell(value, font_name: str | None):
        found = font_encoding(font_name) if allowed and isinstance(value, str) else None
        return cell_text(value, found) if found in allowed else value
    return decode_cell


def row_values(cells, decode_cell) -> list:
    """The values of a row of openpyxl cells (``iter_rows`` without ``values_only``), legacy-font text decoded."""
    return [decode_cell(cell.value, getattr(cell.font, "name", None) if cell.value is not None else None)
            for cell in cells]


# ---- what a batch records ----------------------------------------------------------------------------------

def batch_fields(declared: str, found: dict[str, Detection]) -> dict:
    """The run log's fields (bronze ``extra``) for the encodings a batch's CSV files were read in: ``encoding``
    (their encodings, comma-separated), ``encoding_declared`` (the spec's), ``encoding_by: font`` for workbooks
    (what their cells' fonts gave: ``utf-8`` when no cell was in a legacy font), and for ``auto`` the weakest
    file's ``encoding_confidence`` and each file's ``encoding_files`` (name → [encoding, confidence])."""
    if not found:
        return {}
    out = {"encoding": ",".join(sorted({d.encoding for d in found.values()})), "encoding_declared": declared}
    if any(d.by_font for d in found.values()):
        out["encoding_by"] = "font"
    guessed = {key: d for key, d in sorted(found.items()) if d.confidence is not None}
    if guessed:
        out["encoding_confidence"] = min(d.confidence for d in guessed.values())
        out["encoding_files"] = {key.rsplit("/", 1)[-1]: [d.encoding, d.confidence] for key, d in guessed.items()}
    return out


def needs_copy(declared: str, encoding: str) -> bool:
    """Whether Spark reads a CSV file declared ``declared`` and read in ``encoding`` from a UTF-8 copy: it has
    no codec for the legacy encodings, and reads every file of an ``auto`` dataset as UTF-8."""
    spark_reads = declared if declared in ("utf-8", "utf-8-sig", "windows-1258") else "utf-8"
    return encoding not in UTF8_READ and encoding != spark_reads
