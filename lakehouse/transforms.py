"""Pure transforms: DataFrame in, DataFrame out.

Nothing here builds a SparkSession, reads a path or looks at the environment;
each function takes what it needs as parameters, so a unit test can feed it a
three-row frame.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import StringType

from lakehouse.spec import GoldDataset, SourceDataset

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

def _nfc_series(values: pd.Series) -> pd.Series:
    return values.map(lambda v: unicodedata.normalize("NFC", v) if isinstance(v, str) else v)


def nfc(column: SparkColumn) -> SparkColumn:
    """Unicode NFC, the one form Vietnamese text is stored in.

    The UDF is built at call time: pyspark picks its classic or Spark Connect
    flavour when it is defined, so it must not be defined at import.
    """
    return pandas_udf(_nfc_series, StringType())(column)


def refine(bronze: DataFrame, spec: SourceDataset, at: str) -> Split:
    """Bronze rows → typed, trimmed, NFC, de-duplicated silver rows; rejects with reasons.

    Row accounting: ``bronze = good + rejected + duplicates``.
    """
    source_fields = sorted({c.source_field for c in spec.columns})
    meta = [c for c in ("_source_file", "_batch_id", "_ingested_at") if c in bronze.columns]
    raw_of = lambda field: F.col(f"_src_{field}")  # noqa: E731
    staged = bronze.select(*[F.col(f).alias(f"_src_{f}") for f in source_fields], *meta)

    typed_cols, checks = {}, []
    for col in spec.columns:
        raw = raw_of(col.source_field)
        if col.type == "string":
            value = nfc(F.trim(raw))
            value = F.when(value == "", F.lit(None)).otherwise(value)
        elif col.type == "date":
            text = F.trim(raw)
            value = F.coalesce(F.try_to_timestamp(text, F.lit("yyyy-MM-dd")).cast("date"),
                               F.try_to_timestamp(text, F.lit("dd/MM/yyyy")).cast("date"))
        else:
            value = F.trim(raw).try_cast(col.type)
        typed_cols[col.name] = value
        if col.type != "string":
            checks.append((raw.isNotNull() & (F.trim(raw) != "") & F.col(col.name).isNull(),
                           f"cast__{col.name}", "dung",
                           F.concat(F.lit(f"{col.name}: cannot read '"), raw, F.lit(f"' as {col.type}"))))
        if not col.nullable:
            checks.append((F.col(col.name).isNull(), f"not_null__{col.name}", "du",
                           F.lit(f"{col.name}: required but empty")))
    for rule in spec.quality:
        if rule.check == "not_null" and rule.action == "quarantine":
            cond = None
            for c in rule.columns:
                cond = F.col(c).isNull() if cond is None else (cond | F.col(c).isNull())
            checks.append((cond, rule.rule_id, rule.dimension, F.lit(rule.message or f"{rule.rule_id} failed")))
    typed = staged.withColumns(typed_cols)

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
    return Split(good, rejected, duplicates)


def with_row_hash(df: DataFrame, columns: list[str]) -> DataFrame:
    """Add ``_row_hash`` over the business columns, so a MERGE can skip unchanged rows."""
    return df.withColumn(ROW_HASH, F.sha2(F.to_json(F.struct(*[F.col(c) for c in columns])), 256))


# ---- gold -----------------------------------------------------------------------

def gold_sql(spec: GoldDataset) -> str:
    """The spec's SQL, which names its inputs by dataset name (registered as views)."""
    return spec.sql.strip().rstrip(";")
