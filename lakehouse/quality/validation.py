"""Quality: audit a batch with Great Expectations, score it, keep the results.

The silver job computes each batch once and holds it in the Spark server's
memory (write), has it audited here (audit), and merges it into silver only
when no rule with action ``fail`` failed (publish).  Every rule's outcome goes to ``ops/quality_results``
and each check's 0–100 scores per dimension to ``ops/quality_scorecard`` (both
Delta, both served by Trino as ``lake.ops.*``), so the trend is one query.

Freshness (sống) is checked after each load and on its own schedule
(:func:`check_freshness`), against the spec's ``freshness`` SLA.

This is the only module that talks to the Great Expectations runtime; the
suites themselves are built from the spec in ``expectations/``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.config.spec import Rule, SourceDataset, run_day
from lakehouse.core.dimensions import DIMENSIONS
from lakehouse.core.durations import parse_duration
from lakehouse.core.settings import Settings
from lakehouse.io import delta_io
from lakehouse.engine import tcvn3_capitals

RESULTS, SCORECARD = "quality_results", "quality_scorecard"
RESULTS_SCHEMA = ("check_id string, dataset string, batch_id string, kind string, checked_at timestamp, "
                  "rule_id string, check string, columns array<string>, dimension string, action string, "
                  "success boolean, element_count bigint, unexpected_count bigint, examples array<string>, "
                  "message_vi string, message_en string, engine string")
SCORECARD_SCHEMA = ("check_id string, dataset string, batch_id string, kind string, checked_at timestamp, "
                    "status string, dung double, du double, sach double, song double, overall double, "
                    "rules_total int, rules_failed int, rows_in bigint, rows_written bigint, "
                    "rows_quarantined bigint, duplicates_collapsed bigint")
MAX_EXAMPLES = 20
# A batch up to this many rows is audited in this process (Great Expectations on pandas, one Arrow
# transfer); a larger one on Spark, where each expectation runs its own Spark jobs (≈ 0.3 s each even
# for 20 rows).  Both engines evaluate the same suite, and must count the Spark pass's failures.
IN_PROCESS_ROWS = 200_000


@dataclass
class RuleResult:
    rule_id: str
    check: str
    columns: list[str]
    dimension: str
    action: str
    message_vi: str
    message_en: str
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    examples: list[str] = field(default_factory=list)
    engine: str = "great_expectations"   # or "spark": values that do not fit their type, found while parsing

    @property
    def pass_rate(self) -> float:
        """Share of rows that keep the rule (table-level rules: all or nothing)."""
        if self.element_count and self.unexpected_count is not None:
            return 1.0 - self.unexpected_count / self.element_count
        return 1.0 if self.success else 0.0


@dataclass
class Audit:
    results: list[RuleResult]

    @property
    def blocked_by(self) -> list[RuleResult]:
        """Failed rules whose action is ``fail``: the batch must not be published."""
        return [r for r in self.results if not r.success and r.action == "fail"]


def scores(results: list[RuleResult]) -> dict[str, float | None]:
    """0–100 per dimension (the mean pass rate of its rules) and overall (the mean of the dimensions).

    A dimension without rules has no score (None) and does not count in overall.
    """
    out: dict[str, float | None] = {}
    for dim in DIMENSIONS:
        rates = [r.pass_rate for r in results if r.dimension == dim]
        out[dim] = round(100.0 * sum(rates) / len(rates), 2) if rates else None
    present = [v for v in out.values() if v is not None]
    out["overall"] = round(sum(present) / len(present), 2) if present else None
    return out


# ---- Great Expectations ---------------------------------------------------------

def context_root(settings: Settings) -> Path:
    root = settings.state_dir / "quality"
    root.mkdir(parents=True, exist_ok=True)
    return root


def docs_index(settings: Settings) -> Path:
    return context_root(settings) / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


_contexts: dict[str, object] = {}  # one Great Expectations context per project folder and process
_opening = threading.Lock()  # a context is opened once, by whichever thread comes first
_opened_early: dict[str, threading.Thread] = {}  # the background opening started per project folder


def _context(settings: Settings):
    """The file-backed Great Expectations context under ``<state>/quality/gx``, opened once per process."""
    root = str(context_root(settings))
    with _opening:
        if root not in _contexts:
            import great_expectations as gx

            import expectations.custom  # noqa: F401  registers the Vietnamese expectations with GE
            import expectations.suites  # noqa: F401  what audit() imports next

            logging.getLogger("great_expectations").setLevel(logging.WARNING)
            context = gx.get_context(mode="file", project_root_dir=root)
            context.variables.progress_bars = {"globally": False}  # job logs, not a terminal
            _contexts[root] = context
        return _contexts[root]


def open_early(settings: Settings) -> threading.Thread | None:
    """Import Great Expectations and open the context in a background thread; the thread, if one was started.

    The import alone takes seconds of Python, once per process.  A silver job spends its first
    seconds waiting on the Spark server (reading bronze, flagging rows), which leaves the GIL free;
    started then, the import is done by the time the audit needs it.  An error here is not
    reported: :func:`_context` meets it again in the job's own thread and raises it there.
    """
    root = str(context_root(settings))
    if root in _contexts or root in _opened_early:  # opened, or being opened (`lake run`, then its silver job)
        return None

    def open_quietly() -> None:
        try:
            _context(settings)
        except Exception:  # raised again, with the job's context, where the audit opens it
            pass

    thread = _opened_early[root] = threading.Thread(target=open_quietly, name="open-great-expectations",
                                                    daemon=True)
    thread.start()
    return thread


def _run_suite(df, suite, asset_name: str, run_name: str, settings: Settings, examples: int = MAX_EXAMPLES) -> list:
    """Validate ``df`` (one whole-frame batch, Spark or pandas) against ``suite``; the per-expectation results,
    each with up to ``examples`` failing values.

    The validation result is kept in the context's store; Data Docs are built from the
    stored results by :func:`build_data_docs` (the quality site), not on every load: their
    rebuild grows with every stored result.
    """
    import great_expectations as gx

    context = _context(settings)
    if isinstance(df, DataFrame):
        # no persist: caching every column of a big batch costs more than the few column scans the suite makes
        source = context.data_sources.add_or_update_spark(name="lake_spark", persist=False)
    else:
        source = context.data_sources.add_or_update_pandas(name="lake_pandas")
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(name=asset_name)
    try:
        batch_def = asset.get_batch_definition("whole")
    except (KeyError, LookupError):
        batch_def = asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add_or_update(suite)
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=f"{source.name}__{asset_name}", data=batch_def, suite=suite))
    result = definition.run(batch_parameters={"dataframe": df}, run_id=gx.RunIdentifier(run_name=run_name),
                            result_format={"result_format": "SUMMARY", "partial_unexpected_count": examples})
    return list(result.results)


def build_data_docs(settings: Settings) -> Path | None:
    """Rebuild Great Expectations Data Docs from every stored validation result; their index, if any."""
    if not (context_root(settings) / "gx").is_dir():
        return None  # nothing was ever validated here
    _context(settings).build_data_docs()
    index = docs_index(settings)
    return index if index.exists() else None


def _utc(local: dt.datetime) -> dt.datetime:
    """A naive timestamp in the process's local time zone (a collected Spark timestamp) as naive UTC."""
    return local.astimezone(dt.timezone.utc).replace(tzinfo=None) if local.tzinfo is None else local


def _example(value) -> str:
    if isinstance(value, dt.datetime):   # pandas' Timestamp too: as Spark writes it, not a quoted JSON text
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def _integral(value, column: str | None, spec: SourceDataset):
    """An example value of an integer column (or, in a row's dict, of each integer column) as an int."""
    if isinstance(value, dict):
        return {k: _integral(v, k, spec) for k, v in value.items()}
    known = column is not None and any(c.name == column for c in spec.columns)
    if known and spec.column(column).type in ("int", "bigint") and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _result(rule: Rule, success: bool, element_count=None, unexpected_count=None, examples=(),
            engine="great_expectations") -> RuleResult:
    return RuleResult(rule_id=rule.rule_id, check=rule.check, columns=list(rule.columns), dimension=rule.dimension,
                      action=rule.action, message_vi=rule.message.vi, message_en=rule.message.en,
                      success=bool(success), element_count=element_count, unexpected_count=unexpected_count,
                      examples=[_example(v) for v in list(examples)[:MAX_EXAMPLES]], engine=engine)


def codes_in_batch(reference_values: dict[str, list], batch, spec: SourceDataset) -> dict[str, list]:
    """Each reference rule's valid codes narrowed to those the batch (a pandas frame) holds.

    A value of the batch is in the narrowed set exactly when it is in the master's, so the expectation
    judges every row alike.  Great Expectations rebuilds an expectation's whole configuration, value set
    included, hundreds of times in one run: with the 3,000-odd commune codes, that was most of a citizens
    audit (1.4 s; 0.6 s with the 495 codes a 567-row batch holds).
    """
    columns = {r.rule_id: r.columns[0] for r in spec.effective_rules if r.check == "reference"}
    narrowed = {}
    for rule_id, codes in reference_values.items():
        present = set(batch[columns[rule_id]].dropna().tolist()) if rule_id in columns else None
        narrowed[rule_id] = codes if present is None else [code for code in codes if code in present]
    return narrowed


def audit(staged: DataFrame, spec: SourceDataset, batch_id: str, *, rows_in: int,
          row_failures: dict[str, int], reference_values: dict[str, list], previous_rows: int | None,
          at: str, duplicates: int = 0, settings: Settings) -> Audit:
    """Audit one staged batch: every rule of the spec, through Great Expectations.

    ``row_failures`` is how many rows the Spark pass found breaking each
    row-level rule; Great Expectations must count the same (it is the
    independent check that what was quarantined is what the rules say), and a
    disagreement stops the job.  Values that did not fit their type were only
    seen while parsing, so they are reported from ``row_failures``; the implied
    one-row-per-key rule reports the ``duplicates`` the de-duplication collapsed.
    ``at`` is the run's timestamp the Spark pass was given (``flag_rows``): its
    day is ``today`` for range rules with relative bounds, in both engines.
    """
    from expectations.suites import suite_for
    from lakehouse.core.errors import LakeError

    in_process = rows_in <= IN_PROCESS_ROWS
    business = staged.select(*[c.name for c in spec.columns])
    if in_process:  # one Arrow transfer, then no Spark job per expectation
        business = business.toPandas()
        reference_values = codes_in_batch(reference_values, business, spec)
    suite = suite_for(spec, reference_values=reference_values, previous_rows=previous_rows, today=run_day(at),
                      engine="pandas" if in_process else "spark")
    # On Spark, each expectation looks for its failing values in a query of its own, which reads the whole batch
    # when there are none. When the Spark pass found no row that broke a rule, there is nothing to show: the suite
    # runs without examples (it still counts every rule), and again with them only if a table-level rule failed.
    examples = 0 if not (in_process or row_failures) else MAX_EXAMPLES
    raw = _run_suite(business, suite, f"{spec.name}__silver", batch_id, settings, examples)
    if not examples and not all(r.success for r in raw):
        raw = _run_suite(business, suite, f"{spec.name}__silver", batch_id, settings, MAX_EXAMPLES)
    by_id = {r.rule_id: r for r in spec.effective_rules}
    results: list[RuleResult] = []
    for r in raw:
        rule = by_id[(r.expectation_config.meta or {})["rule_id"]]
        summary = r.result or {}
        unexpected = summary.get("unexpected_count")
        if rule.check == "row_count":
            element, unexpected = summary.get("observed_value"), None
        else:
            element = summary.get("element_count", rows_in)
        examples = summary.get("partial_unexpected_list") or []
        if not in_process:  # Spark's rows hold timestamps in the Python process's local time; kept in UTC
            examples = [_utc(v) if type(v) is dt.datetime else v for v in examples]
        else:  # pandas holds an int column with a NULL as floats: 9999.0 is shown as Spark shows it, 9999
            examples = [_integral(v, rule.columns[0] if rule.columns else None, spec) for v in examples]
        if r.exception_info and r.exception_info.get("raised_exception"):
            raise LakeError(f"quality {spec.name}: rule {rule.rule_id} could not be evaluated: "
                            f"{r.exception_info.get('exception_message')}")
        if rule.row_level and unexpected != row_failures.get(rule.rule_id, 0):
            raise LakeError(f"quality {spec.name}: rule {rule.rule_id}: Great Expectations counts {unexpected} "
                            f"failing rows but the quarantine pass counted {row_failures.get(rule.rule_id, 0)}; "
                            "the suite and the row checks disagree")
        results.append(_result(rule, r.success, element, unexpected, examples))
    for rule in spec.effective_rules:
        if spec.counted_by_dedupe(rule):
            results.append(_result(rule, not duplicates, rows_in, duplicates, engine="spark"))
    for col in spec.columns:
        bad = row_failures.get(f"cast__{col.name}")
        if col.type != "string":
            rule = Rule(id=f"cast__{col.name}", check="not_null", columns=[col.name], dimension="dung",
                        action="quarantine", message={"vi": f"{col.name}: giá trị không đọc được thành {col.type}",
                                                      "en": f"{col.name}: value cannot be read as {col.type}"})
            result = _result(rule, not bad, rows_in, bad or 0, engine="spark")
            result.check = "type"
            results.append(result)
    for rule in tcvn3_capitals.rules(spec):  # counted by the Spark pass: the repaired value no longer shows it
        changed = row_failures.get(rule.rule_id, 0)
        result = _result(rule, not changed, rows_in, changed, engine="spark")
        result.check = "tcvn3_capitals"
        results.append(result)
    return Audit(results=results)


def reference_codes(spark, spec: SourceDataset, settings) -> dict:
    """For each reference rule (a conformed column), the master table's valid codes (current versions only)."""
    from lakehouse.config.spec import load_specs
    from lakehouse.core.errors import LakeError

    codes = {}
    specs = load_specs()
    for rule in spec.effective_rules:
        if rule.check != "reference":
            continue
        master = rule.reference.dataset
        uri = settings.table_uri("silver", master)
        if not delta_io.exists(spark, uri):
            raise LakeError(f"silver {spec.name}: rule {rule.rule_id} checks codes against {master}, "
                                   f"which has no silver table yet; run it first")
        table = delta_io.read(spark, uri)
        if specs[master].load_mode == "scd2":
            table = table.where("is_current")
        codes[rule.rule_id] = table.select(rule.reference.column).distinct()
    return codes


# ---- freshness (sống) ------------------------------------------------------------

def freshness_rules(spec: SourceDataset) -> list[Rule]:
    """The spec's freshness SLA as rules of the sống dimension (action warn: lateness is reported, not blocked).

    They are carried as ``row_count`` rules only to reuse the Rule model; their
    results say ``freshness``.
    """
    f = spec.freshness
    if f is None:
        return []
    rules = []
    if f.event_max_age:
        rules.append(Rule(id="freshness__event", check="row_count", dimension="song", action="warn", min=0,
                          message={"vi": f"Bản ghi mới nhất ({spec.freshness_column}) phải trong vòng {f.event_max_age}",
                                   "en": f"newest record ({spec.freshness_column}) within {f.event_max_age}"}))
    if f.load_max_age:
        rules.append(Rule(id="freshness__load", check="row_count", dimension="song", action="warn", min=0,
                          message={"vi": f"Lần nạp thành công gần nhất phải trong vòng {f.load_max_age}",
                                   "en": f"last successful load within {f.load_max_age}"}))
    return rules


def check_freshness(spark, spec: SourceDataset, settings: Settings,
                    now: dt.datetime | None = None, loading: bool = False) -> list[RuleResult]:
    """Is the dataset current? The newest event and the last successful silver load, against the SLA.

    ``loading``: called by the load itself, which is the newest successful load.

    Both are Great Expectations ``expect_column_max_to_be_between`` checks on
    epoch seconds: over the silver table's event column, and over the run log's
    successful silver runs of the dataset.  A dataset never loaded is stale.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    from lakehouse.engine import runlog

    now = now or dt.datetime.now(dt.timezone.utc)
    results: list[RuleResult] = []
    for rule in freshness_rules(spec):
        age = parse_duration(spec.freshness.event_max_age if rule.rule_id == "freshness__event"
                             else spec.freshness.load_max_age)
        oldest_ok = (now - age).timestamp()
        if rule.rule_id == "freshness__load" and loading:
            results.append(_freshness_result(rule, True, now.isoformat()))
            continue
        if rule.rule_id == "freshness__event":
            uri = settings.table_uri("silver", spec.name)
            frame = (delta_io.read(spark, uri).select(F.unix_timestamp(spec.freshness_column).alias("epoch"))
                     if delta_io.exists(spark, uri) else None)
        else:
            log_uri = settings.table_uri("ops", runlog.NAME)
            frame = (runlog.read(spark, settings)
                     .where((F.col("dataset") == spec.name) & (F.col("layer") == "silver")
                            & (F.col("status") == "success"))
                     .select(F.unix_timestamp("finished_at").alias("epoch"))
                     if delta_io.exists(spark, log_uri) else None)
        if frame is None:
            results.append(_freshness_result(rule, False, "never"))
            continue
        # the maximum is one Spark aggregation; Great Expectations judges it on a one-row frame
        newest_frame = frame.agg(F.max("epoch").alias("epoch")).toPandas()
        meta = {"rule_id": rule.rule_id, "dimension": "song", "action": "warn"}
        suite = gx.ExpectationSuite(name=f"{spec.name}__{rule.rule_id}", expectations=[
            gxe.ExpectColumnMaxToBeBetween(column="epoch", min_value=oldest_ok, meta=meta)])
        [r] = _run_suite(newest_frame, suite, f"{spec.name}__{rule.rule_id}", now.strftime("%Y%m%dT%H%M%S"),
                         settings)
        newest = (r.result or {}).get("observed_value")
        seen = (dt.datetime.fromtimestamp(newest, dt.timezone.utc).isoformat() if newest is not None
                else "never")
        results.append(_freshness_result(rule, r.success, seen))
    return results


def _freshness_result(rule: Rule, success: bool, seen: str) -> RuleResult:
    """A freshness outcome; its one example is the newest time seen (``never`` when there is none)."""
    result = _result(rule, success, examples=[seen])
    result.check = "freshness"
    return result


# ---- where results are kept -------------------------------------------------------

def record(spark, spec: SourceDataset, batch_id: str, kind: str, status: str, results: list[RuleResult],
           accounting: dict | None, settings: Settings,
           carry_over: bool = False, pending: list | None = None) -> dict[str, float | None]:
    """Append the rule results and the scorecard row of one check; returns the scores.

    ``carry_over`` (freshness checks): dimensions this check did not judge keep
    their scores from the dataset's last load, so the trend stays continuous.
    ``pending``: add the writes to it instead (a job's ``Accounting.pending``, written with its run-log row).
    """
    check_id = uuid.uuid4().hex
    at = dt.datetime.now(dt.timezone.utc)
    acc = accounting or {}
    judged = scores(results)
    if carry_over:
        last = latest_scores(spark, spec.name, settings)
        for dim in DIMENSIONS:
            if judged[dim] is None and last.get(dim) is not None:
                judged[dim] = last[dim]
        present = [judged[d] for d in DIMENSIONS if judged[d] is not None]
        judged["overall"] = round(sum(present) / len(present), 2) if present else None
    rows = [(check_id, spec.name, batch_id, kind, at, r.rule_id, r.check, r.columns, r.dimension, r.action,
             r.success, r.element_count, r.unexpected_count, r.examples, r.message_vi, r.message_en, r.engine)
            for r in results]
    writes = [(spark.createDataFrame(rows, RESULTS_SCHEMA), settings.table_uri("ops", RESULTS))] if rows else []
    card = (check_id, spec.name, batch_id, kind, at, status, *[judged[d] for d in DIMENSIONS], judged["overall"],
            len(results), sum(1 for r in results if not r.success), acc.get("rows_in"), acc.get("rows_written"),
            acc.get("rows_quarantined"), acc.get("duplicates_collapsed"))
    writes.append((spark.createDataFrame([card], SCORECARD_SCHEMA), settings.table_uri("ops", SCORECARD)))
    if pending is not None:
        pending.extend(writes)
    else:
        delta_io.append_all(writes)
    return judged


def latest_scores(spark, dataset: str, settings: Settings) -> dict:
    """The newest load's scorecard row of ``dataset`` as a dict ({} when it has none)."""
    uri = settings.table_uri("ops", SCORECARD)
    if not delta_io.exists(spark, uri):
        return {}
    rows = (delta_io.read(spark, uri).where((F.col("dataset") == dataset) & (F.col("kind") == "load"))
            .orderBy(F.col("checked_at").desc()).limit(1).collect())
    return rows[0].asDict() if rows else {}


def compares_with_previous(spec: SourceDataset) -> bool:
    """Does a rule need the previous batch's size (a ``row_count`` with ``max_change_pct``)?"""
    return any(r.check == "row_count" and r.max_change_pct is not None for r in spec.effective_rules)


def previous_rows_in(spark, dataset: str, batch_id: str, settings: Settings) -> int | None:
    """Rows in of the newest published load of another batch (what ``row_count.max_change_pct`` compares to)."""
    uri = settings.table_uri("ops", SCORECARD)
    if not delta_io.exists(spark, uri):
        return None
    rows = (delta_io.read(spark, uri)
            .where((F.col("dataset") == dataset) & (F.col("kind") == "load") & (F.col("status") == "published")
                   & (F.col("batch_id") != batch_id))
            .orderBy(F.col("checked_at").desc()).select("rows_in").limit(1).collect())
    return rows[0][0] if rows else None


def print_results(results: list[RuleResult]) -> None:
    for r in results:
        mark = "ok  " if r.success else "FAIL"
        counts = f" unexpected={r.unexpected_count}/{r.element_count}" if r.unexpected_count is not None else ""
        print(f"[quality] {mark} {r.rule_id} ({r.dimension}, {r.action}){counts}", flush=True)
