"""Pure transforms: DataFrame in, DataFrame out.

Nothing here builds a SparkSession, reads a path or looks at the environment;
each function takes what it needs as parameters, so a unit test can feed it a
three-row frame.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from expectations.kinds import known_column, spark_check
from expectations.vietnamese_spark import composed
from lakehouse.config.spec import Column, GoldDataset, Rule, SourceDataset, run_day
from lakehouse.core.columns import ROW_HASH, ROW_HASH_COMMENT, ROW_META, row_hash_sql
from lakehouse.engine import tcvn3_capitals

FAILURE = "struct<rule_id:string,dimension:string,action:string,reason:string>"  # one broken rule


@dataclass(frozen=True)
class Split:
    """Rows that passed, rows set aside with their reasons, and duplicates collapsed."""

    good: DataFrame
    rejected: DataFrame
    duplicates: DataFrame | None = None
    counts: DataFrame | None = None  # one row: rows_in, rejected, valid, distinct_keys (one pass, no sort)


# ---- bronze ---------------------------------------------------------------------

def parse_json_lines(lines: DataFrame, fields: list[str]) -> DataFrame:
    """Split JSON lines (column ``value``) into one string column per declared field.

    Every field is kept as the source wrote it (numbers as their text); fields
    the spec does not declare go to ``_rescued_data`` as a JSON object; a line
    that is not a JSON object gets a ``_parse_error``.
    """
    parsed = F.from_json(F.col("value"), "map<string,string>")
    declared = F.array(*[F.lit(f) for f in fields])
    extra = F.map_filter(parsed, lambda k, v: ~F.array_contains(declared, k))
    return (
        lines.withColumn("_parsed", parsed)
        .select(
            *[F.col("_parsed").getItem(f).alias(f) for f in fields],
            F.when(F.size(extra) > 0, F.to_json(extra)).alias("_rescued_data"),
            F.when(F.col("_parsed").isNull() & (F.trim("value") != ""),
                   F.lit("line is not a JSON object")).alias("_parse_error"),
            F.col("value").alias("_raw"),
            *[c for c in lines.columns if c != "value"],
        )
        .where(F.trim(F.col("_raw")) != "")  # blank lines are not records
    )


def quarantine_rows(df: DataFrame, dataset: str, layer: str, rule_id: SparkColumn | str,
                    dimension: SparkColumn | str, reason: SparkColumn | str, record: SparkColumn,
                    at: str, failures: SparkColumn | None = None) -> DataFrame:
    """Shape rejected rows for ``<dataset>__quarantine``: what, why, and the row itself.

    ``rule_id``/``dimension``/``reason`` name the first rule the row broke;
    ``failures`` lists every one.  ``replayed_at``/``replay_batch`` are set when
    ``lake quarantine replay`` has re-processed the row (open rows have none).
    """
    lit = lambda v: F.lit(v) if isinstance(v, str) else v  # noqa: E731
    if failures is None:
        failures = F.array(F.struct(lit(rule_id).alias("rule_id"), lit(dimension).alias("dimension"),
                                    F.lit("quarantine").alias("action"), lit(reason).alias("reason")))
    return df.select(
        F.lit(dataset).alias("dataset"), F.lit(layer).alias("layer"),
        lit(rule_id).alias("rule_id"), lit(dimension).alias("dimension"), lit(reason).alias("reason"),
        record.alias("record"),
        F.col("_source_file") if "_source_file" in df.columns else F.lit(None).cast("string").alias("_source_file"),
        F.col("_batch_id") if "_batch_id" in df.columns else F.lit(None).cast("string").alias("_batch_id"),
        F.to_timestamp(F.lit(at)).alias("_quarantined_at"),
        failures.cast(f"array<{FAILURE}>").alias("failures"),
        F.sha2(F.concat_ws("|", F.lit(layer), *[F.col(c) for c in ("_batch_id", "_source_file") if c in df.columns],
                           record), 256).alias("quarantine_id"),
        F.lit(None).cast("timestamp").alias("replayed_at"),
        F.lit(None).cast("string").alias("replay_batch"),
    )


def split_parsed(parsed: DataFrame, spec: SourceDataset, at: str) -> Split:
    """Bronze keeps every parsed line; unparseable lines go to quarantine."""
    good = parsed.where(F.col("_parse_error").isNull()).drop("_parse_error", "_raw")
    bad = parsed.where(F.col("_parse_error").isNotNull())
    rejected = quarantine_rows(bad, spec.name, "bronze", "parse", "dung", F.col("_parse_error"), F.col("_raw"), at)
    return Split(good, rejected)


# ---- silver ---------------------------------------------------------------------

def nfc(column: SparkColumn) -> SparkColumn:
    """Unicode NFC, the one form Vietnamese text is stored in.

    Runs in the JVM through ICU4J, which Spark 4 ships for its collations (``vietnamese_spark.composed``,
    the call the Vietnamese checks use too), so no Python worker is involved.
    """
    # ASCII text is already NFC: only values with another character pay for the call (NULL stays NULL). Any other
    # character takes two UTF-8 bytes or more, so a value is ASCII when it has as many bytes as characters (a
    # count of bytes; a regular expression looking for such a character cost far more on every text cell)
    return F.when(F.length(column) == F.octet_length(column), column).otherwise(composed(column))


ISO_DATE = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"  # a date as yyyy-MM-dd, in ASCII digits


def _parse_value(raw: SparkColumn, col: Column) -> SparkColumn:
    """Text as the source wrote it → the declared type (NULL when it does not fit)."""
    text = F.trim(raw)
    if col.type == "string":
        value = nfc(text)
        if col.tcvn3_capitals:  # opt-in: toned capitals typed in a TCVN3 capital font (NGUYễN → NGUYỄN)
            value = tcvn3_capitals.raised(value)
        return F.when(value == "", F.lit(None)).otherwise(value)
    if col.type == "date":
        # text of exactly the shape yyyy-MM-dd, most dates, is read by the cast, which judges it as the pattern
        # does at a third of the cost; other text goes through the patterns (the cast would take 2024-01-05T9)
        return F.when(text.rlike(ISO_DATE), text.try_cast("date")).otherwise(
            F.coalesce(F.try_to_timestamp(text, F.lit("yyyy-MM-dd")).cast("date"),
                       F.try_to_timestamp(text, F.lit("dd/MM/yyyy")).cast("date")))
    if col.type == "timestamp":
        return F.coalesce(text.try_cast("timestamp"),
                          F.try_to_timestamp(text, F.lit("dd/MM/yyyy HH:mm:ss")),
                          F.try_to_timestamp(text, F.lit("dd/MM/yyyy HH:mm")),
                          F.try_to_timestamp(text, F.lit("dd/MM/yyyy")))
    if col.number_format == "vi":  # 1.234.567,5 → 1234567.5
        text = F.regexp_replace(F.regexp_replace(text, r"\.", ""), ",", ".")
    return text.try_cast(col.type)


def _ordered_rules(spec: SourceDataset) -> list[Rule]:
    """Which failure names a quarantined row: emptiness first, then declared rules, then master data."""
    rank = {"not_null": 0, "reference": 2}
    declared = {r.rule_id for rule in spec.quality for r in rule.per_column()}
    return sorted((r for r in spec.effective_rules if r.row_level),
                  key=lambda r: 1 if r.rule_id in declared else rank.get(r.check, 1))


def flag_rows(bronze: DataFrame, spec: SourceDataset, at: str,
              reference_codes: dict[str, DataFrame] | None = None) -> DataFrame:
    """Bronze rows → typed, trimmed, NFC rows, each with every row-level rule it breaks.

    Adds ``_failures`` (rule id, dimension, action and reason of each broken
    rule, in the order that names a quarantined row), ``_quarantined`` (a rule
    with action ``quarantine``, or a value that does not fit its type, failed),
    and ``_record`` (the row as the source wrote it, JSON; NULL for a row that broke no rule).  ``reference_codes``
    maps the id of each ``reference`` rule (``conform__<column>`` for a
    conformed column) to a one-column frame of the valid codes.  ``at`` is the
    run's timestamp (ISO 8601); its UTC day is ``today`` for range rules with
    relative bounds (``today-120y``), so the audit, given the same ``at``, judges alike.
    """
    source_fields = sorted({c.source_field for c in spec.columns})
    meta = [c for c in ROW_META if c in bronze.columns]
    today = run_day(at)  # once per run: what `today` in a range rule means, whatever the clock says later
    raw_of = lambda field: F.col(f"_src_{field}")  # noqa: E731
    # a field declared after older batches were ingested is simply absent from them
    staged = bronze.select(*[(F.col(f) if f in bronze.columns else F.lit(None).cast("string")).alias(f"_src_{f}")
                             for f in source_fields], *meta)
    typed = staged.withColumns({col.name: _parse_value(raw_of(col.source_field), col) for col in spec.columns})

    checks = []  # (fails, rule_id, dimension, action, reason)
    for col in spec.columns:
        if col.type != "string":
            raw = raw_of(col.source_field)
            checks.append((raw.isNotNull() & (F.trim(raw) != "") & F.col(col.name).isNull(),
                           f"cast__{col.name}", "dung", "quarantine",
                           F.concat(F.lit(f"{col.name}: cannot read '"), raw, F.lit(f"' as {col.type}"))))
    checks += tcvn3_capitals.checks(spec, lambda col: nfc(F.trim(raw_of(col.source_field))))
    for rule in _ordered_rules(spec):
        if rule.check == "reference":
            codes = (reference_codes or {}).get(rule.rule_id)
            if codes is None:
                raise ValueError(f"{spec.name}: rule {rule.rule_id} checks {rule.reference.dataset}; pass its codes")
            key = f"_code_{rule.rule_id}"
            known = codes.select(F.col(codes.columns[0]).alias(key)).distinct().withColumn(known_column(rule), F.lit(True))
            typed = typed.join(F.broadcast(known), F.col(rule.columns[0]) == F.col(key), "left").drop(key)
        fails, reason = spark_check(rule, spec, today)
        checks.append((fails, rule.rule_id, rule.dimension, rule.action, reason))

    none = F.array().cast(f"array<{FAILURE}>")
    failures = none
    if checks:
        # the list is built only for a row that broke a rule (a NULL outcome breaks none): for the others, almost
        # every row, it would be an array of one NULL per rule, made and filtered for nothing
        broke = F.coalesce(reduce(lambda a, b: a | b, [fails for fails, *_ in checks]), F.lit(False))
        failures = F.when(broke, F.filter(F.array(*[
            F.when(fails, F.struct(F.lit(rid).alias("rule_id"), F.lit(dim).alias("dimension"),
                                   F.lit(act).alias("action"), why.alias("reason")))
            for fails, rid, dim, act, why in checks]), lambda f: f.isNotNull())).otherwise(none)
    record = F.to_json(F.struct(*[raw_of(f).alias(f) for f in source_fields]))
    flagged = typed.select(*[c.name for c in spec.columns], *meta, failures.alias("_failures"),
                           *[raw_of(f) for f in source_fields])
    # the raw row as JSON only where someone will read it (quarantine, the refused batch): a row that broke a
    # rule; for the others it would be the biggest column of the batch, built, held and shuffled for nothing
    return flagged.select(*[c.name for c in spec.columns], *meta, "_failures",
                          F.when(F.size("_failures") > 0, record).alias("_record"),
                          F.exists("_failures", lambda f: f["action"] == "quarantine").alias("_quarantined"))


RANK = "_rank"  # 1 for the row kept for its key, 2… for the duplicates it replaces; NULL for quarantined rows


def _rank_order(spec: SourceDataset, columns: list[str]) -> list[SparkColumn]:
    """Which row of a key is kept: the newest by ``order_by``, then ingestion time, then file name."""
    order = [F.col(spec.order_by).desc_nulls_last()] if spec.order_by else []
    if "_ingested_at" in columns:
        order.append(F.col("_ingested_at").desc())
    order.append(F.col("_source_file").desc_nulls_last() if "_source_file" in columns else F.lit(1))
    return order


def rank_duplicates(flagged: DataFrame, spec: SourceDataset) -> DataFrame:
    """Add ``_rank`` among the rows of each key that were not quarantined (NULL for quarantined rows)."""
    window = Window.partitionBy(F.col("_quarantined"), *spec.keys).orderBy(*_rank_order(spec, flagged.columns))
    return flagged.withColumn(RANK, F.when(~F.col("_quarantined"), F.row_number().over(window)))


def duplicate_rows(flagged: DataFrame, spec: SourceDataset, metrics: dict | None = None) -> DataFrame:
    """One row, one column ``duplicates``: the rows not quarantined that another row of their key replaces.

    Only the keys travel, so a batch whose keys are all distinct, a full load above all, can skip
    :func:`rank_duplicates`' sort of whole rows (:func:`ranked`).  With ``metrics`` (:func:`staged_metrics`' answer
    over the same rows) and keys that are whole numbers or dates packed densely enough (:func:`_key_positions`),
    each row sets one bit of a bitmap per block of positions, and the rows that set no new bit are the
    duplicates: a few kilobytes per block travel instead of a row per key (2.1 s instead of 4.9 s at TPC-H
    SF1 lineitem).
    Otherwise a hash aggregate counts the rows of each key.
    """
    kept = flagged.where(~F.col("_quarantined"))
    position = _key_positions(metrics, spec) if metrics else None
    if position is not None:
        blocks = (kept.select(position.alias("_position"))
                  .groupBy(F.bitmap_bucket_number("_position"))
                  .agg(F.count(F.lit(1)).alias("n"), F.bitmap_construct_agg(F.bitmap_bit_position("_position"))
                       .alias("bits")))
        return blocks.agg(F.coalesce(F.sum(F.col("n") - F.bitmap_count("bits")), F.lit(0)).alias("duplicates"))
    per_key = kept.groupBy(*spec.keys).agg(F.count(F.lit(1)).alias("n")).where(F.col("n") > 1)
    return per_key.agg(F.coalesce(F.sum(F.col("n") - 1), F.lit(0)).alias("duplicates"))


DENSE_KEY_TYPES = ("int", "bigint", "date")  # key types a position can be computed from
DENSE_SPAN = 64  # positions per kept row, at most, for the bitmap count (each block of 32,768 costs 4 KB)


def _key_positions(metrics: dict, spec: SourceDataset) -> SparkColumn | None:
    """Each kept row's key as one number from 1 to the product of the keys' spans, distinct keys apart (mixed
    radix over :func:`staged_metrics`' key ranges), or None: a key of another type or holding NULL, or more than
    ``DENSE_SPAN`` positions per kept row (sparse keys would make more blocks than rows)."""
    bounds = key_bounds(metrics, spec)  # keys holding a NULL are left out of it
    position, stride = F.lit(1).cast("bigint"), 1
    for key in reversed(spec.keys):
        if key not in bounds or bounds[key][2] not in DENSE_KEY_TYPES:
            return None
        low, high, type_ = bounds[key]
        value = F.col(key).cast("bigint")
        if type_ == "date":
            value, low, high = F.unix_date(F.col(key)).cast("bigint"), _epoch_day(low), _epoch_day(high)
        position = position + (value - F.lit(low)) * F.lit(stride)
        stride *= high - low + 1
        if stride > DENSE_SPAN * max(int(metrics.get("valid") or 0), 1):
            return None
    return position


def _epoch_day(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def ranked(flagged: DataFrame, spec: SourceDataset, duplicates: int) -> DataFrame:
    """``_rank`` as :func:`rank_duplicates` gives it; with no ``duplicates`` (:func:`duplicate_rows`) every row
    not quarantined is the first of its key, which needs no sort."""
    if duplicates:
        return rank_duplicates(flagged, spec)
    return flagged.withColumn(RANK, F.when(~F.col("_quarantined"), F.lit(1)))


def rule_ids(spec: SourceDataset) -> list[str]:
    """Every rule a row can break in :func:`flag_rows`: the type of each non-text column, the TCVN3 capital repair
    of each column that opts in (a warning), then the row-level rules."""
    return ([f"cast__{c.name}" for c in spec.columns if c.type != "string"]
            + tcvn3_capitals.rule_ids(spec) + [r.rule_id for r in _ordered_rules(spec)])


def staged_metrics(spec: SourceDataset) -> list[SparkColumn]:
    """What to count over the flagged batch, in one pass over the batch held in memory.

    ``rows_in``; ``quarantined`` and ``valid`` (not quarantined), which must add up to ``rows_in`` (with
    :func:`duplicate_rows`, ``valid`` is the kept rows plus the duplicates); for a stream source the
    ``_batch_id`` values (``batches``); per rule the rows that broke it (``rule_<i>``, in the order of
    :func:`rule_ids`); and the range of each key (:func:`key_bounds`).
    """
    quarantined = F.col("_quarantined")
    return [F.count(F.lit(1)).alias("rows_in"),
            F.count_if(quarantined).alias("quarantined"),
            F.count_if(~quarantined).alias("valid"),
            # a stream's rows come from any number of ingestions; a batch source's are its one batch, and
            # collect_set is an aggregate Spark cannot compile (a second per 4 M rows)
            *([F.collect_set("_batch_id").alias("batches")] if spec.source.kind == "stream" else []),
            *[F.count_if(F.array_contains(F.col("_failures.rule_id"), rid)).alias(f"rule_{i}")
              for i, rid in enumerate(rule_ids(spec))],
            *_key_bound_metrics(spec)]


BOUNDED_TYPES = ("string", "int", "bigint", "date", "timestamp")  # key types a MERGE can be bounded on


def _key_bound_metrics(spec: SourceDataset) -> list[SparkColumn]:
    """Per key column of a type in ``BOUNDED_TYPES``: the smallest and largest value among the rows not
    quarantined, whose keys are the kept rows' keys (``key_min_<i>``, ``key_max_<i>``; a timestamp as
    microseconds since the epoch) and those rows whose value is NULL (``key_nulls_<i>``)."""
    kept = ~F.col("_quarantined")
    out: list[SparkColumn] = []
    for i, key in enumerate(spec.keys):
        type_ = spec.column(key).type
        if type_ not in BOUNDED_TYPES:
            continue
        value = F.unix_micros(F.col(key)) if type_ == "timestamp" else F.col(key)
        out += [F.min(F.when(kept, value)).alias(f"key_min_{i}"), F.max(F.when(kept, value)).alias(f"key_max_{i}"),
                F.count_if(kept & F.col(key).isNull()).alias(f"key_nulls_{i}")]
    return out


def key_bounds(metrics: dict, spec: SourceDataset) -> dict[str, tuple[object, object, str]]:
    """The range each key column of the batch's kept rows spans, from :func:`staged_metrics`' answer:
    ``{key: (smallest, largest, type)}``, for the keys whose kept rows hold no NULL (a MERGE matches NULL keys
    with ``<=>``, and a range would leave those target rows out).

    A target row can match a batch row only if each of its keys lies in the batch's range, so a MERGE that
    adds these ranges to its condition changes no result; Delta then skips the files whose statistics lie
    outside them, instead of reading the whole table (a table keyed on time, such as readings, grows every
    day while each batch covers minutes)."""
    out: dict[str, tuple[object, object, str]] = {}
    for i, key in enumerate(spec.keys):
        low, high = metrics.get(f"key_min_{i}"), metrics.get(f"key_max_{i}")
        if low is not None and high is not None and not metrics.get(f"key_nulls_{i}"):
            out[key] = (low, high, spec.column(key).type)
    return out


def rule_counts(metrics: dict, spec: SourceDataset) -> dict[str, int]:
    """The counted rows per rule (``rule_<i>``) by rule id; rules no row broke are left out."""
    return {rid: int(metrics[f"rule_{i}"]) for i, rid in enumerate(rule_ids(spec)) if metrics.get(f"rule_{i}")}


def split_flagged(flagged: DataFrame, spec: SourceDataset, at: str) -> Split:
    """Flagged rows → rows to write (newest per key), quarantine rows, duplicates, and counts.

    A quarantined row keeps every rule it broke; the first one names it.  Rows already
    ranked by :func:`rank_duplicates` (the staged batch) keep their ranks.
    Row accounting: ``rows in = good + rejected + duplicates``.
    """
    meta = [c for c in ROW_META if c in flagged.columns]
    bad = flagged.where("_quarantined").withColumn(
        "_first", F.get(F.filter("_failures", lambda f: f["action"] == "quarantine"), 0))
    rejected = quarantine_rows(bad, spec.name, "silver", F.col("_first.rule_id"), F.col("_first.dimension"),
                               F.col("_first.reason"), F.col("_record"), at, failures=F.col("_failures"))
    with_ranks = flagged if RANK in flagged.columns else rank_duplicates(flagged, spec)
    valid = with_ranks.where(~F.col("_quarantined")).select(*[c.name for c in spec.columns], *meta, RANK)
    good = with_row_hash(valid.where(F.col(RANK) == 1).drop(RANK), hashed_columns(spec))
    duplicates = valid.where(F.col(RANK) > 1).drop(RANK)
    ok = ~F.col("_quarantined")
    counts = flagged.agg(F.count(F.lit(1)).alias("rows_in"), F.count_if(~ok).alias("rejected"),
                         F.count_if(ok).alias("valid"),
                         F.count_distinct(F.when(ok, F.struct(*[F.col(k) for k in spec.keys]))).alias("distinct_keys"))
    return Split(good, rejected, duplicates, counts)


def refine(bronze: DataFrame, spec: SourceDataset, at: str,
           reference_codes: dict[str, DataFrame] | None = None) -> Split:
    """Bronze rows → typed, trimmed, NFC, de-duplicated silver rows; rejects with reasons."""
    return split_flagged(flag_rows(bronze, spec, at, reference_codes), spec, at)


def rule_failures(flagged: DataFrame) -> DataFrame:
    """How many rows broke each row-level rule: ``rule_id, rows`` (a row may break several)."""
    return (flagged.select(F.explode("_failures").alias("f"))
            .groupBy(F.col("f.rule_id").alias("rule_id")).agg(F.count(F.lit(1)).alias("rows")))


def late_rows(rows: DataFrame, spec: SourceDataset, seen_until=None) -> DataFrame:
    """Streamed rows that arrived late: their event time is more than ``late_after_minutes``
    behind the newest event time that arrived before them.

    Arrival order is ingestion time, then file name (gateways name drops by time);
    ``seen_until`` is the newest event time of earlier runs (None on the first).
    Late rows are not dropped: they are merged like any other and the gold
    partitions they fall in are rebuilt; this only says which ones they were.
    """
    event = spec.source.event_time
    order = ["_ingested_at", "_source_file"]
    files = rows.groupBy(*order).agg(F.max(event).alias("_file_max"))
    before = Window.orderBy(*order).rowsBetween(Window.unboundedPreceding, -1)
    files = files.withColumn("_seen", F.max("_file_max").over(before)).drop("_file_max")
    if seen_until is not None:
        files = files.withColumn("_seen", F.greatest(F.col("_seen"), F.lit(seen_until).cast("timestamp")))
    lateness = F.expr(f"INTERVAL {int(spec.source.late_after_minutes)} MINUTES")
    return (rows.join(files, order, "left")
            .where(F.col("_seen").isNotNull() & (F.col(event) < F.col("_seen") - lateness))
            .drop("_seen"))


def hashed_columns(spec: SourceDataset) -> list[str]:
    """The columns a silver row's ``_row_hash`` covers: the spec's own, none of the platform's."""
    return [c.name for c in spec.columns]


def with_row_hash(df: DataFrame, columns: list[str]) -> DataFrame:
    """Add ``_row_hash`` over the business columns (``columns.row_hash_sql``), so a MERGE can skip unchanged rows;
    the column's comment says how it was computed (a table created from these rows keeps it)."""
    return df.withColumn(ROW_HASH, F.expr(row_hash_sql(columns))).withMetadata(ROW_HASH, {"comment": ROW_HASH_COMMENT})


# ---- gold -----------------------------------------------------------------------

def gold_sql(spec: GoldDataset) -> str:
    """The spec's SQL, which names its inputs by dataset name (registered as views)."""
    return spec.sql.strip().rstrip(";")
