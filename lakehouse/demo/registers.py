"""The enterprise registry (Windows-1258 CSV) and the citizen register (UTF-8 CSV with BOM, personal
data with planted faults).
"""

from __future__ import annotations

import datetime as dt
from random import Random

from lakehouse.demo.common import (ICT, street_address, csv_text, as_date, dates_between, ddmmyyyy, person_name,
                                   pick_province, scaled, vi_number, communes_by_province, provinces, seed_from)
from lakehouse.demo.cp1258 import encode_cp1258


ENTERPRISE_EPOCH = dt.date(2026, 10, 1)
"""The registry's base population is as of the day before; each later day adds its changes."""

ENTERPRISE_FIELDS = ["tax_code", "enterprise_name", "enterprise_type", "province_code", "address",
                     "charter_capital", "registered_on", "status", "updated_on"]
ACTIVE, SUSPENDED, DISSOLVED = "Đang hoạt động", "Tạm ngừng kinh doanh", "Giải thể"

ENTERPRISE_TYPES = [("Công ty TNHH một thành viên", "Công ty TNHH", 30),
                     ("Công ty TNHH hai thành viên trở lên", "Công ty TNHH", 20),
                     ("Công ty cổ phần", "Công ty Cổ phần", 35),
                     ("Doanh nghiệp tư nhân", "Doanh nghiệp tư nhân", 12),
                     ("Công ty hợp danh", "Công ty Hợp danh", 3)]
INDUSTRIES = ["Xây dựng", "Thương mại", "Dịch vụ", "Công nghệ", "Vận tải", "Nông sản", "Thủy sản",
               "Du lịch", "Dược phẩm", "Cơ khí", "Thực phẩm", "Đầu tư", "Môi trường", "Giáo dục"]
BRANDS = ["Hưng Thịnh", "Phú Quý", "An Khang", "Đại Việt", "Sông Hồng", "Trường Sơn", "Minh Phát",
           "Thành Đạt", "Hòa Bình", "Ánh Dương", "Bình Minh", "Cửu Long", "Tân Á", "Phương Nam",
           "Hải Âu", "Lộc Phát", "Đông Đô", "Kim Ngân", "Thiên Ý", "Việt Tiến"]


def _new_enterprise(rng: Random, taken: set[str], registered_on: dt.date) -> dict:
    kind, prefix, _ = rng.choices(ENTERPRISE_TYPES, weights=[t[2] for t in ENTERPRISE_TYPES])[0]
    province = pick_province(rng)
    while True:
        tax_code = f"{province.code:02d}{rng.randint(0, 99_999_999):08d}"
        if tax_code not in taken:
            taken.add(tax_code)
            break
    address, _ = street_address(rng, province)
    return {"tax_code": tax_code,
            "enterprise_name": f"{prefix} {rng.choice(INDUSTRIES)} {rng.choice(BRANDS)}",
            "enterprise_type": kind, "province_code": province.code, "address": address,
            "charter_capital": rng.choice([1, 2, 3, 5, 10, 15, 20, 50, 100, 200, 500]) * 100_000_000,
            "registered_on": registered_on, "status": ACTIVE, "updated_on": registered_on}


def _enterprise_registry(day: dt.date, seed: int, scale: float) -> dict[str, dict]:
    """The registry as of the end of ``day``: base population, then each day's changes since the epoch."""
    rng = Random(seed_from("enterprises", "base", seed))
    taken: set[str] = set()
    registry: dict[str, dict] = {}
    span = (ENTERPRISE_EPOCH - dt.date(1995, 1, 1)).days
    for _ in range(scaled(200, scale, 1)):
        e = _new_enterprise(rng, taken, dt.date(1995, 1, 1) + dt.timedelta(days=rng.randrange(span)))
        last = (ENTERPRISE_EPOCH - e["registered_on"]).days
        e["updated_on"] = e["registered_on"] + dt.timedelta(days=rng.randrange(last))
        if rng.random() < 0.06:
            e["status"] = SUSPENDED
        registry[e["tax_code"]] = e
    if day < ENTERPRISE_EPOCH:
        return {k: v for k, v in registry.items() if v["registered_on"] <= day}
    for d in dates_between(ENTERPRISE_EPOCH, day):
        rng = Random(seed_from("enterprises", d.isoformat(), seed))
        n_change = scaled(rng.randint(3, 5), scale, 1)
        n_dissolve = scaled(1, scale) if rng.random() < 0.25 else 0
        n_new = scaled(rng.randint(0, 2), scale)
        alive = sorted(k for k, e in registry.items() if e["status"] != DISSOLVED and e["updated_on"] < d)
        picks = rng.sample(alive, min(len(alive), n_change + n_dissolve))
        for i, tax_code in enumerate(picks):
            e = registry[tax_code]
            if i < n_dissolve:
                e["status"] = DISSOLVED
            else:
                what = rng.choice(["address", "address", "capital", "capital", "status"])
                if what == "address":
                    e["address"], _ = street_address(rng, next(p for p in provinces() if p.code == e["province_code"]))
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
    registry = _enterprise_registry(as_date(date), seed, scale)
    rows = []
    for tax_code in sorted(registry):
        e = registry[tax_code]
        rows.append([e["tax_code"], e["enterprise_name"], e["enterprise_type"], f"{e['province_code']:02d}",
                     e["address"], vi_number(e["charter_capital"]), ddmmyyyy(e["registered_on"]),
                     e["status"], ddmmyyyy(e["updated_on"])])
    return encode_cp1258(csv_text(ENTERPRISE_FIELDS, rows, ";", "\r\n"))


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
    province = pick_province(rng)
    place = province if rng.random() < 0.85 else pick_province(rng)  # born elsewhere
    while True:
        cid = citizen_id(place.code, born, sex, rng.randint(0, 999_999))
        if cid not in taken:
            taken.add(cid)
            break
    commune = rng.choice(communes_by_province()[province.code])
    return {"citizen_id": cid, "full_name": person_name(rng, sex), "date_of_birth": born, "sex": sex,
            "phone": _phone(rng), "province_code": province.code, "commune_code": commune.code,
            "registered_at": registered_at}


def _citizen_register(day: dt.date, seed: int, scale: float) -> dict[str, dict]:
    rng = Random(seed_from("citizens", "base", seed))
    taken: set[str] = set()
    register: dict[str, dict] = {}
    start = dt.datetime(2021, 7, 1, tzinfo=ICT)  # chip-based CCCD cards from mid-2021
    span = int((dt.datetime.combine(CITIZEN_EPOCH, dt.time(), ICT) - start).total_seconds())
    for _ in range(scaled(500, scale, 1)):
        c = _new_citizen(rng, taken, start + dt.timedelta(seconds=rng.randrange(span)))
        register[c["citizen_id"]] = c
    if day < CITIZEN_EPOCH:
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), ICT)
        return {k: v for k, v in register.items() if v["registered_at"] < end}
    for d in dates_between(CITIZEN_EPOCH, day):
        rng = Random(seed_from("citizens", d.isoformat(), seed))
        for cid in rng.sample(sorted(register), min(len(register), scaled(rng.randint(0, 2), scale))):
            register[cid]["phone"] = _phone(rng)  # a citizen updates their phone number
        for _ in range(scaled(rng.randint(0, 2), scale)):
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
    register = _citizen_register(as_date(date), seed, scale)
    faults = citizen_faults(seed, scale)
    rows = []
    for cid in sorted(register):
        c = register[cid]
        sex, phone = c["sex"], c["phone"]
        if faults.get(cid) == "cccd_sex_digit":  # entered with the other sex: the CCCD's digit disagrees
            sex = "Nữ" if sex == "Nam" else "Nam"
        elif faults.get(cid) == "landline_phone":  # a Hà Nội landline in the mobile column
            phone = f"024 38{int(cid[-6:]) % 100:02d} {int(cid[-4:]):04d}"
        rows.append([c["citizen_id"], c["full_name"], ddmmyyyy(c["date_of_birth"]), sex, phone,
                     f"{c['province_code']:02d}", f"{c['commune_code']:05d}", c["registered_at"].isoformat()])
    return csv_text(CITIZEN_FIELDS, rows, ",", "\r\n").encode("utf-8-sig")


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
