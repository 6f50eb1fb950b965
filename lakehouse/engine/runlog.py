"""The run log: one row per job run in the ``ops/run_log`` Delta table.

Rows in, written, quarantined and collapsed as duplicates, files skipped,
duration, status and error of every bronze, silver, gold and maintenance run,
so an operator can see in SQL (``lake.ops.run_log`` in Trino) what each run did.
"""

from __future__ import annotations

import json

from lakehouse.core.settings import Settings
from lakehouse.io import delta_io

SCHEMA = ("run_id string, dataset string, layer string, batch_id string, status string, "
          "rows_in bigint, rows_written bigint, rows_quarantined bigint, duplicates_collapsed bigint, "
          "rows_skipped bigint, seconds double, started_at timestamp, finished_at timestamp, "
          "error string, extra string")
NAME = "run_log"


def row(acc) -> tuple:
    """The run-log row of one job's accounting (pure)."""
    import datetime as dt

    def ts(text: str | None):
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None

    return (acc.run_id, acc.dataset, acc.layer, acc.batch_id, acc.status, acc.rows_in, acc.rows_written,
            acc.rows_quarantined, acc.duplicates_collapsed, acc.rows_skipped, round(acc.seconds, 3),
            ts(acc.started_at), ts(acc.finished_at), acc.error,
            json.dumps(acc.extra, default=str, sort_keys=True) if acc.extra else None)


def record(acc, settings: Settings) -> None:
    """Append one run's row (the job's session if it opened one, else a new one).

    The job's other pending operational rows (``acc.pending``: quality results and scores)
    are committed beside it, at the same time.
    """
    from lakehouse.io.spark import get_spark

    spark = acc.spark or get_spark("run log", settings)
    df = spark.createDataFrame([row(acc)], SCHEMA)
    writes, acc.pending = [*acc.pending, (df, settings.table_uri("ops", NAME))], []
    delta_io.append_all(writes)


def read(spark, settings: Settings):
    return delta_io.read(spark, settings.table_uri("ops", NAME))
