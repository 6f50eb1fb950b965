"""Vietnamese validators: plain functions, reference data, and Spark parity."""

import csv
import datetime as dt
import unicodedata

import pytest

from expectations import vietnamese as vn

D = dt.date
NFD_NAME = unicodedata.normalize("NFD", "Nguyễn Thị Hương")


# ---- reference data ----------------------------------------------------------------------------

def test_old_provinces_csv_has_63_rows_mapping_onto_the_34_new_provinces():
    with open(vn._OLD_PROVINCES_CSV, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["old_code", "old_name", "new_code"]
    assert len(rows) == 63 == len({r["old_code"] for r in rows})
    new_codes = {int(r["new_code"]) for r in rows}
    assert new_codes == vn.PROVINCE_CODES and len(new_codes) == 34
    assert vn.PROVINCE_CODES <= {int(r["old_code"]) for r in rows}  # each new province kept an old code
    assert all(unicodedata.is_normalized("NFC", r["old_name"]) for r in rows)


def test_reference_sets_and_old_to_new():
    assert len(vn.OLD_PROVINCES) == 63 and vn.OLD_PROVINCES[1] == (2, "Hà Giang", 8)
    assert len(vn.COMMUNE_CODES) == 3321
    assert vn.old_to_new_province(2) == 8        # Hà Giang → Tuyên Quang
    assert vn.old_to_new_province(77) == 79      # Bà Rịa–Vũng Tàu → Hồ Chí Minh
    assert vn.old_to_new_province(91) == 91      # Kiên Giang → An Giang (kept Kiên Giang's code)
    with pytest.raises(ValueError, match="not one of the 63"):
        vn.old_to_new_province(3)


def test_registry_names_extras_and_options():
    assert set(vn.VALIDATORS) == {"cccd", "cmnd", "phone", "tax_code", "admin_unit", "nfc"}
    assert vn.VALIDATORS["cccd"].extras == ("date_of_birth", "sex")
    assert vn.VALIDATORS["admin_unit"].extras == ("at",) and vn.VALIDATORS["admin_unit"].options == ("level",)
    with pytest.raises(ValueError, match="unknown validator"):
        vn.validator("passport")
    with pytest.raises(ValueError, match="no option level"):
        vn.validator("phone", options={"level": "x"})
    with pytest.raises(ValueError, match="at most 2 extra"):
        vn.validator("cccd", 3)


# ---- the validators --------------------------------------------------------------------------
# Each case: arguments, and a fragment of the reason (None = valid).

CCCD = [
    (("001085012345",), None),
    (("001085012345", D(1985, 3, 2), "Nam"), None),
    (("079303000123", D(2003, 12, 31), "nữ"), None),
    (("079303000123", D(2003, 12, 31), unicodedata.normalize("NFD", "NỮ")), None),
    (("096200000001", D(2000, 1, 1), "M"), None),
    (("096201000001", D(2001, 1, 1), "male"), None),
    (("001185012345", D(1985, 3, 2), "F"), None),
    (("001185012345", None, "Female"), None),
    ((None,), None),
    (("",), None),
    (("00108501234",), "CCCD must be exactly 12 digits, got 11 characters"),
    (("0010850123456",), "exactly 12 digits"),
    (("00108501234a",), "CCCD must be digits only"),
    (("００１０８５０１２３４５",), "digits only"),  # full-width digits are not ASCII digits
    (("003085012345",), "place code 003"),
    (("099085012345",), "place code 099"),
    (("000085012345",), "place code 000"),
    (("001285012345", D(1985, 3, 2)),
     "century/sex digit 2 means a man born 2000–2099, but date_of_birth is 1985-03-02"),
    (("001085012345", D(2085, 3, 2)), "born 1900–1999"),
    (("001086012345", D(1985, 3, 2)), "birth-year digits 86 do not match date_of_birth 1985-03-02"),
    (("001085012345", dt.datetime(1986, 1, 1, 12)), "birth-year digits 85"),
    (("001185012345", D(1985, 3, 2), "Nam"), "century/sex digit 1 means a woman, but sex is 'Nam'"),
    (("001085012345", None, "Nữ"), "means a man"),
    (("001085012345", None, "Nu"), "sex 'Nu' is not recognised"),
    (("001085012345", None, "other"), "not recognised"),
]

CMND = [("123456789", None), (None, None), ("", None),
        ("12345678", "exactly 9 digits"), ("1234567890", "exactly 9 digits"), ("12345678x", "digits only")]

PHONE = [
    ("+84 912 345 678", None), ("0912.345.678", None), ("0912-345-678", None), ("84912345678", None),
    ("0321234567", None), ("0701234567", None), ("0871234567", None), ("0991234567", None), (None, None),
    ("0201234567", "prefix 020 is not a mobile prefix"), ("0241234567", "not a mobile prefix"),
    ("0951234567", "prefix 095 is not"), ("0511234567", "not a mobile prefix"),
    ("091234567", "must be +84, 84 or 0 followed by 9 digits"), ("09123456789", "followed by 9 digits"),
    ("+840912345678", "followed by 9 digits"), ("(091) 234 5678", "followed by 9 digits"),
]

TAX_CODE = [
    ("0101234567", None), ("0101234567001", None), ("0101234567-001", None), ("0101234567-999", None), (None, None),
    ("010123456", "must be 10 digits"), ("01012345678", "must be 10 digits"), ("0101234567-01", "must be 10 digits"),
    ("0101234567 001", "must be 10 digits"), ("0101234567-000", "branch number 000"),
    ("0101234567000", "branch number 000"),
]

BEFORE, MERGER, AFTER = D(2024, 5, 1), D(2025, 7, 1), D(2026, 1, 15)
ADMIN = [
    ((2, BEFORE, "province"), None),                       # Hà Giang, before the merger
    ((2, MERGER, "province"), "2 is not one of the 34 province codes in force on 2025-07-01"),
    ((2, AFTER, "province"), "not one of the 34 province codes"),
    ((2, None, "province"), "in force since 2025-07-01"),
    ((2, D(2025, 6, 30), "province"), None),
    ((8, AFTER, "province"), None),                        # Tuyên Quang
    (("01", AFTER, "province"), None),
    ((97, BEFORE, "province"), "not one of the 63 province codes in force on 2024-05-01"),
    ((3, BEFORE, "province"), "63 province codes"),
    ((4, AFTER, "commune"), None),                         # Phường Ba Đình
    (("00004", None, "commune"), None),
    ((1, AFTER, "commune"), "not one of the 3,321 commune codes"),  # Phúc Xá, merged away
    ((1, BEFORE, "commune"), None),                        # old communes: no list, not checked
    ((2, BEFORE, "any"), None),
    ((70, AFTER, "any"), None),
    ((1, AFTER, "any"), None),                             # province Hà Nội
    ((2, AFTER, "any"), "neither a province nor a commune code"),
    ((8, dt.datetime(2025, 7, 1, 0, 30), "province"), None),  # a datetime's date counts
    ((2, dt.datetime(2025, 6, 30, 23, 59), "province"), None),
    ((None, AFTER, "province"), None),
    (("", AFTER, "province"), None),
    ((2.0, AFTER, "province"), "not one of the 34"),       # pandas gives int columns with nulls as floats
    (("Hà Nội", AFTER, "province"), "'Hà Nội' is not a number"),
    ((2.5, AFTER, "province"), "is not a number"),
]

NFC = [("Nguyễn Thị Hương", None), ("ASCII only", None), (None, None), ("", None),
       (NFD_NAME, "not in Unicode NFC"), ("Ha\u0300 No\u0323i", "not in Unicode NFC")]


def _check(reason, expected):
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason, reason


@pytest.mark.parametrize(("args", "expected"), CCCD)
def test_cccd(args, expected):
    _check(vn.cccd_problem(*args), expected)


@pytest.mark.parametrize(("value", "expected"), CMND)
def test_cmnd(value, expected):
    _check(vn.cmnd_problem(value), expected)


@pytest.mark.parametrize(("value", "expected"), PHONE)
def test_phone(value, expected):
    _check(vn.phone_problem(value), expected)


@pytest.mark.parametrize(("value", "expected"), TAX_CODE)
def test_tax_code(value, expected):
    _check(vn.tax_code_problem(value), expected)


@pytest.mark.parametrize(("args", "expected"), ADMIN)
def test_admin_unit(args, expected):
    _check(vn.admin_unit_problem(*args), expected)


def test_admin_unit_rejects_an_unknown_level():
    with pytest.raises(ValueError, match="level must be"):
        vn.admin_unit_problem(1, level="district")


@pytest.mark.parametrize(("value", "expected"), NFC)
def test_nfc(value, expected):
    _check(vn.nfc_problem(value), expected)


# ---- Spark gives exactly what the plain functions give ----------------------------------------

def test_spark_problem_matches_the_plain_functions(spark):
    from pyspark.sql import functions as F

    day = lambda v: v.date() if isinstance(v, dt.datetime) else v  # noqa: E731 (Spark column is a date)
    texts = [(a[0],) for a, _ in CCCD] + [(v,) for cases in (CMND, PHONE, TAX_CODE, NFC) for v, _ in cases]
    cccd = [(value, day(dob), sex) for (value, dob, sex) in ((a + (None, None))[:3] for a, _ in CCCD)]
    admin = [(code, day(at)) for (code, at, _), _ in ADMIN if isinstance(code, int | None)]  # an int column
    n = max(len(texts), len(cccd), len(admin))
    cell = lambda rows, i, width: rows[i] if i < len(rows) else (None,) * width  # noqa: E731
    rows = [(*cell(texts, i, 1), *cell(cccd, i, 3), *cell(admin, i, 2)) for i in range(n)]
    df = spark.createDataFrame(rows, "text string, citizen_id string, dob date, sex string, code int, at date")
    noon = F.to_timestamp(F.concat(F.col("at").cast("string"), F.lit(" 12:00:00")))  # a timestamp `at` column
    checks = {
        "cccd_full": (vn.spark_problem("cccd", F.col("citizen_id"), F.col("dob"), F.col("sex")),
                      lambda r: vn.cccd_problem(r.citizen_id, r.dob, r.sex)),
        **{f"{name}_text": (vn.spark_problem(name, F.col("text")), lambda r, fn=vn.VALIDATORS[name].fn: fn(r.text))
           for name in ("cccd", "cmnd", "phone", "tax_code", "nfc")},
        **{f"admin_{level}": (vn.spark_problem("admin_unit", F.col("code"), F.col("at"), level=level),
                              lambda r, level=level: vn.admin_unit_problem(r.code, r.at, level))
           for level in ("province", "commune", "any")},
        "admin_ts": (vn.spark_problem("admin_unit", F.col("code"), noon, level="province"),
                     lambda r: vn.admin_unit_problem(r.code, r.at, "province")),
        "admin_today": (vn.spark_problem("admin_unit", F.col("code"), level="commune"),
                        lambda r: vn.admin_unit_problem(r.code, level="commune")),
    }
    out = df.select("*", *[col.alias(name) for name, (col, _) in checks.items()]).collect()
    assert len(out) == n
    for row in out:
        for name, (_, plain) in checks.items():
            assert row[name] == plain(row), (name, row)
    assert sum(row["admin_province"] is not None for row in out) >= 5  # the frame does exercise failures


def _corpus(seed: int, n: int) -> list[str]:
    """Texts near the validators' edges: digits, separators, signs, spaces of every kind, letters, accents."""
    import random

    rnd = random.Random(seed)
    alphabet = list("0123456789" * 4 + "+-. ()x") + [" ", "\t", "\n", "\u00a0", "\u2003", "\x1c", "\u200b",
                                                      "\uff10", "a", "N", "ữ", "\u0301", "'", '"']
    seeds = ["0912345678", "+84912345678", "001085012345", "0101234567-000", "123456789", "00004", "Nam", "nữ"]
    texts = []
    for _ in range(n):
        base = list(rnd.choice(seeds)) if rnd.random() < 0.6 else []
        for _ in range(rnd.randint(0, 3)):  # mutate: insert, delete or replace a character
            at = rnd.randint(0, len(base))
            choice = rnd.random()
            if choice < 0.4:
                base.insert(at, rnd.choice(alphabet))
            elif base and choice < 0.7:
                del base[min(at, len(base) - 1)]
            elif base:
                base[min(at, len(base) - 1)] = rnd.choice(alphabet)
        texts.append("".join(base) if base or rnd.random() < 0.9 else None)
    return texts


def test_spark_expressions_match_the_plain_functions_on_a_generated_corpus(spark):
    """Beyond the listed cases: near-miss IDs, phone numbers, codes and sexes, compared value by value."""
    from pyspark.sql import functions as F

    texts, sexes = _corpus(20261203, 1500), _corpus(7, 1500)
    dobs = [D(1900 + (i * 37) % 200, 1 + i % 12, 1 + i % 28) if i % 5 else None for i in range(len(texts))]
    ats = [(BEFORE, MERGER, AFTER, None)[i % 4] for i in range(len(texts))]
    df = spark.createDataFrame(list(zip(texts, dobs, sexes, ats)), "text string, dob date, sex string, at date")
    checks = {
        **{name: (vn.spark_problem(name, F.col("text")), lambda r, fn=vn.VALIDATORS[name].fn: fn(r.text))
           for name in ("cmnd", "phone", "tax_code", "nfc")},
        "cccd": (vn.spark_problem("cccd", F.col("text"), F.col("dob"), F.col("sex")),
                 lambda r: vn.cccd_problem(r.text, r.dob, r.sex)),
        "sex_only": (vn.spark_problem("cccd", F.lit("001085012345"), F.lit(None).cast("date"), F.col("sex")),
                    lambda r: vn.cccd_problem("001085012345", None, r.sex)),
        **{f"admin_{level}": (vn.spark_problem("admin_unit", F.col("text"), F.col("at"), level=level),
                              lambda r, level=level: vn.admin_unit_problem(r.text, r.at, level))
           for level in ("province", "commune", "any")},
    }
    out = df.select("*", *[col.alias(name) for name, (col, _) in checks.items()]).collect()
    failing = {name: sum(row[name] is not None for row in out) for name in checks}
    mismatches = [(name, row.text, row.sex, row[name], plain(row)) for row in out
                  for name, (_, plain) in checks.items() if row[name] != plain(row)]
    assert not mismatches, mismatches[:10]
    passing = {name: len(out) - n for name, n in failing.items()}
    assert min(failing.values()) > 0 and min(passing[n] for n in ("phone", "cccd", "sex_only", "admin_any")) > 20, \
        (failing, passing)  # the corpus does reach both answers


def test_spark_expressions_read_codes_by_their_column_type(spark):
    """A code column may be text, a whole number or a float (pandas gives int columns with NULLs as floats)."""
    from pyspark.sql import functions as F

    rows = [(" 01 ", 1, 2.0, True), ("Hà Nội", 8, 2.5, False), ("00004", None, float("nan"), None), ("", -1, 79.0, None)]
    df = spark.createDataFrame(rows, "s string, i bigint, d double, b boolean")
    given = df.collect()
    for name in df.columns:
        got = [r[0] for r in df.select(vn.spark_problem("admin_unit", F.col(name), level="province")).collect()]
        want = [vn.admin_unit_problem(r[name], level="province") for r in given]
        assert got == want, name
    assert vn.admin_unit_problem(True) == "admin unit code True is not a number"


def test_spark_problem_checks_its_arguments_on_the_driver(spark):
    from pyspark.sql import functions as F

    with pytest.raises(ValueError, match="no option level"):
        vn.spark_problem("phone", F.col("x"), level="commune")
    with pytest.raises(ValueError, match="at most 1 extra"):
        vn.spark_problem("admin_unit", F.col("a"), F.col("b"), F.col("c"))
