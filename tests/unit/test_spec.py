"""Spec loading and the errors a data engineer sees (milliseconds, no Spark)."""

import datetime as dt
import unicodedata
from pathlib import Path

import pytest

from lakehouse.config.spec import GoldDataset, SourceDataset, json_schema, load_specs
from lakehouse.core.errors import ConfigError

GOOD = """
name: people
domain: demo
description: d
grain: one row per person
source: {kind: files, format: jsonl}
columns:
  - {name: person_id, type: int, nullable: false}
  - {name: full_name, type: string}
keys: [person_id]
"""


def write(tmp_path: Path, rel: str, text: str) -> Path:
    path = tmp_path / "datasets" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_catalog_is_valid():
    specs = load_specs()
    assert {"provinces", "communes", "communes_with_province", "commune_counts_by_province"} <= set(specs.datasets)
    assert isinstance(specs["communes"], SourceDataset)
    assert isinstance(specs["commune_counts_by_province"], GoldDataset)
    assert specs["communes"].domain == "admin_units"  # from the folder's _defaults.yaml


def test_folder_defaults_apply_and_file_wins(tmp_path):
    write(tmp_path, "demo/_defaults.yaml", "domain: demo\nclassification: open\nschedule: '0 1 * * *'\n")
    write(tmp_path, "demo/people.yaml", GOOD.replace("domain: demo\n", "") + "schedule: '0 3 * * *'\n")
    spec = load_specs(tmp_path)["people"]
    assert spec.classification == "open"
    assert spec.schedule == "0 3 * * *"


def test_keys_imply_not_null_and_unique_rules(tmp_path):
    write(tmp_path, "demo/people.yaml", GOOD)
    rules = {r.rule_id: r for r in load_specs(tmp_path)["people"].effective_rules}
    assert rules["not_null__person_id"].dimension == "du"
    assert rules["unique__person_id"].dimension == "sach"
    # duplicates in a batch are collapsed on the key, so they count against sạch without blocking
    assert rules["unique__person_id"].action == "warn"
    assert rules["not_null__person_id"].action == "quarantine"
    assert rules["not_null__person_id"].message.vi and rules["not_null__person_id"].message.en


@pytest.mark.parametrize("mutation, field, words", [
    (lambda t: t.replace("type: int", "type: integer"), "columns[0].type", "unknown type 'integer'"),
    (lambda t: t.replace("grain:", "grian:"), "grian", "unknown field"),
    (lambda t: t.replace("keys: [person_id]", "keys: [id]"), "keys", "'id' is not a declared column"),
    (lambda t: t.replace("name: people", "name: People"), "name", "should match pattern"),
    (lambda t: t.replace("description: d\n", ""), "description", "Field required"),
])
def test_errors_name_the_file_and_field(tmp_path, mutation, field, words):
    path = write(tmp_path, "demo/people.yaml", mutation(GOOD))
    with pytest.raises(ConfigError) as err:
        load_specs(tmp_path)
    message = str(err.value)
    assert str(path) in message
    assert f"field '{field}'" in message or f"{field}:" in message
    assert words in message


def test_yaml_syntax_error_names_the_file(tmp_path):
    path = write(tmp_path, "demo/people.yaml", GOOD + "columns: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML") as err:
        load_specs(tmp_path)
    assert str(path) in str(err.value)


def test_file_name_must_match_dataset_name(tmp_path):
    write(tmp_path, "demo/persons.yaml", GOOD)
    with pytest.raises(ConfigError, match="must equal the file name 'persons'"):
        load_specs(tmp_path)


def test_gold_must_depend_on_known_source(tmp_path):
    write(tmp_path, "demo/people.yaml", GOOD)
    write(tmp_path, "demo/people_count.yaml",
          "name: people_count\ndomain: demo\nlayer: gold\ndescription: d\ngrain: one row\n"
          "depends_on: [persons]\nsql: SELECT count(*) AS n FROM persons\n")
    with pytest.raises(ConfigError, match=r"depends_on\[0\]': 'persons' is not a source dataset"):
        load_specs(tmp_path)


def test_duplicate_dataset_names_are_refused(tmp_path):
    write(tmp_path, "a/people.yaml", GOOD)
    write(tmp_path, "b/people.yaml", GOOD)
    with pytest.raises(ConfigError, match="already defined"):
        load_specs(tmp_path)


def test_json_schema_describes_both_kinds():
    schema = json_schema()
    text = str(schema)
    assert "SourceDataset" in text and "GoldDataset" in text


def test_unsupported_source_format_is_refused_at_load(tmp_path):
    path = write(tmp_path, "demo/people.yaml", GOOD.replace("format: jsonl", "format: xml"))
    with pytest.raises(ConfigError, match=r"field 'source.format'") as err:
        load_specs(tmp_path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("fmt, encoding", [("csv", e) for e in ("utf-8", "utf-8-sig", "windows-1258", "tcvn3",
                                                                   "vni", "viqr", "auto")]
                         + [("xlsx", e) for e in ("utf-8", "tcvn3", "vni", "auto")])
def test_legacy_encodings_and_auto_are_accepted(tmp_path, fmt, encoding):
    write(tmp_path, "demo/people.yaml", GOOD.replace("format: jsonl", f"format: {fmt}, encoding: {encoding}"))
    assert load_specs(tmp_path)["people"].source.encoding == encoding


@pytest.mark.parametrize("fmt, encoding, words", [
    ("csv", "tcvn5712", "Input should be"),
    ("jsonl", "tcvn3", "JSON Lines are read as UTF-8"),
    ("jsonl", "auto", "JSON Lines are read as UTF-8"),
    ("parquet", "vni", "parquet files carry their own encoding"),
    ("xlsx", "viqr", "only tcvn3, vni, auto apply"),  # VIQR has no font
    ("xlsx", "windows-1258", "only tcvn3, vni, auto apply"),
])
def test_an_encoding_a_format_cannot_take_is_refused(tmp_path, fmt, encoding, words):
    write(tmp_path, "demo/people.yaml", GOOD.replace("format: jsonl", f"format: {fmt}, encoding: {encoding}"))
    with pytest.raises(ConfigError, match="source") as err:
        load_specs(tmp_path)
    assert words in str(err.value)


def test_tcvn3_capitals_is_a_string_columns_option(tmp_path):
    write(tmp_path, "demo/people.yaml", GOOD.replace("type: string}", "type: string, tcvn3_capitals: true}"))
    assert load_specs(tmp_path)["people"].column("full_name").tcvn3_capitals
    write(tmp_path, "demo/people.yaml", GOOD.replace("type: int, nullable: false}",
                                                     "type: int, nullable: false, tcvn3_capitals: true}"))
    with pytest.raises(ConfigError, match="only a string column takes it"):
        load_specs(tmp_path)


def test_a_range_rule_needs_a_number_date_or_timestamp_column(tmp_path):
    text = GOOD + ("quality:\n  - {check: range, columns: [full_name], min: 0, dimension: dung,"
                   " message: {vi: a, en: b}}\n")
    write(tmp_path, "demo/people.yaml", text)
    with pytest.raises(ConfigError, match="a range needs number, date or timestamp columns; full_name is string"):
        load_specs(tmp_path)


MSG = "message: {vi: 'thông điệp', en: 'message'}"


@pytest.mark.parametrize("rule, words", [
    ("{check: not_null, columns: [full_name], dimension: du, message: plain}", "in both languages"),
    ("{check: not_null, columns: [full_name], dimension: du, message: {vi: Nam, Nữ, en: a}}",
     "'Nữ' looks like the rest of a text cut at a comma"),
    ("{check: regex, columns: [full_name], dimension: sach, %s}" % MSG, "regex: give pattern"),
    ("{check: regex, columns: [full_name], pattern: '([a-z', dimension: sach, %s}" % MSG,
     "not a regular expression"),
    ("{check: in_set, columns: [full_name], values: [a], min: 1, dimension: dung, %s}" % MSG,
     "min do not apply"),
    ("{check: unique, columns: [full_name], dimension: sach, action: quarantine, %s}" % MSG,
     "action is warn or fail"),
    ("{check: row_count, columns: [full_name], min: 1, dimension: du, %s}" % MSG, "row_count: takes no columns"),
    ("{check: cccd, columns: [full_name, person_id], dimension: dung, %s}" % MSG, "cccd: columns is"),
    ("{check: admin_unit, columns: [person_id], at: full_name, dimension: dung, %s}" % MSG,
     "not a date or timestamp"),
    ("{check: phone, columns: [nope], dimension: dung, %s}" % MSG, "'nope' is not a declared column"),
    ("{check: phone, columns: [full_name], level: commune, dimension: dung, %s}" % MSG,
     "level applies to admin_unit only"),
    ("{check: reference, columns: [person_id, full_name], reference: {dataset: people, column: person_id}, "
     "dimension: dung, %s}" % MSG, "reference: takes one column"),
    ("{check: not_null, columns: [person_id], dimension: du, action: warn, %s}" % MSG,
     "a key is always required"),
])
def test_bad_quality_rules_are_refused_with_the_field(tmp_path, rule, words):
    write(tmp_path, "demo/people.yaml", GOOD + f"quality:\n  - {rule}\n")
    with pytest.raises(ConfigError, match="quality") as err:
        load_specs(tmp_path)
    assert words in str(err.value)


def test_a_rule_split_per_column_may_not_repeat_another_rules_id(tmp_path):
    rules = ("  - {check: not_null, columns: [person_id, full_name], dimension: du, action: fail, %s}\n"
             "  - {check: not_null, columns: [full_name], dimension: du, %s}\n") % (MSG, MSG)
    write(tmp_path, "demo/people.yaml", GOOD + "quality:\n" + rules)
    with pytest.raises(ConfigError, match="rule id 'not_null__full_name' is also quality"):
        load_specs(tmp_path)


def test_two_rules_with_the_same_id_are_refused(tmp_path):
    rule = "  - {check: not_null, columns: [full_name], dimension: du, %s}\n" % MSG
    write(tmp_path, "demo/people.yaml", GOOD + "quality:\n" + rule + rule)
    with pytest.raises(ConfigError, match="rule id 'not_null__full_name' is also quality"):
        load_specs(tmp_path)


def test_freshness_durations_and_column_are_checked(tmp_path):
    write(tmp_path, "demo/people.yaml", GOOD + "freshness: {load_max_age: 2 days}\n")
    with pytest.raises(ConfigError, match="freshness.*not a duration"):
        load_specs(tmp_path)
    write(tmp_path, "demo/people.yaml", GOOD + "freshness: {event_max_age: 2h}\n")
    with pytest.raises(ConfigError, match="name freshness.column"):
        load_specs(tmp_path)
    write(tmp_path, "demo/people.yaml", GOOD + "freshness: {event_max_age: 2h, column: full_name}\n")
    with pytest.raises(ConfigError, match="not a declared date or timestamp column"):
        load_specs(tmp_path)
    write(tmp_path, "demo/people.yaml", GOOD + "freshness: {load_max_age: 26h}\n")
    from lakehouse.core.durations import parse_duration
    assert parse_duration(load_specs(tmp_path)["people"].freshness.load_max_age).total_seconds() == 26 * 3600


def test_a_reference_rule_names_a_master_dataset_column(tmp_path):
    rule = "  - {check: reference, columns: [person_id], reference: {dataset: people, column: nope}, " \
           "dimension: dung, action: quarantine, %s}\n" % MSG
    write(tmp_path, "demo/people.yaml", GOOD + "quality:\n" + rule)
    with pytest.raises(ConfigError, match="quality\\[0\\].reference.column'.*no column 'nope'"):
        load_specs(tmp_path)


# ---- range bounds on dates: the parser, and what the spec refuses ----------------------------------------------

D, TS = dt.date, dt.datetime


@pytest.mark.parametrize("text, today, expected", [
    ("today", D(2026, 11, 27), D(2026, 11, 27)),
    ("today-120y", D(2026, 11, 27), D(1906, 11, 27)),
    ("today+30d", D(2026, 11, 27), D(2026, 12, 27)),
    ("today-6m", D(2026, 11, 27), D(2026, 5, 27)),
    (" Today - 6M ", D(2026, 11, 27), D(2026, 5, 27)),
    ("today-400d", D(2026, 11, 27), D(2025, 10, 23)),
    ("2000-01-01", D(2026, 11, 27), D(2000, 1, 1)),
    ("2026-01-01 00:00:00", D(2026, 11, 27), TS(2026, 1, 1)),
    ("2026-01-01T08:30", D(2026, 11, 27), TS(2026, 1, 1, 8, 30)),
    ("2026-01-01T07:00:00+07:00", D(2026, 11, 27), TS(2026, 1, 1)),  # kept in UTC, like the values
    ("2026-01-01T00:00:00.5Z", D(2026, 11, 27), TS(2026, 1, 1, 0, 0, 0, 500000)),
    (5, D(2026, 11, 27), 5.0),
    ("12.5", D(2026, 11, 27), 12.5),
    # month ends: a day the target month lacks is its last day
    ("today-1m", D(2026, 3, 31), D(2026, 2, 28)),
    ("today-1m", D(2024, 3, 31), D(2024, 2, 29)),
    ("today+1m", D(2026, 1, 31), D(2026, 2, 28)),
    ("today-13m", D(2026, 5, 31), D(2025, 4, 30)),
    # leap days: 1900 was no leap year, 1904 was
    ("today-120y", D(2020, 2, 29), D(1900, 2, 28)),
    ("today-120y", D(2024, 2, 29), D(1904, 2, 29)),
    ("today-1y", D(2024, 2, 29), D(2023, 2, 28)),
    ("today+4y", D(2024, 2, 29), D(2028, 2, 29)),
])
def test_resolve_bound_reads_every_form(text, today, expected):
    from lakehouse.config.spec import resolve_bound
    got = resolve_bound(text, today)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("text", ["yesterday", "today-3w", "today-", "today120y", "01/01/2000", "2026-02-30",
                                  "2026-01-01 25:00", "now", ""])
def test_an_unreadable_bound_names_the_text_and_the_forms(text):
    from lakehouse.config.spec import resolve_bound
    with pytest.raises(ValueError) as err:
        resolve_bound(text, D(2026, 11, 27))
    assert repr(text) in str(err.value)
    assert "2000-01-01" in str(err.value) and "today-120y" in str(err.value)


def test_a_relative_bound_needs_the_day_of_the_check():
    from lakehouse.config.spec import resolve_bound
    with pytest.raises(ValueError, match="pass that day"):
        resolve_bound("today", None)


@pytest.mark.parametrize("at, day", [
    ("2026-11-27T23:30:00.000000Z", D(2026, 11, 27)),
    ("2026-11-28T05:00:00+07:00", D(2026, 11, 27)),    # still the 27th in UTC
    ("2026-11-27T00:00:00", D(2026, 11, 27)),          # no offset: UTC
])
def test_today_is_the_utc_day_of_the_run(at, day):
    from lakehouse.config.spec import run_day
    assert run_day(at) == day


DATED = GOOD.replace("  - {name: full_name, type: string}\n",
                     "  - {name: full_name, type: string}\n  - {name: born, type: date}\n"
                     "  - {name: seen_at, type: timestamp}\n")


def range_rule(column: str, bounds: str) -> str:
    return f"quality:\n  - {{check: range, columns: [{column}], {bounds}, dimension: dung, {MSG}}}\n"


@pytest.mark.parametrize("column, bounds, words", [
    ("person_id", "min: today", "quality[0].min: rule range__person_id: 'today' is a date but person_id is int; "
                                "give a number"),
    ("person_id", "max: 2000-01-01", "quality[0].max: rule range__person_id: '2000-01-01' is a date but person_id "
                                     "is int"),
    ("born", "max: 2030", "quality[0].max: rule range__born: 2030.0 is a number but born is date; give a date"),
    ("seen_at", "min: 0", "quality[0].min: rule range__seen_at: 0.0 is a number but seen_at is timestamp"),
    ("born", "max: '2026-01-01 12:00:00'", "quality[0].max: rule range__born: '2026-01-01 12:00:00' is a timestamp "
                                           "but born is date; give a date"),
    ("born", "min: yesterday", "'yesterday' is not a bound; write a number; or, on a date or timestamp column, a "
                               "date (2000-01-01)"),
    ("born", "min: 0, max: today", "range: min 0.0 is a number but max 'today' is a date"),
    ("born", "min: 2020-01-01, max: 2010-01-01", "range: min '2020-01-01' is above max '2010-01-01'"),
])
def test_range_bounds_must_fit_the_column(tmp_path, column, bounds, words):
    path = write(tmp_path, "demo/people.yaml", DATED + range_rule(column, bounds))
    with pytest.raises(ConfigError) as err:
        load_specs(tmp_path)
    assert str(path) in str(err.value)
    assert words in str(err.value)


def test_an_unreadable_bound_names_its_field(tmp_path):
    write(tmp_path, "demo/people.yaml", DATED + range_rule("born", "min: today-3w"))
    with pytest.raises(ConfigError, match=r"field 'quality\[0\]\.min'.*'today-3w' is not a bound"):
        load_specs(tmp_path)


def test_row_count_bounds_are_numbers_of_rows(tmp_path):
    write(tmp_path, "demo/people.yaml",
          DATED + f"quality:\n  - {{check: row_count, min: today, dimension: du, {MSG}}}\n")
    with pytest.raises(ConfigError, match="row_count: min and max are numbers of rows, not 'today'"):
        load_specs(tmp_path)


def test_date_bounds_are_kept_in_one_spelling(tmp_path):
    rules = ("quality:\n"
             f"  - {{check: range, columns: [born], min: 1900-01-01, max: Today + 0d, dimension: dung, {MSG}}}\n"
             f"  - {{check: range, columns: [seen_at], min: 2021-07-01, max: 2026-01-01T07:00:00+07:00, "
             f"dimension: dung, {MSG}}}\n"
             f"  - {{check: range, columns: [person_id], min: '1', max: 10, dimension: dung, {MSG}}}\n")
    write(tmp_path, "demo/people.yaml", DATED + rules)
    got = [(r.min, r.max) for r in load_specs(tmp_path)["people"].quality]
    # YAML reads the unquoted date as a date and the timestamp as a datetime: both are kept as text (UTC)
    assert got == [("1900-01-01", "today"), ("2021-07-01", "2026-01-01 00:00:00"), (1.0, 10.0)]


def test_range_bounds_for_a_timestamp_column_take_whole_days():
    from lakehouse.config.spec import Rule, range_bounds
    rule = Rule(check="range", columns=["seen_at"], min="2021-07-01", max="today", dimension="dung",
                message={"vi": "a", "en": "b"})
    assert range_bounds(rule, "timestamp", D(2026, 11, 27)) == (TS(2021, 7, 1), TS(2026, 11, 27, 23, 59, 59, 999999))
    assert range_bounds(rule, "date", D(2026, 11, 27)) == (D(2021, 7, 1), D(2026, 11, 27))
    crossed = rule.model_copy(update={"min": "today-1m", "max": "today-30d"})   # crossed on 1 March
    with pytest.raises(ValueError, match="min today-1m is 2026-02-01 and max today-30d is 2026-01-30"):
        range_bounds(crossed, "date", D(2026, 3, 1))


def test_the_shipped_citizens_spec_bounds_the_date_of_birth():
    rule = {r.rule_id: r for r in load_specs()["citizens"].quality}["range__date_of_birth"]
    assert (rule.min, rule.max, rule.dimension, rule.action) == ("today-120y", "today", "dung", "quarantine")


# ---- strict config files: a duplicated key, a non-UTF-8 file or a .yml spec is an error naming the file ----

def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    path = write(tmp_path, "demo/people.yaml", GOOD + "description: again\n")
    with pytest.raises(ConfigError, match=r"key 'description' is given twice \(lines \d+ and \d+\)") as err:
        load_specs(tmp_path)
    assert str(path) in str(err.value)


def test_a_key_given_twice_inside_a_rule_is_refused(tmp_path):
    text = GOOD + ("quality:\n  - check: not_null\n    columns: [person_id]\n    dimension: du\n    dimension: sach\n"
                   "    message: {vi: x, en: x}\n")
    with pytest.raises(ConfigError, match="'dimension' is given twice"):
        write(tmp_path, "demo/people.yaml", text)
        load_specs(tmp_path)


def test_a_spec_in_a_legacy_encoding_names_the_file_and_the_byte(tmp_path):
    path = tmp_path / "datasets" / "demo" / "people.yaml"
    path.parent.mkdir(parents=True)
    # the old system wrote Windows-1258: "Đà Lạt", composed the legacy way (base letter + combining mark)
    path.write_bytes((GOOD + "# " + unicodedata.normalize("NFD", "Đà Lạt") + "\n").encode("cp1258"))
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte \d+") as err:
        load_specs(tmp_path)
    assert str(path) in str(err.value)


def test_a_yml_spec_is_not_silently_ignored(tmp_path):
    write(tmp_path, "demo/people.yaml", GOOD)
    other = tmp_path / "datasets" / "demo" / "firms.yml"
    other.write_text(GOOD.replace("people", "firms"), encoding="utf-8")
    with pytest.raises(ConfigError, match="rename it to firms.yaml") as err:
        load_specs(tmp_path)
    assert str(other) in str(err.value)


def test_access_yaml_with_a_repeated_partner_is_refused(tmp_path):
    from lakehouse.config.access import load_access

    (tmp_path / "access.yaml").write_text(
        "partners:\n  p1: {name: {vi: a, en: a}, users: [u1]}\n  p1: {name: {vi: b, en: b}, users: [u2]}\n",
        encoding="utf-8")
    with pytest.raises(ConfigError, match="'p1' is given twice"):
        load_access(tmp_path)
