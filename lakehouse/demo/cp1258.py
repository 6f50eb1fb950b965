"""Windows-1258, as the enterprise registry writes it: base letters plus combining tone marks (Python's
cp1258 codec alone would fail on precomposed letters).
"""

from __future__ import annotations

import unicodedata


_TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")  # huyền, sắc, ngã, hỏi, nặng


def encode_cp1258(text: str) -> bytes:
    """Vietnamese text in Windows-1258, the way Vietnamese Windows software writes it.

    Windows-1258 has the base letters (ă â ê ô ơ ư đ, and some toned Latin-1 letters such as
    à á é) and the five tone marks as combining characters, but not most precomposed toned
    letters (ầ, ố, ự…).  Plain NFD is not enough either: it also splits ă/â/ơ/ư into a letter
    plus a breve/circumflex/horn, which the code page lacks.  So each character that the codec
    cannot take as is becomes its base letter (recomposed without the tone) plus its tone mark.
    ``data.decode("cp1258")`` followed by NFC gives the original text back.
    """
    out = []
    for ch in unicodedata.normalize("NFC", text):
        try:
            out.append(ch.encode("cp1258"))
            continue
        except UnicodeEncodeError:
            pass
        parts = unicodedata.normalize("NFD", ch)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in _TONE_MARKS))
        tones = "".join(c for c in parts if c in _TONE_MARKS)
        out.append((base + tones).encode("cp1258"))  # raises for a character outside Vietnamese
    return b"".join(out)


def decode_cp1258(data: bytes) -> str:
    """Inverse of :func:`encode_cp1258`: Windows-1258 bytes → NFC text."""
    return unicodedata.normalize("NFC", data.decode("cp1258"))
