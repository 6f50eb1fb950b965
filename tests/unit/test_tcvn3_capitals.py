"""The repair of names typed in a TCVN3 capital font (NGUYễN → NGUYỄN): the rule in Python, the same rule as a
Spark column, and the sạch warning that counts the rows it changed."""

import unicodedata

import pytest
from pyspark.sql import functions as F

from lakehouse.config.spec import SourceDataset
from lakehouse.core import legacy_text
from lakehouse.engine import tcvn3_capitals as caps

CASES = [
    ("NGUYễN", "NGUYỄN"),
    ("NGUYễN THị ý", "NGUYỄN THỊ Ý"),  # ý alone is raised: the value is in capitals
    ("BùI HữU LựC", "BÙI HỮU LỰC"),
    ("ĐặNG QUốC VIệT, Xã ĐắK Pơ", "ĐẶNG QUỐC VIỆT, Xã ĐẮK Pơ"),  # Xã and Pơ: small letters, not a capital font
    ("Hồ Chí Minh", "Hồ Chí Minh"),  # title case: nothing in capitals
    ("NGUYễN Văn An", "NGUYỄN Văn An"),  # the family name in capitals on purpose, the rest in title case
    ("TP. Hồ Chí Minh", "TP. Hồ Chí Minh"),  # TP is in capitals, but Minh says the value is not
    ("Lý Hà", "Lý Hà"),  # a capital and small toned letters only: title case or capitals, cannot tell
    ("LÊ Lý", "LÊ LÝ"),  # LÊ is in capitals (Ê has a byte), and no word has a small letter
    ("Nguyễn Thị Ánh", "Nguyễn Thị Ánh"),
    ("HS-0001 / 12", "HS-0001 / 12"),
    ("", ""),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_small_toned_letters_of_words_in_capitals_are_raised(text, expected):
    assert caps.raise_capitals(text) == expected


def test_the_sixty_small_toned_letters_are_those_tcvn3_writes_for_a_capital():
    assert len(caps.TONED_SMALL) == 60 and len(set(caps.TONED_SMALL)) == 60
    for small in caps.TONED_SMALL:
        assert legacy_text.decode(legacy_text.encode(small.upper(), "tcvn3"), "tcvn3") == small
    assert all(unicodedata.is_normalized("NFC", c) for c in caps.TONED_SMALL)


def test_every_name_typed_in_capitals_comes_back_after_tcvn3():
    for name in ("TRẦN THỊ ÁNH", "PHẠM VĂN ĐỒNG", "LƯU HỮU PHƯỚC", "NGÔ BẢO CHÂU", "ĐỖ MƯỜI", "LÊ VĂN TÁM"):
        typed = legacy_text.decode(legacy_text.encode(name, "tcvn3"), "tcvn3")
        assert typed != name and caps.raise_capitals(typed) == name


def test_the_spark_column_agrees_with_the_python_rule(spark):
    rows = [(text,) for text, _ in CASES] + [(None,)]
    df = spark.createDataFrame(rows, "name string").select("name", caps.raised(F.col("name")).alias("fixed"))
    got = {r["name"]: r["fixed"] for r in df.collect()}
    assert got == {text: expected for text, expected in CASES} | {None: None}


def spec(**column) -> SourceDataset:
    return SourceDataset.model_validate({
        "name": "dan_cu", "domain": "t", "description": "d", "grain": "g",
        "source": {"kind": "files", "format": "csv", "encoding": "tcvn3"},
        "columns": [{"name": "ma", "type": "string"}, {"name": "ho_ten", "type": "string", **column}],
        "keys": ["ma"]})


def test_the_repair_is_a_sach_warning_per_column_that_opts_in():
    assert caps.rule_ids(spec()) == [] and caps.rules(spec()) == []
    repaired = spec(tcvn3_capitals=True)
    assert caps.rule_ids(repaired) == ["tcvn3_capitals__ho_ten"]
    (rule,) = caps.rules(repaired)
    assert (rule.rule_id, rule.dimension, rule.action, rule.columns) == ("tcvn3_capitals__ho_ten", "sach", "warn",
                                                                         ["ho_ten"])
    assert rule.message.vi and rule.message.en


def test_the_check_counts_the_rows_the_repair_changed(spark):
    s = spec(tcvn3_capitals=True)
    raw = spark.createDataFrame([("1", " NGUYễN THị ý "), ("2", "Hồ Chí Minh"), ("3", None), ("4", "BùI")],
                                "ma string, _src_ho_ten string")
    before = lambda col: F.trim(F.col(f"_src_{col.source_field}"))  # noqa: E731 (NFC already)
    typed = raw.withColumn("ho_ten", caps.raised(F.trim("_src_ho_ten")))
    ((fails, rule_id, dimension, action, reason),) = caps.checks(s, before)
    assert (rule_id, dimension, action) == ("tcvn3_capitals__ho_ten", "sach", "warn")
    flagged = typed.select("ma", "ho_ten", F.when(fails, reason).alias("warning")).orderBy("ma").collect()
    assert [r["ho_ten"] for r in flagged] == ["NGUYỄN THỊ Ý", "Hồ Chí Minh", None, "BÙI"]
    assert [r["warning"] for r in flagged] == ["ho_ten: 'NGUYễN THị ý' repaired to 'NGUYỄN THỊ Ý'", None, None,
                                               "ho_ten: 'BùI' repaired to 'BÙI'"]


def test_silver_repairs_the_column_that_opts_in_and_its_audit_reports_the_rows_changed(spark, tmp_path):
    """Through the silver pass: ``flag_rows`` raises the capitals and flags the row with the warning (kept,
    not quarantined), the staged counts count it, and the audit reports it as a failed sạch warning."""
    from types import SimpleNamespace

    from lakehouse.engine.transforms import flag_rows, rank_duplicates, rule_counts, staged_metrics
    from lakehouse.quality import validation

    bronze = spark.createDataFrame([(*r, "f", "b1", None) for r in
                                    [("1", "NGUYễN THị ý"), ("2", "Hồ Chí Minh"), ("3", "BùI HữU LựC")]],
                                   "ma string, ho_ten string, _source_file string, _batch_id string, "
                                   "_ingested_at timestamp")
    for s, names, changed in ((spec(), ["NGUYễN THị ý", "Hồ Chí Minh", "BùI HữU LựC"], 0),
                              (spec(tcvn3_capitals=True), ["NGUYỄN THỊ Ý", "Hồ Chí Minh", "BÙI HỮU LỰC"], 2)):
        staged = rank_duplicates(flag_rows(bronze, s, "2026-11-27T03:00:00+00:00"), s).cache()
        rows = staged.orderBy("ma").collect()
        assert [r["ho_ten"] for r in rows] == names
        assert not any(r["_quarantined"] for r in rows)
        counts = staged.agg(*staged_metrics(s)).collect()[0].asDict()
        assert rule_counts(counts, s) == ({"tcvn3_capitals__ho_ten": changed} if changed else {})
        audit = validation.audit(staged, s, "dan_cu@2026-11-27", rows_in=3, row_failures=rule_counts(counts, s),
                                 reference_values={}, previous_rows=None, at="2026-11-27T03:00:00+00:00",
                                 settings=SimpleNamespace(state_dir=tmp_path))
        repair = [(r.rule_id, r.success, r.unexpected_count, r.dimension, r.action) for r in audit.results
                  if r.check == "tcvn3_capitals"]
        assert repair == ([("tcvn3_capitals__ho_ten", False, 2, "sach", "warn")] if changed else [])
