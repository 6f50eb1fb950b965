"""Re-process a dataset's open quarantine rows, after its master data or a rule was fixed.

Every open silver quarantine row (``replayed_at`` is empty) is rebuilt from the
record it keeps, exactly as the source wrote it, and refined again with today's
spec and master data.  Rows that now pass are merged into silver (a snapshot
dataset is upserted: a replay never deletes) and their quarantine rows are
closed (``replayed_at``, ``replay_batch``).  Rows that still fail stay open,
with today's reasons.  Row accounting: rows in = written + still quarantined +
duplicates collapsed.  A row that breaks a rule with action ``fail`` stops the
replay before anything is written.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from jobs.silver import into_silver
from lakehouse.config.spec import SourceDataset
from lakehouse.core.settings import get_settings
from lakehouse.engine import jobrun
from lakehouse.engine.jobrun import Accounting
from lakehouse.engine.transforms import flag_rows, split_flagged
from lakehouse.io import delta_io
from lakehouse.io.spark import get_spark
from lakehouse.quality import validation


def replay_batch_id(dataset: str, at: dt.datetime) -> str:
    return f"{dataset}@replay-{at.strftime('%Y%m%dT%H%M%SZ')}"


def run(dataset: str, date: str) -> Accounting:
    settings = get_settings()
    spec = jobrun.dataset_spec(dataset, SourceDataset, "only source datasets have a quarantine")
    started = dt.datetime.now(dt.timezone.utc)
    acc = Accounting(dataset, "replay", replay_batch_id(dataset, started))
    with jobrun.logged(acc, settings):
        spark = acc.spark = get_spark(f"replay {dataset}", settings)
        quarantine_uri = settings.quarantine_uri(dataset)
        silver_uri = settings.table_uri("silver", dataset)
        if not delta_io.exists(spark, quarantine_uri):
            print(f"[replay] {dataset}: no quarantine table; nothing to replay", flush=True)
            return acc
        fields = sorted({c.source_field for c in spec.columns})
        record = F.from_json("record", "map<string,string>")
        open_rows = (delta_io.read(spark, quarantine_uri)
                     .where("layer = 'silver' AND replayed_at IS NULL")
                     .select(*[record.getItem(f).alias(f) for f in fields], "_source_file", "_batch_id",
                             F.col("_quarantined_at").alias("_ingested_at"),
                             F.col("quarantine_id").alias("_quarantine_id")))
        at = jobrun.now_iso()
        # computed once and held in the server's memory, as silver does; the counts and writes read it there
        staged = flag_rows(open_rows, spec, at, validation.reference_codes(spark, spec, settings)).localCheckpoint(
            eager=False)
        split = split_flagged(staged, spec, at)
        counts = split.counts.collect()[0]
        acc.rows_in, acc.rows_quarantined = counts["rows_in"], counts["rejected"]
        acc.rows_written = counts["distinct_keys"]
        acc.duplicates_collapsed = counts["valid"] - counts["distinct_keys"]
        acc.check()
        if acc.rows_in == 0:
            print(f"[replay] {dataset}: no open quarantine rows", flush=True)
            return acc
        fail_rules = sorted(r[0] for r in staged.select(F.explode("_failures").alias("f"))
                            .where("f.action = 'fail'").select("f.rule_id").distinct().collect())
        if fail_rules:
            raise jobrun.LakeError(f"replay {dataset}: replayed rows break rules with action 'fail' "
                                   f"({', '.join(fail_rules)}); nothing was written")

        good = split.good.drop("_quarantine_id")
        if acc.rows_written:
            into_silver(spark, good, spec, silver_uri, date, replaying=True)

        # close what passed, keep what still fails open with today's reasons: one commit
        first = F.get(F.filter("_failures", lambda f: f["action"] == "quarantine"), 0)
        outcome = (staged.select("_quarantine_id", "_quarantined", "_failures", first.alias("_first"))
                   .dropDuplicates(["_quarantine_id"]))  # identical rows of one file share their id
        outcome.createOrReplaceTempView("lake_replay_outcome")
        batch = acc.batch_id.replace("'", "''")
        spark.sql(f"""
            MERGE INTO {delta_io.sql_name(quarantine_uri)} t
            USING lake_replay_outcome s ON t.quarantine_id = s._quarantine_id AND t.replayed_at IS NULL
            WHEN MATCHED AND NOT s._quarantined THEN UPDATE SET
              replayed_at = timestamp'{started.strftime('%Y-%m-%d %H:%M:%S')}', replay_batch = '{batch}'
            WHEN MATCHED THEN UPDATE SET
              rule_id = s._first.rule_id, dimension = s._first.dimension, reason = s._first.reason,
              failures = s._failures, replay_batch = '{batch}'
        """).collect()
        print(f"[replay] {dataset}: {acc.rows_in} open rows replayed: {acc.rows_written} written to silver, "
              f"{acc.rows_quarantined} still quarantined, {acc.duplicates_collapsed} duplicates", flush=True)
    return acc


if __name__ == "__main__":
    jobrun.main(__doc__, run)
