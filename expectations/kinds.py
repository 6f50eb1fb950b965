"""Each rule kind's two halves, side by side: the Spark check and the Great Expectations expectation.

The silver job flags every row with the Spark half (:func:`spark_check`: a column that is true
when the row breaks the rule, and the reason a data steward reads) and audits the batch with the
Great Expectations half (:func:`expectation`); the audit stops the job when the two count other
failing rows.  A row-level kind needs both halves, a table-level kind (``unique``, ``row_count``)
only the expectation: ``tests/unit/test_rule_kinds.py`` fails when a kind of the spec model has
not.  Great Expectations is imported by the expectation halves only, so a job that only flags
rows (bronze replay, gold) does not load it.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Callable

from pyspark.sql import Column as SparkColumn
from pyspark.sql import functions as F

from lakehouse.config.spec import VIETNAMESE_CHECKS, Rule, SourceDataset, range_bounds, resolve_bound

Check = tuple[SparkColumn, SparkColumn]  # (the row breaks the rule, why)


def known_column(rule: Rule) -> str:
    """The column ``flag_rows`` joins a reference rule's valid codes in as (true when the code is known)."""
    return f"_known_{rule.rule_id}"


def _gxe():
    import great_expectations.expectations as gxe

    return gxe


# ---- not_null ----------------------------------------------------------------------------------

def _spark_not_null(rule: Rule, spec: SourceDataset, today: dt.date) -> Check:
    c = rule.columns[0]
    return F.col(c).isNull(), F.lit(f"{c}: required but empty")


def _expect_not_null(rule: Rule, meta: dict, context: dict):
    return _gxe().ExpectColumnValuesToNotBeNull(column=rule.columns[0], meta=meta)


# ---- range: numbers, or dates and timestamps with bounds relative to the day of the check --------

def _spark_range(rule: Rule, spec: SourceDataset, today: dt.date) -> Check:
    c = rule.columns[0]
    column_type = spec.column(c).type
    value = F.col(c)
    if column_type in ("date", "timestamp"):
        low, high = range_bounds(rule, column_type, today)
        below = F.lit(False) if low is None else value < _literal(low, column_type)
        above = F.lit(False) if high is None else value > _literal(high, column_type)
        reason = F.concat(F.lit(f"{c}: "), value.cast("string"),
                          F.when(below, F.lit(f" is before {_date_bound(rule.min, today)}"))
                          .otherwise(F.lit(f" is after {_date_bound(rule.max, today)}")))
        return value.isNotNull() & (below | above), reason
    least, most = range_bounds(rule, column_type, today)  # numbers: rule.min and rule.max
    low = F.lit(False) if least is None else value < F.lit(least)
    high = F.lit(False) if most is None else value > F.lit(most)
    return (value.isNotNull() & (low | high),
            F.concat(F.lit(f"{c}: "), value.cast("string"),
                     F.lit(f" is outside [{_number(rule.min)}, {_number(rule.max)}]")))


def _expect_range(rule: Rule, meta: dict, context: dict):
    bounds = context.get("bounds")
    if bounds is None and any(isinstance(b, str) for b in (rule.min, rule.max)):
        raise ValueError(f"rule {rule.rule_id}: pass its date bounds resolved for the day of the check "
                         "(ge_bounds)")
    low, high = bounds if bounds is not None else (rule.min, rule.max)
    return _gxe().ExpectColumnValuesToBeBetween(column=rule.columns[0], min_value=low, max_value=high, meta=meta)


def _iso(value: dt.date) -> str:
    return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()


def _literal(bound: dt.date, column_type: str) -> SparkColumn:
    """A date or timestamp as a SQL literal, read like the values: a timestamp in the session time zone (UTC).

    (``F.lit`` of a Python datetime would read it in the driver's local time zone instead.)
    """
    return F.lit(_iso(bound)).cast(column_type)


def _date_bound(bound: str | None, today: dt.date) -> str:
    """A date bound for a reason: as written, and the day it meant if it is relative: ``today-120y (1906-12-02)``."""
    if bound is None:
        return "…"
    text = _iso(resolve_bound(bound, today))
    return text if text == bound else f"{bound} ({text})"


def _number(value: float | None) -> str:
    if value is None:
        return "…"
    return str(int(value)) if float(value).is_integer() else str(value)


# ---- regex ---------------------------------------------------------------------------------------

def _spark_regex(rule: Rule, spec: SourceDataset, today: dt.date) -> Check:
    c = rule.columns[0]
    value = F.col(c)
    return (value.isNotNull() & ~value.cast("string").rlike(rule.pattern),
            F.concat(F.lit(f"{c}: '"), value.cast("string"), F.lit(f"' does not match {rule.pattern}")))


def _expect_regex(rule: Rule, meta: dict, context: dict):
    return _gxe().ExpectColumnValuesToMatchRegex(column=rule.columns[0], regex=rule.pattern, meta=meta)


# ---- in_set --------------------------------------------------------------------------------------

def _spark_in_set(rule: Rule, spec: SourceDataset, today: dt.date) -> Check:
    c = rule.columns[0]
    value = F.col(c)
    return (value.isNotNull() & ~value.isin(list(rule.values)),
            F.concat(F.lit(f"{c}: '"), value.cast("string"), F.lit("' is not one of the allowed values")))


def _expect_in_set(rule: Rule, meta: dict, context: dict):
    return _gxe().ExpectColumnValuesToBeInSet(column=rule.columns[0], value_set=list(rule.values), meta=meta)


# ---- reference: codes a master table holds (read at run time) ------------------------------------

def _spark_reference(rule: Rule, spec: SourceDataset, today: dt.date) -> Check:
    c = rule.columns[0]
    value = F.col(c)
    ref = f"{rule.reference.dataset}.{rule.reference.column}"
    return (value.isNotNull() & F.col(known_column(rule)).isNull(),
            F.concat(F.lit(f"{c}: "), value.cast("string"), F.lit(f" is not a known {ref}")))


def _expect_reference(rule: Rule, meta: dict, context: dict):
    codes = (context.get("reference_values") or {}).get(rule.rule_id)
    if codes is None:
        raise ValueError(f"rule {rule.rule_id}: pass the codes of {rule.reference.dataset}.{rule.reference.column}")
    return _gxe().ExpectColumnValuesToBeInSet(column=rule.columns[0], value_set=list(codes), meta=meta)


# ---- the Vietnamese kinds (cccd, cmnd, phone, tax_code, admin_unit, nfc): expectations/vietnamese.py --

def _spark_vietnamese(rule: Rule, spec: SourceDataset, today: dt.date) -> Check:
    from expectations.vietnamese import spark_problem

    c = rule.columns[0]
    extra = [F.col(x) for x in rule.columns[1:]] + ([F.col(rule.at)] if rule.at else [])
    options = {"level": rule.level} if rule.check == "admin_unit" else {}
    problem = spark_problem(rule.check, F.col(c), *extra, **options)
    # the reason does not repeat the value: ID and phone numbers are personal data (the record keeps it)
    return problem.isNotNull(), F.concat(F.lit(f"{c}: "), problem)


def _expect_vietnamese(rule: Rule, meta: dict, context: dict):
    from expectations.custom import expectation_for_validator

    columns = list(rule.columns) + ([rule.at] if rule.at else [])
    options = {"level": rule.level} if rule.check == "admin_unit" else {}
    return expectation_for_validator(rule.check, columns, options, meta)


# ---- table-level kinds: judged on the whole batch, by Great Expectations only ----------------------

def _expect_unique(rule: Rule, meta: dict, context: dict):
    if len(rule.columns) == 1:
        return _gxe().ExpectColumnValuesToBeUnique(column=rule.columns[0], meta=meta)
    return _gxe().ExpectCompoundColumnsToBeUnique(column_list=list(rule.columns), meta=meta)


def row_count_bounds(rule: Rule, previous_rows: int | None) -> tuple[int | None, int | None]:
    """The batch's allowed row count: the spec's min/max, narrowed by ``max_change_pct`` of the previous batch."""
    low = None if rule.min is None else math.ceil(rule.min)
    high = None if rule.max is None else math.floor(rule.max)
    if rule.max_change_pct is not None and previous_rows is not None:
        spread = previous_rows * rule.max_change_pct / 100.0
        low = max(low or 0, math.ceil(previous_rows - spread))
        high = min(high, math.floor(previous_rows + spread)) if high is not None else math.floor(previous_rows + spread)
    return low, high


def _expect_row_count(rule: Rule, meta: dict, context: dict):
    low, high = row_count_bounds(rule, context.get("previous_rows"))
    return _gxe().ExpectTableRowCountToBeBetween(min_value=low, max_value=high, meta=meta)


# ---- the two tables ------------------------------------------------------------------------------

SPARK: dict[str, Callable[[Rule, SourceDataset, dt.date], Check]] = {
    "not_null": _spark_not_null, "range": _spark_range, "regex": _spark_regex, "in_set": _spark_in_set,
    "reference": _spark_reference, **{kind: _spark_vietnamese for kind in VIETNAMESE_CHECKS},
}
EXPECT: dict[str, Callable[[Rule, dict, dict], Any]] = {
    "not_null": _expect_not_null, "range": _expect_range, "regex": _expect_regex, "in_set": _expect_in_set,
    "reference": _expect_reference, **{kind: _expect_vietnamese for kind in VIETNAMESE_CHECKS},
    "unique": _expect_unique, "row_count": _expect_row_count,
}


def spark_check(rule: Rule, spec: SourceDataset, today: dt.date) -> Check | None:
    """A row-level rule → (fails, reason) over the typed columns; None for a table-level rule.

    ``today`` is the day of the run, what a range's ``today``, ``today-120y``… bounds mean.
    """
    check = SPARK.get(rule.check)
    return check(rule, spec, today) if check else None


def expectation(rule: Rule, reference_values: dict[str, list] | None = None,
                previous_rows: int | None = None, bounds: tuple | None = None):
    """One spec rule → one expectation, carrying its rule id, dimension and action in ``meta``.

    ``bounds``: a range rule's (min, max) from ``suites.ge_bounds``; needed when they are dates or timestamps
    (they depend on the column's type and on the day of the check), else the rule's numbers are used.
    """
    make = EXPECT.get(rule.check)
    if make is None:
        raise ValueError(f"no expectation for rule {rule.rule_id}")
    meta = {"rule_id": rule.rule_id, "dimension": rule.dimension, "action": rule.action,
            "message_vi": rule.message.vi, "message_en": rule.message.en}
    return make(rule, meta, {"reference_values": reference_values, "previous_rows": previous_rows,
                             "bounds": bounds})
