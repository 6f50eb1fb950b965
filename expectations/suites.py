"""Build Great Expectations suites from a dataset spec's rules (no hand-kept suite JSON)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Literal

import great_expectations as gx
import great_expectations.expectations as gxe

from lakehouse.spec import VIETNAMESE_CHECKS, Rule, SourceDataset, range_bounds

Engine = Literal["pandas", "spark"]


def row_count_bounds(rule: Rule, previous_rows: int | None) -> tuple[int | None, int | None]:
    """The batch's allowed row count: the spec's min/max, narrowed by ``max_change_pct`` of the previous batch."""
    low = None if rule.min is None else math.ceil(rule.min)
    high = None if rule.max is None else math.floor(rule.max)
    if rule.max_change_pct is not None and previous_rows is not None:
        spread = previous_rows * rule.max_change_pct / 100.0
        low = max(low or 0, math.ceil(previous_rows - spread))
        high = min(high, math.floor(previous_rows + spread)) if high is not None else math.floor(previous_rows + spread)
    return low, high


def ge_bounds(rule: Rule, column_type: str, today: dt.date | None, engine: Engine = "pandas") -> tuple:
    """A range rule's (min_value, max_value) for Great Expectations, the bounds the Spark pass compares with.

    Great Expectations compares them with the values as it finds them, without converting either side, so
    they must be of the column's own kind (:func:`lakehouse.spec.range_bounds`): floats for numbers,
    ``date`` for a date column (pandas holds ``datetime.date`` objects: a datetime bound makes every row fail
    to compare), ``datetime`` for a timestamp column (pandas holds ``datetime64`` in the session time zone,
    UTC: a ``date`` bound cannot be compared with it).  On Spark, Great Expectations turns a naive datetime
    into a literal in the *Python process's* local time zone, so the timestamps are given as UTC there.
    """
    low, high = range_bounds(rule, column_type, today)
    if engine == "spark":
        low, high = (b.replace(tzinfo=dt.timezone.utc) if isinstance(b, dt.datetime) else b for b in (low, high))
    return low, high


def expectation_for(rule: Rule, reference_values: dict[str, list] | None = None,
                    previous_rows: int | None = None, bounds: tuple | None = None) -> gxe.Expectation:
    """One spec rule → one expectation, carrying its rule id, dimension and action in `meta`.

    ``bounds``: a range rule's (min, max) from :func:`ge_bounds`; needed when they are dates or timestamps
    (they depend on the column's type and on the day of the check), else the rule's numbers are used.
    """
    meta = {"rule_id": rule.rule_id, "dimension": rule.dimension, "action": rule.action,
            "message_vi": rule.message.vi, "message_en": rule.message.en}
    column = rule.columns[0] if rule.columns else None
    if rule.check == "not_null":
        return gxe.ExpectColumnValuesToNotBeNull(column=column, meta=meta)
    if rule.check == "range":
        if bounds is None and any(isinstance(b, str) for b in (rule.min, rule.max)):
            raise ValueError(f"rule {rule.rule_id}: pass its date bounds resolved for the day of the check "
                             "(ge_bounds)")
        low, high = bounds if bounds is not None else (rule.min, rule.max)
        return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high, meta=meta)
    if rule.check == "regex":
        return gxe.ExpectColumnValuesToMatchRegex(column=column, regex=rule.pattern, meta=meta)
    if rule.check == "in_set":
        return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(rule.values), meta=meta)
    if rule.check == "reference":
        codes = (reference_values or {}).get(rule.rule_id)
        if codes is None:
            raise ValueError(f"rule {rule.rule_id}: pass the codes of {rule.reference.dataset}.{rule.reference.column}")
        return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(codes), meta=meta)
    if rule.check == "unique" and len(rule.columns) == 1:
        return gxe.ExpectColumnValuesToBeUnique(column=column, meta=meta)
    if rule.check == "unique":
        return gxe.ExpectCompoundColumnsToBeUnique(column_list=list(rule.columns), meta=meta)
    if rule.check == "row_count":
        low, high = row_count_bounds(rule, previous_rows)
        return gxe.ExpectTableRowCountToBeBetween(min_value=low, max_value=high, meta=meta)
    if rule.check in VIETNAMESE_CHECKS:
        from expectations.custom import expectation_for_validator

        columns = list(rule.columns) + ([rule.at] if rule.at else [])
        options = {"level": rule.level} if rule.check == "admin_unit" else {}
        return expectation_for_validator(rule.check, columns, options, meta)
    raise ValueError(f"no expectation for rule {rule.rule_id}")


def suite_for(spec: SourceDataset, reference_values: dict[str, list] | None = None,
              previous_rows: int | None = None, today: dt.date | None = None,
              engine: Engine = "pandas") -> gx.ExpectationSuite:
    """The silver suite of a dataset: its declared rules plus what its schema implies.

    The implied one-row-per-key rule is left out: the de-duplication pass counts
    the rows it collapses (see ``SourceDataset.counted_by_dedupe``).

    ``reference_values`` gives each reference rule's valid codes (read from the
    master table at run time); ``previous_rows`` is the previous batch's size,
    for a row-count rule with ``max_change_pct``; ``today`` is the day of the
    check (the Spark pass's, :func:`lakehouse.spec.run_day` of the run's ``at``),
    what a range's ``today-120y`` means; ``engine`` is what the suite will run on
    (``pandas`` or ``spark``), which decides how timestamp bounds are given.
    """
    expectations = []
    for rule in spec.effective_rules:
        if spec.counted_by_dedupe(rule):
            continue
        bounds = (ge_bounds(rule, spec.column(rule.columns[0]).type, today, engine) if rule.check == "range"
                  else None)
        expectations.append(expectation_for(rule, reference_values, previous_rows, bounds))
    return gx.ExpectationSuite(name=f"{spec.name}__silver", expectations=expectations)
