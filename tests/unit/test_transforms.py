"""Pure transforms on three-row frames (local Spark, seconds)."""

import datetime
import json
import unicodedata

from lakehouse.config.spec import SourceDataset
from lakehouse.core.columns import QUARANTINE_COLUMNS, ROW_HASH, ROW_HASH_COMMENT
from lakehouse.engine.transforms import flag_rows, parse_json_lines, refine, split_parsed, with_row_hash

AT = "2026-11-27T00:00:00.000000Z"
MSG = {"vi": "thông điệp", "en": "message"}

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
    assert split.rejected.columns == QUARANTINE_COLUMNS  # bronze and silver write one quarantine table


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
    assert split.rejected.columns == QUARANTINE_COLUMNS
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


def test_row_hash_tells_which_column_is_null_and_ignores_the_session_time_zone(spark):
    at = datetime.datetime(2026, 12, 5, 1, 2, 3, tzinfo=datetime.timezone.utc)
    df = spark.createDataFrame([(None, 5, at), (5, None, at), (5, 5, at)], "a int, b int, at timestamp")
    hashed = with_row_hash(df, ["a", "b", "at"])
    assert hashed.schema[ROW_HASH].metadata == {"comment": ROW_HASH_COMMENT}  # a table created from it keeps it
    utc = [r[ROW_HASH] for r in hashed.collect()]
    assert len(set(utc)) == 3 and all(len(h) == 16 for h in utc)
    zone = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "Asia/Ho_Chi_Minh")
    try:
        assert [r[ROW_HASH] for r in hashed.collect()] == utc
    finally:
        spark.conf.set("spark.sql.session.timeZone", zone)


def make_spec(columns, **extra):
    return SourceDataset.model_validate({"name": "t", "domain": "t", "description": "d", "grain": "g",
                                         "source": extra.pop("source", {"kind": "files"}), "columns": columns,
                                         "keys": [columns[0]["name"]], **extra})


def strings(spark, rows, fields):
    return spark.createDataFrame([(*r, "f", "b1", None) for r in rows],
                                 ", ".join(f"{f} string" for f in fields)
                                 + ", _source_file string, _batch_id string, _ingested_at timestamp")


def test_nfc_runs_in_the_jvm_and_keeps_nulls(spark):
    from pyspark.sql import functions as F

    from lakehouse.engine.transforms import nfc
    nfd = unicodedata.normalize("NFD", "Phường Hoàn Kiếm")
    df = spark.createDataFrame([(nfd,), (None,)], "v string")
    assert [r[0] for r in df.select(nfc(F.col("v"))).collect()] == ["Phường Hoàn Kiếm", None]


def test_vietnamese_numbers_timestamps_and_dates_are_read(spark):
    spec = make_spec([{"name": "id", "type": "int"}, {"name": "amount", "type": "decimal(18,1)", "number_format": "vi"},
                      {"name": "at", "type": "timestamp"}, {"name": "on", "type": "date"}])
    rows = [("1", "1.234.567,5", "2026-11-27T06:00:00Z", "27/11/2026"),
            ("2", "12", "27/11/2026 08:30:00", "2026-11-27"),
            ("3", "7", "2026-11-27 07:00:00+07:00", None)]
    split = refine(strings(spark, rows, ["id", "amount", "at", "on"]), spec, AT)
    good = {r["id"]: r for r in split.good.collect()}
    assert str(good[1]["amount"]) == "1234567.5"
    assert good[1]["at"].isoformat().startswith("2026-11-27T06:00")
    assert good[2]["at"].isoformat().startswith("2026-11-27T08:30")
    assert str(good[1]["on"]) == str(good[2]["on"]) == "2026-11-27"
    assert good[3]["at"].isoformat().startswith("2026-11-27T00:00")  # +07:00 is stored in UTC
    assert [r["rule_id"] for r in split.rejected.collect()] == []


def test_a_date_is_read_only_as_yyyy_mm_dd_or_dd_mm_yyyy_whichever_way_it_is_parsed(spark):
    """yyyy-MM-dd text takes the cast, other text the patterns; both accept exactly the same dates."""
    from pyspark.sql import functions as F

    from lakehouse.engine.transforms import _parse_value
    col = make_spec([{"name": "on", "type": "date"}]).columns[0]
    texts = {"2026-11-27": "2026-11-27", " 27/11/2026 ": "2026-11-27", "2024-02-29": "2024-02-29",
             "2026-02-29": None, "2026-13-01": None, "2026-1-5": None, "2026-01-05T9": None,
             "2026-01-05 10:00": None, "2026-01": None, "2026": None, "+2026-01-05": None, "２０２６-01-05": None,
             "5/1/2026": None, "2026/01/05": None, "": None}
    df = spark.createDataFrame([(t,) for t in texts] + [(None,)], "on string")
    got = {r[0]: r[1] for r in df.select("on", _parse_value(F.col("on"), col).cast("string")).collect()}
    assert got == {**texts, None: None}


def test_range_rules_with_action_quarantine_set_rows_aside_with_the_value(spark):
    spec = make_spec([{"name": "id", "type": "int"}, {"name": "pm25", "type": "double"}],
                     quality=[{"check": "range", "columns": ["pm25"], "min": 0, "max": 1000,
                               "dimension": "dung", "action": "quarantine", "message": MSG}])
    split = refine(strings(spark, [("1", "12.5"), ("2", "-999"), ("3", None)], ["id", "pm25"]), spec, AT)
    assert sorted(r["id"] for r in split.good.collect()) == [1, 3]
    bad = split.rejected.collect()
    assert [(b["rule_id"], b["reason"]) for b in bad] == [("range__pm25", "pm25: -999.0 is outside [0, 1000]")]


def test_conformed_codes_must_exist_in_master_data(spark):
    spec = make_spec([{"name": "id", "type": "int"},
                      {"name": "province_code", "type": "int", "conform": {"dataset": "provinces",
                                                                            "column": "province_code"}}])
    master = spark.createDataFrame([(1,), (79,)], "province_code int")
    split = refine(strings(spark, [("1", "79"), ("2", "64"), ("3", None)], ["id", "province_code"]), spec, AT,
                   {"conform__province_code": master})
    assert sorted(r["id"] for r in split.good.collect()) == [1, 3]
    bad = split.rejected.collect()
    assert bad[0]["rule_id"] == "conform__province_code"
    assert bad[0]["reason"] == "province_code: 64 is not a known provinces.province_code"


def test_late_rows_are_behind_what_arrived_earlier(spark):
    import datetime as dt

    from lakehouse.engine.transforms import late_rows
    spec = make_spec([{"name": "sensor_id", "type": "string"}, {"name": "reading_at", "type": "timestamp"}],
                     source={"kind": "stream", "format": "jsonl", "event_time": "reading_at",
                             "late_after_minutes": 60})
    t = lambda h, m=0: dt.datetime(2026, 11, 27, h, m)  # noqa: E731
    ingested = dt.datetime(2026, 11, 27, 12)
    df = spark.createDataFrame([("A", t(6), "drop-0600", ingested), ("A", t(9), "drop-0900", ingested),
                                ("A", t(7, 30), "drop-0915", ingested),   # 90 min behind 09:00: late
                                ("A", t(8, 30), "drop-0915", ingested)],  # 30 min behind: on time
                               "sensor_id string, reading_at timestamp, _source_file string, _ingested_at timestamp")
    assert [r["reading_at"] for r in late_rows(df, spec).collect()] == [t(7, 30)]
    assert late_rows(df, spec, seen_until=t(10)).count() == 3  # an earlier run already saw 10:00


def test_every_broken_rule_is_listed_and_only_quarantine_rules_set_rows_aside(spark):
    from lakehouse.engine.transforms import flag_rows, rule_failures
    spec = make_spec([{"name": "id", "type": "int"}, {"name": "status", "type": "string"},
                      {"name": "code", "type": "string"}],
                     quality=[{"check": "in_set", "columns": ["status"], "values": ["Mở", "Đóng"],
                               "dimension": "dung", "action": "quarantine", "message": MSG},
                              {"check": "regex", "columns": ["code"], "pattern": "^[A-Z]{2}-[0-9]+$",
                               "dimension": "sach", "action": "warn", "message": MSG}])
    rows = [("1", "Mở", "AB-1"), ("2", "Treo", "ab-2"), ("3", "Đóng", "x"), ("4", None, None)]
    flagged = flag_rows(strings(spark, rows, ["id", "status", "code"]), spec, AT)
    got = {r["id"]: ([f["rule_id"] for f in r["_failures"]], r["_quarantined"]) for r in flagged.collect()}
    assert got == {1: ([], False), 2: (["in_set__status", "regex__code"], True),
                   3: (["regex__code"], False), 4: ([], False)}
    assert {r["rule_id"]: r["rows"] for r in rule_failures(flagged).collect()} == {"in_set__status": 1,
                                                                                   "regex__code": 2}
    split = refine(strings(spark, rows, ["id", "status", "code"]), spec, AT)
    bad = split.rejected.collect()
    assert [(b["rule_id"], b["reason"]) for b in bad] == [("in_set__status",
                                                           "status: 'Treo' is not one of the allowed values")]
    assert [f["rule_id"] for f in bad[0]["failures"]] == ["in_set__status", "regex__code"]
    assert bad[0]["replayed_at"] is None and len(bad[0]["quarantine_id"]) == 64
    assert sorted(r["id"] for r in split.good.collect()) == [1, 3, 4]


def staged_counts(frame, spec):
    """What the silver job counts over the flagged batch (the same aggregates), then its keys' duplicates."""
    from lakehouse.engine.transforms import duplicate_rows, staged_metrics
    counts = frame.agg(*staged_metrics(spec)).collect()[0].asDict()
    duplicates = duplicate_rows(frame, spec, counts).collect()[0]["duplicates"]
    return {**counts, "duplicates": duplicates, "kept": counts["valid"] - duplicates}


def test_without_duplicates_the_ranks_are_those_the_sort_gives_and_each_repeat_of_a_key_counts(spark):
    from lakehouse.engine.transforms import RANK, flag_rows, rank_duplicates, ranked
    distinct = flag_rows(bronze(spark, [("1", "A", None), ("2", "B", None), ("x", "bad", None)]), SPEC, AT)
    assert staged_counts(distinct, SPEC)["duplicates"] == 0
    ranks = lambda frame: sorted((r["commune_name"], r[RANK]) for r in frame.collect())  # noqa: E731
    assert ranks(ranked(distinct, SPEC, 0)) == ranks(rank_duplicates(distinct, SPEC)) == \
        [("A", 1), ("B", 1), ("bad", None)]
    spec = make_spec([{"name": "code", "type": "string"}, {"name": "name", "type": "string"}])
    rows = [("k", "a"), ("k", "b"), ("k", "c"), ("j", "d"), ("j", "e"), ("m", "f"), (None, "g")]
    repeated = flag_rows(strings(spark, rows, ["code", "name"]), spec, AT)  # the empty key is quarantined
    counts = staged_counts(repeated, spec)
    assert (counts["duplicates"], counts["kept"], counts["quarantined"]) == (3, 3, 1)
    assert sorted(r[RANK] for r in ranked(repeated, spec, 3).collect() if r[RANK]) == [1, 1, 1, 2, 2, 3]


def test_duplicates_counted_from_key_positions_match_the_count_per_key(spark):
    """Whole-number and date keys packed into one position (bitmaps of 32,768 positions, here two) find the
    same duplicates as counting each key's rows; a quarantined row is no duplicate; other keys are counted
    per key."""
    from lakehouse.engine.transforms import _key_positions, duplicate_rows, flag_rows, staged_metrics
    spec = make_spec([{"name": "order_id", "type": "bigint"}, {"name": "line", "type": "int"},
                      {"name": "day", "type": "date"}, {"name": "note", "type": "string"}],
                     keys=["order_id", "line", "day"])
    rows = [(str(i * 5 + 1), str(i % 4 + 1), f"2026-01-0{1 + i % 2}", "v") for i in range(1000)]  # 39,968 positions
    rows += rows[:5] + [rows[999]] * 2  # 7 repeats, in the first and the second bitmap
    rows += [("6", "2", "2026-13-01", "bad day: quarantined, not a duplicate"), ("x", "1", "2026-01-01", "")]
    flagged = flag_rows(strings(spark, rows, ["order_id", "line", "day", "note"]), spec, AT).cache()
    metrics = flagged.agg(*staged_metrics(spec)).collect()[0].asDict()
    assert (metrics["valid"], metrics["quarantined"]) == (1007, 2)
    assert _key_positions(metrics, spec) is not None
    count = lambda **kw: duplicate_rows(flagged, spec, **kw).collect()[0]["duplicates"]  # noqa: E731
    assert count(metrics=metrics) == count() == 7
    assert "bitmap_construct_agg" in duplicate_rows(flagged, spec, metrics)._jdf.queryExecution().toString()
    distinct = flagged.where("note = 'v'").dropDuplicates(["order_id", "line", "day"])
    assert count() == 7 and duplicate_rows(distinct, spec, metrics).collect()[0]["duplicates"] == 0
    day = datetime.date(2026, 1, 1)
    sparse = {"valid": 10, "key_min_0": 1, "key_max_0": 10**12, "key_nulls_0": 0, "key_min_1": 1, "key_max_1": 1,
              "key_nulls_1": 0, "key_min_2": day, "key_max_2": day, "key_nulls_2": 0}
    assert _key_positions(sparse, spec) is None  # a block per row or worse: the count per key is cheaper
    huge = {**sparse, "key_max_1": 10**15, "key_max_2": datetime.date(9999, 1, 1)}
    assert _key_positions(huge, spec) is None  # spans whose product exceeds a 64-bit number: no overflow
    assert _key_positions({**sparse, "key_max_0": 100, "key_nulls_0": 1}, spec) is None  # a NULL key
    text = make_spec([{"name": "code", "type": "string"}])
    assert _key_positions({"valid": 1, "key_min_0": "a", "key_max_0": "a", "key_nulls_0": 0}, text) is None


def test_staged_counts_name_each_rule_and_add_up(spark):
    from lakehouse.engine.transforms import flag_rows, rank_duplicates, rule_counts
    rows = [("1", "old", "2026-01-01"), ("1", "new", "2026-06-01"), ("2", "B", None), ("x", "bad", None),
            ("3", "", "31/02/2026")]
    staged = rank_duplicates(flag_rows(bronze(spark, rows), SPEC, AT), SPEC)
    counts = staged_counts(staged, SPEC)
    assert (counts["rows_in"], counts["quarantined"], counts["kept"], counts["duplicates"]) == (5, 2, 2, 1)
    assert "batches" not in counts  # a batch source's rows are the one batch its step refines
    stream = make_spec([{"name": "sensor_id", "type": "string"}, {"name": "reading_at", "type": "timestamp"}],
                       source={"kind": "stream", "format": "jsonl", "event_time": "reading_at"})
    drops = spark.createDataFrame([("A", "2026-12-01T10:00:00Z", "d1", "ingest-1", None),
                                   ("B", "2026-12-01T10:05:00Z", "d2", "ingest-2", None)],
                                  "sensor_id string, reading_at string, _source_file string, _batch_id string, "
                                  "_ingested_at timestamp")
    assert sorted(staged_counts(flag_rows(drops, stream, AT), stream)["batches"]) == ["ingest-1", "ingest-2"]
    # 'x' is no int, so its key is also empty; row 3 has no name and no real date
    assert rule_counts(counts, SPEC) == {"cast__commune_code": 1, "not_null__commune_code": 1,
                                         "cast__updated_on": 1, "not_null__commune_name": 1}


def test_key_bounds_span_only_the_kept_rows_and_leave_out_a_key_with_a_null(spark):
    """A quarantined row's key (even one outside the others) and a duplicate never widen the range; a
    timestamp key is bounded in microseconds since the epoch, whatever the session's time zone."""
    from lakehouse.engine.transforms import key_bounds, rank_duplicates

    spec = make_spec([{"name": "sensor_id", "type": "string", "nullable": False},
                      {"name": "reading_at", "type": "timestamp", "nullable": False},
                      {"name": "pm25", "type": "double"}],
                     keys=["sensor_id", "reading_at"], order_by="reading_at",
                     quality=[{"check": "range", "columns": ["pm25"], "min": 0, "max": 1000, "dimension": "dung",
                               "action": "quarantine", "message": MSG}])
    rows = [("HN-02", "2026-12-01T10:00:00Z", "12.5"), ("HN-01", "2026-12-01T10:14:00.5Z", "20"),
            ("HN-01", "2026-12-01T10:14:00.5Z", "21"),  # a re-sent reading: a duplicate
            ("ZZ-99", "2020-01-01T00:00:00Z", "-999")]  # a sensor fault: quarantined
    staged = rank_duplicates(flag_rows(strings(spark, rows, ["sensor_id", "reading_at", "pm25"]), spec, AT), spec)
    counts = staged_counts(staged, spec)
    assert (counts["kept"], counts["quarantined"], counts["duplicates"]) == (2, 1, 1)
    first = 1_796_119_200_000_000  # 2026-12-01T10:00:00Z
    assert key_bounds(counts, spec) == {"sensor_id": ("HN-01", "HN-02", "string"),
                                        "reading_at": (first, first + 840_500_000, "timestamp")}
    assert key_bounds({**counts, "key_nulls_0": 1}, spec) == {"reading_at": (first, first + 840_500_000,
                                                                              "timestamp")}
    doubles = make_spec([{"name": "x", "type": "double"}])  # no literal Delta's skipping would read: no bound
    assert key_bounds(staged_counts(strings(spark, [("1.5",)], ["x"]).transform(
        lambda f: rank_duplicates(flag_rows(f, doubles, AT), doubles)), doubles), doubles) == {}


def test_the_balance_fails_when_a_row_is_neither_quarantined_kept_nor_a_duplicate(spark):
    """A row whose quarantine flag is lost (NULL) would vanish between staging and the writes: the check sees it."""
    import pytest
    from pyspark.sql import functions as F

    from lakehouse.core.errors import LakeError
    from lakehouse.engine.jobrun import Accounting
    from lakehouse.engine.transforms import flag_rows, rank_duplicates

    rows = [("1", "A", None), ("2", "B", None), ("x", "bad", None)]
    flagged = flag_rows(bronze(spark, rows), SPEC, AT)
    lost = flagged.withColumn("_quarantined", F.when(F.col("commune_code") == 2, F.lit(None).cast("boolean"))
                              .otherwise(F.col("_quarantined")))
    for frame, balanced in ((flagged, True), (lost, False)):
        counts = staged_counts(rank_duplicates(frame, SPEC), SPEC)
        acc = Accounting("communes", "silver", "b1", rows_in=counts["rows_in"], rows_written=counts["kept"],
                         rows_quarantined=counts["quarantined"], duplicates_collapsed=counts["duplicates"])
        if balanced:
            acc.check()
        else:
            with pytest.raises(LakeError, match="does not balance"):
                acc.check()


def test_a_write_that_takes_other_rows_than_were_staged_stops_the_job():
    import pytest

    from jobs.silver import written_as_staged
    from lakehouse.core.errors import LakeError

    written_as_staged("communes", "written", 3, 3)
    with pytest.raises(LakeError, match="3 rows were staged as written but the write took 2"):
        written_as_staged("communes", "written", 3, 2)


def test_ascii_text_skips_normalisation_and_other_text_is_nfc(spark):
    from lakehouse.engine.transforms import nfc
    nfd = unicodedata.normalize("NFD", "Hà Nội")
    df = spark.createDataFrame([("Ha Noi",), (nfd,), (None,), ("e\u0301",), ("\x7f",)], "t string")
    assert [r[0] for r in df.select(nfc(F_col("t"))).collect()] == ["Ha Noi", "Hà Nội", None, "\u00e9", "\x7f"]


def F_col(name):
    from pyspark.sql import functions as F
    return F.col(name)


# ---- range rules on dates and timestamps: bounds relative to the day of the run ------------------------------

def test_a_date_range_relative_to_the_run_day_quarantines_future_and_too_old_dates(spark):
    # AT is 2026-11-27 (UTC): today-120y is 1906-11-27; the machine's clock says another day
    spec = make_spec([{"name": "id", "type": "int"}, {"name": "date_of_birth", "type": "date"}],
                     quality=[{"check": "range", "columns": ["date_of_birth"], "min": "today-120y", "max": "today",
                               "dimension": "dung", "action": "quarantine", "message": MSG}])
    rows = [("1", "2031-05-01"),    # in the future
            ("2", "1905-11-27"),    # 121 years before the run
            ("3", "15/08/1990"),    # fine
            ("4", None),            # empty: not_null's business
            ("5", "27/11/2026"),    # today: the bounds are inclusive
            ("6", "1906-11-27"),    # exactly 120 years ago
            ("7", "2026-11-28"),    # tomorrow
            ("8", "1906-11-26")]    # a day too old
    split = refine(strings(spark, rows, ["id", "date_of_birth"]), spec, AT)
    assert sorted(r["id"] for r in split.good.collect()) == [3, 4, 5, 6]
    assert sorted((r["rule_id"], r["dimension"], r["reason"]) for r in split.rejected.collect()) == [
        ("range__date_of_birth", "dung", "date_of_birth: 1905-11-27 is before today-120y (1906-11-27)"),
        ("range__date_of_birth", "dung", "date_of_birth: 1906-11-26 is before today-120y (1906-11-27)"),
        ("range__date_of_birth", "dung", "date_of_birth: 2026-11-28 is after today (2026-11-27)"),
        ("range__date_of_birth", "dung", "date_of_birth: 2031-05-01 is after today (2026-11-27)")]
    # the run of the next day (any time of it) lets tomorrow's date through: `today` comes from `at`
    later = refine(strings(spark, rows, ["id", "date_of_birth"]), spec, "2026-11-28T23:59:59.000000Z")
    assert sorted(r["id"] for r in later.good.collect()) == [3, 4, 5, 7]


def test_a_timestamp_range_takes_date_bounds_as_whole_days_and_reads_timestamps_in_utc(spark, hanoi_time):
    spec = make_spec([{"name": "id", "type": "int"}, {"name": "registered_at", "type": "timestamp"},
                      {"name": "signed_on", "type": "date"}],
                     quality=[{"check": "range", "columns": ["registered_at"], "min": "2021-07-01", "max": "today",
                               "dimension": "dung", "action": "quarantine", "message": MSG},
                              {"check": "range", "columns": ["signed_on"], "min": "2020-01-01",
                               "dimension": "dung", "action": "warn", "message": MSG},
                              {"id": "cutoff", "check": "range", "columns": ["registered_at"],
                               "max": "2026-11-27T12:00:00+07:00", "dimension": "dung", "action": "warn",
                               "message": MSG}])
    rows = [("1", "2026-11-27 23:59:59", "2020-01-01"),       # the last second of the run's day; cutoff: after 05:00
            ("2", "2026-11-28 00:00:00", "2019-12-31"),       # the next day; signed too early (warn)
            ("3", "2026-11-28T06:00:00+07:00", None),         # 2026-11-27 23:00 UTC
            ("4", "30/06/2021 23:59:59", None),               # a second before the minimum
            ("5", "2021-07-01 00:00:00", None),               # the minimum
            ("6", None, None)]
    flagged = {r["id"]: r for r in flag_rows(strings(spark, rows, ["id", "registered_at", "signed_on"]), spec,
                                             AT).collect()}
    reasons = {i: [(f["rule_id"], f["reason"]) for f in r["_failures"]] for i, r in flagged.items()}
    assert reasons == {
        1: [("cutoff", "registered_at: 2026-11-27 23:59:59 is after 2026-11-27 05:00:00")],
        2: [("range__registered_at", "registered_at: 2026-11-28 00:00:00 is after today (2026-11-27)"),
            ("range__signed_on", "signed_on: 2019-12-31 is before 2020-01-01"),
            ("cutoff", "registered_at: 2026-11-28 00:00:00 is after 2026-11-27 05:00:00")],
        3: [("cutoff", "registered_at: 2026-11-27 23:00:00 is after 2026-11-27 05:00:00")],
        4: [("range__registered_at", "registered_at: 2021-06-30 23:59:59 is before 2021-07-01")],
        5: [], 6: []}
    assert [i for i, r in sorted(flagged.items()) if r["_quarantined"]] == [2, 4]


def test_number_ranges_read_as_before(spark):
    """Numbers written as text or with a missing bound: the reason is unchanged."""
    spec = make_spec([{"name": "id", "type": "int"}, {"name": "pm25", "type": "decimal(6,1)"}],
                     quality=[{"check": "range", "columns": ["pm25"], "min": "0", "dimension": "dung",
                               "action": "quarantine", "message": MSG}])
    split = refine(strings(spark, [("1", "0"), ("2", "-0.5")], ["id", "pm25"]), spec, AT)
    assert [b["reason"] for b in split.rejected.collect()] == ["pm25: -0.5 is outside [0, …]"]
