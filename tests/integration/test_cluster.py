"""The lake as a cluster (`LAKE_ENV=cluster`): SeaweedFS as a master, two volume servers, a filer and an S3
gateway; Spark standalone with two workers under the Connect server; a Trino coordinator and a worker.

The same pipeline as on the test stack must write the same rows, and the work must really run on the
members: Spark's REST API names the workers whose executors ran tasks, Trino's system tables the node that
ran a query's splits. The cluster is started by `lake up` in its own state folder and stopped at the end.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

from lakehouse import services
from lakehouse.core.settings import REPO_ROOT, Settings, get_settings, load_environment
from lakehouse.io import trino
from lakehouse.services.supervisor import http_json

DATE = "2026-11-27"  # the admin-units pipeline's test date: the test stack may hold that day already
MEMBERS = ["s3-master", "s3-volume-1", "s3-volume-2", "s3-filer", "s3", "spark-master", "spark-worker-1",
           "spark-worker-2", "spark", "trino-worker-1", "trino"]


def lake(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-m", "lakehouse.cli", *args], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, f"lake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def admin_units_specs(tmp_path_factory):
    """Only the admin-units specs, on both stacks (other domains' gold tables read provinces too)."""
    datasets = tmp_path_factory.mktemp("datasets")
    shutil.copytree(REPO_ROOT / "lake_config" / "datasets" / "admin_units", datasets / "admin_units")
    return datasets


@pytest.fixture(scope="module")
def cluster(stack, admin_units_specs):
    """The cluster's S3, PostgreSQL, metastore, Spark and Trino, up for this module; its settings and the
    environment a `lake` command run against it gets."""
    home = get_settings().state_dir / "cluster"
    env = {**os.environ, "LAKE_ENV": "cluster", "LAKE_HOME": str(home), "LAKE_DATASETS_DIR": str(admin_units_specs)}
    services = ["s3", "postgres", "metastore", "spark", "events", "trino"]
    try:
        lake(["up", *services], env)
        yield Settings(load_environment("cluster"), home=home), env
    finally:
        from lakehouse.io.spark import stop_sessions
        stop_sessions()
        subprocess.run([sys.executable, "-m", "lakehouse.cli", "down", *services], cwd=REPO_ROOT, env=env,
                       capture_output=True, text=True)


@pytest.fixture(scope="module")
def both_ran(cluster, admin_units_specs):
    """`lake run admin_units` for the same day on the test stack and on the cluster."""
    settings, env = cluster
    test_env = {**os.environ, "LAKE_DATASETS_DIR": str(admin_units_specs)}
    lake(["run", "admin_units", "--date", DATE], test_env)
    out = lake(["run", "admin_units", "--date", DATE], env)
    assert "[lake] 12/12 steps done" in out
    return settings


def business_rows(table: str, settings: Settings) -> list[tuple]:
    """A table's rows without the columns that say when and by which run they were written."""
    columns = [c for c, *_ in trino.query(f"SHOW COLUMNS FROM lake.{table}", settings)[1]
               if c not in ("_ingested_at", "_batch_id", "_source_file")]
    return sorted(trino.query(f"SELECT {', '.join(columns)} FROM lake.{table}", settings)[1], key=repr)


def test_the_cluster_writes_exactly_what_the_single_node_stack_writes(both_ran):
    for table in ("silver.provinces", "silver.communes", "gold.communes_with_province",
                  "gold.commune_counts_by_province"):
        on_cluster = business_rows(table, both_ran)
        assert on_cluster == business_rows(table, get_settings()), table
        assert on_cluster, table
    assert len(business_rows("gold.communes_with_province", both_ran)) == 3321


def test_the_silver_jobs_tasks_ran_on_both_spark_workers(both_ran):
    cfg = both_ran.env.services.spark
    master = http_json(f"http://{both_ran.host}:{cfg.master_ui_port}/json/", timeout=30)
    assert master["aliveworkers"] == 2
    app = next(a for a in master["activeapps"] if a["name"] == "lake-connect")
    ran = {e["id"]: e["totalTasks"] for e in
           http_json(f"http://{both_ran.host}:{cfg.ui_port}/api/v1/applications/{app['id']}/executors", timeout=30)}
    assert ran.get("driver", 0) == 0  # the Connect server only plans: every task ran on an executor
    tasks_per_worker = {}
    for worker in master["workers"]:
        executors = http_json(f"{worker['webuiaddress']}/json/", timeout=30)["executors"]
        tasks_per_worker[worker["port"]] = sum(ran.get(str(e["id"]), 0) for e in executors
                                               if e["appid"] == app["id"])
    assert sorted(tasks_per_worker) == [cfg.worker_port, cfg.worker_port + 1]
    assert all(tasks > 0 for tasks in tasks_per_worker.values()), tasks_per_worker


def test_a_querys_splits_run_on_the_trino_worker_not_the_coordinator(both_ran):
    marker = f"cluster_probe_{uuid.uuid4().hex[:8]}"
    counts = trino.query(f"SELECT '{marker}', count(*) FROM lake.silver.communes", both_ran)[1]
    assert counts[0][1] == 3321
    nodes = dict(trino.query("SELECT node_id, coordinator FROM system.runtime.nodes", both_ran)[1])
    assert sorted(nodes.values()) == [False, True]
    query_id = trino.query(f"SELECT query_id FROM system.runtime.queries WHERE query LIKE '%''{marker}''%' "
                           "AND query NOT LIKE '%system.runtime%'", both_ran)[1][0][0]
    ran_on = {node for node, in trino.query(
        f"SELECT DISTINCT node_id FROM system.runtime.tasks WHERE query_id = '{query_id}'", both_ran)[1]}
    assert ran_on and all(not nodes[node] for node in ran_on), (ran_on, nodes)


def test_lake_status_shows_every_member_up(cluster):
    settings, env = cluster
    out = lake(["status"], env)
    state = {line.split("|")[0].strip(): line.split("|")[1].strip() for line in out.splitlines() if "|" in line}
    assert {m: state.get(m) for m in MEMBERS} == {m: "up" for m in MEMBERS}


# ---- faults a cluster must survive ------------------------------------------------------------------------

def executors_of(settings: Settings, which: str = "executors") -> tuple[dict, dict[int, list[str]]]:
    """The Connect application's executors by id (Spark's REST API: ``executors`` the live ones,
    ``allexecutors`` the lost ones too) and each live worker's (by RPC port)."""
    cfg = settings.env.services.spark
    master = http_json(f"http://{settings.host}:{cfg.master_ui_port}/json/", timeout=30)
    app = next(a for a in master["activeapps"] if a["name"] == "lake-connect")
    executors = {e["id"]: e for e in http_json(
        f"http://{settings.host}:{cfg.ui_port}/api/v1/applications/{app['id']}/{which}", timeout=30)}
    per_worker = {}
    for worker in master["workers"]:
        if worker["state"] == "ALIVE":
            on_it = http_json(f"{worker['webuiaddress']}/json/", timeout=30)["executors"]
            per_worker[worker["port"]] = [str(e["id"]) for e in on_it if e["appid"] == app["id"]]
    return executors, per_worker


def test_a_spark_worker_killed_during_a_job_leaves_the_job_to_the_other(both_ran, cluster):
    """SIGKILL to worker 1 and its executor while that executor runs a task of the pipeline: Spark runs the
    lost tasks again on worker 2, the pipeline finishes and every row is there; worker 1 rejoins on `lake up`."""
    settings, env = cluster
    worker = next(s for s in services.select(["spark-worker-1"], settings))
    run = subprocess.Popen([sys.executable, "-m", "lakehouse.cli", "run", "admin_units", "--date", "2026-11-28"],
                           cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        killed_while = None
        while killed_while is None and run.poll() is None and time.monotonic() < deadline:
            executors, per_worker = executors_of(settings)
            busy = [e for e in per_worker.get(settings.env.services.spark.worker_port, [])
                    if executors.get(e, {}).get("activeTasks", 0) > 0]
            if busy:
                os.killpg(worker.pid(), signal.SIGKILL)  # the worker and the executor it launched
                killed_while = executors[busy[0]]["activeTasks"]
            time.sleep(0.1)
        out, _ = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
    assert killed_while, "worker 1's executor never ran a task while the pipeline ran"
    assert run.returncode == 0, out[-4000:]
    assert "[lake] 12/12 steps done" in out
    executors, _ = executors_of(settings, "allexecutors")
    lost = [e for e in executors.values() if not e["isActive"] and e["id"] != "driver"]
    assert lost, "Spark never noticed the executor was gone"
    # exactly once: a task that ran again wrote its rows once
    assert trino.query("SELECT count(*) FROM lake.bronze.communes WHERE _batch_id = 'communes@2026-11-28'",
                       settings)[1][0][0] == 3321
    assert trino.query("SELECT count(*) FROM lake.silver.communes", settings)[1][0][0] == 3321
    assert trino.query("SELECT sum(commune_count) FROM lake.gold.commune_counts_by_province",
                       settings)[1][0][0] == 3321
    lake(["up", "spark"], env)  # the worker comes back and registers again
    assert worker.healthy()
