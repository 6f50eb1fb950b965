"""Pure transforms on three-row frames (local Spark, seconds)."""

import json
import unicodedata

from lakehouse.spec import SourceDataset
from lakehouse.transforms import parse_json_lines, refine, split_parsed, with_row_hash

AT = "2026-11-27T00:00:00.000000Z"

SPEC = SourceDataset.model_validate({
    "name": "communes", "domain": "t", "description": "d", "grain": "one row per commune",
    "source": {"kind": "files"},
    "columns": [
        {"name": "commune_code", "type": "int", "nullable": False, "source": "code"},
        {"name": "commune_name", "type": "string", "nullable": False, "source": "name"},
        {"name": "updated_on", "type": "date"},
    ],
    "keys": ["commune_code"], "order_by": "updated_on",
})
FIELDS = ["code", "name", "updated_on"]


def lines(spark, *texts):
    return spark.createDataFrame([(t, f"s3a://lake/landing/x/{i}.jsonl") for i, t in enumerate(texts)],
                                 "value string, _source_file string")


def bronze(spark, rows):
    """Bronze-shaped rows: every field a string, plus metadata."""
    return spark.createDataFrame(
        [(*r, "f.jsonl", "b1", None) for r in rows],
        "code string, name string, updated_on string, _source_file string, _batch_id string, _ingested_at timestamp")


def test_parse_keeps_declared_fields_as_text_and_rescues_the_rest(spark):
    out = parse_json_lines(lines(spark, '{"code": 70, "name": "Phường Hoàn Kiếm", "extra": [1]}'), FIELDS).collect()[0]
    assert out["code"] == "70"
    assert out["name"] == "Phường Hoàn Kiếm"
    assert out["updated_on"] is None
    assert json.loads(out["_rescued_data"]) == {"extra": "[1]"}
    assert out["_parse_error"] is None


def test_unparseable_lines_go_to_quarantine_and_blank_lines_are_not_rows(spark):
    parsed = parse_json_lines(lines(spark, '{"code": 1, "name": "A"}', "not json {", "   "), FIELDS)
    split = split_parsed(parsed, SPEC, AT)
    assert split.good.count() == 1
    bad = split.rejected.collect()
    assert len(bad) == 1
    assert (bad[0]["rule_id"], bad[0]["dimension"], bad[0]["layer"]) == ("parse", "dung", "bronze")
    assert bad[0]["record"] == "not json {"


def test_refine_types_trims_and_normalises_to_nfc(spark):
    nfd = unicodedata.normalize("NFD", "Xã Thuận Hoà")
    split = refine(bronze(spark, [(" 7 ", f"  {nfd} ", "27/11/2026")]), SPEC, AT)
    row = split.good.collect()[0]
    assert row["commune_code"] == 7
    assert row["commune_name"] == "Xã Thuận Hoà"
    assert unicodedata.is_normalized("NFC", row["commune_name"])
    assert str(row["updated_on"]) == "2026-11-27"


def test_refine_quarantines_bad_casts_and_missing_required_values_with_reasons(spark):
    split = refine(bronze(spark, [("abc", "A", None), ("2", "", None), ("3", "C", "2026-13-45")]), SPEC, AT)
    reasons = {r["rule_id"]: r for r in split.rejected.collect()}
    assert set(reasons) == {"cast__commune_code", "not_null__commune_name", "cast__updated_on"}
    assert reasons["cast__commune_code"]["reason"] == "commune_code: cannot read 'abc' as int"
    assert reasons["cast__commune_code"]["dimension"] == "dung"
    assert reasons["not_null__commune_name"]["dimension"] == "du"
    assert json.loads(reasons["cast__commune_code"]["record"])["code"] == "abc"
    assert split.good.count() == 0


def test_refine_keeps_the_newest_duplicate_and_accounting_balances(spark):
    rows = [("1", "old", "2026-01-01"), ("1", "new", "2026-06-01"), ("2", "B", None), ("x", "bad", None)]
    split = refine(bronze(spark, rows), SPEC, AT)
    good = {r["commune_code"]: r["commune_name"] for r in split.good.collect()}
    assert good == {1: "new", 2: "B"}
    assert split.duplicates.count() == 1
    assert split.rejected.count() == 1
    assert len(rows) == len(good) + split.duplicates.count() + split.rejected.count()


def test_row_hash_changes_only_with_business_values(spark):
    df = spark.createDataFrame([(1, "A", "x"), (1, "A", "y"), (1, "B", "x")], "id int, name string, meta string")
    hashes = [r["_row_hash"] for r in with_row_hash(df, ["id", "name"]).collect()]
    assert hashes[0] == hashes[1]
    assert hashes[0] != hashes[2]
