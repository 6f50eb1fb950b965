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
    assert rules["unique__person_id"].action == "fail"


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
    text = GOOD + "quality:\n  - {check: range, columns: [full_name], min: 0, dimension: dung}\n"
    write(tmp_path, "demo/people.yaml", text)
    with pytest.raises(ConfigError, match="a range needs a number column"):
        load_catalog(tmp_path)
