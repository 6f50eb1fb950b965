"""The legacy Vietnamese text encodings, decoded to NFC Unicode and encoded back; which one a file is in (pure).

- **TCVN3** ("VN3", TCVN 5712:1993, the `.VnTime` fonts): one byte per letter. 0xA1–0xA7 are the capitals
  Ă Â Ê Ô Ơ Ư Đ, 0xA8–0xAE their small letters (0xAD, Latin-1's soft hyphen, is ư), 0xB5–0xFE the small toned
  letters. A capital with a tone has no byte: typists of the capital fonts (`.VnTimeH`) wrote the small letter's
  byte, so ``encode`` writes that and ``decode`` gives the small letter back. 0x80–0x9F are read as Windows-1252
  punctuation (curly quotes, dashes, …), as a Word document saved in a VN3 font holds them, and 0xA0 as a
  no-break space. The bytes the larger VN1 table (glibc's ``TCVN5712-1``) adds are refused: its toned capitals
  and combining marks in 0xAF–0xFF, and its capitals in 0x80–0x9F and 0x01–0x17 (read as punctuation and
  control characters here).
- **VNI-Windows** (the `VNI-*` fonts): a base letter followed by a mark byte, with separate mark bytes for
  capitals (one byte holds a circumflex or breve together with a tone); đ, ơ, ư, the toned i and ỵ, and their
  capitals, are single bytes. A mark byte with no letter before it means a letter was cut. Reading is lenient
  where nothing is ambiguous: a small letter's mark on a capital (or the reverse) takes the base letter's case,
  a tone mark after i or y gives the letter the table writes as one byte, and a circumflex or breve byte may be
  followed by a tone byte. 0x80–0xBF are read as Windows-1252, except 0x9F, which VNI's chart (like 0xFF) gives
  as a second Ỵ (ỵ); the other bytes of 0xC0–0xFF are refused: they are no Vietnamese letters (Latin-1's Ç, ß
  and others, on several of which the two tables disagree).
- **VIQR** (RFC 1456, 7-bit ASCII): a vowel followed by ``(`` breve, ``^`` circumflex or ``+`` horn, then a
  tone: ``'`` sắc, a backquote huyền, ``?`` hỏi, ``~`` ngã, ``.`` nặng; ``dd``, ``DD`` or ``Dd`` is đ or Đ
  anywhere in a word. A backslash before a mark character, ``d``, ``D`` or a backslash writes that character
  literally. A mark character is a mark only directly after a vowel (and its modifier) that it combines with,
  and a tone only when its word (run of letters) has no tone yet: ``gi`?`` is ``gì?``, ``Hie^'u.`` is
  ``Hiếu.``. An unescaped ``.`` or ``?`` after an untoned word ending in a vowel stays ambiguous and is read
  as a tone (a mark is a mark wherever it combines); ``encode`` escapes every such character.

Byte values checked against two published tables each: TCVN3 against Unikey's converter (ibus-unikey,
``ukengine/data.cpp``) and glibc iconv's ``TCVN5712-1``; VNI-Windows against Unikey's ``data.cpp`` and the
VNI company's character chart (vnisoft.com ``vnichar.htm``, as transcribed in B2Uconverter's ``vni.py``); VIQR
against RFC 1456 and Unikey's VIQR table.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

ENCODINGS = ("tcvn3", "vni", "viqr")
GUESSES = ("utf-8", "utf-8-sig", "windows-1258", "tcvn3", "vni", "viqr", "ascii")

GRAVE, ACUTE, HOOK, TILDE, DOT = "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"
TONES = (GRAVE, ACUTE, HOOK, TILDE, DOT)  # huyền, sắc, hỏi, ngã, nặng
CIRCUMFLEX, BREVE, HORN = "\u0302", "\u0306", "\u031b"
VOWELS = ("a", "a" + BREVE, "a" + CIRCUMFLEX, "e", "e" + CIRCUMFLEX, "i", "o", "o" + CIRCUMFLEX, "o" + HORN, "u",
          "u" + HORN, "y")


class LegacyDecodeError(ValueError):
    """Bytes that cannot be the named encoding: the byte offset where reading stopped, and why."""

    def __init__(self, encoding: str, offset: int, reason: str):
        super().__init__(f"{encoding}: byte {offset}: {reason}")
        self.encoding = encoding
        self.offset = offset
        self.reason = reason


def _letters() -> dict[str, tuple[str, str, str]]:
    """Every Vietnamese vowel letter, both cases, by its NFC character: (base letter, modifier, tone)."""
    found = {}
    for vowel in VOWELS:
        for tone in ("",) + TONES:
            small = unicodedata.normalize("NFC", vowel + tone)
            found[small] = (vowel[0], vowel[1:], tone)
            found[small.upper()] = (vowel[0].upper(), vowel[1:], tone)
    return found


_PARTS = _letters()


def _letter(base: str, modifier: str, tone: str) -> str:
    return unicodedata.normalize("NFC", base + modifier + tone)


def _byte(value: int) -> str:
    return f"0x{value:02X}"


def _cp1252(first: int, last: int) -> dict[int, str]:
    """The bytes from ``first`` to ``last`` that Windows-1252 defines, as its characters."""
    found = {}
    for value in range(first, last + 1):
        try:
            found[value] = bytes([value]).decode("cp1252")
        except UnicodeDecodeError:
            continue
    return found


# ---- TCVN3 ------------------------------------------------------------------------------------------------------

_TCVN3_ROWS = {  # small letter: its byte untoned, then with huyền, sắc, hỏi, ngã, nặng
    "a": (0x61, 0xB5, 0xB8, 0xB6, 0xB7, 0xB9),
    "ă": (0xA8, 0xBB, 0xBE, 0xBC, 0xBD, 0xC6),
    "â": (0xA9, 0xC7, 0xCA, 0xC8, 0xC9, 0xCB),
    "e": (0x65, 0xCC, 0xD0, 0xCE, 0xCF, 0xD1),
    "ê": (0xAA, 0xD2, 0xD5, 0xD3, 0xD4, 0xD6),
    "i": (0x69, 0xD7, 0xDD, 0xD8, 0xDC, 0xDE),
    "o": (0x6F, 0xDF, 0xE3, 0xE1, 0xE2, 0xE4),
    "ô": (0xAB, 0xE5, 0xE8, 0xE6, 0xE7, 0xE9),
    "ơ": (0xAC, 0xEA, 0xED, 0xEB, 0xEC, 0xEE),
    "u": (0x75, 0xEF, 0xF3, 0xF1, 0xF2, 0xF4),
    "ư": (0xAD, 0xF5, 0xF8, 0xF6, 0xF7, 0xF9),
    "y": (0x79, 0xFA, 0xFD, 0xFB, 0xFC, 0xFE),
}
_TCVN3_OTHERS = {"Ă": 0xA1, "Â": 0xA2, "Ê": 0xA3, "Ô": 0xA4, "Ơ": 0xA5, "Ư": 0xA6, "Đ": 0xA7, "đ": 0xAE,
                 "\u00a0": 0xA0}


def _tcvn3_tables() -> tuple[dict[int, str], dict[str, int]]:
    decoding = {value: chr(value) for value in range(0x80)} | _cp1252(0x80, 0x9F)
    for small, row in _TCVN3_ROWS.items():
        for tone, value in zip(("",) + TONES, row):
            decoding[value] = unicodedata.normalize("NFC", small + tone)
    for char, value in _TCVN3_OTHERS.items():
        decoding[value] = char
    encoding = {char: value for value, char in decoding.items()}
    for char in _PARTS:
        if char not in encoding:  # a capital with a tone
            encoding[char] = encoding[char.lower()]
    return decoding, encoding


_TCVN3_DECODE, _TCVN3_ENCODE = _tcvn3_tables()


def _decode_tcvn3(data: bytes) -> str:
    out = []
    for at, value in enumerate(data):
        char = _TCVN3_DECODE.get(value)
        if char is None:
            vn1 = " (a capital or a combining mark of the larger VN1 table)" if value > 0xA0 else ""
            raise LegacyDecodeError("tcvn3", at, f"{_byte(value)} is not in TCVN3{vn1}")
        out.append(char)
    return "".join(out)


def _encode_tcvn3(text: str) -> bytes:
    out = bytearray()
    for at, char in enumerate(text):
        value = _TCVN3_ENCODE.get(char)
        if value is None:
            raise UnicodeEncodeError("tcvn3", text, at, at + 1, "TCVN3 has no byte for this character")
        out.append(value)
    return bytes(out)


# ---- VNI-Windows ------------------------------------------------------------------------------------------------

_VNI_MARKS = {  # (modifier, tone): (mark byte after a small letter, mark byte after a capital)
    ("", GRAVE): (0xF8, 0xD8), ("", ACUTE): (0xF9, 0xD9), ("", HOOK): (0xFB, 0xDB), ("", TILDE): (0xF5, 0xD5),
    ("", DOT): (0xEF, 0xCF),
    (CIRCUMFLEX, ""): (0xE2, 0xC2), (CIRCUMFLEX, GRAVE): (0xE0, 0xC0), (CIRCUMFLEX, ACUTE): (0xE1, 0xC1),
    (CIRCUMFLEX, HOOK): (0xE5, 0xC5), (CIRCUMFLEX, TILDE): (0xE3, 0xC3), (CIRCUMFLEX, DOT): (0xE4, 0xC4),
    (BREVE, ""): (0xEA, 0xCA), (BREVE, GRAVE): (0xE8, 0xC8), (BREVE, ACUTE): (0xE9, 0xC9),
    (BREVE, HOOK): (0xFA, 0xDA), (BREVE, TILDE): (0xFC, 0xDC), (BREVE, DOT): (0xEB, 0xCB),
}
_VNI_SINGLE = {  # letters written as one byte: small, capital
    "đ": (0xF1, 0xD1), "ơ": (0xF4, 0xD4), "ư": (0xF6, 0xD6), "ì": (0xEC, 0xCC), "í": (0xED, 0xCD),
    "ỉ": (0xE6, 0xC6), "ĩ": (0xF3, 0xD3), "ị": (0xF2, 0xD2), "ỵ": (0xEE, 0xCE),
}
_VNI_ALSO = {0x9F: "Ỵ", 0xFF: "ỵ"}  # the VNI chart's second glyphs for Ỵ and ỵ (read, never written)
_VNI_MARK = {value: key for key, pair in _VNI_MARKS.items() for value in pair}
_VNI_DECODE = ({value: chr(value) for value in range(0x80)} | _cp1252(0x80, 0xBF)
               | {value: char for small, pair in _VNI_SINGLE.items()
                  for value, char in zip(pair, (small, small.upper()))})
_VNI_DECODE |= _VNI_ALSO  # 0x9F is Ỵ, not Windows-1252's Ÿ, so Ÿ has no byte
_VNI_ENCODE = {char: bytes([value]) for value, char in _VNI_DECODE.items() if value not in _VNI_ALSO}
_MODIFIER_BASES = {CIRCUMFLEX: "aeo", BREVE: "a", HORN: "ou"}


def _vni_letter(char: str) -> bytes | None:
    parts = _PARTS.get(char)
    if parts is None:
        return None
    base, modifier, tone = parts
    if modifier == HORN:
        base, modifier = _letter(base, HORN, ""), ""
    if not (modifier or tone):
        return _VNI_ENCODE.get(base)
    marks = _VNI_MARKS[(modifier, tone)]
    return _VNI_ENCODE[base] + bytes([marks[1] if base.isupper() else marks[0]])


def _combine(char: str, modifier: str, tone: str) -> str | None:
    """``char`` with a modifier and a tone added, or None when it cannot carry them."""
    parts = _PARTS.get(char)
    if parts is None:
        return None
    base, has_modifier, has_tone = parts
    if (tone and has_tone) or (modifier and (has_modifier or base.lower() not in _MODIFIER_BASES[modifier])):
        return None
    return _letter(base, modifier or has_modifier, tone or has_tone)


def _decode_vni(data: bytes) -> str:
    out: list[str] = []
    open_letter = False  # whether the last character is a letter still taking marks
    for at, value in enumerate(data):
        mark = _VNI_MARK.get(value)
        if mark is None:
            char = _VNI_DECODE.get(value)
            if char is None:
                raise LegacyDecodeError("vni", at, f"{_byte(value)} is neither a VNI letter nor a VNI mark")
            out.append(char)
            open_letter = char in _PARTS and not _PARTS[char][2]
            continue
        previous = out[-1] if out else ""
        combined = _combine(previous, *mark) if open_letter else None
        if combined is None:
            if not previous.isalpha():
                raise LegacyDecodeError("vni", at, f"{_byte(value)} is a mark with no letter before it: a letter "
                                                   f"was cut")
            raise LegacyDecodeError("vni", at, f"{_byte(value)} is a mark that {previous!r} cannot carry")
        out[-1] = combined
        open_letter = not _PARTS[combined][2]
    return "".join(out)


def _encode_vni(text: str) -> bytes:
    out = bytearray()
    for at, char in enumerate(text):
        written = _VNI_ENCODE.get(char) or _vni_letter(char)
        if written is None:
            raise UnicodeEncodeError("vni", text, at, at + 1, "VNI-Windows has no bytes for this character")
        out += written
    return bytes(out)


# ---- VIQR -------------------------------------------------------------------------------------------------------

_VIQR_MODIFIERS = {"(": BREVE, "^": CIRCUMFLEX, "+": HORN}
_VIQR_TONES = {"`": GRAVE, "'": ACUTE, "?": HOOK, "~": TILDE, ".": DOT}
_VIQR_MARK_OF = {v: k for k, v in (_VIQR_MODIFIERS | _VIQR_TONES).items()}
_VIQR_MARKS = "".join(_VIQR_MODIFIERS) + "".join(_VIQR_TONES)
_VIQR_ESCAPED = _VIQR_MARKS + "\\dD"


def _decode_viqr(data: bytes) -> str:
    for at, value in enumerate(data):
        if value > 0x7F:
            raise LegacyDecodeError("viqr", at, f"{_byte(value)} is not ASCII: VIQR is 7-bit")
    text = data.decode("ascii")
    out: list[str] = []
    toned = False  # whether the current word (run of letters) has a tone
    at, end = 0, len(text)
    while at < end:
        char = text[at]
        following = text[at + 1] if at + 1 < end else ""
        if char == "\\" and following and following in _VIQR_ESCAPED:
            out.append(following)
            toned = toned and following.isalpha()
            at += 2
        elif char in "dD" and following in ("d", "D"):
            out.append("Đ" if char == "D" else "đ")
            at += 2
        elif char.lower() in "aeiouy":
            at += 1
            modifier = _VIQR_MODIFIERS.get(text[at:at + 1], "")
            if modifier and char.lower() in _MODIFIER_BASES[modifier]:
                at += 1
            else:
                modifier = ""
            tone = "" if toned else _VIQR_TONES.get(text[at:at + 1], "")
            if tone:
                toned = True
                at += 1
            out.append(_letter(char, modifier, tone))
        else:
            out.append(char)
            toned = toned and char.isalpha()
            at += 1
    return "".join(out)


def _encode_viqr(text: str) -> str:
    out = []
    toned = False
    for at, char in enumerate(text):
        previous = text[at - 1] if at else ""
        following = text[at + 1] if at + 1 < len(text) else ""
        parts = _PARTS.get(char)
        if parts is not None:
            base, modifier, tone = parts
            if tone and toned:
                raise UnicodeEncodeError("viqr", text, at, at + 1, "a second tone in one word: VIQR reads one "
                                                                   "tone per word")
            toned = toned or bool(tone)
            out.append(base + _VIQR_MARK_OF.get(modifier, "") + _VIQR_MARK_OF.get(tone, ""))
            continue
        toned = toned and char.isalpha()
        if char in "đĐ":
            out.append("dd" if char == "đ" else "DD")
        elif not char.isascii():
            raise UnicodeEncodeError("viqr", text, at, at + 1, "VIQR writes only ASCII and Vietnamese letters")
        elif char == "\\":
            out.append("\\\\" if following and following in _VIQR_ESCAPED + "đĐ" else "\\")
        elif char in _VIQR_MARKS and previous in _PARTS:
            out.append("\\" + char)
        elif char in "dD" and following and following in "dDđĐ":
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


# ---- the codec --------------------------------------------------------------------------------------------------

def decode(data: bytes, encoding: str) -> str:
    """Bytes in ``tcvn3``, ``vni`` or ``viqr`` as NFC text; `LegacyDecodeError` names the first byte that cannot be
    that encoding."""
    data = bytes(data)
    if encoding == "tcvn3":
        text = _decode_tcvn3(data)
    elif encoding == "vni":
        text = _decode_vni(data)
    elif encoding == "viqr":
        text = _decode_viqr(data)
    else:
        raise LookupError(f"unknown legacy encoding {encoding!r}: one of {', '.join(ENCODINGS)}")
    return unicodedata.normalize("NFC", text)


def encode(text: str, encoding: str) -> bytes:
    """NFC of ``text`` in ``tcvn3``, ``vni`` or ``viqr``; `UnicodeEncodeError` for a character it cannot write.

    TCVN3 has no capital with a tone: such a capital is written as its small letter's byte (what typing in a
    `.VnTimeH` capital font produces), so it decodes as the small letter. VIQR cannot write two tones in one word.
    """
    text = unicodedata.normalize("NFC", text)
    if encoding == "tcvn3":
        return _encode_tcvn3(text)
    if encoding == "vni":
        return _encode_vni(text)
    if encoding == "viqr":
        return _encode_viqr(text).encode("ascii")
    raise LookupError(f"unknown legacy encoding {encoding!r}: one of {', '.join(ENCODINGS)}")


# ---- how Vietnamese a text reads --------------------------------------------------------------------------------

_ONSETS = "ngh ng nh ch gh gi kh ph qu th tr b c d đ g h k l m n p r s t v x".split()
_RHYMES = """
    a ai ao au ay ac ach am an ang anh ap at ăc ăm ăn ăng ăp ăt âu ây âc âm ân âng âp ât
    e eo ec em en eng ep et ê êu êch êm ên ênh êp êt i ia iu ich im in inh ip it
    iêu iêc iêm iên iêng iêp iêt yêu yêm yên yêt
    o oi oc om on ong op ot ooc oong ô ôi ôc ôm ôn ông ôp ôt ơ ơi ơm ơn ơp ơt
    u ua ui uơ uc um un ung up ut uôi uôc uôm uôn uông uôt
    ư ưa ưi ưu ưc ưm ưn ưng ưt ươi ươu ươc ươm ươn ương ươp ươt
    oa oai oao oay oac oach oam oan oang oanh oap oat oăc oăm oăn oăng oăt oe oeo oem oen oet
    uê uêch uênh uân uâng uât uây uy uya uyu uych uyn uynh uyp uyt uyên uyêt y
""".split()
_GI_RHYMES = "êc êm ên êng êp êt êu".split()  # giếng, giết: gi + iê… written with one i
_SYLLABLE = re.compile(f"(?:{'|'.join(_ONSETS)})?(?:{'|'.join(sorted(_RHYMES, key=len, reverse=True))})"
                       f"|gi(?:{'|'.join(_GI_RHYMES)})")
_CHECKED = ("c", "ch", "p", "t")  # a syllable ending in these takes sắc or nặng
_SPLIT = set("\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00ab\u00bb\u2022")


def _words(text: str) -> list[str]:
    """Runs of characters other than whitespace, ASCII non-letters, and typographic quotes, dashes, ellipsis."""
    words, current = [], []
    for char in text:
        if char.isspace() or (char.isascii() and not char.isalpha()) or char in _SPLIT:
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(char)
    if current:
        words.append("".join(current))
    return words


def is_syllable(word: str) -> bool:
    """Whether one lowercase NFC word is a Vietnamese syllable: onset, rhyme (optional glide, nucleus, optional
    coda), at most one tone, on a vowel; a syllable ending in c, ch, p or t takes sắc or nặng."""
    tones, base = [], ""
    kept = []
    for char in unicodedata.normalize("NFD", word):
        if char in TONES:
            if not base or base not in "aeiouy":
                return False
            tones.append(char)
        else:
            if not unicodedata.combining(char):
                base = char
            kept.append(char)
    if len(tones) > 1:
        return False
    toneless = unicodedata.normalize("NFC", "".join(kept))
    if not _SYLLABLE.fullmatch(toneless):
        return False
    return not toneless.endswith(_CHECKED) or tones in ([ACUTE], [DOT])


def _syllable(word: str) -> bool:
    return all(char.isalpha() for char in word) and is_syllable(word)


def syllable_share(text: str) -> float:
    """The share of words that are Vietnamese syllables (`is_syllable`), after NFC and lowercasing; 0.0 for none.

    Words are runs of characters between whitespace, ASCII digits and punctuation, and typographic quotes,
    dashes and ellipsis. A word holding a non-ASCII character always counts (a symbol inside it, as in
    mojibake ``H÷u``, makes it no syllable); a plain ASCII word counts only when it is a valid toneless syllable,
    so English words and codes neither lower the share nor, being absent, raise it.
    """
    valid = counted = 0
    for word in _words(unicodedata.normalize("NFC", text).lower()):
        ok = _syllable(word)
        if ok or not word.isascii():
            counted += 1
            valid += ok
    return valid / counted if counted else 0.0


# ---- which encoding ---------------------------------------------------------------------------------------------

def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _non_ascii_words(text: str) -> list[str]:
    return [word for word in _words(unicodedata.normalize("NFC", text).lower()) if not word.isascii()]


def _legacy(data: bytes) -> list[tuple[str, float, int]]:
    """(encoding, share, syllables) for each of Windows-1258, TCVN3 and VNI that decodes ``data``: the
    `syllable_share` of the words holding non-ASCII characters (the only words the readings differ in; of the
    whole text when there are none), and how many of them are syllables."""
    found = []
    for name in ("windows-1258", "tcvn3", "vni"):
        try:
            text = (unicodedata.normalize("NFC", data.decode("cp1258")) if name == "windows-1258"
                    else decode(data, name))
        except (UnicodeDecodeError, LegacyDecodeError):
            continue
        words = _non_ascii_words(text)
        share = syllable_share(" ".join(words)) if words else syllable_share(text)
        found.append((name, share, sum(map(_syllable, words))))
    return found


def _guess_ascii(data: bytes) -> list[tuple[str, float]]:
    """VIQR when its marks make Vietnamese syllables, surely so only with a modifier, đ, huyền or ngã: words
    toned only with ``'``, ``?`` or ``.``, however many, are left to ASCII, since punctuation writes them too
    (English ``I'm``, ``Co.`` and ``No.`` in a register read as ``Cọ`` and ``Nọ``)."""
    words = _non_ascii_words(decode(data, "viqr"))
    valid = [word for word in words if _syllable(word)]
    if not valid:
        return [("ascii", 1.0)]
    sure = any(set(unicodedata.normalize("NFD", word)) & {CIRCUMFLEX, BREVE, HORN, GRAVE, TILDE, "đ"}
               for word in valid)
    confidence = round(len(valid) / len(words) * (1.0 if sure else 0.4), 3)
    ranked = [("viqr", confidence), ("ascii", round(1 - confidence, 3))]
    return ranked if confidence > 0.5 else ranked[::-1]


def guess(data: bytes) -> list[tuple[str, float]]:
    """The encodings ``data`` may be in, best first, each with a confidence in [0, 1] (a deterministic heuristic).

    A UTF-8 byte-order mark: ``utf-8-sig`` (1.0). Strict UTF-8 with non-ASCII characters: ``utf-8`` (0.99), the
    legacy readings after it at half their share. Pure ASCII: ``viqr`` when its marks make Vietnamese syllables,
    else ``ascii``. Otherwise Windows-1258 (then NFC), TCVN3 and VNI, each that decodes, ranked by the
    `syllable_share` of the words holding non-ASCII characters (ties: more syllables, then that order).
    """
    data = bytes(data)
    if data.startswith(codecs.BOM_UTF8) and _utf8(data[len(codecs.BOM_UTF8):]) is not None:
        return [("utf-8-sig", 1.0)]
    if data.isascii():
        return _guess_ascii(data)
    utf8 = _utf8(data) is not None
    legacy = sorted(_legacy(data), key=lambda found: (-found[1], -found[2], GUESSES.index(found[0])))
    ranked = [(name, round(share / 2 if utf8 else share, 3)) for name, share, _ in legacy]
    return [("utf-8", 0.99)] + ranked if utf8 else ranked
