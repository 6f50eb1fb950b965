"""Text checks: binary content, a byte-order mark inside, bytes that are not the declared encoding, a file that
decodes in its declared encoding but clearly reads as another one (and which encoding would read them)."""

from __future__ import annotations

import codecs
import re
import unicodedata

from lakehouse.core import legacy_text
from lakehouse.engine.filecheck.base import Blob, Refusal
from lakehouse.engine.filecheck.encodings import codec_of, contradiction, incremental, is_legacy, trusted
from lakehouse.engine.filecheck.encodings import sample as file_start

GUESS_BYTES = 256 * 1024            # what charset_normalizer sees to guess an encoding
UTF8_BOM = codecs.BOM_UTF8
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
_UTF8_CHAR = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
# UTF-8 of Vietnamese letters (ạ…ỹ, ă, Ă, đ, Đ, ơ, Ơ, ư, Ư): in Windows-1258 these bytes read as pairs and
# triples such as "á»…" or "Ä‘", which Vietnamese text never holds, so a legacy file holding them has UTF-8 in it
_UTF8_VIETNAMESE = re.compile(rb"\xe1[\xba\xbb][\x80-\xbf]|\xc4[\x82\x83\x90\x91]|\xc6[\xa0\xa1\xaf\xb0]")
_VIETNAMESE = set("ăâđêôơưĂÂĐÊÔƠƯ\u0300\u0301\u0303\u0309\u0323")  # letters and tone marks of cp1258


def scan_text(blob: Blob, encoding: str, can_declare: bool = True) -> Refusal | None:
    """One streamed pass: NUL bytes, strict decoding in ``encoding``, UTF-8 declared as Windows-1258 (or a
    legacy encoding), BOMs inside; then, for a file that decoded in a single-byte encoding, whether it clearly
    reads as another one (a TCVN3 or VNI file declared Windows-1258, which decodes without an error).

    ``can_declare``: whether the spec may name another encoding (not for JSON Lines, always UTF-8).
    """
    codec = codec_of(encoding)
    decoder = incremental(encoding)
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
    except UnicodeDecodeError as exc:  # the file ends inside a multi-byte character (or a legacy file's last line)
        cut = not is_legacy(codec)
        return _wrong_encoding(blob, encoding, offset - len(exc.object) + exc.start,
                               exc.object[exc.start:] if cut else exc.object[exc.start:exc.end], at_end=cut)
    if utf8 is not None and first_high is not None:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            return None
        return _utf8_declared_1258(blob, encoding, first_high)
    if first_utf8 is not None:  # some lines in the declared encoding, some in UTF-8
        return _utf8_in_legacy(blob, encoding, first_utf8)
    found = contradiction(blob, codec)
    if found:
        return _reads_as_another(blob, encoding, *found, can_declare=can_declare)
    return None


def _reads_as_another(blob: Blob, encoding: str, others: list[str], confidence: float, word: bytes,
                      can_declare: bool = True) -> Refusal:
    """A file every byte of which the declared encoding decodes, into words that are not Vietnamese, while
    another encoding reads them as Vietnamese: read as declared, its text would be garbled for good."""
    other = others[0]
    shown = f"{_shown(word, encoding)!r} as {encoding} is {_shown(word, other)!r} as {other}" if word else ""
    if len(others) > 1:  # as good as each other: the sender knows which font the file was typed in
        other = " or ".join(others)
        fix = (f"declare the one it was typed in (tcvn3: the .Vn fonts, vni: the VNI- fonts) in the dataset "
               f"spec, or export the file as {encoding}" if can_declare else f"export the file as {encoding}")
    else:
        fix = (f"declare encoding: {other} (or auto) in the dataset spec, or export the file as {encoding}"
               if can_declare else f"export the file as {encoding}")
    return Refusal("encoding", f"{blob.name} is declared {encoding} but reads as {other} (confidence "
                               f"{confidence:.2f}, from how many of its words are Vietnamese syllables"
                               f"{': ' + shown if shown else ''}); read as {encoding} its text would be "
                               f"garbled. {fix[0].upper() + fix[1:]}.")


def _shown(word: bytes, encoding: str) -> str:
    """A word of the file as ``encoding`` reads it (with replacement marks where it cannot)."""
    try:
        if is_legacy(encoding):
            return legacy_text.decode(word, encoding)
        return unicodedata.normalize("NFC", word.decode(codec_of(encoding), errors="replace"))
    except legacy_text.LegacyDecodeError:
        return word.decode("latin-1")


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


def one_line(exc: Exception, limit: int = 200) -> str:
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
    mostly_utf8 = codec_of(encoding) == "utf-8" and _mostly_utf8(blob.head(GUESS_BYTES))
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
    decoder = incremental(codec)
    try:
        for chunk in blob.chunks():
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def sample_text(sample: bytes, codec: str) -> str | None:
    try:
        return incremental(codec).decode(sample)  # may end inside a character
    except (UnicodeDecodeError, LookupError):
        return None


def _encoding_that_reads(blob: Blob, declared: str) -> tuple[str, bool] | None:
    """(encoding, True) for a spec encoding that reads the whole file; (guess, False) for charset_normalizer's.

    UTF-8 when it decodes the file; else the single-byte encoding (Windows-1258, TCVN3, VNI) or VIQR that the
    legacy-text guess ranks first, with the thresholds of ``encoding: auto``, when it decodes the whole file;
    Windows-1258 also when the guess is unsure but ranks it first and its text has Vietnamese letters.
    """
    head = file_start(blob, GUESS_BYTES)
    if codec_of(declared) != "utf-8" and _decodes(blob, "utf-8"):
        return "utf-8", True
    ranked = [(name, share) for name, share in legacy_text.guess(head) if name not in ("utf-8", "utf-8-sig")]
    if ranked:
        (best, confidence), runner_up = ranked[0], (ranked[1][1] if len(ranked) > 1 else 0.0)
        best = "utf-8" if best == "ascii" else best
        if best != codec_of(declared) and _decodes(blob, best):
            if trusted(confidence, runner_up) or (best == "windows-1258" and _VIETNAMESE & set(sample_text(head, best) or "")):
                return best, True
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - the guess is a courtesy
        return None
    best = from_bytes(head).best()
    if best is None:
        return None
    name = codecs.lookup(best.encoding).name
    name = "windows-1258" if name == "cp1258" else name
    if name == codec_of(declared) or sample_text(head, name) is None:
        return None
    return name, False
