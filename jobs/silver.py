"""Refine bronze rows into silver: typed, NFC text, conformed codes, de-duplicated, merged.

Which bronze rows: the date's batch (``<dataset>@<date>``), or for a stream
source every row ingested since the last silver run.  How they are written
follows the spec's ``load_mode`` (append, merge, scd2, snapshot); re-running a
date changes no row.

Write – audit – publish: the refined batch, with every rule each row broke, is
computed once and held in the Spark server's memory (a local checkpoint), where
it is counted and Great Expectations audits it; rows that broke a rule with
action ``quarantine`` go to ``quarantine/<dataset>__quarantine`` with the rule,
dimension and reason; and only when no rule with action ``fail`` failed is the
batch merged into silver, so readers never see a failed batch.  A blocked batch
is written to ``staging/<dataset>`` for the steward to inspect.  The results and
the 0–100 scores per dimension are kept in ``ops/quality_results`` and
``ops/quality_scorecard``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from pyspark.sql import functions as F

from lakehouse.config.spec import SourceDataset
from lakehouse.core import sql
from lakehouse.core.settings import get_settings
from lakehouse.engine import jobrun
from lakehouse.engine.jobrun import Accounting
from lakehouse.engine.transforms import (duplicate_rows, flag_rows, hashed_columns, key_bounds, late_rows, ranked,
                                         rule_counts, split_flagged, staged_metrics)
from lakehouse.io import delta_io
from lakehouse.io.spark import get_spark
from lakehouse.quality import validation

STREAM_MARK = "lake.silver.ingested_through"  # silver table property: bronze rows up to here are done


def written_as_staged(dataset: str, what: str, staged: int, written: int) -> None:
    """A write must take exactly the rows staged for it; otherwise a row was lost or made up on the way."""
    if staged != written:
        raise jobrun.LakeError(f"silver {dataset}: {staged} rows were staged as {what} but the write took "
                               f"{written}; the row accounting does not balance, nothing about this batch "
                               "can be trusted")


def write_quarantine(rejected, quarantine_uri: str, batches: list[str], expected: int) -> int:
    """Put the batch's quarantined rows in the quarantine table; rows written.

    Re-running a batch replaces its quarantine rows instead of adding them again, so a
    batch that quarantines nothing this time still clears what an earlier run of it left.
    """
    if not expected and not delta_io.exists(rejected.sparkSession, quarantine_uri):
        return 0
    return delta_io.replace_where(rejected, quarantine_uri,
                                  f"layer = 'silver' AND _batch_id IN ({sql.literals(sorted(batches))})")


def into_silver(spark, good, spec: SourceDataset, silver_uri: str, date: str, replaying: bool = False,
                source_held: bool = False, bounds: dict | None = None) -> dict[str, int]:
    """Merge refined, de-duplicated rows into the silver table as the spec's ``load_mode`` says; the merge metrics.

    ``scd2``: each row's version starts at its ``order_by`` date or time, else at the batch's ``date``.
    ``replaying`` (quarantined rows let through later): a snapshot is merged, never deleting the keys the
    replayed rows lack.  ``source_held``: ``good`` is read from a local checkpoint (see ``delta_io.merge``).
    ``bounds``: the range of each key in ``good`` (``transforms.key_bounds``): the MERGE reads only the target
    files that overlap it.
    """
    hashed = hashed_columns(spec)
    if spec.load_mode == "scd2":
        valid_from = (F.col(spec.order_by).cast("timestamp") if spec.order_by
                      and spec.column(spec.order_by).type in ("date", "timestamp")
                      else F.lit(date).cast("timestamp"))
        return delta_io.merge_scd2(spark, good.withColumn("valid_from", valid_from), silver_uri, spec.keys,
                                   spec.partition_by, hashed=hashed)
    mode = "merge" if replaying and spec.load_mode == "snapshot" else spec.load_mode
    return delta_io.merge(spark, good, silver_uri, spec.keys, mode, spec.partition_by, spec.order_by,
                          source_held=source_held, bounds=bounds, hashed=hashed)


def bronze_rows(spark, spec: SourceDataset, bronze, silver_uri: str, batch_id: str):
    """The bronze rows this run refines, and for a stream source the ingestion time it reads up to.

    A batch source: the date's batch.  A stream source: every row ingested after the time the last
    run recorded on the silver table (``STREAM_MARK``), up to the newest now.
    """
    if spec.source.kind != "stream":
        return bronze.where(F.col("_batch_id") == batch_id), None
    done = delta_io.properties(spark, silver_uri).get(STREAM_MARK) if delta_io.exists(spark, silver_uri) else None
    through = bronze.agg(F.max("_ingested_at").cast("string")).collect()[0][0]
    batch = bronze.where(F.col("_ingested_at") > F.lit(done).cast("timestamp")) if done else bronze
    return batch.where(F.col("_ingested_at") <= F.lit(through).cast("timestamp")), through


def run(dataset: str, date: str) -> Accounting:
    settings = get_settings()
    spec = jobrun.dataset_spec(dataset, SourceDataset, "build gold datasets with jobs.gold")
    acc = Accounting(dataset, "silver", jobrun.batch_id(dataset, date))
    with jobrun.logged(acc, settings):
        spark = acc.spark = get_spark(f"silver {dataset}", settings)
        validation.open_early(settings)  # while this thread waits on Spark for the batch
        bronze_uri = settings.table_uri("bronze", dataset)
        silver_uri = settings.table_uri("silver", dataset)
        if not delta_io.exists(spark, bronze_uri):
            raise jobrun.LakeError(f"{dataset}: no bronze table at {bronze_uri}; run the bronze job first")

        batch, through = bronze_rows(spark, spec, delta_io.read(spark, bronze_uri), silver_uri, acc.batch_id)
        at = jobrun.now_iso()
        codes = validation.reference_codes(spark, spec, settings)
        # what the audit needs besides the batch (the masters' codes, the previous load's size), read while
        # the server computes the batch: neither depends on it
        lookups = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lookups")
        reference_values = lookups.submit(lambda: {rid: [r[0] for r in frame.collect()]
                                                   for rid, frame in codes.items()})
        previous_rows = (lookups.submit(validation.previous_rows_in, spark, dataset, acc.batch_id, settings)
                         if validation.compares_with_previous(spec) else None)
        lookups.shutdown(wait=False)  # the thread ends after the two; results are read below
        # write: the refined batch with every rule each row broke, computed in one pass over bronze and kept
        # in the server's memory; the counting pass computes it, then its keys are counted, and the audit, the
        # quarantine write and the merge read the same rows from there (no table round trip)
        flagged = flag_rows(batch, spec, at, codes).localCheckpoint(eager=False)
        staged_counts = delta_io.measure(flagged, *staged_metrics(spec))
        duplicates = int(duplicate_rows(flagged, spec, staged_counts).collect()[0][0]) if staged_counts["valid"] else 0
        acc.rows_in, acc.rows_quarantined = staged_counts["rows"], staged_counts["quarantined"]
        acc.rows_written, acc.duplicates_collapsed = staged_counts["valid"] - duplicates, duplicates
        acc.check()  # every staged row is quarantined, kept or a duplicate: before anything is written
        if acc.rows_in == 0:
            print(f"[silver] {dataset}: no new bronze rows for {acc.batch_id}; nothing to do", flush=True)
            return acc
        # each key's newest row ranked first; a sort of whole rows, only when a key repeats, and then held too,
        # so the merge's two passes over it see the same ranks (rows alike in every ordering column tie)
        staged = ranked(flagged, spec, duplicates)
        if duplicates:
            staged = staged.localCheckpoint()
        split = split_flagged(staged, spec, at)

        # audit, while the server writes the quarantine rows: the audit is this process's work (Great
        # Expectations on the batch), the write the server's, and neither needs the other
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="quarantine") as pool:
            writing = pool.submit(write_quarantine, split.rejected, settings.quarantine_uri(dataset),
                                  staged_counts.get("batches", [acc.batch_id]), acc.rows_quarantined)
            checked = time.monotonic()
            audit = validation.audit(staged, spec, acc.batch_id, rows_in=acc.rows_in,
                                     row_failures=rule_counts(staged_counts, spec),
                                     reference_values=reference_values.result(),
                                     previous_rows=previous_rows.result() if previous_rows else None,
                                     at=at, duplicates=acc.duplicates_collapsed, settings=settings)
            acc.extra["quality_seconds"] = round(time.monotonic() - checked, 1)
            quarantined = writing.result()
        validation.print_results(audit.results)
        written_as_staged(dataset, "quarantined", acc.rows_quarantined, quarantined)
        if audit.blocked_by:
            refused_uri = settings.table_uri("staging", dataset)
            delta_io.overwrite(staged, refused_uri)  # the refused batch, with each row's failures, to inspect
            validation.record(spark, spec, acc.batch_id, "load", "blocked", audit.results, acc.as_dict(), settings,
                              pending=acc.pending)
            failed = ", ".join(r.rule_id for r in audit.blocked_by)
            raise jobrun.LakeError(f"silver {dataset}: batch {acc.batch_id} not published: rules with action "
                                   f"'fail' failed: {failed}; silver still holds the last good batch; the "
                                   f"refused rows, with the rules each broke (_failures), are in {refused_uri}")

        # publish
        if spec.source.event_time:
            seen = (delta_io.read(spark, silver_uri).agg(F.max(spec.source.event_time)).collect()[0][0]
                    if delta_io.exists(spark, silver_uri) else None)
            acc.extra["late"] = late_rows(split.good, spec, seen).count()
        acc.extra.update(into_silver(spark, split.good, spec, silver_uri, date, source_held=True,
                                     bounds=key_bounds(staged_counts, spec)))
        source_rows = acc.extra.pop("source_rows", None)
        if source_rows is not None:  # what the merge read from its source: the rows it wrote or kept
            written_as_staged(dataset, "written", acc.rows_written, source_rows)
        if through:
            delta_io.set_properties(spark, silver_uri, {STREAM_MARK: through})
        fresh = validation.check_freshness(spark, spec, settings, loading=True) if spec.freshness else []
        results = audit.results + fresh
        judged = validation.record(spark, spec, acc.batch_id, "load", "published", results, acc.as_dict(), settings,
                                   pending=acc.pending)  # committed with the run-log row
        acc.extra["scores"] = judged
        print(f"[quality] {dataset}: " + ", ".join(f"{k} {v:.1f}" for k, v in judged.items() if v is not None),
              flush=True)
    return acc


if __name__ == "__main__":
    jobrun.main(__doc__, run)
