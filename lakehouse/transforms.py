"""Pure transforms: DataFrame in, DataFrame out.

Nothing here builds a SparkSession, reads a path or looks at the environment;
each function takes what it needs as parameters, so a unit test can feed it a
three-row frame.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.spec import Column, GoldDataset, SourceDataset

BRONZE_META = ["_source_file", "_source_hash", "_landing_date", "_batch_id", "_ingested_at", "_rescued_data"]
QUARANTINE_COLUMNS = ["dataset", "layer", "rule_id", "dimension", "reason", "record",
                      "_source_file", "_batch_id", "_quarantined_at"]
ROW_HASH = "_row_hash"


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
                    at: str) -> DataFrame:
    """Shape rejected rows for ``<dataset>__quarantine``: what, why, and the row itself."""
    lit = lambda v: F.lit(v) if isinstance(v, str) else v  # noqa: E731
    return df.select(
        F.lit(dataset).alias("dataset"), F.lit(layer).alias("layer"),
        lit(rule_id).alias("rule_id"), lit(dimension).alias("dimension"), lit(reason).alias("reason"),
        record.alias("record"),
        F.col("_source_file") if "_source_file" in df.columns else F.lit(None).cast("string").alias("_source_file"),
        F.col("_batch_id") if "_batch_id" in df.columns else F.lit(None).cast("string").alias("_batch_id"),
        F.to_timestamp(F.lit(at)).alias("_quarantined_at"),
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

    Runs in the JVM through ICU4J, which Spark 4 ships for its collations
    (``Normalizer.compose(text, false)`` is NFC), so no Python worker is involved.
    """
    composed = F.call_function("reflect", F.lit("com.ibm.icu.text.Normalizer"), F.lit("compose"),
                               column, F.lit(False))
    return F.when(column.isNull(), F.lit(None).cast("string")).otherwise(composed)


def _parse_value(raw: SparkColumn, col: Column) -> SparkColumn:
    """Text as the source wrote it → the declared type (NULL when it does not fit)."""
    text = F.trim(raw)
    if col.type == "string":
        value = nfc(text)
        return F.when(value == "", F.lit(None)).otherwise(value)
    if col.type == "date":
        return F.coalesce(F.try_to_timestamp(text, F.lit("yyyy-MM-dd")).cast("date"),
                          F.try_to_timestamp(text, F.lit("dd/MM/yyyy")).cast("date"))
    if col.type == "timestamp":
        return F.coalesce(text.try_cast("timestamp"),
                          F.try_to_timestamp(text, F.lit("dd/MM/yyyy HH:mm:ss")),
                          F.try_to_timestamp(text, F.lit("dd/MM/yyyy HH:mm")),
                          F.try_to_timestamp(text, F.lit("dd/MM/yyyy")))
    if col.number_format == "vi":  # 1.234.567,5 → 1234567.5
        text = F.regexp_replace(F.regexp_replace(text, r"\.", ""), ",", ".")
    return text.try_cast(col.type)


def refine(bronze: DataFrame, spec: SourceDataset, at: str,
           master_codes: dict[str, DataFrame] | None = None) -> Split:
    """Bronze rows → typed, trimmed, NFC, de-duplicated silver rows; rejects with reasons.

    ``master_codes`` maps a column with ``conform`` to a one-column frame of the
    valid codes; a row whose code is not among them is rejected.
    Row accounting: ``bronze = good + rejected + duplicates``.
    """
    source_fields = sorted({c.source_field for c in spec.columns})
    meta = [c for c in ("_source_file", "_batch_id", "_ingested_at") if c in bronze.columns]
    raw_of = lambda field: F.col(f"_src_{field}")  # noqa: E731
    # a field declared after older batches were ingested is simply absent from them
    staged = bronze.select(*[(F.col(f) if f in bronze.columns else F.lit(None).cast("string")).alias(f"_src_{f}")
                             for f in source_fields], *meta)

    typed_cols, checks = {}, []
    for col in spec.columns:
        raw = raw_of(col.source_field)
        typed_cols[col.name] = _parse_value(raw, col)
        if col.type != "string":
            checks.append((raw.isNotNull() & (F.trim(raw) != "") & F.col(col.name).isNull(),
                           f"cast__{col.name}", "dung",
                           F.concat(F.lit(f"{col.name}: cannot read '"), raw, F.lit(f"' as {col.type}"))))
        if not col.nullable or col.name in spec.keys:  # a key is always required
            checks.append((F.col(col.name).isNull(), f"not_null__{col.name}", "du",
                           F.lit(f"{col.name}: required but empty")))
    for rule in spec.quality:
        if rule.action != "quarantine":
            continue  # warn and fail rules are judged on the whole table by the quality suite
        for c in rule.columns:
            if rule.check == "not_null":
                cond = F.col(c).isNull()
                why = F.lit(rule.message or f"{c}: required but empty")
            elif rule.check == "range":
                low = F.lit(False) if rule.min is None else F.col(c) < F.lit(rule.min)
                high = F.lit(False) if rule.max is None else F.col(c) > F.lit(rule.max)
                cond = F.col(c).isNotNull() & (low | high)
                why = F.concat(F.lit(f"{c}: "), F.col(c).cast("string"),
                               F.lit(f" is outside [{_bound(rule.min)}, {_bound(rule.max)}]"
                                     + (f" ({rule.message})" if rule.message else "")))
            else:
                continue  # uniqueness is what de-duplication and the suite are for
            checks.append((cond, rule.rule_id, rule.dimension, why))
    typed = staged.withColumns(typed_cols)
    for col in spec.columns:
        if col.conform is None:
            continue
        if not master_codes or col.name not in master_codes:
            raise ValueError(f"{spec.name}.{col.name} is conformed to {col.conform.dataset}; pass its codes")
        flag = f"_known_{col.name}"
        codes = master_codes[col.name].select(F.col(col.conform.column).alias(f"_code_{col.name}")).distinct()
        typed = (typed.join(F.broadcast(codes.withColumn(flag, F.lit(True))),
                            F.col(col.name) == F.col(f"_code_{col.name}"), "left")
                 .drop(f"_code_{col.name}"))
        checks.append((F.col(col.name).isNotNull() & F.col(flag).isNull(), f"conform__{col.name}", "dung",
                       F.concat(F.lit(f"{col.name}: "), F.col(col.name).cast("string"),
                                F.lit(f" is not a known {col.conform.dataset}.{col.conform.column}"))))

    # the first failing check names the reason: one quarantine row per rejected record
    rule_id = F.lit(None).cast("string")
    dimension = F.lit(None).cast("string")
    reason = F.lit(None).cast("string")
    for cond, rid, dim, why in reversed(checks):
        rule_id = F.when(cond, F.lit(rid)).otherwise(rule_id)
        dimension = F.when(cond, F.lit(dim)).otherwise(dimension)
        reason = F.when(cond, why).otherwise(reason)
    flagged = typed.select("*", rule_id.alias("_rule_id"), dimension.alias("_dimension"), reason.alias("_reason"))
    record = F.to_json(F.struct(*[raw_of(f).alias(f) for f in source_fields]))
    rejected = quarantine_rows(flagged.where(F.col("_rule_id").isNotNull()), spec.name, "silver",
                               F.col("_rule_id"), F.col("_dimension"), F.col("_reason"), record, at)
    valid = flagged.where(F.col("_rule_id").isNull()).select(*[c.name for c in spec.columns], *meta)

    order = [F.col(spec.order_by).desc_nulls_last()] if spec.order_by else []
    if "_ingested_at" in valid.columns:
        order.append(F.col("_ingested_at").desc())
    order.append(F.col("_source_file").desc_nulls_last() if "_source_file" in valid.columns else F.lit(1))
    ranked = valid.withColumn("_rank", F.row_number().over(Window.partitionBy(*spec.keys).orderBy(*order)))
    good = with_row_hash(ranked.where("_rank = 1").drop("_rank"), [c.name for c in spec.columns])
    duplicates = ranked.where("_rank > 1").drop("_rank")
    ok = F.col("_rule_id").isNull()
    counts = flagged.agg(F.count(F.lit(1)).alias("rows_in"), F.count_if(~ok).alias("rejected"),
                         F.count_if(ok).alias("valid"),
                         F.count_distinct(F.when(ok, F.struct(*[F.col(k) for k in spec.keys]))).alias("distinct_keys"))
    return Split(good, rejected, duplicates, counts)


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


def _bound(value: float | None) -> str:
    if value is None:
        return "…"
    return str(int(value)) if float(value).is_integer() else str(value)


def with_row_hash(df: DataFrame, columns: list[str]) -> DataFrame:
    """Add ``_row_hash`` over the business columns, so a MERGE can skip unchanged rows."""
    return df.withColumn(ROW_HASH, F.sha2(F.to_json(F.struct(*[F.col(c) for c in columns])), 256))


# ---- gold -----------------------------------------------------------------------

def gold_sql(spec: GoldDataset) -> str:
    """The spec's SQL, which names its inputs by dataset name (registered as views)."""
    return spec.sql.strip().rstrip(";")
