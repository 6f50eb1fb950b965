"""The Vietnamese validators as Spark column expressions, evaluated in the JVM.

Each function here gives, per row, the reason ``expectations.vietnamese`` gives for the same
value (NULL when valid), built from Spark's own functions: regular expressions, the small code
sets as literals and the admin-unit ones as one string each (``_code_map``), and ICU4J's NFC
(which Spark 4 ships). No Python worker runs them. A pandas UDF
did this before; it cost each Spark Connect session ≈ 2.5 s to start its Python workers (a
silver task in Airflow is a session of its own) and every batch ≈ 0.3 s more through Arrow.

The plain functions stay the definition: ``tests/unit/test_vietnamese.py`` checks that these
expressions and the functions agree, case by case and on a generated corpus.

Values reach a validator as Spark types, so the column's type, read with ``typeof`` (folded to a
constant when the plan is built), decides what counts as a number or as text, as the Python type
does in the plain functions.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from pyspark.sql import Column
from pyspark.sql import functions as F

from expectations import vietnamese as vn

DIGITS = r"\A[0-9]+\z"  # Java's `$` would also match before a final newline
INTEGERS = ("tinyint", "smallint", "int", "bigint")
FLOATS = ("float", "double")


@functools.cache
def _space_class() -> str:
    """A Java character class of exactly the characters Python's ``str.isspace()`` accepts."""
    return "".join(f"\\u{ord(c):04x}" for c in map(chr, range(0x10000)) if c.isspace())


def _strip(text: Column) -> Column:
    """``str.strip()``: leading and trailing whitespace as Python counts it."""
    space = _space_class()
    return F.regexp_replace(text, rf"\A[{space}]+|[{space}]+\z", "")


def _kind(column: Column) -> Column:
    return F.call_function("typeof", column)


def composed(text: Column) -> Column:
    """NFC through ICU4J (``Normalizer.compose(text, false)``); NULL stays NULL (ICU would throw)."""
    return F.when(text.isNotNull(), F.call_function("reflect", F.lit("com.ibm.icu.text.Normalizer"),
                                                    F.lit("compose"), text, F.lit(False)))


def _empty(value: Column) -> Column:
    """``vietnamese._is_empty``: NULL, the empty string, or a floating NaN."""
    kind = _kind(value)
    return (value.isNull() | ((kind == "string") & (value.cast("string") == ""))
            | (kind.isin(*FLOATS) & F.isnan(value.try_cast("double"))))


def _iso(day: Column) -> Column:
    return F.date_format(day, "yyyy-MM-dd")


def _digits(label: str, text: Column, n: int) -> list[tuple[Column, Column]]:
    """``vietnamese._digits_problem`` as checks for ``_first``."""
    return [(F.length(text) != n, F.concat(F.lit(f"{label} must be exactly {n} digits, got "),
                                           F.length(text).cast("string"), F.lit(" characters"))),
            (~text.rlike(DIGITS), F.lit(f"{label} must be digits only (0–9)"))]


def _first(*checks: tuple[Column, Column]) -> Column:
    """The reason of the first check whose condition holds (one CASE WHEN), NULL when none does."""
    out = F.when(*checks[0])
    for condition, reason in checks[1:]:
        out = out.when(condition, reason)
    return out


def _unless_empty(value: Column, problem: Column) -> Column:
    return F.when(~_empty(value), problem)


# ---- validators (same order of checks as the plain functions) --------------------------------

def cccd(value: Column, date_of_birth: Column | None = None, sex: Column | None = None) -> Column:
    text = value.cast("string")
    digit = F.substring(text, 4, 1).try_cast("int")
    first_year = F.lit(1900) + (digit - digit % 2) * 50
    person = F.when(digit % 2 == 1, F.lit("woman")).otherwise(F.lit("man"))
    checks = [*_digits("CCCD", text, 12),
              (~F.substring(text, 1, 3).try_cast("int").isin(*sorted(vn.old_province_codes())),
               F.concat(F.lit("place code "), F.substring(text, 1, 3),
                        F.lit(" is not one of the 63 province codes (001–096)")))]
    if date_of_birth is not None:
        born = F.to_date(date_of_birth)
        checks += [(born.isNotNull() & ~F.year(born).between(first_year, first_year + 99),
                    F.concat(F.lit("century/sex digit "), digit.cast("string"), F.lit(" means a "), person,
                             F.lit(" born "), first_year.cast("string"), F.lit("–"),
                             (first_year + 99).cast("string"), F.lit(", but date_of_birth is "), _iso(born))),
                   (born.isNotNull() & (F.year(born) % 100 != F.substring(text, 5, 2).try_cast("int")),
                    F.concat(F.lit("birth-year digits "), F.substring(text, 5, 2),
                             F.lit(" do not match date_of_birth "), _iso(born)))]
    if sex is not None:
        said = F.lower(_strip(composed(sex.cast("string"))))
        men = [k for k, v in vn._SEXES.items() if v == "man"]
        women = [k for k, v in vn._SEXES.items() if v == "woman"]
        stated = F.when(said.isin(*men), F.lit("man")).when(said.isin(*women), F.lit("woman"))
        given = ~_empty(sex)
        shown = F.concat(F.lit("'"), sex.cast("string"), F.lit("'"))
        checks += [(given & stated.isNull(),
                    F.concat(F.lit("sex "), shown, F.lit(" is not recognised (use Nam/Nữ, M/F or male/female)"))),
                   (given & (stated != person),
                    F.concat(F.lit("century/sex digit "), digit.cast("string"), F.lit(" means a "), person,
                             F.lit(", but sex is "), shown))]
    return _unless_empty(value, _first(*checks))


def cmnd(value: Column) -> Column:
    return _unless_empty(value, _first(*_digits("CMND", value.cast("string"), 9)))


def phone(value: Column) -> Column:
    compact = F.regexp_replace(value.cast("string"), rf"[{_space_class()}.\-]", "")
    number = F.regexp_extract(compact, r"\A(?:\+84|84|0)([0-9]{9})\z", 1)  # '' when it does not match
    prefix = F.substring(number, 1, 2)
    return _unless_empty(value, _first(
        (number == "", F.lit("phone number must be +84, 84 or 0 followed by 9 digits (spaces, dots, hyphens "
                             "allowed)")),
        (~prefix.try_cast("int").isin(*sorted(vn._MOBILE_PREFIXES)),
         F.concat(F.lit("phone prefix 0"), prefix, F.lit(" is not a mobile prefix (a landline or unassigned)")))))


def tax_code(value: Column) -> Column:
    text = value.cast("string")
    shape = r"\A[0-9]{10}(?:-?([0-9]{3}))?\z"
    return _unless_empty(value, _first(
        (~text.rlike(shape), F.lit("tax code must be 10 digits, 13 digits, or 10 digits-3 digits")),
        (F.regexp_extract(text, shape, 1) == "000", F.lit("tax code branch number 000 is not allowed (001–999)"))))


@functools.cache
def _code_map(codes: frozenset[int]) -> str:
    """``codes`` as a string whose character at position ``code`` is 1 (a code is in) or 0."""
    return "".join("1" if n in codes else "0" for n in range(max(codes) + 1))


def _code_number(code: Column) -> Column:
    """``vietnamese._as_code`` as text (no leading zeros): NULL when the value is not a number."""
    kind = _kind(code)
    as_double = code.try_cast("double")
    digits = _strip(code.cast("string"))
    return (F.when(kind.isin(*INTEGERS), code.cast("string"))
            .when(kind.isin(*FLOATS), F.when(as_double == F.floor(as_double),
                                             as_double.try_cast("decimal(38,0)").cast("string")))
            .when(kind == "boolean", F.lit(None).cast("string"))
            .otherwise(F.when(digits.rlike(DIGITS), F.regexp_replace(digits, r"\A0+(?=[0-9])", ""))))


def admin_unit(code: Column, at: Column | None = None, level: vn.Level = "any") -> Column:
    vn.admin_unit_problem(None, level=level)  # refuses an unknown level, as the plain function does
    kind = _kind(code)
    number_text = _code_number(code)
    number = number_text.try_cast("int")  # a number too long for an int is NULL here, and in no set

    def member(codes: frozenset[int]) -> Column:
        # one literal, a character per code (see _code_map), not 3,321 literals: classic PySpark builds each
        # literal with a call to the JVM, and the parity tests build these columns many times
        found = F.substring(F.lit(_code_map(codes)), number + 1, F.lit(1)) == "1"
        return F.coalesce((number >= 0) & found, F.lit(False))

    shown = (F.when(kind == "string", F.concat(F.lit("'"), code.cast("string"), F.lit("'")))
             .when(kind == "boolean", F.initcap(code.cast("string"))).otherwise(code.cast("string")))
    on = F.to_date(at) if at is not None else F.lit(None).cast("date")
    merger = vn.MERGER_DATE.isoformat()
    when = F.when(on.isNotNull(), F.concat(F.lit("on "), _iso(on))).otherwise(F.lit(f"since {merger}"))
    is_province, is_commune = member(vn.province_codes()), member(vn.commune_codes())
    # before the merger only a province code is checked, against the 63 provinces of then
    before = (F.when(~member(vn.old_province_codes()),
                     F.concat(number_text, F.lit(" is not one of the 63 province codes in force on "), _iso(on),
                              F.lit(f" (before {merger})")))
              if level == "province" else F.lit(None).cast("string"))
    if level == "province":
        after = F.when(~is_province, F.concat(number_text, F.lit(" is not one of the 34 province codes in force "),
                                              when))
    elif level == "commune":
        after = F.when(~is_commune, F.concat(number_text, F.lit(" is not one of the 3,321 commune codes in force "),
                                             when))
    else:
        after = F.when(~(is_province | is_commune),
                       F.concat(number_text, F.lit(" is neither a province nor a commune code in force "), when))
    return _unless_empty(code, F.when(number_text.isNull(),
                                      F.concat(F.lit("admin unit code "), shown, F.lit(" is not a number")))
                         .when(on < F.lit(merger).cast("date"), before)
                         .otherwise(after))


def nfc(value: Column) -> Column:
    text = value.cast("string")
    return F.when((_kind(value) == "string") & text.rlike("[^\\x00-\\x7F]") & (composed(text) != text),
                  F.lit("text is not in Unicode NFC (it has decomposed accents); normalise it to NFC"))


EXPRESSIONS: dict[str, Callable[..., Column]] = {
    "cccd": cccd, "cmnd": cmnd, "phone": phone, "tax_code": tax_code, "admin_unit": admin_unit, "nfc": nfc,
}


def problem(name: str, column: Column, *extra: Column, **options: Any) -> Column:
    """A string Column with the named validator's reason per row, NULL when valid."""
    vn.validator(name, len(extra), options)  # the same argument checks as the plain functions
    return EXPRESSIONS[name](column, *extra, **options)
