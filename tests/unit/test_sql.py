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


def test_a_spark_literal_is_a_literal_of_its_type_and_escapes_what_sparks_parser_reads():
    import datetime

    import pytest

    assert sql.spark_literal("Hà Nội's \\ \"q\"", "string") == "'Hà Nội\\'s \\\\ \"q\"'"
    assert sql.spark_literal(7, "int") == "7"
    assert sql.spark_literal(7, "bigint") == "7L"
    assert sql.spark_literal(datetime.date(2026, 12, 1), "date") == "DATE '2026-12-01'"
    assert sql.spark_literal(1_796_119_200_000_001, "timestamp") == "TIMESTAMP '2026-12-01 10:00:00.000001Z'"
    assert sql.spark_literal(-1, "timestamp") == "TIMESTAMP '1969-12-31 23:59:59.999999Z'"
    for value, type_ in ((None, "string"), (True, "int"), (1.5, "double"), ("2026-12-01", "date")):
        with pytest.raises(ValueError, match="no Spark SQL literal"):
            sql.spark_literal(value, type_)
