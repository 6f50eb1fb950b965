"""Vietnamese GE expectations: exact counts on a small frame, on Spark and on pandas."""

import datetime as dt
import logging
import unicodedata

import great_expectations as gx  # a broken install fails these tests: it is never a reason to skip them
import pytest

from expectations import custom  # noqa: F401  (importing it registers the expectations with GE)
from expectations.custom import expectation_for_validator

D = dt.date
TS = dt.datetime
NFD = unicodedata.normalize("NFD", "Trần Văn Bình")

COLUMNS = ("citizen_id string, date_of_birth date, sex string, cmnd string, phone string, tax_code string, "
           "full_name string, province_code int, commune_code int, registered_at timestamp")
ROWS = [
    # all valid; registered after the merger
    ("001085012345", D(1985, 3, 2), "Nam", "123456789", "+84 912 345 678", "0101234567", "Nguyễn Văn An",
     1, 4, TS(2026, 1, 5, 12)),
    # CCCD says woman, sex says Nam; cmnd 8 digits; landline; NFD name; Hà Giang (2) and commune 1 in 2024: fine then
    ("001185012345", D(1985, 3, 2), "Nam", "12345678", "0201234567", "0101234567-001", NFD,
     2, 1, TS(2024, 6, 1, 12)),
    # CCCD not 12 digits; tax code too short; province 99 never existed; commune 1 abolished by then
    ("12345", None, None, None, "0912.345.678", "123", "Lê Thị Cúc", 99, 1, TS(2025, 7, 1, 12)),
    # no CCCD (skipped); bad phone prefix; branch 000; Hà Giang after the merger
    (None, D(2001, 1, 1), "Nữ", "987654321", "0951234567", "0101234567-000", None, 2, 70, TS(2025, 12, 1, 12)),
    # CCCD year digits disagree with the birth date; an unrecognised sex; no date: today's units
    ("079303000123", D(2004, 5, 5), "x", None, None, None, "Phạm Minh", 79, None, None),
]

# rule id → (check, columns, options, success, unexpected_count)
RULES = {
    "cccd": ("cccd", ["citizen_id"], {}, False, 1),                                       # row 3
    "cccd_dob_sex": ("cccd", ["citizen_id", "date_of_birth", "sex"], {}, False, 3),        # rows 2, 3, 5
    "cccd_dob": ("cccd", ["citizen_id", "date_of_birth"], {}, False, 2),                   # rows 3, 5
    "cmnd": ("cmnd", ["cmnd"], {}, False, 1),                                             # row 2
    "phone": ("phone", ["phone"], {}, False, 2),                                          # rows 2, 4
    "tax_code": ("tax_code", ["tax_code"], {}, False, 2),                                 # rows 3, 4
    "nfc": ("nfc", ["full_name"], {}, False, 1),                                          # row 2
    "province_today": ("admin_unit", ["province_code"], {"level": "province"}, False, 3),  # 2, 99, 2
    "province_at": ("admin_unit", ["province_code"], {"level": "province", "at": "registered_at"}, False, 2),  # 3, 4
    "commune_at": ("admin_unit", ["commune_code"], {"level": "commune", "at": "registered_at"}, False, 1),    # 3
    "commune_today": ("admin_unit", ["commune_code"], {"level": "commune"}, False, 2),     # 1, 1
    "any_today": ("admin_unit", ["commune_code"], {}, True, 0),                           # 1: Hà Nội's province
    "phone_mostly": ("phone", ["phone"], {}, True, 2),                                    # 2 of 4 non-null, mostly 0.5
}


def _suite() -> "gx.ExpectationSuite":
    expectations = []
    for rule_id, (check, columns, options, _, _) in RULES.items():
        meta = {"rule_id": rule_id, "dimension": "dung", "action": "quarantine"}
        expectation = expectation_for_validator(check, columns, options, meta)
        if rule_id == "phone_mostly":
            expectation.mostly = 0.5
        expectations.append(expectation)
    return gx.ExpectationSuite(name="vn_checks", expectations=expectations)


@pytest.fixture(scope="module")
def results(spark):
    """Rule id → result, for the same frame validated on Spark and on pandas."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    frame = spark.createDataFrame(ROWS, COLUMNS)
    suite = _suite()
    out = {}
    for engine, data, source in (("spark", frame, context.data_sources.add_spark(name="spark")),
                                 ("pandas", frame.toPandas(), context.data_sources.add_pandas(name="pandas"))):
        batch = source.add_dataframe_asset(name="people").add_batch_definition_whole_dataframe("whole")
        outcome = batch.get_batch(batch_parameters={"dataframe": data}).validate(suite)
        out[engine] = {r.expectation_config.meta["rule_id"]: r for r in outcome.results}
    return out


@pytest.mark.parametrize("engine", ["spark", "pandas"])
@pytest.mark.parametrize("rule_id", list(RULES))
def test_counts(results, engine, rule_id):
    result = results[engine][rule_id]
    _, _, _, success, unexpected = RULES[rule_id]
    assert not result.exception_info.get("raised_exception"), result.exception_info
    assert (result.success, result.result["unexpected_count"]) == (success, unexpected)


def test_meta_survives_onto_the_result(results):
    config = results["spark"]["cccd_dob_sex"].expectation_config
    assert config.meta == {"rule_id": "cccd_dob_sex", "dimension": "dung", "action": "quarantine"}
    assert config.type == "expect_cccd_to_agree_with_birth_date_and_sex"


def test_unexpected_values_are_the_bad_rows(results):
    spark = results["spark"]
    assert spark["phone"].result["partial_unexpected_list"] == ["0201234567", "0951234567"]
    assert spark["province_at"].result["partial_unexpected_list"] == [
        {"province_code": 99, "registered_at": TS(2025, 7, 1, 12)},
        {"province_code": 2, "registered_at": TS(2025, 12, 1, 12)}]


def test_expectation_for_validator_picks_the_class():
    make = expectation_for_validator
    assert type(make("cccd", ["id"], {}, {})) is custom.ExpectColumnValuesToBeValidCccd
    assert type(make("cccd", ["id", "dob"], {}, {})) is custom.ExpectCccdToAgreeWithBirthDateAndSex
    assert type(make("cmnd", ["c"], {}, {})) is custom.ExpectColumnValuesToBeValidCmnd
    assert type(make("phone", ["p"], {}, {})) is custom.ExpectColumnValuesToBeValidVnPhone
    assert type(make("tax_code", ["t"], {}, {})) is custom.ExpectColumnValuesToBeValidVnTaxCode
    assert type(make("nfc", ["n"], {}, {})) is custom.ExpectColumnValuesToBeNfc
    single = make("admin_unit", ["code"], {"level": "commune"}, {"rule_id": "r"})
    assert type(single) is custom.ExpectColumnValuesToBeValidAdminUnit and single.level == "commune"
    dated = make("admin_unit", ["code"], {"at": "registered_at", "level": "province"}, {})
    assert type(dated) is custom.ExpectAdminUnitToBeValidOnDate
    assert dated.column_list == ["code", "registered_at"] and dated.level == "province"
    as_columns = make("admin_unit", ["code", "registered_at"], {"level": "province"}, {})  # same rule, other spelling
    assert as_columns.configuration.kwargs == dated.configuration.kwargs
    assert single.meta == {"rule_id": "r"}


@pytest.mark.parametrize(("check", "columns", "options", "message"), [
    ("passport", ["p"], {}, "unknown validator"),
    ("phone", ["a", "b"], {}, "checks one column"),
    ("phone", ["p"], {"level": "province"}, "no option level"),
    ("admin_unit", ["c"], {"level": "district"}, "level"),
    ("cccd", ["id", "dob", "sex", "x"], {}, "at most 2 extra"),
    ("admin_unit", ["code", "d"], {"at": "d2"}, "at most 1 extra"),
    ("nfc", [], {}, "name the column"),
])
def test_expectation_for_validator_rejects_bad_rules(check, columns, options, message):
    with pytest.raises(ValueError, match=message):
        expectation_for_validator(check, columns, options, {})


def test_a_saved_configuration_loads_back_as_our_class():
    expectation = expectation_for_validator("admin_unit", ["code"], {"at": "d", "level": "province"}, {"rule_id": "r"})
    loaded = expectation.configuration.to_domain_obj()
    assert type(loaded) is custom.ExpectAdminUnitToBeValidOnDate
    assert (loaded.column_list, loaded.level, loaded.meta) == (["code", "d"], "province", {"rule_id": "r"})
