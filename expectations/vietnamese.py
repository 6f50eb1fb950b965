"""Vietnamese identifiers and administrative codes: plain validators and one Spark adapter.

Every validator takes a value (plus optional context) and returns ``None`` when the value is
valid, or a short English reason when it is not. ``None`` and empty values are valid here:
whether a field may be empty is a separate not-null rule. ``spark_problem`` gives the same
answers over a Spark column (the checks rewritten as Spark expressions, tested against these).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

import pandas as pd  # at module level: pandas_udf resolves the UDF's type hints from these globals

if TYPE_CHECKING:
    from pyspark.sql import Column

MERGER_DATE = dt.date(2025, 7, 1)  # Resolution 202/2025/QH15: 63 provinces became 34
Level = Literal["province", "commune", "any"]

_OLD_PROVINCES_CSV = Path(__file__).parent / "data" / "old_provinces.csv"
_MOBILE_PREFIXES = frozenset(
    [*range(32, 40), 52, 55, 56, 58, 59, 70, *range(76, 80), *range(81, 90), *range(90, 95), *range(96, 100)])
_SEXES = {"nam": "man", "m": "man", "male": "man", "nữ": "woman", "f": "woman", "female": "woman"}


# ---- reference data (loaded on first use, once per process) ---------------------------------

@functools.cache
def old_provinces() -> tuple[tuple[int, str, int], ...]:
    """The 63 provinces before 2025-07-01 as (GSO code, name, code of the province it joined)."""
    with _OLD_PROVINCES_CSV.open(encoding="utf-8", newline="") as f:
        return tuple((int(r["old_code"]), r["old_name"], int(r["new_code"])) for r in csv.DictReader(f))


@functools.cache
def old_province_codes() -> frozenset[int]:
    """GSO codes of the 63 provinces before 2025-07-01."""
    return frozenset(code for code, _, _ in old_provinces())


@functools.cache
def province_codes() -> frozenset[int]:
    """Codes of the 34 provinces from 2025-07-01 (``vietnam-provinces`` package)."""
    from vietnam_provinces import Province

    return frozenset(int(p.code) for p in Province.iter_all())


@functools.cache
def commune_codes() -> frozenset[int]:
    """Codes of the 3,321 communes (xã, phường, đặc khu) from 2025-07-01."""
    from vietnam_provinces import Ward

    return frozenset(int(w.code) for w in Ward.iter_all())


_LAZY = {"OLD_PROVINCES": old_provinces, "OLD_PROVINCE_CODES": old_province_codes,
         "PROVINCE_CODES": province_codes, "COMMUNE_CODES": commune_codes}


def __getattr__(name: str) -> Any:
    """Module constants ``OLD_PROVINCES``, ``PROVINCE_CODES``… are loaded on first access."""
    if name in _LAZY:
        return _LAZY[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def old_to_new_province(old_code: int) -> int:
    """The code of the province that an old (pre-2025-07-01) province became part of."""
    for code, _, new_code in old_provinces():
        if code == int(old_code):
            return new_code
    raise ValueError(f"{old_code} is not one of the 63 province codes in force before {MERGER_DATE}")


# ---- small helpers ---------------------------------------------------------------------------

def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "") or (
        isinstance(value, float) and math.isnan(value))


def _as_date(value: Any) -> dt.date | None:
    """A date from a date, datetime or pandas Timestamp (a datetime subclass); NaT/None → None."""
    if value is None or value != value:  # NaT != NaT
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    return value


def _digits_problem(label: str, value: str, n: int) -> str | None:
    """Why ``value`` is not exactly ``n`` ASCII digits (without echoing it: IDs are personal data)."""
    if len(value) != n:
        return f"{label} must be exactly {n} digits, got {len(value)} characters"
    if not re.fullmatch(r"[0-9]+", value):
        return f"{label} must be digits only (0–9)"
    return None


def _sex(value: str) -> str | None:
    """'man', 'woman', or None when the text is not one we recognise."""
    return _SEXES.get(unicodedata.normalize("NFC", value).strip().casefold())


# ---- validators ------------------------------------------------------------------------------

def cccd_problem(value: str | None, date_of_birth: dt.date | None = None, sex: str | None = None) -> str | None:
    """Check a citizen ID (CCCD, 12 digits) and, when given, its agreement with birth date and sex.

    Digits 1–3 are the birthplace province (old GSO code, 001–096); digit 4 is century and sex
    (0/1 = man/woman born 1900–1999, 2/3 = 2000–2099, … 8/9 = 2300–2399); digits 5–6 are the last
    two digits of the birth year. Sex may be Nam/Nữ, M/F or male/female (any case, NFC or NFD).
    """
    if _is_empty(value):
        return None
    value = str(value)
    if problem := _digits_problem("CCCD", value, 12):
        return problem
    if int(value[:3]) not in old_province_codes():
        return f"place code {value[:3]} is not one of the 63 province codes (001–096)"
    digit = int(value[3])
    first_year = 1900 + 100 * (digit // 2)
    person = "woman" if digit % 2 else "man"
    born = _as_date(date_of_birth)
    if born is not None:
        if not first_year <= born.year < first_year + 100:
            return (f"century/sex digit {digit} means a {person} born {first_year}–{first_year + 99}, "
                    f"but date_of_birth is {born.isoformat()}")
        if born.year % 100 != int(value[4:6]):
            return f"birth-year digits {value[4:6]} do not match date_of_birth {born.isoformat()}"
    if not _is_empty(sex):
        stated = _sex(str(sex))
        if stated is None:
            return f"sex '{sex}' is not recognised (use Nam/Nữ, M/F or male/female)"
        if stated != person:
            return f"century/sex digit {digit} means a {person}, but sex is '{sex}'"
    return None


def cmnd_problem(value: str | None) -> str | None:
    """Check an old ID card number (CMND): exactly 9 digits."""
    if _is_empty(value):
        return None
    return _digits_problem("CMND", str(value), 9)


def phone_problem(value: str | None) -> str | None:
    """Check a Vietnamese mobile number: +84, 84 or 0, then 9 digits starting with a mobile prefix.

    Spaces, dots and hyphens are ignored. Landlines (0 + 2x area code) are not mobile numbers.
    """
    if _is_empty(value):
        return None
    match = re.fullmatch(r"(?:\+84|84|0)([0-9]{9})", re.sub(r"[\s.\-]", "", str(value)))
    if not match:
        return "phone number must be +84, 84 or 0 followed by 9 digits (spaces, dots, hyphens allowed)"
    if int(match[1][:2]) not in _MOBILE_PREFIXES:
        return f"phone prefix 0{match[1][:2]} is not a mobile prefix (a landline or unassigned)"
    return None


def tax_code_problem(value: str | None) -> str | None:
    """Check a tax code's format: 10 digits, or 13 written as 13 digits or ``<10 digits>-<3 digits>``.

    The last 3 digits of a 13-digit code are a branch number, 001–999. Format only: the check
    digit (10th) is not verified.
    """
    if _is_empty(value):
        return None
    match = re.fullmatch(r"[0-9]{10}(?:-?([0-9]{3}))?", str(value))
    if not match:
        return "tax code must be 10 digits, 13 digits, or 10 digits-3 digits"
    if match[1] == "000":
        return "tax code branch number 000 is not allowed (001–999)"
    return None


def _as_code(code: Any) -> int | None:
    """An int from an int, an integral float (pandas) or a digit string like '01'; else None."""
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, float):
        return int(code) if code.is_integer() else None
    text = str(code).strip()
    return int(text) if re.fullmatch(r"[0-9]+", text) else None


def admin_unit_problem(code: int | str | None, at: dt.date | None = None, level: Level = "any") -> str | None:
    """Check a province or commune code against the units in force on ``at`` (default: today's).

    From 2025-07-01 (or when ``at`` is None) the valid codes are the 34 provinces and 3,321
    communes; before that a province code must be one of the 63 old ones. Commune codes before
    2025-07-01 cannot be checked (we hold no list of the old communes), so they — and ``any``-level
    codes — always pass then. Code strings like "01" or "00004" count as their number; a datetime
    counts by its date as given (Spark passes timestamps in the session time zone).
    """
    if level not in ("province", "commune", "any"):
        raise ValueError(f"level must be province, commune or any, not {level!r}")
    if _is_empty(code):
        return None
    number = _as_code(code)
    if number is None:
        shown = f"'{code}'" if isinstance(code, str) else str(code)
        return f"admin unit code {shown} is not a number"
    on = _as_date(at)
    if on is not None and on < MERGER_DATE:
        if level == "province" and number not in old_province_codes():
            return f"{number} is not one of the 63 province codes in force on {on.isoformat()} (before {MERGER_DATE})"
        return None
    when = f"on {on.isoformat()}" if on else f"since {MERGER_DATE}"
    is_province, is_commune = number in province_codes(), number in commune_codes()
    if level == "province" and not is_province:
        return f"{number} is not one of the 34 province codes in force {when}"
    if level == "commune" and not is_commune:
        return f"{number} is not one of the 3,321 commune codes in force {when}"
    if level == "any" and not (is_province or is_commune):
        return f"{number} is neither a province nor a commune code in force {when}"
    return None


def nfc_problem(value: str | None) -> str | None:
    """Check that text is in Unicode NFC (precomposed Vietnamese letters, as the lake stores them)."""
    if _is_empty(value) or not isinstance(value, str):
        return None
    if unicodedata.is_normalized("NFC", value):
        return None
    return "text is not in Unicode NFC (it has decomposed accents); normalise it to NFC"


# ---- registry --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Validator:
    """A validator with the optional extra inputs it takes (positional, in order) and its options."""

    fn: Callable[..., str | None]
    extras: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


VALIDATORS: dict[str, Validator] = {
    "cccd": Validator(cccd_problem, extras=("date_of_birth", "sex")),
    "cmnd": Validator(cmnd_problem),
    "phone": Validator(phone_problem),
    "tax_code": Validator(tax_code_problem),
    "admin_unit": Validator(admin_unit_problem, extras=("at",), options=("level",)),
    "nfc": Validator(nfc_problem),
}


def validator(name: str, n_extras: int = 0, options: dict | None = None) -> Validator:
    """The named validator, after checking that it takes that many extra inputs and those options."""
    if name not in VALIDATORS:
        raise ValueError(f"unknown validator {name!r}; known: {', '.join(VALIDATORS)}")
    found = VALIDATORS[name]
    if n_extras > len(found.extras):
        raise ValueError(f"{name} takes at most {len(found.extras)} extra inputs ({', '.join(found.extras)}), "
                         f"got {n_extras}")
    unknown = set(options or {}) - set(found.options)
    if unknown:
        raise ValueError(f"{name} has no option {', '.join(sorted(unknown))}; options: {found.options or 'none'}")
    return found


def map_problems(name: str, *columns: pd.Series, **options: Any) -> pd.Series:
    """Apply a validator row by row to pandas Series (the value, then its extras): reason or None."""
    fn = validator(name, len(columns) - 1, options).fn

    def plain(cell: Any) -> Any:  # NaN, NaT and pd.NA → None; pandas iterates as Python scalars
        return None if cell is None or (not isinstance(cell, str) and pd.isna(cell)) else cell

    reasons = [fn(*map(plain, row), **options) for row in zip(*columns)]
    return pd.Series(reasons, index=columns[0].index, dtype=object)


# ---- Spark adapter ---------------------------------------------------------------------------

def spark_problem(name: str, column: Column, *extra: Column, **options: Any) -> Column:
    """A string Column with the validator's reason per row, NULL when valid.

    The same checks as Spark expressions (``expectations.vietnamese_spark``), run in the JVM on
    classic Spark and on Spark Connect alike, with no Python worker.
    """
    from expectations.vietnamese_spark import problem

    return problem(name, column, *extra, **options)


def spark_udf_problem(name: str, column: Column, *extra: Column, **options: Any) -> Column:
    """The same reasons through a vectorised (Arrow) pandas UDF over the plain function.

    For Great Expectations on Spark only (a batch over the pandas limit): it sums a rule's
    condition in an aggregate, where Spark refuses ICU's NFC call (``reflect`` is not
    deterministic). The UDF starts Python workers in the Spark server, once per session, which
    a batch that size does not notice. This module must be importable on those workers;
    ``options`` (e.g. ``level``) travel in the UDF's closure, not as columns.
    """
    from pyspark.sql.functions import pandas_udf

    validator(name, len(extra), options)  # fail on the driver, not in a worker

    def problems(*series: pd.Series) -> pd.Series:
        return map_problems(name, *series, **options)

    problems.__name__ = f"{name}_problem"  # how the UDF is named in query plans and errors
    return pandas_udf(problems, "string")(column, *extra)
