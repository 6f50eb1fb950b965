"""Config files are read strictly: a duplicated key, a non-UTF-8 file or a .yml spec is an error naming the file."""

import unicodedata

import pytest

from lakehouse.errors import ConfigError
from lakehouse.spec import load_catalog

GOOD = """
name: people
domain: demo
description: d
grain: one row per person
source: {kind: files, format: jsonl}
columns:
  - {name: person_id, type: int, nullable: false}
keys: [person_id]
"""


def write(tmp_path, rel: str, text: str):
    path = tmp_path / "datasets" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    path = write(tmp_path, "demo/people.yaml", GOOD + "description: again\n")
    with pytest.raises(ConfigError, match=r"key 'description' is given twice \(lines \d+ and \d+\)") as err:
        load_catalog(tmp_path)
    assert str(path) in str(err.value)


def test_a_key_given_twice_inside_a_rule_is_refused(tmp_path):
    text = GOOD + ("quality:\n  - check: not_null\n    columns: [person_id]\n    dimension: du\n    dimension: sach\n"
                   "    message: {vi: x, en: x}\n")
    with pytest.raises(ConfigError, match="'dimension' is given twice"):
        write(tmp_path, "demo/people.yaml", text)
        load_catalog(tmp_path)


def test_a_spec_in_a_legacy_encoding_names_the_file_and_the_byte(tmp_path):
    path = tmp_path / "datasets" / "demo" / "people.yaml"
    path.parent.mkdir(parents=True)
    # the old system wrote Windows-1258: "Đà Lạt", composed the legacy way (base letter + combining mark)
    path.write_bytes((GOOD + "# " + unicodedata.normalize("NFD", "Đà Lạt") + "\n").encode("cp1258"))
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte \d+") as err:
        load_catalog(tmp_path)
    assert str(path) in str(err.value)


def test_a_yml_spec_is_not_silently_ignored(tmp_path):
    write(tmp_path, "demo/people.yaml", GOOD)
    other = tmp_path / "datasets" / "demo" / "firms.yml"
    other.write_text(GOOD.replace("people", "firms"), encoding="utf-8")
    with pytest.raises(ConfigError, match="rename it to firms.yaml") as err:
        load_catalog(tmp_path)
    assert str(other) in str(err.value)


def test_access_yaml_with_a_repeated_partner_is_refused(tmp_path):
    from lakehouse.access import load_access

    (tmp_path / "access.yaml").write_text(
        "partners:\n  p1: {name: {vi: a, en: a}, users: [u1]}\n  p1: {name: {vi: b, en: b}, users: [u2]}\n",
        encoding="utf-8")
    with pytest.raises(ConfigError, match="'p1' is given twice"):
        load_access(tmp_path)
