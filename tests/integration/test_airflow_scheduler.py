"""The administrative-units DAGs through Airflow's real scheduler: trigger, Assets, retries, backfills.

Starts the test environment's Airflow (api-server, scheduler, dag-processor,
triggerer) with a fresh metadata database, drives it through the REST API as a
data engineer would, and checks the result through Trino.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from lakehouse.core.settings import REPO_ROOT, get_settings
from lakehouse.io import trino
from lakehouse.orchestration.dags import MAINTENANCE_DAG, QUALITY_DAG, dag_id

from lakehelp import Api, dag_exists, reset, wait

SOURCES = ["provinces", "communes"]
GOLDS = ["communes_with_province", "commune_counts_by_province"]
TRIGGERED = "2026-11-26"
BACKFILL = ("2026-11-20", "2026-11-21")  # two dates: each backfill run is a whole DAG run


def settled(api: Api, dags: list[str], quiet_for: float = 8) -> None:
    """Wait until none of ``dags`` has had a queued or running run, or an Asset event waiting for a run, for
    ``quiet_for`` seconds.

    An Asset-triggered run is created by the scheduler's next loop after the source run's outlet event
    (about a second when idle). An event that arrives while the DAG is at ``max_active_runs`` waits in the
    queue until the dag-processor parses the file again (about 30 s; apache/airflow#56050), so the queue
    counts too: seen empty, with no run active, no run is coming.
    """
    quiet_since = [time.monotonic()]

    def idle():
        runs = [(d, r) for d in dags for r in api.runs(d)]
        failed = [(d, r["dag_run_id"]) for d, r in runs if r["state"] == "failed"]
        assert not failed, f"failed DAG runs: {failed}"
        waiting = sum(api.get(f"/api/v2/dags/{d}/assets/queuedEvents")["total_entries"] for d in dags)
        if waiting or any(r["state"] in ("queued", "running") for _, r in runs):
            quiet_since[0] = time.monotonic()
        return time.monotonic() - quiet_since[0] >= quiet_for

    wait(f"{dags} to finish", idle)


def query(sql: str) -> tuple[list, list]:
    """Columns and rows of ``sql`` through Trino, as the test environment's service user."""
    return trino.query(sql, get_settings())


def snapshot() -> dict[str, list]:
    tables = [f"silver.{n}" for n in SOURCES] + [f"gold.{n}" for n in GOLDS] + [f"bronze.{n}" for n in SOURCES]
    return {t: sorted(query(f"SELECT * FROM lake.{t}")[1], key=repr) for t in tables}


@pytest.fixture(scope="module")
def airflow(stack, tmp_path_factory):
    from lakehouse import services

    ours = services.select(["airflow"], stack)
    if any(s.pid() is not None for s in ours):
        pytest.fail("the test environment's Airflow is already running; stop it first "
                    "(LAKE_ENV=test lake down airflow): this test starts its own with test settings")
    fail_dir = tmp_path_factory.mktemp("fail_once")
    # only the admin-units specs: the maintenance and quality DAGs then cover these four datasets
    datasets = tmp_path_factory.mktemp("datasets")
    shutil.copytree(REPO_ROOT / "lake_config" / "datasets" / "admin_units", datasets / "admin_units")
    saved = {k: os.environ.get(k) for k in ("LAKE_AIRFLOW_RETRY_DELAY", "LAKE_TEST_FAIL_ONCE_DIR",
                                            "LAKE_DATASETS_DIR")}
    os.environ["LAKE_AIRFLOW_RETRY_DELAY"] = "2"
    os.environ["LAKE_TEST_FAIL_ONCE_DIR"] = str(fail_dir)
    os.environ["LAKE_DATASETS_DIR"] = str(datasets)
    try:  # from here on, a failure must put the variables back: later modules read the full specs
        # a fresh metadata database: runs of earlier test sessions would collide with these logical dates
        services.reset_airflow_database(stack)
        reset(SOURCES + GOLDS, stack)
        services.up(["airflow"], stack)
        api = Api(stack)
        for name in SOURCES + GOLDS:
            wait(f"DAG {dag_id(name)} to be parsed",
                 lambda n=name: dag_exists(api, dag_id(n)), timeout=300)
            api.patch(f"/api/v2/dags/{dag_id(name)}", {"is_paused": False})
        yield api, fail_dir
    finally:
        services.down(["airflow"], stack)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def scheduled(airflow):
    """Unpausing runs each source once on its cron (the latest 02:00, catchup off); gold follows by Assets."""
    api, _ = airflow
    for name in SOURCES:
        wait(f"the scheduled run of {dag_id(name)}", lambda n=name: any(
            r["run_type"] == "scheduled" and _run_state(api, dag_id(n), r["dag_run_id"]) == "success"
            for r in api.runs(dag_id(n))))
    settled(api, [dag_id(g) for g in GOLDS])
    return api


@pytest.fixture(scope="module")
def triggered(scheduled, airflow):
    """Trigger provinces for another date through the REST API; its bronze task fails its first try,
    and the process of its silver job is killed with SIGKILL (as the kernel's out-of-memory killer would)."""
    api, fail_dir = airflow
    since = query("SELECT CAST(current_timestamp AS timestamp(6))")[1][0][0]
    (fail_dir / f"{dag_id('provinces')}.bronze__provinces").touch()
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=kill_once, args=(f"jobs.silver --dataset provinces --date {TRIGGERED}",
                                                      killed, stop), daemon=True)
    killer.start()
    run = api.post(f"/api/v2/dags/{dag_id('provinces')}/dagRuns",
                   {"logical_date": f"{TRIGGERED}T02:00:00Z", "dag_run_id": f"test__{TRIGGERED}"})
    try:
        wait("the triggered run", lambda: _run_state(api, dag_id("provinces"), run["dag_run_id"]) == "success")
    finally:
        stop.set()
    settled(api, [dag_id(g) for g in GOLDS])
    return api, run["dag_run_id"], since, killed


def kill_once(command: str, killed: list[int], stop: threading.Event, after: float = 2.0) -> None:
    """SIGKILL the first process whose command line holds ``command``, ``after`` seconds into its run."""
    while not stop.is_set():
        for proc in Path("/proc").iterdir():
            try:
                line = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if proc.name.isdigit() and command in line:
                time.sleep(after)  # into its work: pyspark imported, its session opening or its batch read
                try:
                    os.kill(int(proc.name), signal.SIGKILL)
                    killed.append(int(proc.name))
                except ProcessLookupError:
                    continue  # it ended first: wait for the next try
                return
        time.sleep(0.1)


def _run_state(api: Api, dag: str, run_id: str) -> str:
    state = api.get(f"/api/v2/dags/{dag}/dagRuns/{run_id}")["state"]
    assert state != "failed", f"{dag} run {run_id} failed; see its task logs in the Airflow UI"
    return state


def test_sources_run_on_their_cron_and_gold_follows_by_assets(scheduled):
    api = scheduled
    assert query("SELECT count(*) FROM lake.gold.communes_with_province")[1] == [(3321,)]
    assert query("SELECT count(*), sum(commune_count) FROM lake.gold.commune_counts_by_province")[1] \
        == [(34, 3321)]
    for gold in GOLDS:  # asset-triggered, built at least once with every input present
        runs = api.runs(dag_id(gold))
        assert runs and all(r["run_type"] == "asset_triggered" for r in runs)
        built = [r for r in runs if api.task(dag_id(gold), r["dag_run_id"], f"gold__{gold}")["state"] == "success"]
        assert built, f"{gold}: no run built the table"


def test_a_triggered_run_whose_task_fails_once_succeeds_on_retry_and_logs_both_tries(triggered):
    api, run_id, since, _ = triggered
    ti = api.task(dag_id("provinces"), run_id, "bronze__provinces")
    assert ti["state"] == "success" and ti["try_number"] == 2
    rows = query(f"SELECT status, error FROM lake.ops.run_log WHERE dataset = 'provinces' "
                       f"AND layer = 'bronze' AND batch_id = 'provinces@{TRIGGERED}' "
                       f"AND started_at >= TIMESTAMP '{since}' ORDER BY started_at")[1]
    statuses = [status for status, _ in rows]
    assert statuses == ["failed", "success"], rows
    assert "lake__provinces.bronze__provinces try 1 failed" in rows[0][1]
    assert query("SELECT count(*) FROM lake.gold.communes_with_province")[1] == [(3321,)]


def test_a_job_killed_with_sigkill_is_retried_and_both_tries_are_logged(triggered):
    api, run_id, since, killed = triggered
    assert killed, "the silver job's process was never seen, so it was not killed"
    ti = api.task(dag_id("provinces"), run_id, "silver__provinces")
    assert ti["state"] == "success" and ti["try_number"] == 2

    def logged() -> list | None:
        rows = query(f"SELECT status, error, rows_written FROM lake.ops.run_log WHERE dataset = 'provinces' "
                     f"AND layer = 'silver' AND batch_id = 'provinces@{TRIGGERED}' "
                     f"AND started_at >= TIMESTAMP '{since}' ORDER BY started_at")[1]
        return rows if len(rows) >= 2 else None

    # the failure callback runs in the dag-processor, in its own time: in one CI run it wrote try 1's row
    # 26 s after try 2 had succeeded
    rows = wait("both tries in the run log", logged, timeout=180, every=2)
    assert [status for status, _, _ in rows] == ["failed", "success"], rows
    assert "lake__provinces.silver__provinces try 1 failed" in rows[0][1] and "killed by SIGKILL" in rows[0][1] \
        and "exit code -9" in rows[0][1]
    assert query("SELECT count(*) FROM lake.silver.provinces")[1] == [(34,)]  # nothing lost, nothing twice


def create_backfill(api: Api, dag: str) -> dict:
    body = {"dag_id": dag, "from_date": f"{BACKFILL[0]}T00:00:00Z", "to_date": f"{BACKFILL[1]}T23:00:00Z",
            "max_active_runs": 1, "reprocess_behavior": "completed"}
    return api.post("/api/v2/backfills", body)


def test_a_backfill_of_two_older_dates_runs_each_date_and_rewrites_no_newer_row(triggered):
    """One backfill, one DAG run per date, each running its jobs. The dates are older than the loads
    already in silver, so silver and gold keep every row as it was; bronze keeps each date's batch.
    (That a second run of a date changes no row is test_admin_units_pipeline's re-run through Airflow.)"""
    api = triggered[0]
    # the gold DAGs would follow each backfilled run; that gold follows a source is the first test's,
    # so they are paused here and the backfill's cost is the source DAG's own
    for gold in GOLDS:
        api.patch(f"/api/v2/dags/{dag_id(gold)}", {"is_paused": True})
    before = snapshot()
    since = query("SELECT CAST(current_timestamp AS timestamp(6))")[1][0][0]
    backfill = create_backfill(api, dag_id("provinces"))
    wait(f"backfill {backfill['id']}",
         lambda: api.get(f"/api/v2/backfills/{backfill['id']}")["completed_at"] is not None, timeout=1200)
    runs = [r for r in api.runs(dag_id("provinces")) if r["run_type"] == "backfill"]
    assert sorted(r["logical_date"][:10] for r in runs) == list(BACKFILL)
    assert all(r["state"] == "success" for r in runs), runs
    ran = query(f"SELECT batch_id, status FROM lake.ops.run_log WHERE dataset = 'provinces' "
                      f"AND layer = 'silver' AND started_at >= TIMESTAMP '{since}' ORDER BY batch_id")[1]
    assert ran == [(f"provinces@{d}", "success") for d in BACKFILL], ran
    after = snapshot()
    assert {t: rows for t, rows in after.items() if not t.startswith("bronze.")} == \
        {t: rows for t, rows in before.items() if not t.startswith("bronze.")}
    batches = query("SELECT _batch_id, count(*) FROM lake.bronze.provinces GROUP BY 1")[1]
    assert {f"provinces@{d}": 34 for d in BACKFILL}.items() <= dict(batches).items(), batches
    assert len(after["silver.provinces"]) == 34


def test_the_maintenance_and_quality_dags_run_through_the_scheduler(triggered, stack):
    """Unpaused, each runs once for its latest schedule (catchup off): OPTIMIZE + VACUUM of every dataset's
    tables, each under its dataset's pool, and the quality site."""
    api = triggered[0]
    since = query("SELECT CAST(current_timestamp AS timestamp(6))")[1][0][0]
    started = time.time()
    for dag in (MAINTENANCE_DAG, QUALITY_DAG):
        api.patch(f"/api/v2/dags/{dag}", {"is_paused": False})
    for dag in (MAINTENANCE_DAG, QUALITY_DAG):
        wait(f"the scheduled run of {dag}", lambda d=dag: any(
            r["run_type"] == "scheduled" and _run_state(api, d, r["dag_run_id"]) == "success" for r in api.runs(d)),
            timeout=1800)
    logged = query(f"SELECT dataset, status, extra FROM lake.ops.run_log WHERE layer = 'maintenance' "
                         f"AND started_at >= TIMESTAMP '{since}'")[1]
    assert sorted(d for d, _, _ in logged) == sorted(SOURCES + GOLDS)  # one run, one row per dataset
    assert all(status == "success" for _, status, _ in logged), logged
    for dataset, _, extra in logged:  # every existing table of the dataset was compacted
        layers = set(json.loads(extra))
        assert layers >= ({"gold"} if dataset in GOLDS else {"bronze", "silver"}), (dataset, layers)
    site = stack.state_dir / "quality" / "site" / "index.html"
    assert site.exists() and site.stat().st_mtime >= started  # rebuilt by the quality DAG's run
