"""Quality rules: each check kind, its options, its dimension and action, and the message a quality officer
reads; freshness."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from lakehouse.config.spec.base import Action, Dimension, NAME_RE, Strict
from lakehouse.config.spec.bounds import (BoundValue, RELATIVE_RE, canonical_bound, day_bounds, bound_kind,
                                          resolve_bound)
from lakehouse.core.durations import parse_duration


ROW_CHECKS = ("not_null", "range", "regex", "in_set", "reference",
              "cccd", "cmnd", "phone", "tax_code", "admin_unit", "nfc")   # judged on each row
TABLE_CHECKS = ("unique", "row_count")                                      # judged on the whole batch
VIETNAMESE_CHECKS = ("cccd", "cmnd", "phone", "tax_code", "admin_unit", "nfc")

class Message(Strict):
    """What a failed rule means, for the quality officer, in Vietnamese and in English."""

    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _quoted(cls, data: Any) -> Any:
        if isinstance(data, str):
            raise ValueError("give the message in both languages: {vi: ..., en: ...}")
        if isinstance(data, dict):
            stray = [k for k, v in data.items() if k not in ("vi", "en") and v is None]
            if stray:  # YAML read `{vi: A, B, en: C}` as the keys vi, "B" and en
                raise ValueError(f"{stray[0]!r} looks like the rest of a text cut at a comma: quote a text "
                                 f"with commas inside {{...}}, e.g. vi: \"Nam, Nữ\"")
        return data


class Reference(Strict):
    """Master data whose codes a column's values must be among."""

    dataset: str = Field(pattern=NAME_RE, description="the master-data source dataset")
    column: str = Field(pattern=NAME_RE, description="its column holding the valid codes")


class Rule(Strict):
    """A quality rule, tagged with its dimension and what happens when it fails.

    Row checks judge each row; a failing row is quarantined (``quarantine``),
    counted (``warn``) or stops the batch from being published (``fail``).
    Table checks (``unique``, ``row_count``) judge the whole batch, so their
    action is ``warn`` or ``fail``.
    """

    id: str | None = Field(None, pattern=NAME_RE, description="rule id; default <check>__<columns>")
    check: Literal[ROW_CHECKS + TABLE_CHECKS]  # type: ignore[valid-type]
    columns: list[str] = Field(default_factory=list)
    dimension: Dimension
    action: Action = "fail"
    message: Message
    min: float | str | None = Field(
        None, description="range: smallest allowed value (a number; on a date or timestamp column a date, a "
                          "timestamp or today±N d/m/y, e.g. today-120y); row_count: fewest rows")
    max: float | str | None = Field(
        None, description="range: largest allowed value (as min, e.g. today); row_count: most rows")
    pattern: str | None = Field(None, description="regex: a regular expression the value must match (anywhere in it: "
                                                   "anchor with ^…$ for the whole value), in the syntax Java "
                                                   "(Spark) and Python (a batch audited on pandas) share")
    values: list[str | int | float] | None = Field(None, description="in_set: the allowed values")
    reference: Reference | None = Field(None, description="reference: master data holding the valid codes")
    max_change_pct: float | None = Field(
        None, ge=0, description="row_count: most the batch may differ from the previous published one, in %")
    at: str | None = Field(None, description="admin_unit: date column the code must be valid at")
    level: Literal["province", "commune", "any"] = Field("any", description="admin_unit: which level of unit")

    @field_validator("min", "max", mode="before")
    @classmethod
    def _bound(cls, value: Any) -> float | str | None:
        return canonical_bound(value)

    @model_validator(mode="after")
    def _options_fit_check(self) -> "Rule":
        need = {"range": ("min", "max"), "regex": ("pattern",), "in_set": ("values",),
                "reference": ("reference",), "row_count": ("min", "max", "max_change_pct")}
        if self.check in need and all(getattr(self, f) is None for f in need[self.check]):
            raise ValueError(f"{self.check}: give {' or '.join(need[self.check])}")
        own = {f for fields in need.values() for f in fields} | {"at"}
        allowed = set(need.get(self.check, ())) | ({"at"} if self.check == "admin_unit" else set())
        stray = sorted(f for f in own - allowed if getattr(self, f) is not None)
        if stray:
            raise ValueError(f"{self.check}: {', '.join(stray)} do not apply to this check")
        if self.check == "row_count":
            if self.columns:
                raise ValueError("row_count: takes no columns")
        elif not self.columns:
            raise ValueError(f"{self.check}: columns must name at least one column")
        if self.check in TABLE_CHECKS and self.action == "quarantine":
            raise ValueError(f"{self.check} judges the whole batch, so its action is warn or fail, not quarantine")
        if self.check == "cccd" and len(self.columns) not in (1, 3):
            raise ValueError("cccd: columns is [id] or [id, date_of_birth, sex]")
        if self.check in VIETNAMESE_CHECKS + ("reference",) and self.check != "cccd" and len(self.columns) != 1:
            raise ValueError(f"{self.check}: takes one column")
        if self.level != "any" and self.check != "admin_unit":
            raise ValueError(f"{self.check}: level applies to admin_unit only")
        if self.check == "regex":
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"regex: pattern is not a regular expression: {exc}") from None
        bounds = {side: getattr(self, side) for side in ("min", "max") if getattr(self, side) is not None}
        kinds = {side: bound_kind(value) for side, value in bounds.items()}
        if self.check == "row_count" and any(kind != "number" for kind in kinds.values()):
            raise ValueError("row_count: min and max are numbers of rows, not "
                             + ", ".join(map(repr, bounds.values())))
        if len({kind == "number" for kind in kinds.values()}) > 1:
            raise ValueError(f"{self.check}: min {self.min!r} is a {kinds['min']} but max {self.max!r} is a "
                             f"{kinds['max']}; give both as numbers or both as dates/timestamps")
        if len(bounds) == 2 and not any(RELATIVE_RE.match(str(v)) for v in bounds.values()):
            low, high = day_bounds(resolve_bound(self.min, None), resolve_bound(self.max, None),
                                    "timestamp" in kinds.values())
            if low > high:
                raise ValueError(f"{self.check}: min {self.min!r} is above max {self.max!r}")
        return self

    @property
    def rule_id(self) -> str:
        if self.id:
            return self.id
        if self.check == "row_count":
            return "row_count"
        judged = self.columns[:1] if self.check == "cccd" else self.columns
        return f"{self.check}__{'__'.join(judged)}"

    def per_column(self) -> list["Rule"]:
        """A not-null, range, regex or value-set rule over several columns is one rule per column."""
        if self.check in ("not_null", "range", "regex", "in_set") and len(self.columns) > 1:
            return [self.model_copy(update={"columns": [c], "id": f"{self.id}__{c}" if self.id else None})
                    for c in self.columns]
        return [self]

    @property
    def row_level(self) -> bool:
        return self.check in ROW_CHECKS


class Freshness(Strict):
    """sống: how current the dataset must be. Checked after each load and on a schedule."""

    column: str | None = Field(None, description="event-time column; default source.event_time")
    event_max_age: str | None = Field(None, description="newest event at most this old, e.g. 2h")
    load_max_age: str | None = Field(None, description="last successful load at most this old, e.g. 1d")

    @model_validator(mode="after")
    def _durations(self) -> "Freshness":
        if self.event_max_age is None and self.load_max_age is None:
            raise ValueError("give event_max_age, load_max_age or both")
        for name in ("event_max_age", "load_max_age"):
            if getattr(self, name) is not None:
                try:
                    parse_duration(getattr(self, name))
                except ValueError as exc:
                    raise ValueError(f"{name}: {exc}") from None
        return self

def _is_number(type_: str) -> bool:
    return type_ in ("int", "bigint", "double") or type_.startswith("decimal")


def check_range_columns(where: str, rule: Rule, types: dict[str, str]) -> None:
    """A range judges number, date or timestamp columns, with bounds of the column's kind."""
    wrong = [c for c in rule.columns if not (_is_number(types[c]) or types[c] in ("date", "timestamp"))]
    if wrong:
        raise ValueError(f"{where}: a range needs number, date or timestamp columns; "
                         f"{', '.join(f'{c} is {types[c]}' for c in wrong)}")
    for one in rule.per_column():
        column = one.columns[0]
        type_ = types[column]
        for side in ("min", "max"):
            value = getattr(one, side)
            if value is None:
                continue
            kind = bound_kind(value)
            if _is_number(type_) and kind != "number":
                problem = "give a number"
            elif type_ in ("date", "timestamp") and kind == "number":
                problem = "give a date (2000-01-01), a timestamp (2026-01-01 00:00:00) or today±N d/m/y (today-120y)"
            elif type_ == "date" and kind == "timestamp":
                problem = "give a date (2000-01-01) or today±N d/m/y: a date has no time of day"
            else:
                continue
            raise ValueError(f"{where}.{side}: rule {one.rule_id}: {value!r} is a {kind} but {column} is {type_}; "
                             f"{problem}")


def range_bounds(rule: Rule, column_type: str, today: dt.date | None) -> tuple[BoundValue | None, BoundValue | None]:
    """A range rule's (min, max) for its column of ``column_type``, on the day of the check ``today``.

    Numbers for a number column (``rule.min``/``rule.max`` as they are); dates for a date column; datetimes for
    a timestamp column, where a date bound is the whole day: ``min`` from its 00:00, ``max`` to its last
    microsecond (23:59:59.999999), so ``max: today`` lets through everything stamped today.  Both engines,
    the Spark pass and Great Expectations, compare with these.  Raises ValueError when, on ``today``, ``min``
    comes after ``max`` (possible when one of them is relative).
    """
    low, high = day_bounds(None if rule.min is None else resolve_bound(rule.min, today),
                            None if rule.max is None else resolve_bound(rule.max, today), column_type == "timestamp")
    if low is not None and high is not None and low > high:
        raise ValueError(f"rule {rule.rule_id}: on {today}, min {rule.min} is {low} and max {rule.max} is {high}: "
                         "no value can be in between")
    return low, high
