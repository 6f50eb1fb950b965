"""Date and timestamp ranges in the Great Expectations suite: the same bounds, the same counts as the Spark pass.

The audit (``validation.audit``) runs the real suite, on pandas for a small batch and on Spark for a big one,
and stops when Great Expectations counts other failing rows than the Spark pass flagged; these tests run it
on a tiny staged batch (local Spark, a file-backed GE context in a temporary folder).
"""

import datetime as dt
from types import SimpleNamespace

import pytest

gx = pytest.importorskip("great_expectations")

from expectations.suites import expectation_for, ge_bounds, suite_for  # noqa: E402
from lakehouse.quality import validation  # noqa: E402
from lakehouse.config.spec import Rule, SourceDataset  # noqa: E402
from lakehouse.engine.transforms import flag_rows, rank_duplicates, rule_counts, staged_metrics  # noqa: E402

AT = "2026-11-27T21:00:00.000000Z"   # the run's day is 2026-11-27 (UTC), not the machine's today
TODAY = dt.date(2026, 11, 27)
MSG = {"vi": "thông điệp", "en": "message"}

SPEC = SourceDataset.model_validate({
    "name": "people", "domain": "t", "description": "d", "grain": "one row per person",
    "source": {"kind": "files"},
    "columns": [{"name": "id", "type": "int", "nullable": False},
                {"name": "date_of_birth", "type": "date"},
                {"name": "registered_at", "type": "timestamp"},
                {"name": "score", "type": "double"}],
    "keys": ["id"],
    "quality": [
        {"check": "range", "columns": ["date_of_birth"], "min": "today-120y", "max": "today",
         "dimension": "dung", "action": "quarantine", "message": MSG},
        {"check": "range", "columns": ["registered_at"], "min": "2021-07-01", "max": "today",
         "dimension": "dung", "action": "warn", "message": MSG},
        {"id": "cutoff", "check": "range", "columns": ["registered_at"], "max": "2026-11-27 05:00:00",
         "dimension": "dung", "action": "warn", "message": MSG},
        {"check": "range", "columns": ["score"], "min": 0, "max": 10, "dimension": "dung", "action": "warn",
         "message": MSG}],
})
ROWS = [("1", "2031-05-01", "2026-11-27 23:59:59", "5"),     # born in the future; registered late today
        ("2", "1990-01-01", "2026-11-28 00:00:00", "11"),    # registered tomorrow; score too high
        ("3", "1906-11-27", "2026-11-27 05:00:00", "0"),     # exactly 120 years; exactly the cutoff
        ("4", None, None, None),                             # empty passes
        ("5", "1906-11-26", "2021-06-30 23:59:59", "-1")]    # a day too old; registered too early; score too low
EXPECTED = {"range__date_of_birth": 2, "range__registered_at": 2, "cutoff": 2, "range__score": 2}


def staged_batch(spark):
    fields = ["id", "date_of_birth", "registered_at", "score"]
    bronze = spark.createDataFrame([(*r, "f", "b1", None) for r in ROWS],
                                   ", ".join(f"{f} string" for f in fields)
                                   + ", _source_file string, _batch_id string, _ingested_at timestamp")
    staged = rank_duplicates(flag_rows(bronze, SPEC, AT), SPEC).cache()
    counts = staged.agg(*staged_metrics(SPEC)).collect()[0].asDict()
    return staged, counts


@pytest.mark.parametrize("engine", ["pandas", "spark"])
def test_the_audit_counts_the_rows_the_spark_pass_flagged(spark, tmp_path, monkeypatch, hanoi_time, engine):
    staged, counts = staged_batch(spark)
    failures = rule_counts(counts, SPEC)
    assert {rid: failures.get(rid, 0) for rid in EXPECTED} == EXPECTED
    if engine == "spark":
        monkeypatch.setattr(validation, "IN_PROCESS_ROWS", 0)   # a big batch: Great Expectations on Spark
    audit = validation.audit(staged, SPEC, "people@2026-11-27", rows_in=counts["rows_in"], row_failures=failures,
                             reference_values={}, previous_rows=None, at=AT,
                             settings=SimpleNamespace(state_dir=tmp_path))   # raises when the counts disagree
    got = {r.rule_id: (r.success, r.unexpected_count) for r in audit.results if r.rule_id in EXPECTED}
    assert got == {rid: (False, n) for rid, n in EXPECTED.items()}
    born = next(r for r in audit.results if r.rule_id == "range__date_of_birth")
    assert sorted(born.examples) == ["1906-11-26", "2031-05-01"]
    registered = next(r for r in audit.results if r.rule_id == "range__registered_at")
    assert sorted(registered.examples) == ["2021-06-30 23:59:59", "2026-11-28 00:00:00"]


CLEAN = [ROWS[2], ROWS[3], ("6", "1990-01-01", "2025-01-01 00:00:00", "0")]   # no row breaks a row rule


@pytest.mark.parametrize("unique_score, runs", [(False, [0]), (True, [0, validation.MAX_EXAMPLES])])
def test_on_spark_a_batch_no_row_rule_flagged_is_audited_without_looking_for_examples(
        spark, tmp_path, monkeypatch, hanoi_time, unique_score, runs):
    """On Spark each expectation's example values cost a scan of the whole batch; when the Spark pass flagged
    no row there are none to find, so the suite runs without them, and again with them only when a
    table-level rule (here: scores must be unique, and two rows score 0) failed after all."""
    spec = SourceDataset.model_validate({**SPEC.model_dump(exclude_none=True, by_alias=True), "quality": [
        *SPEC.model_dump(exclude_none=True, by_alias=True)["quality"],
        *([{"check": "unique", "columns": ["score"], "dimension": "sach", "action": "warn", "message": MSG}]
          if unique_score else [])]})
    fields = ["id", "date_of_birth", "registered_at", "score"]
    bronze = spark.createDataFrame([(*r, "f", "b1", None) for r in CLEAN],
                                   ", ".join(f"{f} string" for f in fields)
                                   + ", _source_file string, _batch_id string, _ingested_at timestamp")
    staged = rank_duplicates(flag_rows(bronze, spec, AT), spec).cache()
    counts = staged.agg(*staged_metrics(spec)).collect()[0].asDict()
    assert rule_counts(counts, spec) == {}
    assert staged.where("_record IS NOT NULL").count() == 0   # a row that broke no rule carries no raw copy
    monkeypatch.setattr(validation, "IN_PROCESS_ROWS", 0)
    asked, run_suite = [], validation._run_suite
    monkeypatch.setattr(validation, "_run_suite", lambda *a, **k: asked.append(a[5]) or run_suite(*a, **k))
    audit = validation.audit(staged, spec, "people@2026-11-27", rows_in=3, row_failures={}, reference_values={},
                             previous_rows=None, at=AT, settings=SimpleNamespace(state_dir=tmp_path))
    assert asked == runs
    failed = {r.rule_id: sorted(r.examples) for r in audit.results if not r.success}
    assert failed == ({"unique__score": ["0.0", "0.0"]} if unique_score else {})


def test_on_pandas_a_future_date_fails_only_with_bounds_of_the_column_type(spark):
    """Great Expectations on pandas compares bounds with values as they are: dates with dates, timestamps with
    datetime64.  Bounds of another type (what the rule's text would give) make every row fail, uncounted."""
    staged, counts = staged_batch(spark)
    frame = staged.select(*[c.name for c in SPEC.columns]).toPandas()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    batch = (context.data_sources.add_pandas(name="pandas").add_dataframe_asset(name="people")
             .add_batch_definition_whole_dataframe("whole").get_batch(batch_parameters={"dataframe": frame}))
    results = {r.expectation_config.meta["rule_id"]: r.result.get("unexpected_count")
               for r in batch.validate(suite_for(SPEC, today=TODAY)).results}
    assert {rid: results[rid] for rid in EXPECTED} == EXPECTED == {rid: rule_counts(counts, SPEC).get(rid)
                                                                   for rid in EXPECTED}
    rule = SPEC.quality[0]
    wrong = gxe_between(rule, dt.datetime(1906, 11, 27), dt.datetime(2026, 11, 27))   # datetimes on a date column
    assert batch.validate(wrong).results[0].result.get("unexpected_count") is None


def gxe_between(rule: Rule, low, high):
    import great_expectations.expectations as gxe
    return gx.ExpectationSuite(name="wrong", expectations=[
        gxe.ExpectColumnValuesToBeBetween(column=rule.columns[0], min_value=low, max_value=high)])


def test_ge_bounds_have_the_column_type_and_are_utc_on_spark():
    by_id = {r.rule_id: r for r in SPEC.quality}
    assert ge_bounds(by_id["range__date_of_birth"], "date", TODAY) == (dt.date(1906, 11, 27), TODAY)
    assert ge_bounds(by_id["range__registered_at"], "timestamp", TODAY) == (
        dt.datetime(2021, 7, 1), dt.datetime(2026, 11, 27, 23, 59, 59, 999999))
    utc = dt.timezone.utc
    assert ge_bounds(by_id["range__registered_at"], "timestamp", TODAY, engine="spark") == (
        dt.datetime(2021, 7, 1, tzinfo=utc), dt.datetime(2026, 11, 27, 23, 59, 59, 999999, tzinfo=utc))
    assert ge_bounds(by_id["range__score"], "double", None) == (0.0, 10.0)


def test_a_suite_with_relative_bounds_needs_the_day_of_the_check():
    with pytest.raises(ValueError, match="relative to the day of the check"):
        suite_for(SPEC)
    with pytest.raises(ValueError, match="pass its date bounds resolved"):
        expectation_for(SPEC.quality[0])


def test_great_expectations_opened_early_is_the_context_the_audit_uses(tmp_path):
    settings = SimpleNamespace(state_dir=tmp_path / "early")
    thread = validation.open_early(settings)
    assert thread is not None
    assert validation.open_early(settings) is None          # while it opens, a second start adds no thread
    thread.join(timeout=120)
    opened = validation._contexts[str(validation.context_root(settings))]
    assert validation._context(settings) is opened          # the job's thread finds it, opens no second one
    assert validation.open_early(settings) is None          # and a second early start does nothing


REFERENCED = SourceDataset.model_validate({
    "name": "residents", "domain": "t", "description": "d", "grain": "one row per resident",
    "source": {"kind": "files"},
    "columns": [{"name": "id", "type": "int", "nullable": False},
                {"name": "commune_code", "type": "int", "conform": {"dataset": "communes", "column": "commune_code"}}],
    "keys": ["id"],
})
MASTER = list(range(1, 3001))   # a master table's codes, as many as the communes


@pytest.mark.parametrize("engine", ["pandas", "spark"])
def test_a_reference_rule_judges_the_batch_alike_with_the_codes_it_holds(spark, tmp_path, monkeypatch, engine):
    """On pandas the reference rule is given only the master's codes the batch holds (Great Expectations copies
    an expectation's value set hundreds of times per run): the same rows fail as against every code."""
    bronze = spark.createDataFrame([("1", "7", "f", "b1", None), ("2", "9999", "f", "b1", None),
                                    ("3", None, "f", "b1", None), ("4", "2999", "f", "b1", None),
                                    ("5", "7", "f", "b1", None)],
                                   "id string, commune_code string, _source_file string, _batch_id string, "
                                   "_ingested_at timestamp")
    codes = {"conform__commune_code": spark.createDataFrame([(c,) for c in MASTER], "commune_code int")}
    staged = rank_duplicates(flag_rows(bronze, REFERENCED, AT, codes), REFERENCED).cache()
    counts = staged.agg(*staged_metrics(REFERENCED)).collect()[0].asDict()
    assert rule_counts(counts, REFERENCED) == {"conform__commune_code": 1}
    if engine == "spark":
        monkeypatch.setattr(validation, "IN_PROCESS_ROWS", 0)
    suites, run_suite = [], validation._run_suite
    monkeypatch.setattr(validation, "_run_suite", lambda *a, **k: suites.append(a[1]) or run_suite(*a, **k))
    audit = validation.audit(staged, REFERENCED, "residents@2026-11-27", rows_in=5,
                             row_failures=rule_counts(counts, REFERENCED),
                             reference_values={"conform__commune_code": MASTER}, previous_rows=None, at=AT,
                             settings=SimpleNamespace(state_dir=tmp_path))   # raises when the counts disagree
    conform = next(r for r in audit.results if r.rule_id == "conform__commune_code")
    assert (conform.success, conform.unexpected_count, conform.examples) == (False, 1, ["9999"])
    [value_set] = [e.value_set for e in suites[0].expectations if e.meta["rule_id"] == "conform__commune_code"]
    assert value_set == ([7, 2999] if engine == "pandas" else MASTER)


def test_the_codes_in_a_batch_keep_the_masters_values_and_order():
    import pandas as pd

    batch = pd.DataFrame({"commune_code": [2999.0, None, 7.0, 7.0, 123456.0]})   # an int column with a NULL
    narrowed = validation.codes_in_batch({"conform__commune_code": MASTER}, batch, REFERENCED)
    assert narrowed == {"conform__commune_code": [7, 2999]}
    assert all(type(c) is int for c in narrowed["conform__commune_code"])
    assert validation.codes_in_batch({"conform__commune_code": MASTER}, batch.iloc[[1]], REFERENCED) == {
        "conform__commune_code": []}


def test_an_example_of_an_integer_column_is_shown_as_an_integer():
    """pandas holds an int column with a NULL as floats; the example a steward reads is the code, 9999."""
    assert validation._integral(9999.0, "commune_code", REFERENCED) == 9999
    assert validation._integral({"commune_code": 7.0, "id": 2.5}, None, REFERENCED) == {"commune_code": 7, "id": 2.5}
    assert validation._integral(7.0, "not_a_column", REFERENCED) == 7.0
