"""Build Great Expectations suites from a dataset spec's rules (no hand-kept suite JSON)."""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from lakehouse.spec import Rule, SourceDataset


def expectation_for(rule: Rule) -> gxe.Expectation:
    """One spec rule → one expectation, carrying its rule id, dimension and action in `meta`."""
    meta = {"rule_id": rule.rule_id, "dimension": rule.dimension, "action": rule.action, "message": rule.message}
    if rule.check == "not_null" and len(rule.columns) == 1:
        return gxe.ExpectColumnValuesToNotBeNull(column=rule.columns[0], meta=meta)
    if rule.check == "unique" and len(rule.columns) == 1:
        return gxe.ExpectColumnValuesToBeUnique(column=rule.columns[0], meta=meta)
    if rule.check == "unique":
        return gxe.ExpectCompoundColumnsToBeUnique(column_list=list(rule.columns), meta=meta)
    if rule.check == "range" and len(rule.columns) == 1:
        return gxe.ExpectColumnValuesToBeBetween(column=rule.columns[0], min_value=rule.min, max_value=rule.max,
                                                 meta=meta)
    raise ValueError(f"no expectation for rule {rule.rule_id}")


def _expand(rule: Rule) -> list[Rule]:
    """A not-null or range rule over several columns is one expectation per column."""
    if rule.check in ("not_null", "range") and len(rule.columns) > 1:
        return [rule.model_copy(update={"columns": [c]}) for c in rule.columns]
    return [rule]


def suite_for(spec: SourceDataset) -> gx.ExpectationSuite:
    """The silver suite of a dataset: its declared rules plus what its keys imply."""
    expectations = [expectation_for(r) for rule in spec.effective_rules for r in _expand(rule)]
    return gx.ExpectationSuite(name=f"{spec.name}__silver", expectations=expectations)
