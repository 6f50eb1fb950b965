"""Deterministic demo data for four demo domains, as the bytes each source system would deliver.

Every generator is pure Python with its own local RNG (``random.Random(seed_from(...))``),
never the global one and never the wall clock: the same arguments give the same bytes.
``scale`` multiplies volumes (1.0 is small enough for a laptop run).

=====================  =========================  =========================================
dataset                generator                  what the source delivers
=====================  =========================  =========================================
enterprises            :func:`enterprises_csv`     registry export, Windows-1258, ``;``, vi numbers
citizens               :func:`citizens_csv`        register with personal data, UTF-8 with BOM
sensors                :func:`sensors_parquet`     air-quality sensor master list, Parquet
air_quality_readings   :func:`readings_files`      IoT JSON Lines drops every 15 minutes, with faults
procedures             :func:`procedure_rows`      catalogue of administrative procedures (PostgreSQL)
dossiers               :func:`dossier_rows`        dossier table at the end of a day (PostgreSQL)
dossier_documents      :func:`dossier_documents`   PDF/PNG/JPEG/TIFF attachments of a day's dossiers
province_reports       :func:`province_report_xlsx`  monthly Excel report form, header on row 4
=====================  =========================  =========================================

:func:`demo_sources` gives all of them for one date, by dataset name.

Codes are real: the 34 provinces and 3,321 communes of the ``vietnam-provinces``
package (after the reform of 2025-07-01).  Text is Vietnamese with diacritics, in NFC.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import hashlib
import io
import json
import math
import re
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from random import Random
from typing import Callable

UTC = dt.timezone.utc
ICT = dt.timezone(dt.timedelta(hours=7))  # Vietnam's time zone, UTC+7


# ---- helpers ----------------------------------------------------------------------

def seed_from(*parts: object) -> int:
    """A 64-bit seed from any parts (name, date, seed…); stable across runs and Python versions."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _day(date: str | dt.date) -> dt.date:
    if isinstance(date, dt.datetime):
        return date.date()
    if isinstance(date, dt.date):
        return date
    return dt.date.fromisoformat(date)


def _days(start: dt.date, end: dt.date):
    d = start
    while d <= end:
        yield d
        d += dt.timedelta(days=1)


def _scaled(n: float, scale: float, minimum: int = 0) -> int:
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
_PROVINCE_WEIGHT = {1: 6, 79: 6, 31: 3, 48: 3, 92: 3, 24: 3, 75: 3, 22: 2, 38: 2, 40: 2}


def _pick_province(rng: Random) -> _Province:
    ps = provinces()
    return rng.choices(ps, weights=[_PROVINCE_WEIGHT.get(p.code, 1) for p in ps])[0]


def _vi_number(value: int) -> str:
    """Vietnamese number format: '.' groups thousands (1.500.000.000)."""
    return f"{value:,}".replace(",", ".")


def _ddmmyyyy(d: dt.date) -> str:
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


def _person_name(rng: Random, sex: str) -> str:
    family = rng.choices(_FAMILY, weights=_FAMILY_WEIGHT)[0]
    return f"{family} {rng.choice(_MIDDLE[sex])} {rng.choice(_GIVEN[sex])}"


def _address(rng: Random, province: _Province) -> tuple[str, _Commune]:
    commune = rng.choice(communes_by_province()[province.code])
    house = f"{rng.randint(1, 420)}" + (f"/{rng.randint(2, 60)}" if rng.random() < 0.25 else "")
    return f"Số {house} đường {rng.choice(_STREETS)}, {commune.name}, {province.name}", commune


def _csv_text(header: list[str], rows: list[list[str]], delimiter: str, newline: str) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=newline, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


# ---- Windows-1258 ----------------------------------------------------------------

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


# ---- 1. enterprises --------------------------------------------------------------

ENTERPRISE_EPOCH = dt.date(2026, 10, 1)
"""The registry's base population is as of the day before; each later day adds its changes."""

ENTERPRISE_FIELDS = ["tax_code", "enterprise_name", "enterprise_type", "province_code", "address",
                     "charter_capital", "registered_on", "status", "updated_on"]
ACTIVE, SUSPENDED, DISSOLVED = "Đang hoạt động", "Tạm ngừng kinh doanh", "Giải thể"

_ENTERPRISE_TYPES = [("Công ty TNHH một thành viên", "Công ty TNHH", 30),
                     ("Công ty TNHH hai thành viên trở lên", "Công ty TNHH", 20),
                     ("Công ty cổ phần", "Công ty Cổ phần", 35),
                     ("Doanh nghiệp tư nhân", "Doanh nghiệp tư nhân", 12),
                     ("Công ty hợp danh", "Công ty Hợp danh", 3)]
_INDUSTRIES = ["Xây dựng", "Thương mại", "Dịch vụ", "Công nghệ", "Vận tải", "Nông sản", "Thủy sản",
               "Du lịch", "Dược phẩm", "Cơ khí", "Thực phẩm", "Đầu tư", "Môi trường", "Giáo dục"]
_BRANDS = ["Hưng Thịnh", "Phú Quý", "An Khang", "Đại Việt", "Sông Hồng", "Trường Sơn", "Minh Phát",
           "Thành Đạt", "Hòa Bình", "Ánh Dương", "Bình Minh", "Cửu Long", "Tân Á", "Phương Nam",
           "Hải Âu", "Lộc Phát", "Đông Đô", "Kim Ngân", "Thiên Ý", "Việt Tiến"]


def _new_enterprise(rng: Random, taken: set[str], registered_on: dt.date) -> dict:
    kind, prefix, _ = rng.choices(_ENTERPRISE_TYPES, weights=[t[2] for t in _ENTERPRISE_TYPES])[0]
    province = _pick_province(rng)
    while True:
        tax_code = f"{province.code:02d}{rng.randint(0, 99_999_999):08d}"
        if tax_code not in taken:
            taken.add(tax_code)
            break
    address, _ = _address(rng, province)
    return {"tax_code": tax_code,
            "enterprise_name": f"{prefix} {rng.choice(_INDUSTRIES)} {rng.choice(_BRANDS)}",
            "enterprise_type": kind, "province_code": province.code, "address": address,
            "charter_capital": rng.choice([1, 2, 3, 5, 10, 15, 20, 50, 100, 200, 500]) * 100_000_000,
            "registered_on": registered_on, "status": ACTIVE, "updated_on": registered_on}


def _enterprise_registry(day: dt.date, seed: int, scale: float) -> dict[str, dict]:
    """The registry as of the end of ``day``: base population, then each day's changes since the epoch."""
    rng = Random(seed_from("enterprises", "base", seed))
    taken: set[str] = set()
    registry: dict[str, dict] = {}
    span = (ENTERPRISE_EPOCH - dt.date(1995, 1, 1)).days
    for _ in range(_scaled(200, scale, 1)):
        e = _new_enterprise(rng, taken, dt.date(1995, 1, 1) + dt.timedelta(days=rng.randrange(span)))
        last = (ENTERPRISE_EPOCH - e["registered_on"]).days
        e["updated_on"] = e["registered_on"] + dt.timedelta(days=rng.randrange(last))
        if rng.random() < 0.06:
            e["status"] = SUSPENDED
        registry[e["tax_code"]] = e
    if day < ENTERPRISE_EPOCH:
        return {k: v for k, v in registry.items() if v["registered_on"] <= day}
    for d in _days(ENTERPRISE_EPOCH, day):
        rng = Random(seed_from("enterprises", d.isoformat(), seed))
        n_change = _scaled(rng.randint(3, 5), scale, 1)
        n_dissolve = _scaled(1, scale) if rng.random() < 0.25 else 0
        n_new = _scaled(rng.randint(0, 2), scale)
        alive = sorted(k for k, e in registry.items() if e["status"] != DISSOLVED and e["updated_on"] < d)
        picks = rng.sample(alive, min(len(alive), n_change + n_dissolve))
        for i, tax_code in enumerate(picks):
            e = registry[tax_code]
            if i < n_dissolve:
                e["status"] = DISSOLVED
            else:
                what = rng.choice(["address", "address", "capital", "capital", "status"])
                if what == "address":
                    e["address"], _ = _address(rng, next(p for p in provinces() if p.code == e["province_code"]))
                elif what == "capital":
                    e["charter_capital"] += rng.randint(1, 20) * 100_000_000
                else:
                    e["status"] = SUSPENDED if e["status"] == ACTIVE else ACTIVE
            e["updated_on"] = d
        for _ in range(n_new):
            e = _new_enterprise(rng, taken, d)
            registry[e["tax_code"]] = e
    return registry


def enterprises_csv(date: str | dt.date, seed: int = 2026, scale: float = 1.0) -> bytes:
    """The enterprise registry export as of ``date``: master data, kept as SCD2 in silver.

    Windows-1258 (see :func:`encode_cp1258`), ``;``-separated, CRLF line ends, dates
    ``dd/mm/yyyy``, charter capital in VND in Vietnamese number format (``1.500.000.000``),
    10-digit tax codes, 2-digit province codes.  About 200×scale enterprises registered since
    1995 (the registry before :data:`ENTERPRISE_EPOCH`), then every day from the epoch on: 3–5
    change their address, capital or status (``Đang hoạt động`` ↔ ``Tạm ngừng kinh doanh``),
    one day in four one is dissolved (``Giải thể``, and stays so), 0–2 new ones register (each
    ×scale).  ``updated_on`` is the day
    of the last change, so consecutive dates differ in a handful of rows.
    """
    registry = _enterprise_registry(_day(date), seed, scale)
    rows = []
    for tax_code in sorted(registry):
        e = registry[tax_code]
        rows.append([e["tax_code"], e["enterprise_name"], e["enterprise_type"], f"{e['province_code']:02d}",
                     e["address"], _vi_number(e["charter_capital"]), _ddmmyyyy(e["registered_on"]),
                     e["status"], _ddmmyyyy(e["updated_on"])])
    return encode_cp1258(_csv_text(ENTERPRISE_FIELDS, rows, ";", "\r\n"))


# ---- 2. citizens -----------------------------------------------------------------

CITIZEN_EPOCH = dt.date(2026, 10, 1)
CITIZEN_FIELDS = ["citizen_id", "full_name", "date_of_birth", "sex", "phone", "province_code",
                  "commune_code", "registered_at"]
_MOBILE_PREFIXES = ["90", "91", "93", "94", "96", "97", "98", "86", "88", "89", "70", "79", "77", "76",
                    "78", "83", "84", "85", "81", "82", "32", "33", "34", "35", "36", "37", "38", "39"]


def citizen_id(province_code: int, born: dt.date, sex: str, serial: int) -> str:
    """A 12-digit CCCD number: 3-digit place code, century/sex digit, 2-digit birth year, 6 digits.

    Century/sex digit: 0 man / 1 woman born 1900–1999, 2 man / 3 woman born 2000–2099.
    """
    century = {19: 0, 20: 2}[born.year // 100] + (1 if sex == "Nữ" else 0)
    return f"{province_code:03d}{century}{born.year % 100:02d}{serial:06d}"


def _phone(rng: Random) -> str:
    number = rng.choice(_MOBILE_PREFIXES) + f"{rng.randint(0, 9_999_999):07d}"
    form = rng.random()
    if form < 0.35:
        return f"+84 {number}"
    if form < 0.5:
        return f"0{number[:3]} {number[3:6]} {number[6:]}"
    return f"0{number}"


def _new_citizen(rng: Random, taken: set[str], registered_at: dt.datetime) -> dict:
    sex = rng.choice(["Nam", "Nữ"])
    born = dt.date(rng.randint(1945, 2008), 1, 1) + dt.timedelta(days=rng.randrange(365))
    province = _pick_province(rng)
    place = province if rng.random() < 0.85 else _pick_province(rng)  # born elsewhere
    while True:
        cid = citizen_id(place.code, born, sex, rng.randint(0, 999_999))
        if cid not in taken:
            taken.add(cid)
            break
    commune = rng.choice(communes_by_province()[province.code])
    return {"citizen_id": cid, "full_name": _person_name(rng, sex), "date_of_birth": born, "sex": sex,
            "phone": _phone(rng), "province_code": province.code, "commune_code": commune.code,
            "registered_at": registered_at}


def _citizen_register(day: dt.date, seed: int, scale: float) -> dict[str, dict]:
    rng = Random(seed_from("citizens", "base", seed))
    taken: set[str] = set()
    register: dict[str, dict] = {}
    start = dt.datetime(2021, 7, 1, tzinfo=ICT)  # chip-based CCCD cards from mid-2021
    span = int((dt.datetime.combine(CITIZEN_EPOCH, dt.time(), ICT) - start).total_seconds())
    for _ in range(_scaled(500, scale, 1)):
        c = _new_citizen(rng, taken, start + dt.timedelta(seconds=rng.randrange(span)))
        register[c["citizen_id"]] = c
    if day < CITIZEN_EPOCH:
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), ICT)
        return {k: v for k, v in register.items() if v["registered_at"] < end}
    for d in _days(CITIZEN_EPOCH, day):
        rng = Random(seed_from("citizens", d.isoformat(), seed))
        for cid in rng.sample(sorted(register), min(len(register), _scaled(rng.randint(0, 2), scale))):
            register[cid]["phone"] = _phone(rng)  # a citizen updates their phone number
        for _ in range(_scaled(rng.randint(0, 2), scale)):
            at = dt.datetime.combine(d, dt.time(7, 30), ICT) + dt.timedelta(seconds=rng.randrange(9 * 3600))
            c = _new_citizen(rng, taken, at)
            register[c["citizen_id"]] = c
    return register


def citizens_csv(date: str | dt.date, seed: int = 2026, scale: float = 1.0) -> bytes:
    """The citizen register as of ``date``: personal data, UTF-8 with BOM, ``,``-separated.

    About 500×scale citizens registered since mid-2021, plus 0–2 new ones a day from
    :data:`CITIZEN_EPOCH` on (and 0–2 phone number changes a day).  ``citizen_id`` is a
    consistent 12-digit CCCD (see :func:`citizen_id`; place code = province of birth, which is
    the province of residence for most), ``date_of_birth`` ``dd/mm/yyyy``, ``sex`` ``Nam``/``Nữ``,
    phones as ``+84 9xxxxxxxx``, ``09xxxxxxxx`` or ``09x xxx xxxx``, real province and commune
    codes, ``registered_at`` ISO 8601 with the +07:00 offset.
    """
    register = _citizen_register(_day(date), seed, scale)
    faults = citizen_faults(seed, scale)
    rows = []
    for cid in sorted(register):
        c = register[cid]
        sex, phone = c["sex"], c["phone"]
        if faults.get(cid) == "cccd_sex_digit":  # entered with the other sex: the CCCD's digit disagrees
            sex = "Nữ" if sex == "Nam" else "Nam"
        elif faults.get(cid) == "landline_phone":  # a Hà Nội landline in the mobile column
            phone = f"024 38{int(cid[-6:]) % 100:02d} {int(cid[-4:]):04d}"
        rows.append([c["citizen_id"], c["full_name"], _ddmmyyyy(c["date_of_birth"]), sex, phone,
                     f"{c['province_code']:02d}", f"{c['commune_code']:05d}", c["registered_at"].isoformat()])
    return _csv_text(CITIZEN_FIELDS, rows, ",", "\r\n").encode("utf-8-sig")


CITIZEN_ANOMALIES = {"cccd_sex_digit": 2, "landline_phone": 3}
"""Deliberate faults in every :func:`citizens_csv` from :data:`CITIZEN_EPOCH` on, on citizens of the
base register (so the same ones every day): 2 whose sex disagrees with the CCCD's century/sex digit
(quarantined by the ``cccd`` rule) and 3 with a landline in the mobile column (the ``phone`` rule warns)."""


def citizen_faults(seed: int = 2026, scale: float = 1.0) -> dict[str, str]:
    """Which citizens carry which fault of :data:`CITIZEN_ANOMALIES` (citizen id → fault)."""
    base = sorted(_citizen_register(CITIZEN_EPOCH - dt.timedelta(days=1), seed, scale))
    picks = Random(seed_from("citizens", "faults", seed)).sample(base, sum(CITIZEN_ANOMALIES.values()))
    kinds = [k for k, n in CITIZEN_ANOMALIES.items() for _ in range(n)]
    return dict(zip(picks, kinds))


# ---- 3. air-quality sensors --------------------------------------------------------

# approximate position of each province's administrative centre (after the 2025 mergers)
_CENTRES = {1: (21.03, 105.85), 4: (22.67, 106.26), 8: (21.82, 105.21), 11: (21.39, 103.02),
            12: (22.40, 103.46), 14: (21.33, 103.91), 15: (21.72, 104.91), 19: (21.59, 105.85),
            20: (21.85, 106.76), 22: (20.95, 107.08), 24: (21.27, 106.19), 25: (21.32, 105.40),
            31: (20.86, 106.68), 33: (20.45, 106.34), 37: (20.25, 105.97), 38: (19.81, 105.78),
            40: (18.68, 105.68), 42: (18.34, 105.91), 44: (17.47, 106.62), 46: (16.46, 107.59),
            48: (16.05, 108.20), 51: (15.12, 108.80), 52: (13.78, 109.22), 56: (12.24, 109.19),
            66: (12.67, 108.04), 68: (11.94, 108.44), 75: (10.95, 106.82), 79: (10.78, 106.70),
            80: (10.54, 106.41), 82: (10.36, 106.36), 86: (10.25, 105.97), 91: (10.01, 105.08),
            92: (10.03, 105.78), 96: (9.18, 105.15)}
SENSOR_FIELDS = ["sensor_id", "province_code", "commune_code", "latitude", "longitude", "installed_on"]


def _sensor_counts(scale: float) -> dict[int, int]:
    per = _scaled(2, scale, 1)
    return {p.code: per + (per if p.code in (1, 79) else 0) for p in provinces()}


def _sensor_rows(seed: int, scale: float) -> list[dict]:
    rows = []
    for p in provinces():
        for n in range(1, _sensor_counts(scale)[p.code] + 1):
            sensor_id = f"AQ-{p.code:02d}-{n:03d}"
            rng = Random(seed_from("sensors", seed, sensor_id))
            lat, lon = _CENTRES[p.code]
            rows.append({"sensor_id": sensor_id, "province_code": p.code,
                         "commune_code": rng.choice(communes_by_province()[p.code]).code,
                         "latitude": round(lat + rng.uniform(-0.12, 0.12), 5),
                         "longitude": round(lon + rng.uniform(-0.12, 0.12), 5),
                         "installed_on": dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(3 * 365))})
    return rows


def sensors_parquet(seed: int = 2026, scale: float = 1.0) -> bytes:
    """The air-quality sensor master list as Parquet: about 2×34×scale sensors, at least one per province.

    ``sensor_id`` ``AQ-<province>-<nnn>`` (e.g. ``AQ-01-003``); Hà Nội and Hồ Chí Minh City have
    twice as many.  Columns: sensor_id string, province_code int32, commune_code int32 (a real
    commune of the province), latitude/longitude double, installed_on date32.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _sensor_rows(seed, scale)
    schema = pa.schema([("sensor_id", pa.string()), ("province_code", pa.int32()), ("commune_code", pa.int32()),
                        ("latitude", pa.float64()), ("longitude", pa.float64()), ("installed_on", pa.date32())])
    table = pa.Table.from_pylist(rows, schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="snappy")
    return buf.getvalue()


# ---- 4. air-quality readings ---------------------------------------------------------

READING_WINDOW = (dt.time(6, 0), 240)  # readings from 06:00 UTC, one a minute for 240 minutes
DROP_MINUTES = 15
SENSORS_PER_GATEWAY = 8
LATE_AFTER_MINUTES = 60
READING_ANOMALIES = {"duplicates": 6, "late": 4, "pm25_sentinel": 3, "pm25_non_numeric": 2,
                     "pm25_missing": 2, "malformed": 1}
"""Exact counts of deliberate faults in every :func:`readings_files` result, whatever the date or scale."""
READING_FIELDS = ["sensor_id", "reading_at", "pm25", "pm10", "temperature", "humidity"]


def reporting_sensors(seed: int = 2026, scale: float = 1.0) -> list[str]:
    """Sensors that send readings: the first max(1, round(scale)) of each province (34 at scale 1.0)."""
    per = _scaled(1, scale, 1)
    return [r["sensor_id"] for r in _sensor_rows(seed, scale) if int(r["sensor_id"][-3:]) <= per]


def _reading(rng: Random, sensor_id: str, at: dt.datetime, minute: int, level: float, lat: float) -> dict:
    wave = 1 + 0.25 * math.sin(2 * math.pi * (minute / 240 + level / 100))
    pm25 = round(max(2.0, level * wave + rng.gauss(0, level * 0.08)), 1)
    return {"sensor_id": sensor_id, "reading_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "pm25": pm25,
            "pm10": round(pm25 * rng.uniform(1.3, 1.7), 1),
            "temperature": round(31.5 - 0.55 * (lat - 9) + rng.gauss(0, 0.4), 1),
            "humidity": round(min(99.0, max(40.0, 75 + rng.gauss(0, 6))), 1)}


def readings_files(date: str | dt.date, seed: int = 2026, scale: float = 1.0) -> list[tuple[str, bytes]]:
    """IoT air-quality readings of one day, as the gateways drop them: JSON Lines (UTF-8) every 15 minutes.

    One reading a minute per reporting sensor (:func:`reporting_sensors`, 34 at scale 1.0) from
    06:00 to 09:59 UTC (240 minutes).  Sensors are grouped 8 to a gateway (``g01``, ``g02``…);
    each gateway drops a file every 15 minutes, 06:15 … 10:00, holding the readings of the
    15 minutes before: ``<date>/drop-<HHMM>-g<NN>.jsonl`` (sortable by time, then gateway).
    Fields: sensor_id, reading_at (``YYYY-MM-DDTHH:MM:SSZ``), pm25, pm10 (µg/m³), temperature
    (°C), humidity (%).  There are exactly ``sensors × 240`` distinct (sensor_id, reading_at)
    readings and these deliberate faults (:data:`READING_ANOMALIES`), for any date and scale,
    each on a different reading:

    * 6 duplicates: a reading re-sent, byte for byte, in the gateway's next drop (not late);
    * 4 late readings: missing from their own drop and delivered 60 minutes later, so the drop
      is 61–75 minutes after ``reading_at`` (more than ``late_after_minutes`` = 60);
    * 3 readings with ``pm25`` = -999 (the sensor's error sentinel);
    * 2 readings with ``pm25`` = ``"ERR"`` (not a number);
    * 2 readings with ``pm25`` = null (missing value);
    * 1 malformed line: a reading cut off half-way, not JSON (its full line is in the same drop).

    So the files hold ``sensors × 240 + 6 + 1`` lines.
    """
    day = _day(date)
    sensors = {r["sensor_id"]: r for r in _sensor_rows(seed, scale)}
    reporting = reporting_sensors(seed, scale)
    start = dt.datetime.combine(day, READING_WINDOW[0], UTC)
    minutes = READING_WINDOW[1]
    n_drops = minutes // DROP_MINUTES

    readings: dict[tuple[int, int], dict] = {}
    for s, sensor_id in enumerate(reporting):
        rng = Random(seed_from("readings", day.isoformat(), seed, sensor_id))
        lat = sensors[sensor_id]["latitude"]
        level = (70 if lat > 20.5 else 45 if lat > 19 else 28 if lat > 13 else 38) * rng.uniform(0.7, 1.3)
        for m in range(minutes):
            readings[(s, m)] = _reading(rng, sensor_id, start + dt.timedelta(minutes=m), m, level, lat)

    rng = Random(seed_from("readings-anomalies", day.isoformat(), seed))
    a = READING_ANOMALIES
    # every faulty reading is taken early enough that a drop 60 minutes later still exists
    last_minute = (n_drops - LATE_AFTER_MINUTES // DROP_MINUTES) * DROP_MINUTES
    picks = rng.sample([(s, m) for s in range(len(reporting)) for m in range(last_minute)],
                       a["duplicates"] + a["late"] + a["pm25_sentinel"] + a["pm25_non_numeric"] + a["pm25_missing"])
    dup = picks[:a["duplicates"]]
    late = picks[len(dup):len(dup) + a["late"]]
    rest = picks[len(dup) + len(late):]
    for i, key in enumerate(rest):
        if i < a["pm25_sentinel"]:
            readings[key]["pm25"] = -999
        elif i < a["pm25_sentinel"] + a["pm25_non_numeric"]:
            readings[key]["pm25"] = "ERR"
        else:
            readings[key]["pm25"] = None

    drops: dict[tuple[int, int], list[str]] = {}  # (drop index, gateway index) → lines
    line = lambda key: json.dumps(readings[key], ensure_ascii=False)  # noqa: E731
    late_set = set(late)
    for (s, m) in sorted(readings, key=lambda k: (k[1] // DROP_MINUTES, k[0], k[1])):
        if (s, m) not in late_set:
            drops.setdefault((m // DROP_MINUTES, s // SENSORS_PER_GATEWAY), []).append(line((s, m)))
    for (s, m) in sorted(late):
        drops[(m // DROP_MINUTES + LATE_AFTER_MINUTES // DROP_MINUTES, s // SENSORS_PER_GATEWAY)].append(line((s, m)))
    for (s, m) in sorted(dup):
        drops[(m // DROP_MINUTES + 1, s // SENSORS_PER_GATEWAY)].append(line((s, m)))
    target = rng.choice(sorted(drops))
    lines = drops[target]
    cut = rng.randrange(len(lines))
    lines.insert(cut + 1, lines[cut][: len(lines[cut]) // 2])

    out = []
    for (d, g) in sorted(drops):
        at = start + dt.timedelta(minutes=(d + 1) * DROP_MINUTES)
        name = f"{day.isoformat()}/drop-{at:%H%M}-g{g + 1:02d}.jsonl"
        out.append((name, "".join(x + "\n" for x in drops[(d, g)]).encode("utf-8")))
    return sorted(out)


def drop_time(name: str) -> dt.datetime:
    """When a readings file was dropped, from its name (``2026-11-27/drop-0915-g03.jsonl``)."""
    m = re.search(r"(\d{4}-\d{2}-\d{2})/drop-(\d{2})(\d{2})-g\d+\.jsonl$", name)
    if not m:
        raise ValueError(f"not a readings drop file name: {name!r}")
    return dt.datetime.combine(dt.date.fromisoformat(m.group(1)), dt.time(int(m.group(2)), int(m.group(3))), UTC)


# ---- 5. procedures -------------------------------------------------------------------

_PROCEDURES = [
    ("Đăng ký thành lập doanh nghiệp tư nhân", "Thành lập và phát triển doanh nghiệp", 4, 3),
    ("Đăng ký thành lập công ty TNHH một thành viên", "Thành lập và phát triển doanh nghiệp", 4, 3),
    ("Đăng ký thay đổi nội dung đăng ký doanh nghiệp", "Thành lập và phát triển doanh nghiệp", 4, 3),
    ("Đăng ký hộ kinh doanh", "Thành lập và hoạt động hộ kinh doanh", 4, 3),
    ("Cấp giấy phép xây dựng nhà ở riêng lẻ", "Hoạt động xây dựng", 3, 15),
    ("Cấp giấy chứng nhận quyền sử dụng đất lần đầu", "Đất đai", 3, 30),
    ("Đăng ký biến động quyền sử dụng đất", "Đất đai", 3, 10),
    ("Đăng ký khai sinh", "Hộ tịch", 4, 1),
    ("Đăng ký kết hôn", "Hộ tịch", 3, 3),
    ("Đăng ký khai tử", "Hộ tịch", 4, 1),
    ("Cấp bản sao trích lục hộ tịch", "Hộ tịch", 4, 1),
    ("Cấp phiếu lý lịch tư pháp", "Lý lịch tư pháp", 4, 10),
    ("Đổi giấy phép lái xe", "Đường bộ", 4, 5),
    ("Cấp giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm", "An toàn thực phẩm", 3, 20),
    ("Cấp giấy phép môi trường", "Môi trường", 3, 30),
    ("Cấp giấy phép lao động cho người nước ngoài", "Việc làm", 4, 5),
    ("Giải quyết hưởng trợ cấp thất nghiệp", "Việc làm", 3, 20),
    ("Cấp lại thẻ bảo hiểm y tế", "Bảo hiểm y tế", 4, 5),
    ("Chứng thực bản sao từ bản chính", "Chứng thực", 3, 1),
    ("Cấp giấy phép kinh doanh dịch vụ karaoke", "Văn hóa", 3, 5),
]
PROCEDURE_FIELDS = ["procedure_code", "procedure_name", "field", "level", "processing_days", "updated_at"]

PROCEDURE_DDL = """\
CREATE TABLE IF NOT EXISTS public.procedures (
    procedure_code  text PRIMARY KEY,
    procedure_name  text NOT NULL,
    field           text NOT NULL,
    level           smallint NOT NULL,
    processing_days integer NOT NULL,
    updated_at      timestamptz NOT NULL
)"""


def procedure_rows(seed: int = 2026) -> list[dict]:
    """The catalogue of administrative procedures (20 rows), as the ministry's database holds it.

    procedure_code like ``1.001234``, procedure_name and field (lĩnh vực) in Vietnamese, level
    (online public service level 3 or 4), processing_days, updated_at (aware UTC datetime).
    """
    rng = Random(seed_from("procedures", seed))
    rows, codes = [], set()
    for name, field_, level, days in _PROCEDURES:
        while (code := f"{rng.choice([1, 1, 2])}.{rng.randint(0, 13_999):06d}") in codes:
            pass
        codes.add(code)
        updated = dt.datetime(2025, 7, 1, 1, 0, tzinfo=UTC) + dt.timedelta(minutes=rng.randrange(120 * 24 * 60))
        rows.append({"procedure_code": code, "procedure_name": name, "field": field_, "level": level,
                     "processing_days": days, "updated_at": updated})
    return sorted(rows, key=lambda r: r["procedure_code"])


# ---- 6. dossiers ---------------------------------------------------------------------

DOSSIER_EPOCH = dt.date(2026, 11, 1)
"""The dossier system went live this day: earlier dates have an empty table."""
RECEIVED, PROCESSING, DONE, RETURNED = "Tiếp nhận", "Đang xử lý", "Hoàn thành", "Trả lại"
DOSSIER_FIELDS = ["dossier_id", "procedure_code", "province_code", "applicant_name", "status",
                  "received_at", "due_at", "completed_at", "updated_at"]

DOSSIER_DDL = """\
CREATE TABLE IF NOT EXISTS public.dossiers (
    dossier_id     text PRIMARY KEY,
    procedure_code text NOT NULL,
    province_code  integer NOT NULL,
    applicant_name text NOT NULL,
    status         text NOT NULL,
    received_at    timestamptz NOT NULL,
    due_at         timestamptz NOT NULL,
    completed_at   timestamptz,
    updated_at     timestamptz NOT NULL
)"""


def _dossier_count(day: dt.date, seed: int, scale: float) -> int:
    rng = Random(seed_from("dossier-count", day.isoformat(), seed))
    weekend = day.weekday() >= 5
    return _scaled(100 * rng.uniform(0.8, 1.2) * (0.2 if weekend else 1.0), scale, 1)


def _dossier_lifecycles(day: dt.date, first_seq: int, seed: int, scale: float) -> list[dict]:
    """Every dossier received on ``day`` with its whole future: the times of its status changes."""
    rng = Random(seed_from("dossiers", day.isoformat(), seed))
    procs = procedure_rows(seed)
    out = []
    for k in range(_dossier_count(day, seed, scale)):
        proc = rng.choice(procs)
        province = _pick_province(rng)
        applicant = (_person_name(rng, rng.choice(["Nam", "Nữ"])) if "doanh nghiệp" not in proc["field"]
                     else f"{rng.choice(_ENTERPRISE_TYPES)[1]} {rng.choice(_INDUSTRIES)} {rng.choice(_BRANDS)}")
        received = dt.datetime.combine(day, dt.time(0, 30), UTC) + dt.timedelta(seconds=rng.randrange(int(9.5 * 3600)))
        days = proc["processing_days"]
        processing = received + dt.timedelta(seconds=rng.randrange(1800, 36 * 3600))
        if rng.random() < 0.08:  # stuck: finishes long after its due date
            low, high = int(days * 1.5 * 86400), int(days * 3 * 86400) + 86400
        else:
            low, high = 2 * 3600, int(days * 1.2 * 86400) + 4 * 3600
        final = processing + dt.timedelta(seconds=rng.randrange(low, high))
        outcome = RETURNED if rng.random() < 0.12 else DONE
        out.append({"dossier_id": f"HS-{day.year}-{first_seq + k:06d}", "procedure_code": proc["procedure_code"],
                    "province_code": province.code, "applicant_name": applicant, "received_at": received,
                    "due_at": received + dt.timedelta(days=days),
                    "events": [(received, RECEIVED), (processing, PROCESSING), (final, outcome)]})
    return out


def _dossiers_by_day(day: dt.date, seed: int, scale: float):
    """(received day, that day's lifecycles) for every day from the epoch to ``day``."""
    seq, year = 1, None
    for d in _days(DOSSIER_EPOCH, day):
        if d.year != year:
            seq, year = 1, d.year
        yield d, _dossier_lifecycles(d, seq, seed, scale)
        seq += _dossier_count(d, seed, scale)


def dossier_rows(date: str | dt.date, seed: int = 2026, scale: float = 1.0) -> list[dict]:
    """The dossier system's ``public.dossiers`` table as it stands at the end of ``date`` (UTC).

    About 100×scale dossiers are received each working day (a fifth of that at weekends) since
    :data:`DOSSIER_EPOCH`; ids ``HS-<year>-<nnnnnn>`` numbered per year.  Each dossier moves
    ``Tiếp nhận`` → ``Đang xử lý`` → ``Hoàn thành`` (``completed_at`` set) or ``Trả lại``, at
    times fixed when it is received, so the table of a later date holds every dossier of an
    earlier one, some with a later status; ``updated_at`` is the time of the last change and
    never decreases.  Timestamps are aware UTC datetimes; ``completed_at`` is None until done.
    """
    day = _day(date)
    cutoff = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), UTC)
    rows = []
    for _, lifecycles in _dossiers_by_day(day, seed, scale):
        for life in lifecycles:
            happened = [(t, s) for t, s in life["events"] if t < cutoff]
            updated, status = happened[-1]
            row = {k: life[k] for k in ("dossier_id", "procedure_code", "province_code", "applicant_name")}
            row.update(status=status, received_at=life["received_at"], due_at=life["due_at"],
                       completed_at=updated if status == DONE else None, updated_at=updated)
            rows.append(row)
    return rows


# ---- 7. dossier documents --------------------------------------------------------------

def _pdf(lines: list[str]) -> bytes:
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


def _png(width: int, height: int, pixel: Callable[[int, int], tuple[int, int, int]]) -> bytes:
    """An 8-bit RGB PNG (filter 0 on every row), with correct CRCs."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + bytes(v for x in range(width) for v in pixel(x, y)) for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


# Huffman table for DC differences of the JPEG standard (Annex K.3, luminance)
_JPEG_DC_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
_JPEG_DC_VALS = list(range(12))


def _jpeg_gray(blocks: list[list[int]]) -> bytes:
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


def _tiff_gray(width: int, height: int, pixels: bytes) -> bytes:
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


def dossier_documents(date: str | dt.date, seed: int = 2026, scale: float = 1.0) -> list[tuple[str, bytes]]:
    """Attachments of some dossiers received on ``date``: about 30×scale small but valid files.

    For 12×scale of that day's dossiers: ``<dossier_id>/don-de-nghi.pdf`` (the application, a
    one-page PDF) and ``<dossier_id>/cccd-scan.png`` (ID card scan); every second one also has
    ``anh-hien-trang.jpg`` (a photo, baseline JPEG) and every fourth ``ban-ve.tif`` (a scanned
    drawing, TIFF).  Magic bytes: ``%PDF-``, ``\\x89PNG``, ``\\xff\\xd8\\xff``, ``II*\\x00``.
    Empty before :data:`DOSSIER_EPOCH`.
    """
    day = _day(date)
    if day < DOSSIER_EPOCH:
        return []
    todays = []
    for d, lifecycles in _dossiers_by_day(day, seed, scale):
        if d == day:
            todays = lifecycles
    procs = {p["procedure_code"]: p for p in procedure_rows(seed)}
    rng = Random(seed_from("documents", day.isoformat(), seed))
    chosen = sorted(rng.sample(todays, min(len(todays), _scaled(12, scale, 1))), key=lambda x: x["dossier_id"])
    out = []
    for i, life in enumerate(chosen):
        did = life["dossier_id"]
        r = Random(seed_from("document", did, seed))
        received_local = life["received_at"].astimezone(ICT)
        out.append((f"{did}/don-de-nghi.pdf", _pdf([
            "ĐƠN ĐỀ NGHỊ", f"Hồ sơ: {did}", f"Thủ tục: {procs[life['procedure_code']]['procedure_name']}",
            f"Người nộp: {life['applicant_name']}", f"Ngày nộp: {received_local:%d/%m/%Y %H:%M}"])))
        tint = (r.randint(180, 230), r.randint(200, 240), r.randint(220, 255))
        out.append((f"{did}/cccd-scan.png", _png(48, 30, lambda x, y, t=tint: (
            (40, 60, 120) if 4 <= x <= 14 and 6 <= y <= 22 else (90, 90, 90) if x > 18 and y % 5 == 2 else t))))
        if i % 2 == 0:
            out.append((f"{did}/anh-hien-trang.jpg",
                        _jpeg_gray([[r.randint(30, 225) for _ in range(3)] for _ in range(2)])))
        if i % 4 == 0:
            base = r.randint(200, 250)
            pixels = bytes(0 if (x % 8 == 0 or y % 8 == 0) else base for y in range(24) for x in range(32))
            out.append((f"{did}/ban-ve.tif", _tiff_gray(32, 24, pixels)))
    return out


MEDIA_MAGIC = [(b"%PDF-", "application/pdf"), (b"\x89PNG\r\n\x1a\n", "image/png"),
               (b"\xff\xd8\xff", "image/jpeg"), (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff")]


def sniff_media_type(data: bytes) -> str:
    """The media type of a file by its magic bytes (application/octet-stream when unknown)."""
    return next((kind for magic, kind in MEDIA_MAGIC if data.startswith(magic)), "application/octet-stream")


# ---- 8. province report (xlsx) ---------------------------------------------------------

REPORT_FIELDS = ["province_code", "province_name", "report_month", "dossiers_received", "dossiers_completed",
                 "on_time_rate"]
REPORT_HEADER_ROW = 4


def province_report_xlsx(date: str | dt.date, seed: int = 2026) -> bytes:
    """The monthly report form on dossier handling, month to date, as an Excel workbook.

    Rows 1–3: the title ``BÁO CÁO TÌNH HÌNH TIẾP NHẬN HỒ SƠ``, ``Tháng MM/YYYY`` and an empty row;
    row 4: the header (:data:`REPORT_FIELDS`); rows 5–38: one row per province (``report_month``
    ``YYYY-MM``, counts growing through the month, ``on_time_rate`` a fraction 0–1); row 39 blank;
    row 40: ``Tổng cộng`` totals, with no province_code.  The bytes are stable: document
    properties and every zip entry's timestamp are fixed to the report date at 08:00.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.xml.functions import tostring

    day = _day(date)
    month = f"{day.year}-{day.month:02d}"
    stamp = dt.datetime.combine(day, dt.time(8, 0))
    progress = day.day / calendar.monthrange(day.year, day.month)[1]

    wb = Workbook()
    ws = wb.active
    ws.title = "BaoCao"
    ws["A1"] = "BÁO CÁO TÌNH HÌNH TIẾP NHẬN HỒ SƠ"
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"] = f"Tháng {day.month:02d}/{day.year}"
    ws["A2"].font = Font(italic=True)
    for cell in ("A1", "A2"):
        ws[cell].alignment = Alignment(horizontal="center")
    ws.merge_cells("A1:F1")
    ws.merge_cells("A2:F2")
    for col, name in enumerate(REPORT_FIELDS, 1):
        ws.cell(row=REPORT_HEADER_ROW, column=col, value=name).font = Font(bold=True)
    total_received = total_completed = on_time = 0.0
    row = REPORT_HEADER_ROW
    for p in provinces():
        rng = Random(seed_from("report", month, seed, p.code))
        monthly = rng.randint(800, 2500) * _PROVINCE_WEIGHT.get(p.code, 1)
        received = max(1, round(monthly * progress))
        completed = round(received * rng.uniform(0.70, 0.95))
        rate = round(rng.uniform(0.80, 0.995), 3)
        row += 1
        ws.append([p.code, p.name, month, received, completed, rate])
        ws.cell(row=row, column=6).number_format = "0.0%"
        total_received += received
        total_completed += completed
        on_time += rate * completed
    row += 2
    ws.cell(row=row, column=2, value="Tổng cộng").font = Font(bold=True)
    ws.cell(row=row, column=3, value=month)
    ws.cell(row=row, column=4, value=int(total_received))
    ws.cell(row=row, column=5, value=int(total_completed))
    ws.cell(row=row, column=6, value=round(on_time / total_completed, 3) if total_completed else None)
    ws.cell(row=row, column=6).number_format = "0.0%"
    for col, width in zip("ABCDEF", (14, 30, 13, 18, 19, 13)):
        ws.column_dimensions[col].width = width

    wb.properties.creator = "Văn phòng Bộ"
    wb.properties.title = "BÁO CÁO TÌNH HÌNH TIẾP NHẬN HỒ SƠ"
    wb.properties.created = stamp
    wb.properties.modified = stamp
    wb.properties.lastModifiedBy = "Văn phòng Bộ"
    raw = io.BytesIO()
    wb.save(raw)
    # Saving sets the 'modified' property to the wall clock, and zipfile stamps each entry with
    # it: rewrite the archive with the core properties regenerated and the report's own time.
    wb.properties.modified = stamp
    core = tostring(wb.properties.to_tree())
    src = zipfile.ZipFile(io.BytesIO(raw.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, core if info.filename == "docProps/core.xml" else src.read(info.filename))
    return out.getvalue()


# ---- 9. everything for a date ------------------------------------------------------------

@dataclass(frozen=True)
class DemoSource:
    """What one demo dataset's source delivers for a date.

    ``files``: (path, bytes) to land under ``landing/<dataset>/<date>/`` (files, documents), or
    under ``landing/<dataset>/`` for the stream, whose paths start with the date folder.
    ``rows``: rows for a database table (``table``, created with ``ddl``, primary key ``key``),
    ready for ``sourcedb.load_rows(connection, table, ddl, rows, key)``.
    """

    dataset: str
    files: list[tuple[str, bytes]] = field(default_factory=list)
    table: str | None = None
    ddl: str | None = None
    key: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)


DEMO_SOURCES: dict[str, Callable[[dt.date, int, float], DemoSource]] = {
    "enterprises": lambda d, s, k: DemoSource("enterprises", [("enterprises.csv", enterprises_csv(d, s, k))]),
    "citizens": lambda d, s, k: DemoSource("citizens", [("citizens.csv", citizens_csv(d, s, k))]),
    "sensors": lambda d, s, k: DemoSource("sensors", [("sensors.parquet", sensors_parquet(s, k))]),
    "air_quality_readings": lambda d, s, k: DemoSource("air_quality_readings", readings_files(d, s, k)),
    "procedures": lambda d, s, k: DemoSource("procedures", table="public.procedures", ddl=PROCEDURE_DDL,
                                             key=["procedure_code"], rows=procedure_rows(s)),
    "dossiers": lambda d, s, k: DemoSource("dossiers", table="public.dossiers", ddl=DOSSIER_DDL,
                                           key=["dossier_id"], rows=dossier_rows(d, s, k)),
    "dossier_documents": lambda d, s, k: DemoSource("dossier_documents", dossier_documents(d, s, k)),
    "province_reports": lambda d, s, k: DemoSource(
        "province_reports", [(f"bao-cao-{d:%Y-%m}.xlsx", province_report_xlsx(d, s))]),
}
"""Dataset name → generator of its demo source for (date, seed, scale)."""


def demo_sources(date: str | dt.date, seed: int = 2026, scale: float = 1.0,
                 datasets: list[str] | None = None) -> dict[str, DemoSource]:
    """Every demo dataset's source for ``date`` (or only ``datasets``), by dataset name."""
    day = _day(date)
    names = datasets if datasets is not None else list(DEMO_SOURCES)
    unknown = sorted(set(names) - set(DEMO_SOURCES))
    if unknown:
        raise KeyError(f"no demo data for {unknown}; known: {', '.join(DEMO_SOURCES)}")
    return {name: DEMO_SOURCES[name](day, seed, scale) for name in names}
