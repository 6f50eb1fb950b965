"""Airflow's configuration for this checkout, as AIRFLOW__* environment variables.

Every Airflow process we start (api-server, scheduler, dag-processor,
triggerer, the `dag.test` runner of `lake run --airflow`) gets the same
variables, so they share one metadata database, one JWT secret and one DAGs folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from lakehouse.core.errors import ConfigError, LakeError
from lakehouse.core.settings import REPO_ROOT, Settings

ADMIN_USER = "admin"
# Airflow's metadata database lives in the stack's PostgreSQL, not SQLite: the
# scheduler, the api-server and parallel tasks write it at once, and SQLite's
# single writer lock made REST calls fail with "database is locked".
METADATA_DB = "airflow"
METADATA_USER = "airflow"
EXECUTORS = {"local": "LocalExecutor", "edge": "airflow.providers.edge3.executors.EdgeExecutor"}
EDGE_HEARTBEAT_SECONDS = 10  # an Edge worker silent for 5 heartbeats is marked lost (unknown)


def home(settings: Settings) -> Path:
    path = settings.state_dir / "airflow"
    path.mkdir(parents=True, exist_ok=True)
    return path


def passwords_file(settings: Settings) -> Path:
    """SimpleAuthManager reads user passwords from this JSON file; we write it from our secrets."""
    path = home(settings) / "simple_auth_manager_passwords.json"
    wanted = {ADMIN_USER: settings.secrets["airflow_admin_password"]}
    if not path.exists() or json.loads(path.read_text() or "{}") != wanted:
        path.write_text(json.dumps(wanted))
        path.chmod(0o600)
    return path


def environment(settings: Settings) -> dict[str, str]:
    """The AIRFLOW__* variables (and LAKE_* pass-through) for every Airflow process."""
    cfg = settings.env.services.airflow
    airflow_home = home(settings)
    api = api_url(settings)
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": EXECUTORS[cfg.executor],
        "AIRFLOW__CORE__PARALLELISM": str(cfg.parallelism),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url(settings),
        # Airflow would derive an asyncpg URL for its async engine; psycopg 3 does both (one driver to pin)
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_url(settings, "psycopg_async"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__API__HOST": settings.host_of("airflow"),
        "AIRFLOW__API__PORT": str(cfg.port),
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__API__SECRET_KEY": settings.secrets["airflow_api_secret_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": settings.secrets["airflow_jwt_secret"],
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__API__WORKERS": "1",
        # the api-server builds its task-execution API lazily; the first task call can take 10 s
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(settings)),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__WEBSERVER__EXPOSE_CONFIG": "False",
        "LAKE_HOME": str(settings.state_dir),
        "LAKE_ENV": settings.env.name,
        "PYTHONPATH": str(REPO_ROOT),
        **(_edge_environment(settings) if cfg.executor == "edge" else {}),
    }


def _edge_environment(settings: Settings) -> dict[str, str]:
    """The Edge executor's settings: its API on the api-server, how often workers ask for work and report."""
    return {
        "AIRFLOW__EDGE__API_ENABLED": "True",
        # the worker calls <api_url minus its last segment>/worker/<name>, …: the path ends in rpcapi
        "AIRFLOW__EDGE__API_URL": f"{api_url(settings)}/edge_worker/v1/rpcapi",
        "AIRFLOW__EDGE__JOB_POLL_INTERVAL": "1",  # 5 s by default: up to 5 s more per task of a pipeline
        "AIRFLOW__EDGE__HEARTBEAT_INTERVAL": str(EDGE_HEARTBEAT_SECONDS),
        # a task whose worker (host) is gone is failed, and retried elsewhere, after a minute, not five
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(lost_task_seconds()),
    }


def lost_task_seconds() -> int:
    """How long a running task may go without a heartbeat before the scheduler fails that try and retries it
    (its worker or host is gone): ``LAKE_AIRFLOW_LOST_TASK_SECONDS``, default 60, at least 15 (a task
    heartbeats every 5 s; a shorter limit would fail a busy but healthy one)."""
    value = os.environ.get("LAKE_AIRFLOW_LOST_TASK_SECONDS") or "60"
    if not value.isdigit() or int(value) < 15:
        raise ConfigError(f"LAKE_AIRFLOW_LOST_TASK_SECONDS={value!r}: give a whole number of seconds, at least 15")
    return int(value)


def worker_environment(settings: Settings, name: str) -> dict[str, str]:
    """An Edge worker's variables: what any Airflow process gets, its own AIRFLOW_HOME, and no metadata
    database (a worker on another host reaches only the api-server, signing its calls with the JWT secret)."""
    env = environment(settings)
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC",
                "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"):
        env.pop(key)
    worker_home = home(settings) / name
    worker_home.mkdir(parents=True, exist_ok=True)
    # its task logs are written here and pushed to the api-server, which shows them
    return {**env, "AIRFLOW_HOME": str(worker_home),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(worker_home / "logs")}


def metadata_url(settings: Settings, driver: str = "psycopg") -> str:
    """SQLAlchemy URL of the metadata database (psycopg 3 driver, password from the secrets)."""
    from urllib.parse import quote

    password = quote(settings.secrets["airflow_db_password"], safe="")
    return (f"postgresql+{driver}://{METADATA_USER}:{password}@{settings.host_of('postgres')}:"
            f"{settings.env.services.postgres.port}/{METADATA_DB}")


def airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def migrate(settings: Settings, pools: bool = True) -> None:
    """Create or upgrade the metadata database's schema (idempotent; fast when current), then the pools unless
    ``pools`` is false (`lake up` syncs them once the api-server answers).

    The database must exist on a running PostgreSQL: `services.migrate_airflow` sees to that first, as
    starting services is the supervisor's job, not this module's.
    """
    started = time.monotonic()
    result = subprocess.run([airflow_bin(), "db", "migrate"], env={**os.environ, **environment(settings)},
                            capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise LakeError(f"`airflow db migrate` failed:\n{tail}")
    print(f"[lake] airflow: metadata database ready ({time.monotonic() - started:.0f}s)", flush=True)
    if pools:
        sync_pools(settings)


def sync_pools(settings: Settings) -> None:
    """Create (or reset to one slot) the pool of every dataset in the specs; idempotent.

    Every task that writes a dataset's tables takes its pool, so two runs never
    write one Delta table at once.  A task whose pool is missing would never be
    scheduled, hence this runs on every `lake up` and `lake run --airflow`.
    """
    from lakehouse.orchestration.dags import pools

    wanted = pools()
    path = home(settings) / "pools.json"
    path.write_text(json.dumps(wanted, indent=1, sort_keys=True))
    result = subprocess.run([airflow_bin(), "pools", "import", str(path)],
                            env={**os.environ, **environment(settings)}, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise LakeError(f"`airflow pools import {path}` failed:\n{tail}")
    print(f"[lake] airflow: {len(wanted)} dataset pools of one slot each", flush=True)


def run_cli(args: list[str], settings: Settings, check: bool = True) -> int:
    """Run an `airflow` CLI command with this checkout's configuration, streaming its output."""
    code = _run([airflow_bin(), *args], settings)
    if check and code != 0:
        raise LakeError(f"`airflow {' '.join(args)}` failed (exit {code}); see the output above")
    return code


def run_module(module: str, args: list[str], settings: Settings) -> int:
    """Run ``python -m <module> <args>`` with this checkout's Airflow configuration, streaming its output."""
    return _run([sys.executable, "-m", module, *args], settings)


def _run(command: list[str], settings: Settings) -> int:
    return subprocess.run(command, env={**os.environ, **environment(settings)}).returncode


# ---- the REST API (v2) ------------------------------------------------------------

def api_url(settings: Settings) -> str:
    return f"http://{settings.host_of('airflow')}:{settings.env.services.airflow.port}"


def api_call(path: str, settings: Settings, method: str = "GET", body: dict | None = None,
             token: str | None = None, timeout: float = 10) -> dict:
    """One call to the api-server, as the admin of this install (a token from POST /auth/token)."""
    import urllib.request

    if token is None and path != "/auth/token":
        token = api_token(settings)
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(api_url(settings) + path, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        text = response.read()
        return json.loads(text) if text else {}


def api_token(settings: Settings) -> str:
    body = {"username": ADMIN_USER, "password": settings.secrets["airflow_admin_password"]}
    return api_call("/auth/token", settings, "POST", body)["access_token"]


def last_runs(settings: Settings) -> list[dict] | None:
    """The latest run created for every DAG (state, logical date, end), or None when the api-server does not answer."""
    import urllib.error
    from urllib.parse import quote

    try:
        token = api_token(settings)
    except (urllib.error.URLError, OSError, ValueError):
        return None
    dags = api_call("/api/v2/dags?limit=1000&order_by=dag_id", settings, token=token)["dags"]
    rows = []
    for dag in dags:
        runs = api_call(f"/api/v2/dags/{quote(dag['dag_id'])}/dagRuns?limit=1&order_by=-id",
                        settings, token=token)["dag_runs"]
        run = runs[0] if runs else {}
        rows.append({"dag": dag["dag_id"], "paused": dag.get("is_paused"), "state": run.get("state") or "never run",
                     "logical_date": run.get("logical_date") or ("(asset-triggered)" if run else ""),
                     "run_type": run.get("run_type") or "", "end_date": run.get("end_date") or ""})
    return rows
