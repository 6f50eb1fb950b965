"""Great Expectations 1.x expectations for Vietnamese data, built on ``expectations.vietnamese``.

Importing this module is what makes Great Expectations know them: defining an Expectation
subclass registers it under its snake_case name, and defining a metric provider registers its
metric. So import ``expectations.custom`` (``expectation_for_validator`` lives here) before
building, loading or running a suite that uses them — in every process that runs the suite.

Each expectation maps the plain validator over the rows: on Spark through
``vietnamese.spark_udf_problem`` (an Arrow pandas UDF: Great Expectations sums the condition in an
aggregate, where the Spark expressions' NFC call is refused), on pandas through ``vietnamese.map_problems``.
The quarantine pass uses ``vietnamese.spark_problem`` (Spark expressions); tests hold all three to
the plain functions.
Null values are skipped as in any column-map expectation. The two multicolumn expectations
(CCCD with birth date and sex, admin unit with a date column) use GE's multicolumn rule: only rows
where *all* listed columns are null are skipped; a row whose first column is null passes
(the validators ignore empty values), so it counts in the `mostly` denominator.
"""

from __future__ import annotations

from typing import Any, ClassVar, List

from great_expectations.compatibility import pydantic
from great_expectations.compatibility.pyspark import functions as F
from great_expectations.execution_engine import PandasExecutionEngine, SparkDFExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation, MulticolumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    MulticolumnMapMetricProvider,
    column_condition_partial,
    multicolumn_condition_partial,
)

from expectations.vietnamese import VALIDATORS, Level, map_problems, spark_udf_problem, validator


# ---- metrics: "this validator finds no problem in this row" ---------------------------------
# The bases have no `condition_metric_name`, so GE registers only the subclasses below.

def _options(cls: type, kwargs: dict) -> dict[str, Any]:
    return {key: kwargs[key] for key in cls.condition_value_keys}


class _ColumnValid(ColumnMapMetricProvider):
    check: ClassVar[str]

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return map_problems(cls.check, column, **_options(cls, kwargs)).isna()

    @column_condition_partial(engine=SparkDFExecutionEngine)
    def _spark(cls, column, **kwargs):
        return spark_udf_problem(cls.check, column, **_options(cls, kwargs)).isNull()


class _RowValid(MulticolumnMapMetricProvider):
    """The first listed column is the value; the others are its extra inputs, in order."""

    check: ClassVar[str]

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list, **kwargs):
        series = [column_list[name] for name in column_list.columns]
        return map_problems(cls.check, *series, **_options(cls, kwargs)).isna()

    @multicolumn_condition_partial(engine=SparkDFExecutionEngine)
    def _spark(cls, column_list, **kwargs):
        columns = [F.col(name) for name in column_list.columns]
        return spark_udf_problem(cls.check, *columns, **_options(cls, kwargs)).isNull()


class ColumnValuesValidCccd(_ColumnValid):
    condition_metric_name = "column_values.vn_valid_cccd"
    check = "cccd"


class CccdAgreesWithBirthDateAndSex(_RowValid):
    condition_metric_name = "multicolumn_values.vn_cccd_agrees_with_birth_date_and_sex"
    check = "cccd"


class ColumnValuesValidCmnd(_ColumnValid):
    condition_metric_name = "column_values.vn_valid_cmnd"
    check = "cmnd"


class ColumnValuesValidVnPhone(_ColumnValid):
    condition_metric_name = "column_values.vn_valid_phone"
    check = "phone"


class ColumnValuesValidVnTaxCode(_ColumnValid):
    condition_metric_name = "column_values.vn_valid_tax_code"
    check = "tax_code"


class ColumnValuesNfc(_ColumnValid):
    condition_metric_name = "column_values.vn_nfc"
    check = "nfc"


class ColumnValuesValidAdminUnit(_ColumnValid):
    condition_metric_name = "column_values.vn_valid_admin_unit"
    condition_value_keys = ("level",)
    check = "admin_unit"


class AdminUnitValidOnDate(_RowValid):
    condition_metric_name = "multicolumn_values.vn_admin_unit_valid_on_date"
    condition_value_keys = ("level",)
    check = "admin_unit"


# ---- expectations ----------------------------------------------------------------------------

class ExpectColumnValuesToBeValidCccd(ColumnMapExpectation):
    """Expect values to be citizen IDs (CCCD): 12 digits, a known place code, a century/sex digit."""

    map_metric = "column_values.vn_valid_cccd"


class ExpectCccdToAgreeWithBirthDateAndSex(MulticolumnMapExpectation):
    """Expect CCCD (first column) to be valid and to agree with date_of_birth and, if listed, sex.

    ``column_list`` is ``[cccd, date_of_birth]`` or ``[cccd, date_of_birth, sex]``; a null birth
    date or sex skips that part of the check for the row.
    """

    map_metric = "multicolumn_values.vn_cccd_agrees_with_birth_date_and_sex"

    @pydantic.validator("column_list")
    def _at_most_three(cls, v: List[str]) -> List[str]:
        if len(v) > 3:
            raise ValueError("column_list is [cccd, date_of_birth] or [cccd, date_of_birth, sex]")
        return v


class ExpectColumnValuesToBeValidCmnd(ColumnMapExpectation):
    """Expect values to be old ID card numbers (CMND): exactly 9 digits."""

    map_metric = "column_values.vn_valid_cmnd"


class ExpectColumnValuesToBeValidVnPhone(ColumnMapExpectation):
    """Expect values to be Vietnamese mobile numbers (+84/84/0, 9 digits, a mobile prefix)."""

    map_metric = "column_values.vn_valid_phone"


class ExpectColumnValuesToBeValidVnTaxCode(ColumnMapExpectation):
    """Expect values to be tax codes in format: 10 digits, or 13 (optionally 10-3); no check digit."""

    map_metric = "column_values.vn_valid_tax_code"


class ExpectColumnValuesToBeNfc(ColumnMapExpectation):
    """Expect text values to be in Unicode NFC."""

    map_metric = "column_values.vn_nfc"


class ExpectColumnValuesToBeValidAdminUnit(ColumnMapExpectation):
    """Expect values to be province and/or commune codes in force today (the 34 + 3,321 units)."""

    level: Level = "any"
    map_metric = "column_values.vn_valid_admin_unit"
    success_keys = ("mostly", "level")
    args_keys = ("column", "level")


class ExpectAdminUnitToBeValidOnDate(MulticolumnMapExpectation):
    """Expect codes (first column) to be units in force on the row's date (second column).

    Before 2025-07-01 provinces are checked against the 63 old ones and communes are not checked;
    a null date means today's units.
    """

    level: Level = "any"
    map_metric = "multicolumn_values.vn_admin_unit_valid_on_date"
    success_keys = ("mostly", "level")

    @pydantic.validator("column_list")
    def _code_and_date(cls, v: List[str]) -> List[str]:
        if len(v) != 2:
            raise ValueError("column_list is [code, date]")
        return v


# ---- from a spec rule ------------------------------------------------------------------------

_SINGLE = {"cccd": ExpectColumnValuesToBeValidCccd, "cmnd": ExpectColumnValuesToBeValidCmnd,
           "phone": ExpectColumnValuesToBeValidVnPhone, "tax_code": ExpectColumnValuesToBeValidVnTaxCode,
           "nfc": ExpectColumnValuesToBeNfc}


def expectation_for_validator(name: str, columns: list[str], options: dict[str, Any] | None = None,
                              meta: dict[str, Any] | None = None) -> ColumnMapExpectation | MulticolumnMapExpectation:
    """The expectation for a validator rule, e.g. ``cccd`` on ``[citizen_id, date_of_birth, sex]``.

    ``columns`` is the value column followed by any extra inputs (cccd: date_of_birth, sex;
    admin_unit: the date column). ``options``: admin_unit takes ``level``, and ``at`` (a date
    column's name) as another way to give its date column.
    """
    options = dict(options or {})
    at = options.pop("at", None) if name == "admin_unit" else None
    columns = [*columns, at] if at else list(columns)
    if not columns:
        raise ValueError(f"{name}: name the column to check")
    if name in VALIDATORS and not VALIDATORS[name].extras and len(columns) > 1:
        raise ValueError(f"{name} checks one column, got {columns}; write one rule per column")
    validator(name, len(columns) - 1, options)  # unknown name, too many columns, unknown option → ValueError
    if name == "admin_unit" and len(columns) == 2:
        return ExpectAdminUnitToBeValidOnDate(column_list=columns, meta=meta, **options)
    if name == "admin_unit":
        return ExpectColumnValuesToBeValidAdminUnit(column=columns[0], meta=meta, **options)
    if name == "cccd" and len(columns) > 1:
        return ExpectCccdToAgreeWithBirthDateAndSex(column_list=columns, meta=meta)
    return _SINGLE[name](column=columns[0], meta=meta)
