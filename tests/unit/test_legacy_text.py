"""The legacy Vietnamese encodings (TCVN3, VNI-Windows, VIQR): every letter both ways, the published bytes,
the guess of which encoding a file is in, and the errors that name a byte."""

import random
import unicodedata

import pytest

from lakehouse.core import legacy_text as lt
from lakehouse.demo.cp1258 import encode_cp1258

TONES = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")
VOWELS = ("a", "a\u0306", "a\u0302", "e", "e\u0302", "i", "o", "o\u0302", "o\u031b", "u", "u\u031b", "y")
SMALL = [c for c in (unicodedata.normalize("NFC", v + t) for v in VOWELS for t in TONES) if not c.isascii()] + ["đ"]
LETTERS = SMALL + [c.upper() for c in SMALL]
NAME = "Bùi Hữu Lực"
ADDRESS = "Nguyễn Thị Thu Hà, phường Hoàn Kiếm, Hà Nội"


def _as_tcvn3_reads(text: str) -> str:
    """TCVN3 has no toned capitals: they come back as small letters."""
    return "".join(c.lower() if c.isupper() and set(unicodedata.normalize("NFD", c)) & set(TONES[1:]) else c
                   for c in text)


def test_the_letters_are_the_134_of_vietnamese():
    assert all(len(c) == 1 for c in LETTERS)
    assert len(SMALL) == 67 and len(set(LETTERS)) == 134


@pytest.mark.parametrize("encoding", ["vni", "viqr"])
def test_every_letter_round_trips(encoding):
    for letter in LETTERS:
        assert lt.decode(lt.encode(letter, encoding), encoding) == letter, letter


def test_tcvn3_writes_a_toned_capital_as_its_small_letter():
    untoned_capitals = set("ĂÂÊÔƠƯĐ")
    for letter in LETTERS:
        back = lt.decode(lt.encode(letter, "tcvn3"), "tcvn3")
        assert len(lt.encode(letter, "tcvn3")) == 1
        assert back == (letter if letter.islower() or letter in untoned_capitals else letter.lower()), letter
        assert back == _as_tcvn3_reads(letter)
    assert lt.encode("Á", "tcvn3") == lt.encode("á", "tcvn3") == b"\xb8"
    assert lt.decode(lt.encode("NGUYỄN", "tcvn3"), "tcvn3") == "NGUYễN"


# Bytes from Unikey's converter tables (ibus-unikey, ukengine/data.cpp), checked against glibc iconv's TCVN5712-1
# (TCVN3) and the VNI company's chart (VNI), and RFC 1456 (VIQR).
PUBLISHED = {
    "tcvn3": {b"\xb8": "á", b"\xa1": "Ă", b"\xa8": "ă", b"\xa7": "Đ", b"\xae": "đ", b"\xad": "ư", b"\xac": "ơ",
              b"\xa6": "Ư", b"\xf9": "ự", b"\xe7": "ỗ", b"\xfe": "ỵ", b"\xca": "ấ", b"\xd5": "ế", b"\xc6": "ặ"},
    "vni": {b"a\xf9": "á", b"A\xd9": "Á", b"a\xe1": "ấ", b"A\xc1": "Ấ", b"\xf1": "đ", b"\xd1": "Đ",
            b"\xf6\xef": "ự", b"\xd4\xd8": "Ờ", b"\xee": "ỵ", b"\xed": "í", b"\xcd": "Í", b"a\xea": "ă",
            b"e\xe4": "ệ", b"A\xdc": "Ẵ", b"o\xfb": "ỏ"},
    "viqr": {b"a(": "ă", b"A^'": "Ấ", b"dd": "đ", b"DD": "Đ", b"Dd": "Đ", b"u+.": "ự", b"o+~": "ỡ",
             b"e^`": "ề", b"y?": "ỷ", b"I~": "Ĩ", b"O^.": "Ộ", b"a`": "à", b"U+": "Ư"},
}


@pytest.mark.parametrize("encoding", lt.ENCODINGS)
def test_the_published_bytes_decode_to_their_letters(encoding):
    for data, letter in PUBLISHED[encoding].items():
        assert lt.decode(data, encoding) == letter, data
        if encoding != "viqr" or data != b"Dd":
            assert lt.encode(letter, encoding) == data, letter


def test_vni_reads_what_its_table_writes_in_one_byte_from_a_mark_too():
    assert lt.decode(b"i\xf9", "vni") == "í" and lt.decode(b"y\xef", "vni") == "ỵ"
    assert lt.decode(b"A\xf9", "vni") == "Á"  # a small letter's mark on a capital
    assert lt.decode(b"a\xe2\xf9", "vni") == "ấ"  # circumflex, then the tone
    assert lt.decode(b"\xff\x9f", "vni") == "ỵỴ"  # the VNI chart's second glyphs
    assert lt.encode("ỵỴ", "vni") == b"\xee\xce"  # … which are never written
    with pytest.raises(UnicodeEncodeError):
        lt.encode("Ÿ", "vni")  # Windows-1252's 0x9F would read back as Ỵ


@pytest.mark.parametrize("encoding", lt.ENCODINGS)
@pytest.mark.parametrize("text", [NAME, ADDRESS, "ĐẶNG QUỐC VIỆT, Xã Đắk Pơ, tỉnh Gia Lai"])
def test_sentences_round_trip(encoding, text):
    expected = _as_tcvn3_reads(text) if encoding == "tcvn3" else text
    assert lt.decode(lt.encode(text, encoding), encoding) == expected


def test_decode_gives_nfc_and_encode_takes_nfd():
    nfd = unicodedata.normalize("NFD", ADDRESS)
    for encoding in lt.ENCODINGS:
        assert lt.encode(nfd, encoding) == lt.encode(ADDRESS, encoding)
        assert unicodedata.is_normalized("NFC", lt.decode(lt.encode(nfd, encoding), encoding))


def test_random_text_round_trips():
    """Words of one tone each, between the ASCII punctuation VIQR uses as marks, backslashes and d's."""
    between = [" ", ".", "?", "'", "`", "~", "(", "^", "+", "\\", ",", "-"]
    chance = random.Random(1456)
    for _ in range(500):
        text = ""
        for _ in range(chance.randint(1, 6)):
            text += "".join(chance.choice("bcdghklmnqrstvxAEIOUYaeiouyĐđ") for _ in range(chance.randint(0, 3)))
            text += chance.choice(LETTERS) + chance.choice(["", "n", "ng", "c", "d", "D"]) + chance.choice(between)
            text += "".join(chance.choice(between + ["d", "D", "dd", "đ"]) for _ in range(chance.randint(0, 2)))
        for encoding in lt.ENCODINGS:
            expected = _as_tcvn3_reads(text) if encoding == "tcvn3" else text
            assert lt.decode(lt.encode(text, encoding), encoding) == expected, (encoding, text)


def test_punctuation_of_word_documents_round_trips():
    text = "\u201cHà Nội\u201d \u2013 \u2018số 1\u2019\u2026"
    for encoding in ("tcvn3", "vni"):
        assert lt.decode(lt.encode(text, encoding), encoding) == text
    assert lt.encode(text, "tcvn3") == b"\x93H\xb5 N\xe9i\x94 \x96 \x91s\xe8 1\x92\x85"


def test_viqr_reads_marks_only_where_they_combine():
    assert lt.decode(b"O^ng te^n gi`? To^i te^n la` Tra^`n Va(n Hie^'u.", "viqr") == \
        "Ông tên gì? Tôi tên là Trần Văn Hiếu."
    assert lt.decode(b"Nguye^~n (Ha` No^.i) +84 C:\\temp", "viqr") == "Nguyễn (Hà Nội) +84 C:\\temp"
    assert lt.decode(b"Ho\\. ten", "viqr") == "Ho. ten"
    assert lt.decode(b"ad\\dress", "viqr") == "address"
    assert lt.encode("Ông tên gì? Hoa.", "viqr") == b"O^ng te^n gi`\\? Hoa\\."
    with pytest.raises(UnicodeEncodeError, match="second tone"):
        lt.encode("áà", "viqr")


def test_the_mojibake_of_tcvn3_read_as_windows_1258_is_guessed_as_tcvn3():
    data = lt.encode(NAME, "tcvn3")
    assert data.decode("cp1258") == data.decode("latin-1") == "Bïi H÷u Lùc"
    assert lt.guess(data)[0][0] == "tcvn3"


def _best(data: bytes) -> str:
    ranked = lt.guess(data)
    assert all(0.0 <= confidence <= 1.0 for _, confidence in ranked)
    assert [c for _, c in ranked] == sorted((c for _, c in ranked), reverse=True)
    return ranked[0][0]


@pytest.mark.parametrize("text", [NAME, ADDRESS, "Lực", "Phạm Văn Đồng", "Trần Thị Ánh",
                                  "Cong ty TNHH Phu Thanh, so 12 duong Le Loi, quận 1"])
def test_guess_names_the_legacy_encoding(text):
    for encoding in ("tcvn3", "vni"):
        assert _best(lt.encode(text, encoding)) == encoding, (encoding, text)
    assert _best(encode_cp1258(unicodedata.normalize("NFD", text))) == "windows-1258", text


def test_guess_unicode_ascii_and_viqr():
    assert lt.guess(b"\xef\xbb\xbf" + ADDRESS.encode()) == [("utf-8-sig", 1.0)]
    assert lt.guess(ADDRESS.encode())[0] == ("utf-8", 0.99)
    assert _best(unicodedata.normalize("NFD", NAME).encode()) == "utf-8"
    assert _best(lt.encode(ADDRESS, "viqr")) == "viqr"
    assert _best(b"Nguye^~n") == "viqr" and _best(b"DDu+'c") == "viqr" and _best(b"Ha`") == "viqr"
    assert lt.guess(b"Invoice 2024-01, total: 15.000") == [("ascii", 1.0)]
    assert _best(b"I'm done.") == "ascii"
    # punctuation after a vowel writes VIQR's sắc, hỏi and nặng too: without a surer mark it stays ASCII
    assert _best(b"id,name\n1,Co. ABC\n2,Co. XYZ\n3,No. 5 Le Loi\n") == "ascii"
    assert _best(b"id,name\n1,Co^ng ty ABC\n2,Co. XYZ\n") == "viqr"


def test_syllable_share():
    assert lt.syllable_share(ADDRESS) == 1.0
    assert lt.syllable_share("Bïi H÷u Lùc") == 0.0  # ï, a symbol inside a word, huyền on a -c syllable
    assert lt.syllable_share("Bùi Hữu Lực, ABC Corp") == 1.0
    assert lt.syllable_share("Report for TNHH, code XJ-42") == 0.0  # no word counts
    assert lt.syllable_share("các cạc càc cảc cac") == 0.5  # c, ch, p, t end only sắc and nặng syllables
    assert lt.syllable_share("giếng quốc khuya nghiêng") == 1.0
    assert not lt.is_syllable("hoàà") and not lt.is_syllable("ń") and not lt.is_syllable("fa")


def test_a_vni_mark_with_no_letter_names_its_byte():
    with pytest.raises(lt.LegacyDecodeError, match="byte 0: 0xF9 .*a letter was cut") as caught:
        lt.decode(b"\xf9ng", "vni")
    assert caught.value.offset == 0 and caught.value.encoding == "vni" and isinstance(caught.value, ValueError)
    with pytest.raises(lt.LegacyDecodeError, match="byte 4: .*letter was cut"):
        lt.decode(b"Nam \xd9", "vni")
    with pytest.raises(lt.LegacyDecodeError, match="byte 1: 0xF9 is a mark that 'n' cannot carry"):
        lt.decode(b"n\xf9", "vni")
    with pytest.raises(lt.LegacyDecodeError, match="byte 2: 0xF8"):
        lt.decode(b"a\xf9\xf8", "vni")


def test_bytes_outside_the_tables_are_refused():
    with pytest.raises(lt.LegacyDecodeError, match="byte 1: 0xC0 is not in TCVN3 .*VN1"):
        lt.decode(b"A\xc0", "tcvn3")
    with pytest.raises(lt.LegacyDecodeError, match="byte 0: 0x81 is not in TCVN3$"):
        lt.decode(b"\x81", "tcvn3")
    with pytest.raises(lt.LegacyDecodeError, match="0xDF is neither"):
        lt.decode(b"\xdf", "vni")
    with pytest.raises(lt.LegacyDecodeError, match="byte 2: 0xE0 is not ASCII"):
        lt.decode(b"Ha\xe0", "viqr")
    with pytest.raises(UnicodeEncodeError):
        lt.encode("©", "tcvn3")
    with pytest.raises(LookupError):
        lt.decode(b"", "viscii")
