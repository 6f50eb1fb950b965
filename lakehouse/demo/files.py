"""Minimal file encoders for the demo's documents (PDF, PNG, baseline JPEG, TIFF) and the media-type
sniffing the lake uses to check them.
"""

from __future__ import annotations

import struct
import zlib
from typing import Callable

from lakehouse.demo.common import ascii_fold


def pdf_bytes(lines: list[str]) -> bytes:
    """A one-page PDF 1.4 with the given lines in Helvetica; the xref table has exact byte offsets."""
    text = []
    for i, ln in enumerate(lines):
        safe = ascii_fold(ln).replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        text.append(f"BT /F1 {16 if i == 0 else 11} Tf 72 {770 - 24 * i} Td ({safe}) Tj ET")
    stream = "\n".join(text).encode("ascii")
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
               b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def png_bytes(width: int, height: int, pixel: Callable[[int, int], tuple[int, int, int]]) -> bytes:
    """An 8-bit RGB PNG (filter 0 on every row), with correct CRCs."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + bytes(v for x in range(width) for v in pixel(x, y)) for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


# Huffman table for DC differences of the JPEG standard (Annex K.3, luminance)
_JPEG_DC_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
_JPEG_DC_VALS = list(range(12))


def jpeg_gray(blocks: list[list[int]]) -> bytes:
    """A baseline JFIF JPEG, 8-bit greyscale, made of flat 8×8 blocks (``blocks[row][col]`` = grey level).

    Only DC coefficients are coded (quantiser 1, the standard DC Huffman table); each block's
    AC part is an end-of-block, coded by a one-symbol AC table.
    """
    rows, cols = len(blocks), len(blocks[0])
    codes, code, k = {}, 0, 0
    for length, count in enumerate(_JPEG_DC_BITS, 1):  # canonical Huffman codes
        for _ in range(count):
            codes[_JPEG_DC_VALS[k]] = (code, length)
            code, k = code + 1, k + 1
        code <<= 1
    bits: list[int] = []

    def put(value: int, length: int) -> None:
        bits.extend((value >> (length - 1 - i)) & 1 for i in range(length))

    prev = 0
    for r in range(rows):
        for c in range(cols):
            dc = 8 * (blocks[r][c] - 128)
            diff, prev = dc - prev, dc
            size = abs(diff).bit_length()
            put(*codes[size])
            if size:
                put(diff if diff > 0 else diff + (1 << size) - 1, size)
            put(0, 1)  # AC: end of block
    bits.extend([1] * (-len(bits) % 8))
    scan = bytearray()
    for i in range(0, len(bits), 8):
        byte = int("".join(map(str, bits[i:i + 8])), 2)
        scan.append(byte)
        if byte == 0xFF:
            scan.append(0x00)  # byte stuffing

    def segment(marker: int, body: bytes) -> bytes:
        return struct.pack(">HH", marker, len(body) + 2) + body
    return (b"\xff\xd8"
            + segment(0xFFE0, b"JFIF\x00\x01\x01\x01\x00\x48\x00\x48\x00\x00")
            + segment(0xFFDB, b"\x00" + b"\x01" * 64)
            + segment(0xFFC0, struct.pack(">BHHB", 8, rows * 8, cols * 8, 1) + b"\x01\x11\x00")
            + segment(0xFFC4, b"\x00" + bytes(_JPEG_DC_BITS) + bytes(_JPEG_DC_VALS))
            + segment(0xFFC4, b"\x10" + bytes([1] + [0] * 15) + b"\x00")
            + segment(0xFFDA, b"\x01\x01\x00\x00\x3f\x00")
            + bytes(scan) + b"\xff\xd9")


def tiff_gray(width: int, height: int, pixels: bytes) -> bytes:
    """A baseline little-endian TIFF: one uncompressed strip of 8-bit greyscale (BlackIsZero), 200 dpi."""
    assert len(pixels) == width * height
    short, long_, rational = 3, 4, 5
    entries = [(256, short, width), (257, short, height), (258, short, 8), (259, short, 1), (262, short, 1),
               (273, long_, None), (277, short, 1), (278, short, height), (279, long_, len(pixels)),
               (282, rational, None), (283, rational, None), (296, short, 2)]
    ifd_size = 2 + 12 * len(entries) + 4
    xres = 8 + ifd_size
    data_at = xres + 16
    values = {273: data_at, 282: xres, 283: xres + 8}
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        value = values.get(tag, value)
        if kind == short:
            ifd += struct.pack("<HHIHH", tag, kind, 1, value, 0)
        else:
            ifd += struct.pack("<HHII", tag, kind, 1, value)
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<IIII", 200, 1, 200, 1) + pixels


MEDIA_MAGIC = [(b"%PDF-", "application/pdf"), (b"\x89PNG\r\n\x1a\n", "image/png"),
               (b"\xff\xd8\xff", "image/jpeg"), (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff")]


def sniff_media_type(data: bytes) -> str:
    """The media type of a file by its magic bytes (application/octet-stream when unknown)."""
    return next((kind for magic, kind in MEDIA_MAGIC if data.startswith(magic)), "application/octet-stream")
