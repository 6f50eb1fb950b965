"""The one place SQL text quotes a value or a name."""

from lakehouse.core import sql


def test_a_literal_doubles_its_quotes_and_takes_any_value_as_text():
    assert sql.literal("o'brien") == "'o''brien'"
    assert sql.literal("''") == "''''''"
    assert sql.literal(2026) == "'2026'"
    assert sql.literals(["a", "b'c"]) == "'a', 'b''c'"


def test_an_identifier_doubles_its_double_quotes():
    assert sql.identifier("silver") == '"silver"'
    assert sql.identifier('a"b') == '"a""b"'
