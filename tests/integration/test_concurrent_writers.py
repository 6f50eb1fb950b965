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
from pathlib import Path

from lakehouse.core.settings import REPO_ROOT

WRITERS = 4

# Each writer opens its session and builds its frame first, says it is ready, then waits
# for the start signal, which is given only once every writer is ready: the commits race
# however long a loaded machine takes to start them.
WRITER = """
import pathlib, sys, time
from lakehouse.core.settings import get_settings
from lakehouse.engine import jobrun, runlog
from lakehouse.io import delta_io
from lakehouse.io.spark import get_spark, stop_sessions
kind, tag, index, gate = sys.argv[1], sys.argv[2], int(sys.argv[3]), pathlib.Path(sys.argv[4])
settings = get_settings()
spark = get_spark("concurrency probe", settings)
def wait_for_start():
    (gate / f"ready-{index}").touch()
    while not (gate / "go").exists():
        time.sleep(0.01)
if kind == "run_log":
    acc = jobrun.Accounting("concurrency_probe", "bronze", f"{tag}@{index}", status="success", spark=spark)
    acc.finished_at = jobrun.now_iso()
    spark.range(1).collect()
    wait_for_start()
    runlog.record(acc, settings)
else:  # the first commit of a table that does not exist yet
    df = spark.createDataFrame([(tag, index)], "tag string, writer int")
    wait_for_start()
    delta_io.append(df, settings.table_uri("ops", kind))
stop_sessions()
"""


def race(kind: str, tag: str, gate: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, kind, tag, str(i), str(gate)], cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(WRITERS)]
    deadline = time.monotonic() + 240
    while len(list(gate.glob("ready-*"))) < WRITERS:
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), \
            f"only {len(list(gate.glob('ready-*')))} of {WRITERS} writers got ready: " + \
            "; ".join(p.communicate()[0][-2000:] for p in procs if p.poll() is not None)
        time.sleep(0.05)
    (gate / "go").touch()  # every writer is connected and waiting: start them together
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    failed = [(i, out[-3000:]) for i, (p, out) in enumerate(zip(procs, outputs)) if p.returncode != 0]
    assert not failed, f"writers failed: {failed}"


def test_parallel_run_log_appends_all_land(stack, tmp_path):
    from pyspark.sql import functions as F

    from lakehouse.engine import runlog
    from lakehouse.io.spark import get_spark

    tag = "race_" + uuid.uuid4().hex[:8]
    race("run_log", tag, tmp_path)
    got = runlog.read(get_spark("concurrency check", stack), stack).where(
        (F.col("dataset") == "concurrency_probe") & F.col("batch_id").startswith(f"{tag}@")).collect()
    assert sorted(r.batch_id for r in got) == [f"{tag}@{i}" for i in range(WRITERS)]


def test_parallel_first_commits_of_a_new_table_all_land(stack, tmp_path):
    from lakehouse.io.spark import get_spark

    table = "probe_" + uuid.uuid4().hex[:8]
    race(table, table, tmp_path)
    spark = get_spark("concurrency check", stack)
    rows = spark.read.format("delta").load(stack.table_uri("ops", table)).collect()
    assert sorted(r.writer for r in rows) == list(range(WRITERS))
