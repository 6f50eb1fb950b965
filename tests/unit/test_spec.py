"""Spec loading and the errors a data engineer sees (milliseconds, no Spark)."""

from pathlib import Path

import pytest

from lakehouse.errors import ConfigError
from lakehouse.spec import GoldDataset, SourceDataset, json_schema, load_catalog

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
    catalog = load_catalog()
    assert {"provinces", "communes", "communes_with_province", "commune_counts_by_province"} <= set(catalog.datasets)
    assert isinstance(catalog["communes"], SourceDataset)
    assert isinstance(catalog["commune_counts_by_province"], GoldDataset)
    assert catalog["communes"].domain == "admin_units"  # from the folder's _defaults.yaml


def test_folder_defaults_apply_and_file_wins(tmp_path):
    write(tmp_path, "demo/_defaults.yaml", "domain: demo\nclassification: open\nschedule: '0 1 * * *'\n")
    write(tmp_path, "demo/people.yaml", GOOD.replace("domain: demo\n", "") + "schedule: '0 3 * * *'\n")
    spec = load_catalog(tmp_path)["people"]
    assert spec.classification == "open"
    assert spec.schedule == "0 3 * * *"


def test_keys_imply_not_null_and_unique_rules(tmp_path):
    write(tmp_path, "demo/people.yaml", GOOD)
    rules = {r.rule_id: r for r in load_catalog(tmp_path)["people"].effective_rules}
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
        load_catalog(tmp_path)
    message = str(err.value)
    assert str(path) in message
    assert f"field '{field}'" in message or f"{field}:" in message
    assert words in message


def test_yaml_syntax_error_names_the_file(tmp_path):
    path = write(tmp_path, "demo/people.yaml", GOOD + "columns: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML") as err:
        load_catalog(tmp_path)
    assert str(path) in str(err.value)


def test_file_name_must_match_dataset_name(tmp_path):
    write(tmp_path, "demo/persons.yaml", GOOD)
    with pytest.raises(ConfigError, match="must equal the file name 'persons'"):
        load_catalog(tmp_path)


def test_gold_must_depend_on_known_source(tmp_path):
    write(tmp_path, "demo/people.yaml", GOOD)
    write(tmp_path, "demo/people_count.yaml",
          "name: people_count\ndomain: demo\nlayer: gold\ndescription: d\ngrain: one row\n"
          "depends_on: [persons]\nsql: SELECT count(*) AS n FROM persons\n")
    with pytest.raises(ConfigError, match=r"depends_on\[0\]': 'persons' is not a source dataset"):
        load_catalog(tmp_path)


def test_duplicate_dataset_names_are_refused(tmp_path):
    write(tmp_path, "a/people.yaml", GOOD)
    write(tmp_path, "b/people.yaml", GOOD)
    with pytest.raises(ConfigError, match="already defined"):
        load_catalog(tmp_path)


def test_json_schema_describes_both_kinds():
    schema = json_schema()
    text = str(schema)
    assert "SourceDataset" in text and "GoldDataset" in text


def test_unsupported_source_format_is_refused_at_load(tmp_path):
    path = write(tmp_path, "demo/people.yaml", GOOD.replace("format: jsonl", "format: xml"))
    with pytest.raises(ConfigError, match=r"field 'source.format'") as err:
        load_catalog(tmp_path)
    assert str(path) in str(err.value)


def test_a_range_rule_needs_a_number_column(tmp_path):
    text = GOOD + ("quality:\n  - {check: range, columns: [full_name], min: 0, dimension: dung,"
                   " message: {vi: a, en: b}}\n")
    write(tmp_path, "demo/people.yaml", text)
    with pytest.raises(ConfigError, match="a range needs number columns; full_name is string"):
        load_catalog(tmp_path)


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
        load_catalog(tmp_path)
    assert words in str(err.value)


def test_a_rule_split_per_column_may_not_repeat_another_rules_id(tmp_path):
    rules = ("  - {check: not_null, columns: [person_id, full_name], dimension: du, action: fail, %s}\n"
             "  - {check: not_null, columns: [full_name], dimension: du, %s}\n") % (MSG, MSG)
    write(tmp_path, "demo/people.yaml", GOOD + "quality:\n" + rules)
    with pytest.raises(ConfigError, match="rule id 'not_null__full_name' is also quality"):
        load_catalog(tmp_path)


def test_two_rules_with_the_same_id_are_refused(tmp_path):
    rule = "  - {check: not_null, columns: [full_name], dimension: du, %s}\n" % MSG
    write(tmp_path, "demo/people.yaml", GOOD + "quality:\n" + rule + rule)
    with pytest.raises(ConfigError, match="rule id 'not_null__full_name' is also quality"):
        load_catalog(tmp_path)


def test_freshness_durations_and_column_are_checked(tmp_path):
    write(tmp_path, "demo/people.yaml", GOOD + "freshness: {load_max_age: 2 days}\n")
    with pytest.raises(ConfigError, match="freshness.*not a duration"):
        load_catalog(tmp_path)
    write(tmp_path, "demo/people.yaml", GOOD + "freshness: {event_max_age: 2h}\n")
    with pytest.raises(ConfigError, match="name freshness.column"):
        load_catalog(tmp_path)
    write(tmp_path, "demo/people.yaml", GOOD + "freshness: {event_max_age: 2h, column: full_name}\n")
    with pytest.raises(ConfigError, match="not a declared date or timestamp column"):
        load_catalog(tmp_path)
    write(tmp_path, "demo/people.yaml", GOOD + "freshness: {load_max_age: 26h}\n")
    from lakehouse.spec import parse_duration
    assert parse_duration(load_catalog(tmp_path)["people"].freshness.load_max_age).total_seconds() == 26 * 3600


def test_a_reference_rule_names_a_master_dataset_column(tmp_path):
    rule = "  - {check: reference, columns: [person_id], reference: {dataset: people, column: nope}, " \
           "dimension: dung, action: quarantine, %s}\n" % MSG
    write(tmp_path, "demo/people.yaml", GOOD + "quality:\n" + rule)
    with pytest.raises(ConfigError, match="quality\\[0\\].reference.column'.*no column 'nope'"):
        load_catalog(tmp_path)
