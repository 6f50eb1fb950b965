"""Parallel Airflow tasks append to the shared ops tables at once: no row may be lost.

Every job writes ``ops/run_log`` (and silver jobs ``ops/quality_*``), so with
Airflow running tasks side by side several processes commit to one Delta table
at the same moment.  They all commit through the one Spark Connect server, whose
``S3SingleDriverLogStore`` serialises commits per table inside its JVM; Delta's
optimistic concurrency then retries a blind append on the next version.  These
tests start real processes that commit at the same instant and count the rows.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

from lakehouse.settings import REPO_ROOT

WRITERS = 4

# Each writer opens its session and builds its frame first, then waits for the
# same wall-clock instant, so the commits really race.
WRITER = """
import sys, time
from lakehouse import delta_io, jobrun, runlog
from lakehouse.settings import get_settings
from lakehouse.spark import get_spark, stop_sessions
kind, tag, index, at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
spark = get_spark("concurrency probe")
if kind == "run_log":
    acc = jobrun.Accounting("concurrency_probe", "bronze", f"{tag}@{index}", status="success", spark=spark)
    acc.finished_at = jobrun.now_iso()
    spark.range(1).collect()
    time.sleep(max(0.0, at - time.time()))
    runlog.record(acc)
else:  # the first commit of a table that does not exist yet
    df = spark.createDataFrame([(tag, index)], "tag string, writer int")
    time.sleep(max(0.0, at - time.time()))
    delta_io.append(df, get_settings().table_uri("ops", kind))
stop_sessions()
"""


def race(kind: str, tag: str) -> None:
    at = time.time() + 25  # time enough for every writer to connect on a loaded 2-core machine
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, kind, tag, str(i), str(at)], cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(WRITERS)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    failed = [(i, out[-3000:]) for i, (p, out) in enumerate(zip(procs, outputs)) if p.returncode != 0]
    assert not failed, f"writers failed: {failed}"


def test_parallel_run_log_appends_all_land(stack):
    from pyspark.sql import functions as F

    from lakehouse import runlog
    from lakehouse.spark import get_spark

    tag = "race_" + uuid.uuid4().hex[:8]
    race("run_log", tag)
    got = runlog.read(get_spark("concurrency check"), stack).where(
        (F.col("dataset") == "concurrency_probe") & F.col("batch_id").startswith(f"{tag}@")).collect()
    assert sorted(r.batch_id for r in got) == [f"{tag}@{i}" for i in range(WRITERS)]


def test_parallel_first_commits_of_a_new_table_all_land(stack):
    from lakehouse.spark import get_spark

    table = "probe_" + uuid.uuid4().hex[:8]
    race(table, table)
    spark = get_spark("concurrency check")
    rows = spark.read.format("delta").load(stack.table_uri("ops", table)).collect()
    assert sorted(r.writer for r in rows) == list(range(WRITERS))
