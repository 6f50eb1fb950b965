"""Build Great Expectations suites from a dataset spec's rules (no hand-kept suite JSON).

Each rule becomes one expectation by its kind's expectation half in :mod:`expectations.kinds`
(``expectation_for``); this module decides which rules a suite holds and how bounds reach the engine.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import great_expectations as gx

from expectations.kinds import expectation as expectation_for
from lakehouse.config.spec import Rule, SourceDataset, range_bounds

Engine = Literal["pandas", "spark"]


def ge_bounds(rule: Rule, column_type: str, today: dt.date | None, engine: Engine = "pandas") -> tuple:
    """A range rule's (min_value, max_value) for Great Expectations, the bounds the Spark pass compares with.

    Great Expectations compares them with the values as it finds them, without converting either side, so
    they must be of the column's own kind (:func:`lakehouse.config.spec.range_bounds`): floats for numbers,
    ``date`` for a date column (pandas holds ``datetime.date`` objects: a datetime bound makes every row fail
    to compare), ``datetime`` for a timestamp column (pandas holds ``datetime64`` in the session time zone,
    UTC: a ``date`` bound cannot be compared with it).  On Spark, Great Expectations turns a naive datetime
    into a literal in the *Python process's* local time zone, so the timestamps are given as UTC there.
    """
    low, high = range_bounds(rule, column_type, today)
    if engine == "spark":
        low, high = (b.replace(tzinfo=dt.timezone.utc) if isinstance(b, dt.datetime) else b for b in (low, high))
    return low, high


def suite_for(spec: SourceDataset, reference_values: dict[str, list] | None = None,
              previous_rows: int | None = None, today: dt.date | None = None,
              engine: Engine = "pandas") -> gx.ExpectationSuite:
    """The silver suite of a dataset: its declared rules plus what its schema implies.

    The implied one-row-per-key rule is left out: the de-duplication pass counts
    the rows it collapses (see ``SourceDataset.counted_by_dedupe``).

    ``reference_values`` gives each reference rule's valid codes (read from the
    master table at run time); ``previous_rows`` is the previous batch's size,
    for a row-count rule with ``max_change_pct``; ``today`` is the day of the
    check (the Spark pass's, :func:`lakehouse.config.spec.run_day` of the run's ``at``),
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
