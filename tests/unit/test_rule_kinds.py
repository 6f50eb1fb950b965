"""Every rule kind a spec may name has both halves, or the audit would stop at run time.

A row-level kind is flagged on each row by the Spark pass and audited by Great Expectations, whose
counts must agree; a table-level kind is audited by Great Expectations only (``unique`` on the key is
also what de-duplication counts). Both halves sit side by side in ``expectations/kinds.py``; adding
a kind to the spec model without either fails here, with the kind named.
"""

import datetime as dt
import typing

import pytest

from expectations.kinds import EXPECT, SPARK, spark_check
from lakehouse.config.spec import ROW_CHECKS, Rule, SourceDataset

gx = pytest.importorskip("great_expectations")

from expectations.suites import expectation_for, ge_bounds  # noqa: E402

TODAY = dt.date(2026, 12, 2)
MSG = {"vi": "thông điệp", "en": "message"}
SPEC = SourceDataset.model_validate({
    "name": "kinds", "domain": "t", "description": "d", "grain": "one row per id", "source": {"kind": "files"},
    "columns": [{"name": "id", "type": "int", "nullable": False}, {"name": "text", "type": "string"},
                {"name": "amount", "type": "double"}, {"name": "on", "type": "date"}],
    "keys": ["id"]})
OPTIONS = {"range": {"columns": ["amount"], "min": 0, "max": 10}, "regex": {"pattern": "^x$"},
           "in_set": {"values": ["a"]}, "reference": {"reference": {"dataset": "codes", "column": "code"}},
           "row_count": {"columns": [], "min": 1}, "admin_unit": {"at": "on"}}
KINDS = typing.get_args(Rule.model_fields["check"].annotation)


def a_rule(kind: str) -> Rule:
    action = "quarantine" if kind in ROW_CHECKS else "warn"
    return Rule.model_validate({"check": kind, "columns": ["text"], "dimension": "dung", "action": action,
                                "message": MSG, **OPTIONS.get(kind, {})})


def halves(rule: Rule, spark) -> tuple[bool, bool]:
    """(the Spark pass flags it, Great Expectations audits it)"""
    flagged = bool(rule.columns) and spark_check(rule, SPEC, TODAY) is not None  # row_count names no column
    bounds = ge_bounds(rule, SPEC.column(rule.columns[0]).type, TODAY) if rule.check == "range" else None
    try:
        expectation_for(rule, reference_values={rule.rule_id: ["a"]}, previous_rows=None, bounds=bounds)
    except ValueError:
        return flagged, False
    return flagged, True


@pytest.mark.parametrize("kind", KINDS)
def test_each_rule_kind_has_its_spark_check_and_its_expectation(kind, spark):
    flagged, audited = halves(a_rule(kind), spark)
    assert audited, f"rule kind {kind!r} has no Great Expectations expectation (expectations/kinds.py EXPECT)"
    if kind in ROW_CHECKS:
        assert flagged, f"row-level rule kind {kind!r} has no Spark check (expectations/kinds.py SPARK)"
    else:
        assert not flagged, f"table-level rule kind {kind!r} is judged on the batch, not row by row"


def test_a_kind_without_either_half_is_found(spark):
    unknown = a_rule("not_null").model_copy(update={"check": "no_such_kind"})
    assert halves(unknown, spark) == (False, False)


def test_the_two_tables_name_no_kind_the_spec_model_lacks():
    assert set(EXPECT) == set(KINDS) and set(SPARK) == set(ROW_CHECKS)
