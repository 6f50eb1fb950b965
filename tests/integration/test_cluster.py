"""The lake as a cluster (`LAKE_ENV=cluster`): SeaweedFS as a master, three volume servers, a filer and an S3
gateway; Spark standalone with two workers under the Connect server; a Trino coordinator and a worker;
Airflow with two Edge workers.

The same pipeline must write the rows the test stack is held to (`lakehelp.admin_units_reference`, derived
from the package), and the work must really run on the members: Spark's REST API names the workers whose
executors ran tasks, Trino's system tables the node that ran a query's splits, Airflow's task instances the
worker that ran them. Then the faults a cluster must survive. The cluster is started by `lake up` in its own
state folder and stopped at the end.
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from lakehouse import services
from lakehouse.core.settings import REPO_ROOT, Settings, get_settings, load_environment
from lakehouse.io import storage, trino
from lakehouse.orchestration.dags import dag_id
from lakehouse.services.supervisor import http_json, process_tree

from lakehelp import Api, admin_units_reference, admin_units_rows, dag_exists, wait

DATE = "2026-11-27"
MEMBERS = ["s3-master", "s3-volume-1", "s3-volume-2", "s3-volume-3", "s3-filer", "s3", "spark-master",
           "spark-worker-1", "spark-worker-2", "spark", "trino-worker-1", "trino"]
SOURCES = ["provinces", "communes"]
EDGE_WORKERS = {"airflow-worker-1", "airflow-worker-2"}


def lake(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-m", "lakehouse.cli", *args], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, f"lake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def admin_units_specs(tmp_path_factory):
    """Only the admin-units specs (other domains' gold tables read provinces too)."""
    datasets = tmp_path_factory.mktemp("datasets")
    shutil.copytree(REPO_ROOT / "lake_config" / "datasets" / "admin_units", datasets / "admin_units")
    return datasets


@pytest.fixture(scope="module")
def cluster(admin_units_specs):
    """The cluster's S3, PostgreSQL, metastore, Spark and Trino, up for this module; its settings and the
    environment a `lake` command run against it gets. The test stack is not needed: `make test` runs this
    module beside the test stack's modules (infra/test-lanes.sh)."""
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
def ran(cluster):
    """`lake run admin_units` for DATE on the cluster."""
    settings, env = cluster
    out = lake(["run", "admin_units", "--date", DATE], env)
    assert "[lake] 12/12 steps done" in out
    return settings


def test_the_cluster_writes_exactly_the_rows_the_single_node_stack_is_held_to(ran):
    """The same reference as `test_admin_units_pipeline` holds the test stack to: every business column of
    every silver and gold row, silver's row hash included."""
    got = admin_units_rows(ran)
    for table, rows in admin_units_reference().items():
        assert got[table] == rows, table


def test_the_silver_jobs_tasks_ran_on_both_spark_workers(ran):
    settings = ran
    cfg = settings.env.services.spark
    master = http_json(f"http://{settings.host}:{cfg.master_ui_port}/json/", timeout=30)
    assert master["aliveworkers"] == 2
    app = next(a for a in master["activeapps"] if a["name"] == "lake-connect")
    executors = http_json(f"http://{settings.host}:{cfg.ui_port}/api/v1/applications/{app['id']}/executors",
                          timeout=30)
    tasks_of = {e["id"]: e["totalTasks"] for e in executors}
    assert tasks_of.get("driver", 0) == 0  # the Connect server only plans: every task ran on an executor
    tasks_per_worker = {}
    for worker in master["workers"]:
        executors = http_json(f"{worker['webuiaddress']}/json/", timeout=30)["executors"]
        tasks_per_worker[worker["port"]] = sum(tasks_of.get(str(e["id"]), 0) for e in executors
                                               if e["appid"] == app["id"])
    assert sorted(tasks_per_worker) == [cfg.worker_port, cfg.worker_port + 1]
    assert all(tasks > 0 for tasks in tasks_per_worker.values()), tasks_per_worker


def test_a_querys_splits_run_on_the_trino_worker_not_the_coordinator(ran):
    marker = f"cluster_probe_{uuid.uuid4().hex[:8]}"
    counts = trino.query(f"SELECT '{marker}', count(*) FROM lake.silver.communes", ran)[1]
    assert counts[0][1] == 3321
    nodes = dict(trino.query("SELECT node_id, coordinator FROM system.runtime.nodes", ran)[1])
    assert sorted(nodes.values()) == [False, True]
    query_id = trino.query(f"SELECT query_id FROM system.runtime.queries WHERE query LIKE '%''{marker}''%' "
                           "AND query NOT LIKE '%system.runtime%'", ran)[1][0][0]
    ran_on = {node for node, in trino.query(
        f"SELECT DISTINCT node_id FROM system.runtime.tasks WHERE query_id = '{query_id}'", ran)[1]}
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


def test_a_spark_worker_killed_during_a_job_leaves_the_job_to_the_other(ran, cluster):
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


def test_reads_and_writes_go_on_with_a_volume_server_stopped(ran, cluster):
    """Every object is on two of the three volume servers: with one stopped, what was written before is read
    whole and new objects are stored."""
    settings, env = cluster
    volume = services.select(["s3-volume-2"], settings)[0]
    assert volume.stop()
    try:
        blob = os.urandom(2 * 2**20)  # large enough to be stored on volume servers, not in the filer's metadata
        storage.put_bytes("drills/written-with-a-volume-server-down.bin", blob, settings)
        assert storage.client(settings).get_object(
            settings.bucket, "drills/written-with-a-volume-server-down.bin").read() == blob
        assert trino.query("SELECT count(*) FROM lake.silver.communes", settings)[1][0][0] == 3321
        assert admin_units_rows(settings)["gold.commune_counts_by_province"] == \
            admin_units_reference()["gold.commune_counts_by_province"]
    finally:
        lake(["up", "s3"], env)
    assert volume.healthy()


def test_a_trino_worker_restarted_fails_the_running_query_clearly_and_the_next_succeeds(ran, cluster):
    settings, env = cluster
    worker = services.select(["trino-worker-1"], settings)[0]
    marker = f"cluster_restart_{uuid.uuid4().hex[:8]}"
    outcome = {}

    def long_query():  # 33 billion rows (a sequence holds at most 10,000): it runs until the worker goes away
        try:
            outcome["rows"] = trino.query(
                f"SELECT '{marker}', count(*) FROM lake.silver.communes CROSS JOIN UNNEST(sequence(1, 10000)) AS "
                "a(x) CROSS JOIN UNNEST(sequence(1, 1000)) AS b(y) WHERE (commune_code + x + y) % 7 = 3", settings)[1]
        except Exception as exc:  # what the user sees
            outcome["error"] = exc

    def running() -> bool:
        assert thread.is_alive(), f"the long query ended before the restart: {outcome}"
        return trino.query(f"SELECT count(*) FROM system.runtime.queries WHERE state = 'RUNNING' AND "
                           f"query LIKE '%''{marker}''%' AND query NOT LIKE '%system.runtime%'", settings)[1][0][0] == 1

    thread = threading.Thread(target=long_query)
    thread.start()
    wait("the long query to run", running, timeout=120, every=0.5)
    assert worker.stop()
    lake(["up", "trino"], env)
    thread.join(timeout=300)
    assert "rows" not in outcome, "the query outlived its worker"
    message = str(outcome["error"])
    # the coordinator says the worker is gone; or, when it asked while the worker was shutting down, that this
    # worker (named by its address) answered the task's status with an error
    address = f"127.0.0.1:{settings.env.services.trino.worker_port}/"
    assert any(word in message for word in ("REMOTE_HOST_GONE", "node may have crashed", "worker node",
                                            "TOO_MANY_REQUESTS_FAILED", "NO_NODES_AVAILABLE")) \
        or ("REMOTE_TASK_ERROR" in message and address in message), message
    assert trino.query("SELECT count(*) FROM lake.silver.communes", settings)[1][0][0] == 3321


# ---- Airflow: tasks on Edge workers -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def airflow_on_cluster(cluster):
    """The cluster's Airflow with a fresh metadata database (runs of an earlier session would collide with
    these dates) and its two Edge workers; the admin-units source DAGs parsed."""
    settings, env = cluster
    env = {**env, "LAKE_AIRFLOW_RETRY_DELAY": "5", "LAKE_AIRFLOW_LOST_TASK_SECONDS": "20"}  # the drill's waits
    services.reset_airflow_database(settings)
    try:
        lake(["up", "airflow"], env)
        api = Api(settings)
        for name in SOURCES:
            wait(f"DAG {dag_id(name)} to be parsed", lambda n=name: dag_exists(api, dag_id(n)), timeout=300)
        yield settings, env, api
    finally:
        subprocess.run([sys.executable, "-m", "lakehouse.cli", "down", "airflow"], cwd=REPO_ROOT, env=env,
                       capture_output=True, text=True)


def kill_tree(pid: int) -> None:
    """SIGKILL to ``pid`` and every process below it, as when its host is lost."""
    for member in process_tree(pid):
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


def task_instances(api: Api, dag: str, run_id: str) -> list[dict]:
    return api.get(f"/api/v2/dags/{dag}/dagRuns/{run_id}/taskInstances")["task_instances"]


def run_state(api: Api, dag: str, run_id: str) -> str:
    state = api.get(f"/api/v2/dags/{dag}/dagRuns/{run_id}")["state"]
    assert state != "failed", f"{dag} {run_id} failed: {task_instances(api, dag, run_id)}"
    return state


def test_the_dags_tasks_run_on_both_airflow_workers_and_a_lost_workers_task_is_retried_on_the_other(
        airflow_on_cluster):
    """Unpausing the two source DAGs runs each once on its cron: two chains of tasks at once, one worker slot
    each, so both workers take tasks (a task instance's hostname is the Edge worker's name). While provinces'
    silver task runs, SIGKILL to its Edge worker and to that task (a lost host): after
    ``LAKE_AIRFLOW_LOST_TASK_SECONDS`` without the task's heartbeat, Airflow fails that try and retries it on
    the other worker; both runs succeed with every row, and `lake up airflow` brings the lost worker back under
    its name."""
    settings, env, api = airflow_on_cluster
    for name in SOURCES:
        api.patch(f"/api/v2/dags/{dag_id(name)}", {"is_paused": False})
    dag = dag_id("provinces")
    run_id = wait(f"the scheduled run of {dag}", lambda: next(
        (r["dag_run_id"] for r in api.runs(dag) if r["run_type"] == "scheduled"), None), timeout=600)
    silver = wait("the silver task to run", lambda: (
        ti if (ti := api.task(dag, run_id, "silver__provinces"))["state"] == "running" and ti["hostname"] else None),
        timeout=600, every=0.5)
    victim = services.select([silver["hostname"]], settings)[0]
    kill_tree(victim.pid())  # its task runs in a session of its own: the worker's process group is not enough
    runs = {}
    for name in SOURCES:
        runs[name] = wait(f"the scheduled run of {dag_id(name)} to succeed", lambda n=name: next(
            (r["dag_run_id"] for r in api.runs(dag_id(n)) if run_state(api, dag_id(n), r["dag_run_id"]) == "success"),
            None), timeout=600)
    assert runs["provinces"] == run_id
    tries = api.get(f"/api/v2/dags/{dag}/dagRuns/{run_id}/taskInstances/silver__provinces/tries")["task_instances"]
    assert [t["hostname"] for t in tries] == [victim.name, (EDGE_WORKERS - {victim.name}).pop()], tries
    assert [t["state"] for t in tries][-1] == "success"
    hosts = {ti["hostname"] for name, run in runs.items() for ti in task_instances(api, dag_id(name), run)}
    assert hosts == EDGE_WORKERS
    assert trino.query("SELECT count(*) FROM lake.silver.provinces", settings)[1][0][0] == 34
    assert trino.query("SELECT count(*) FROM lake.silver.communes", settings)[1][0][0] == 3321
    lake(["up", "airflow"], env)
    assert victim.healthy()
