"""Shared pieces of the demo generators: seeds, dates, provinces and communes, Vietnamese names and
addresses, CSV text.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from random import Random


UTC = dt.timezone.utc
ICT = dt.timezone(dt.timedelta(hours=7))  # Vietnam's time zone, UTC+7


def seed_from(*parts: object) -> int:
    """A 64-bit seed from any parts (name, date, seed…); stable across runs and Python versions."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def as_date(date: str | dt.date) -> dt.date:
    if isinstance(date, dt.datetime):
        return date.date()
    if isinstance(date, dt.date):
        return date
    return dt.date.fromisoformat(date)


def dates_between(start: dt.date, end: dt.date):
    d = start
    while d <= end:
        yield d
        d += dt.timedelta(days=1)


def scaled(n: float, scale: float, minimum: int = 0) -> int:
    return max(minimum, int(round(n * scale)))


@dataclass(frozen=True)
class _Province:
    code: int
    name: str


@dataclass(frozen=True)
class _Commune:
    code: int
    name: str
    province_code: int


@lru_cache(maxsize=1)
def provinces() -> tuple[_Province, ...]:
    """The 34 province-level units, by code."""
    from vietnam_provinces import Province

    return tuple(sorted((_Province(int(p.code), p.name) for p in Province.iter_all()), key=lambda p: p.code))


@lru_cache(maxsize=1)
def communes_by_province() -> dict[int, tuple[_Commune, ...]]:
    """Every commune-level unit, grouped by province code, by code."""
    from vietnam_provinces import Ward

    out: dict[int, list[_Commune]] = {}
    for w in Ward.iter_all():
        out.setdefault(int(w.province_code), []).append(_Commune(int(w.code), w.name, int(w.province_code)))
    return {k: tuple(sorted(v, key=lambda c: c.code)) for k, v in sorted(out.items())}


# busier provinces get more enterprises, citizens and dossiers
PROVINCE_WEIGHT = {1: 6, 79: 6, 31: 3, 48: 3, 92: 3, 24: 3, 75: 3, 22: 2, 38: 2, 40: 2}


def pick_province(rng: Random) -> _Province:
    ps = provinces()
    return rng.choices(ps, weights=[PROVINCE_WEIGHT.get(p.code, 1) for p in ps])[0]


def vi_number(value: int) -> str:
    """Vietnamese number format: '.' groups thousands (1.500.000.000)."""
    return f"{value:,}".replace(",", ".")


def ddmmyyyy(d: dt.date) -> str:
    return d.strftime("%d/%m/%Y")


def ascii_fold(text: str) -> str:
    """Vietnamese without diacritics (for PDF text in a standard font): 'Đơn đề nghị' → 'Don de nghi'."""
    text = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(c for c in text if not unicodedata.combining(c))


_FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
           "Hồ", "Ngô", "Dương", "Lý"]
_FAMILY_WEIGHT = [38, 11, 9, 7, 5, 4, 4, 4, 3, 2, 2, 2, 2, 2, 2, 1]
_MIDDLE = {"Nam": ["Văn", "Hữu", "Đức", "Minh", "Quốc", "Thanh", "Xuân", "Công", "Đình"],
           "Nữ": ["Thị", "Thị", "Thị", "Ngọc", "Thu", "Hồng", "Thanh", "Minh", "Bảo"]}
_GIVEN = {"Nam": ["An", "Bình", "Cường", "Dũng", "Hải", "Hùng", "Khánh", "Long", "Nam", "Phúc", "Quân",
                  "Sơn", "Thắng", "Tuấn", "Việt", "Đạt", "Hiếu", "Lộc", "Trọng", "Vĩnh"],
          "Nữ": ["Anh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hương", "Lan", "Linh", "Mai", "Ngọc",
                 "Phương", "Thảo", "Trang", "Yến", "Nhung", "Huyền", "Loan", "Thủy", "Vy"]}
_STREETS = ["Lê Lợi", "Trần Hưng Đạo", "Nguyễn Trãi", "Hai Bà Trưng", "Quang Trung", "Điện Biên Phủ",
            "Lý Thường Kiệt", "Phạm Văn Đồng", "Võ Nguyên Giáp", "Nguyễn Huệ", "Hùng Vương", "Lê Duẩn",
            "Nguyễn Văn Cừ", "Trường Chinh", "Bà Triệu", "Ngô Quyền"]


def person_name(rng: Random, sex: str) -> str:
    family = rng.choices(_FAMILY, weights=_FAMILY_WEIGHT)[0]
    return f"{family} {rng.choice(_MIDDLE[sex])} {rng.choice(_GIVEN[sex])}"


def street_address(rng: Random, province: _Province) -> tuple[str, _Commune]:
    commune = rng.choice(communes_by_province()[province.code])
    house = f"{rng.randint(1, 420)}" + (f"/{rng.randint(2, 60)}" if rng.random() < 0.25 else "")
    return f"Số {house} đường {rng.choice(_STREETS)}, {commune.name}, {province.name}", commune


def csv_text(header: list[str], rows: list[list[str]], delimiter: str, newline: str) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=newline, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()
