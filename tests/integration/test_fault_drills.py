"""Fault drills: a server dies in the middle of a job; the re-run ends with exact row counts.

* the Spark Connect server is killed (SIGKILL) while a silver job writes its batch (after the
  audit, in the quarantine write or the MERGE): the job fails, the table is still readable at its
  last commit, and running the date again gives exactly the batch's rows, none twice;
* the S3 server is killed while a bronze job writes and restarted: the job fails (or its S3 client's
  retries carry it through), no half-written file is ever read, and the re-run ingests the file
  exactly once;
* the S3 server's disk is full when `lake ingest` lands a file (the server's data on a small tmpfs):
  the command fails with a sentence that names the full disk and the recovery, nothing of the file is
  landed or ingested, and after space is freed and the server restarted the same command ingests it once;
* Trino is killed and restarted while `lake sql` runs a query: the query fails with a sentence
  that says so (no traceback), the next query answers, and publishing again registers nothing twice.

Each drill restarts the server it killed (`lake up` does it), so the tests after these find the
stack as they expect it.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from lakehouse import services
from lakehouse.engine import jobrun
from lakehouse.io import delta_io
from lakehouse.io.spark import get_spark, stop_sessions
from lakehelp import ingest, reset, run_log, table, use_datasets

HERE = Path(__file__).parent
DATASETS = HERE / "datasets" / "refusal"
ROOT = HERE.parent.parent
NAME = "drl_readings"
HEADER = "meter_id,reading_date,owner,kwh"


def readings(date: str, meters: range, owner: str = "Nguyễn Văn A") -> str:
    return "\n".join([HEADER, *(f"M{m:06d},{date},{owner},{m % 97 + 0.5}" for m in meters)]) + "\n"


def job(module: str, date: str) -> subprocess.Popen:
    env = {**os.environ, "LAKE_DATASETS_DIR": str(DATASETS), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", f"jobs.{module}", "--dataset", NAME, "--date", date],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_and_restart(proc: subprocess.Popen, marker: str, victim: str, settings, delay: float = 0.0) -> list[str]:
    """When the job prints a line holding ``marker``, SIGKILL the ``victim`` service and start it again
    at once (as an operator, or a supervisor, would); then wait for the job. Its output."""
    lines, reached = [], threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if marker in line:
                reached.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while not reached.wait(0.05):
        assert proc.poll() is None or reader.is_alive(), "the job ended before the drill's point:\n" + "".join(lines[-40:])
    time.sleep(delay)
    restart(victim, settings)
    try:  # the job fails on its own once its client gives up on the dead session, or carries on; it may
        proc.wait(timeout=45)  # also keep retrying for minutes, and then an operator stops it, as here
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=60)
        lines.append("[drill] the job was still retrying 45 s after the restart: stopped\n")
    reader.join(timeout=60)
    print("".join(lines[-15:]))
    return lines


def restart(victim: str, settings) -> None:
    """SIGKILL the ``victim`` service and start it again at once, as an operator or a supervisor would."""
    [service] = services.select([victim], settings)
    pid = service.pid()
    os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)  # the stack fixture started it: this process reaps it, or it lingers as a zombie
    except ChildProcessError:  # started by another process: wait until it is gone and its ports are free
        deadline = time.monotonic() + 60
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    for attempt in range(30):  # a killed server's ports can take a moment to be released
        try:
            services.up([victim], settings)
            break
        except services.ServiceError:
            if attempt == 29:
                raise
            time.sleep(1)


@pytest.fixture(scope="module")
def drill(stack, tmp_path_factory):
    with use_datasets(DATASETS):
        reset([NAME], stack)
        yield {"settings": stack, "tmp": tmp_path_factory.mktemp("drills")}
        reset([NAME], stack)


def test_spark_killed_while_silver_writes_then_the_rerun_gives_exact_rows(drill):
    settings, tmp = drill["settings"], drill["tmp"]
    day1, day2 = "2026-05-01", "2026-05-02"
    first = tmp / "readings-1.csv"
    first.write_text(readings(day1, range(0, 3000)), encoding="utf-8")
    ingest(NAME, [first], day1)
    second = tmp / "readings-2.csv"  # the next day: 3,000 new readings, and a corrected owner for 500 old ones
    second.write_text(readings(day2, range(1000, 4000)) + readings(day1, range(0, 500), "Trần Thị B")
                      .split("\n", 1)[1], encoding="utf-8")
    from lakehouse.orchestration.pipeline import land_files
    land_files(NAME, [second], day2)
    import jobs.bronze
    jobs.bronze.run(NAME, day2)
    silver_uri = settings.table_uri("silver", NAME)
    spark = get_spark("drill", settings)
    version_before = int(spark.sql(f"DESCRIBE HISTORY {delta_io.sql_name(silver_uri)} LIMIT 1").first()["version"])
    stop_sessions()  # this process's session dies with the server: close it while the server is up

    proc = job("silver", day2)
    output = kill_and_restart(proc, "[quality]", "spark", settings, delay=0.3)  # audited: the writes begin
    assert proc.returncode != 0, "".join(output[-40:])  # its session died with the server

    spark = get_spark("drill", settings)
    version_after = int(spark.sql(f"DESCRIBE HISTORY {delta_io.sql_name(silver_uri)} LIMIT 1").first()["version"])
    print(f"silver version before the killed run {version_before}, after it {version_after}")
    assert version_after in (version_before, version_before + 1)  # the MERGE committed whole, or not at all
    import jobs.silver
    again = jobs.silver.run(NAME, day2)  # running the date again
    assert (again.rows_in, again.rows_written, again.rows_quarantined, again.duplicates_collapsed) == (3500, 3500, 0, 0)
    rows = table(spark, "silver", NAME, settings)
    assert rows.count() == 6000  # 3,000 readings of each day, none twice
    assert rows.select("meter_id", "reading_date").distinct().count() == 6000
    assert rows.where(f"reading_date = '{day1}' AND owner = 'Trần Thị B'").count() == 500


def test_s3_killed_while_bronze_writes_then_the_rerun_ingests_the_file_once(drill):
    settings, tmp = drill["settings"], drill["tmp"]
    day = "2026-05-03"
    big = tmp / "readings-3.csv"  # big enough that the write takes a while
    big.write_text(readings(day, range(0, 200_000)), encoding="utf-8")
    from lakehouse.orchestration.pipeline import land_files
    land_files(NAME, [big], day)
    stop_sessions()

    proc = job("bronze", day)
    kill_and_restart(proc, "reading 1 file(s)", "s3", settings, delay=1.0)
    print("the killed run", "failed" if proc.returncode else "recovered (its S3 client retried)")

    import jobs.bronze
    again = jobs.bronze.run(NAME, day)
    spark = get_spark("drill", settings)
    batch = table(spark, "bronze", NAME, settings).where(f"_batch_id = '{NAME}@{day}'")
    if again.rows_in == 0:  # the killed run had committed before S3 went down: the file is not read twice
        assert again.extra.get("files_skipped") == 1
    else:
        assert (again.rows_in, again.rows_written) == (200_000, 200_000)
    assert batch.count() == 200_000 and batch.select("meter_id").distinct().count() == 200_000
    logged = [r["status"] for r in run_log(spark, settings, "2026-01-01")
              .where(f"dataset = '{NAME}' AND layer = 'bronze' AND batch_id = '{NAME}@{day}'").collect()]
    assert "success" in logged


@contextmanager
def s3_on_a_small_disk(settings, headroom: int = 48 * 2**20):
    """Move the S3 server's data onto a tmpfs with ``headroom`` bytes to spare; afterwards back to its disk."""
    data = settings.s3_data_dir
    aside, back = data.with_name("s3.before-drill"), data.with_name("s3.after-drill")
    services.down(["s3"], settings)
    data.rename(aside)
    data.mkdir()
    mounted = served = False
    try:
        used = int(subprocess.check_output(["du", "-sb", str(aside)]).split()[0])
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={used + headroom}", "lake-drill-s3", str(data)],
                       check=True)
        mounted = True
        subprocess.run(["cp", "-a", f"{aside}/.", str(data)], check=True)
        services.up(["s3"], settings)
        served = True
        yield data
    finally:
        services.down(["s3"], settings)
        if served:  # what the drill wrote goes back to the disk with the rest
            subprocess.run(["cp", "-a", f"{data}/.", str(back)], check=True)
        if mounted:
            subprocess.run(["umount", str(data)], check=True)
        data.rmdir()
        if served:
            back.rename(data)
            shutil.rmtree(aside)
        else:
            aside.rename(data)
        services.up(["s3"], settings)


def fill(folder: Path) -> Path:
    """Write zeros into ``folder`` until its file system has no space left."""
    filler = folder / "drill-filler.bin"
    with open(filler, "wb") as out:
        try:
            while True:
                out.write(bytes(2**20))
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def lake_ingest(path: Path, date: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LAKE_DATASETS_DIR": str(DATASETS)}
    return subprocess.run([sys.executable, "-m", "lakehouse.cli", "ingest", NAME, str(path), "--date", date],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_the_s3_disk_full_while_a_file_lands_then_after_a_restart_the_same_command_ingests_it_once(drill):
    if os.geteuid() != 0:
        pytest.skip("this drill mounts a tmpfs, which needs root")
    from lakehouse.io import storage

    settings, tmp = drill["settings"], drill["tmp"]
    day = "2026-05-05"
    source = tmp / "readings-5.csv"
    source.write_text(readings(day, range(0, 2000)), encoding="utf-8")
    key = settings.landing_key(NAME, day, source.name)
    spark = get_spark("drill", settings)
    silver_before = table(spark, "silver", NAME, settings).count() if delta_io.exists(
        spark, settings.table_uri("silver", NAME)) else 0
    stop_sessions()  # S3 restarts under the server's open files: a new session afterwards

    with s3_on_a_small_disk(settings) as disk:
        filler = fill(disk)
        refused = lake_ingest(source, day)
        print(refused.stderr)
        assert refused.returncode != 0, refused.stdout
        assert "Traceback" not in refused.stderr
        assert f"did not store s3://{settings.bucket}/{key}" in refused.stderr
        assert "The S3 server's disk is full" in refused.stderr and "lake down s3 && lake up s3" in refused.stderr
        filler.unlink()
        assert not storage.exists(key, settings)  # nothing of the file was landed
        services.down(["s3"], settings)  # the recovery the message names
        services.up(["s3"], settings)
        again = lake_ingest(source, day)
        assert again.returncode == 0, again.stderr[-3000:]

    spark = get_spark("drill", settings)
    batch = table(spark, "bronze", NAME, settings).where(f"_batch_id = '{NAME}@{day}'")
    assert batch.count() == 2000 and batch.select("meter_id").distinct().count() == 2000  # once, whole
    assert table(spark, "silver", NAME, settings).count() == silver_before + 2000
    statuses = [r["status"] for r in run_log(spark, settings, "2026-01-01")
                .where(f"dataset = '{NAME}' AND batch_id = '{NAME}@{day}'").collect()]
    assert statuses and set(statuses) == {"success"}, statuses  # the refused landing ran no job


LONG_QUERY = ("SELECT count(*) FROM UNNEST(sequence(1, 10000)) a(x) CROSS JOIN UNNEST(sequence(1, 10000)) b(y) "
              "CROSS JOIN UNNEST(sequence(1, 10000)) c(z)")  # 10^12 rows: runs until the drill stops it


def test_trino_restarted_during_a_query_then_the_next_query_answers_and_publish_registers_nothing_twice(drill):
    from lakehouse.io import trino
    import jobs.publish

    settings, tmp = drill["settings"], drill["tmp"]
    day = "2026-05-04"
    if ("silver", NAME) not in trino.registered(settings):  # run alone: the drills above did not publish it
        small = tmp / "readings-4.csv"
        small.write_text(readings(day, range(0, 10)), encoding="utf-8")
        ingest(NAME, [small], day)
    before = trino.registered(settings)
    rows = trino.query(f"SELECT count(*) FROM lake.silver.{NAME}", settings)[1]

    proc = subprocess.Popen([sys.executable, "-m", "lakehouse.cli", "sql", LONG_QUERY], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    running = ("SELECT count(*) FROM system.runtime.queries WHERE state = 'RUNNING' "
               "AND query LIKE '%sequence(1, 10000)) c(z)' AND query NOT LIKE '%system.runtime%'")
    deadline = time.monotonic() + 60
    while trino.query(running, settings)[1] != [(1,)]:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.5)
    restart("trino", settings)
    out, err = proc.communicate(timeout=120)
    print(err)
    assert proc.returncode != 0, out
    assert "Traceback" not in err
    assert "Trino stopped answering during the query" in err and "run it again" in err, err

    assert trino.query(f"SELECT count(*) FROM lake.silver.{NAME}", settings)[1] == rows  # the next query answers
    published = jobs.publish.run(NAME, day)
    assert f"lake.silver.{NAME}" in published
    assert trino.registered(settings) == before  # nothing registered again, nothing lost
