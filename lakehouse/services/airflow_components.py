"""Airflow's processes in the stack: the api-server, scheduler, dag-processor and triggerer, and with the Edge
executor (``services.airflow.executor: edge``) its workers.

Creating and migrating Airflow's database needs PostgreSQL started first, which only
the stack knows how to do: it hands that step in as ``migrate``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

from lakehouse.core.errors import ServiceError
from lakehouse.core.settings import Settings
from lakehouse.orchestration import airflow_env
from lakehouse.services.postgres import ensure_database
from lakehouse.services.supervisor import Service, http_json, http_status, say

AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def _airflow_services(settings: Settings, migrate: Callable[[], None]) -> list[Service]:
    """Its four processes; ``migrate`` creates or upgrades its metadata database (PostgreSQL started first)."""
    cfg = settings.env.services.airflow
    airflow_bin = str(Path(sys.executable).with_name("airflow"))
    services = []
    for component in AIRFLOW_COMPONENTS:
        if component == "api-server":
            def command(c=component) -> list[str]:
                return [airflow_bin, c, "--host", settings.host, "--port", str(cfg.port)]
            healthy = lambda: http_status(f"http://{settings.host}:{cfg.port}/api/v2/monitor/health") == 200
            ports = [cfg.port]
        else:
            def command(c=component) -> list[str]:
                # the scheduler's task processes are forks of it: it imports the jobs' libraries first;
                # --skip-serve-logs: the log server would listen on all interfaces; logs are read from files
                return ([sys.executable, "-m", "lakehouse.orchestration.preload"] if c == "scheduler" else []) \
                    + [airflow_bin, c] + (["--skip-serve-logs"] if c in ("scheduler", "triggerer") else [])
            healthy = (lambda c=component: _airflow_component_healthy(settings, c))
            ports = []
        services.append(Service(
            f"airflow-{component}", ports, command, healthy,
            url=f"http://{settings.host}:{cfg.port}" if component == "api-server" else "",
            env=lambda: airflow_env.environment(settings),
            prepare=migrate if component == "api-server" else (lambda: None),
            set_up=(lambda: _airflow_set_up(settings, migrate)) if component == "api-server" else (lambda: None),
            # the api-server renames itself "airflow api_server -- host:…", hence the shorter marker
            start_timeout=240, marker=f"airflow {component.split('-')[0]}", group="airflow",
            needs=("postgres",) if component == "api-server" else (), settings=settings))
    if cfg.executor == "edge":
        services += [_edge_worker(settings, n) for n in range(1, cfg.workers + 1)]
    return services


def _edge_worker(settings: Settings, n: int) -> Service:
    """Edge worker ``n`` (1-based), named ``airflow-worker-<n>`` in Airflow too (a task instance's hostname):
    it asks the api-server for tasks and runs them with the jobs' libraries imported once (as the scheduler
    does for the LocalExecutor)."""
    cfg = settings.env.services.airflow
    name = f"airflow-worker-{n}"
    pid_file = airflow_env.home(settings) / name / "worker.pid"

    def command() -> list[str]:
        return [sys.executable, "-m", "lakehouse.orchestration.preload",
                str(Path(sys.executable).with_name("airflow")), "edge", "worker", "--edge-hostname", name,
                "--concurrency", str(cfg.worker_concurrency), "--pid", str(pid_file)]

    def prepare() -> None:
        pid_file.unlink(missing_ok=True)  # left by a killed worker, it would refuse to start
        # Airflow refuses a worker whose name it still believes alive: after a crash, wait until it has
        # missed 5 heartbeats and is marked unknown
        deadline = time.monotonic() + EDGE_LOST_AFTER + 15
        if edge_worker_state(settings, name) in EDGE_ALIVE:
            say(f"{name}: Airflow still counts the last {name} alive; waiting until it is marked lost "
                f"(at most {EDGE_LOST_AFTER + 15:.0f}s)")
        while edge_worker_state(settings, name) in EDGE_ALIVE and time.monotonic() < deadline:
            time.sleep(2)
        if edge_worker_state(settings, name) in EDGE_ALIVE:
            raise ServiceError(f"{name}: Airflow still hears from a worker of that name, which lake did not "
                               f"start here; stop that worker, then run `lake up airflow` again")

    return Service(name, [], command, lambda: edge_worker_state(settings, name) in EDGE_WORKING,
                   url="", env=lambda: airflow_env.worker_environment(settings, name), prepare=prepare,
                   # it renames itself "airflow edge worker: <name>": the name is in both command lines
                   start_timeout=240, marker=name, group="airflow",
                   needs=("airflow-api-server",), settings=settings)


EDGE_WORKING = ("idle", "running")  # an Edge worker's states in which it takes tasks
EDGE_ALIVE = (*EDGE_WORKING, "starting", "terminating", "shutdown request")  # a worker of that name runs
EDGE_LOST_AFTER = 5 * airflow_env.EDGE_HEARTBEAT_SECONDS  # seconds until Airflow marks a silent worker lost


def edge_worker_state(settings: Settings, name: str) -> str | None:
    """What the api-server last heard from Edge worker ``name`` (``idle``, ``running``, ``offline``, …), or None
    when it does not answer or has never heard of it."""
    try:
        workers = airflow_env.api_call("/edge_worker/ui/worker", settings).get("workers", [])
    except Exception:  # not up yet, or no Edge API: no state to tell
        return None
    return next((w.get("state") for w in workers if w.get("worker_name") == name), None)


def _airflow_set_up(settings: Settings, migrate: Callable[[], None]) -> None:
    """Airflow's role and metadata database (migrated when it had to be created), every dataset's pool,
    and a warm task-execution API; idempotent, so `lake up` runs it on a running api-server too."""
    created = ensure_database(settings, airflow_env.METADATA_USER, airflow_env.METADATA_DB,
                              settings.secrets["airflow_db_password"])
    if created:
        migrate()
    airflow_env.sync_pools(settings)
    _warm_execution_api(settings)


def _warm_execution_api(settings: Settings) -> None:
    """Build the api-server's task-execution API now, not during the first task."""
    http_status(f"http://{settings.host}:{settings.env.services.airflow.port}/execution/health", timeout=60)


def _airflow_component_healthy(settings: Settings, component: str) -> bool:
    """Scheduler, dag-processor and triggerer report heartbeats to the api-server's health endpoint."""
    cfg = settings.env.services.airflow
    health = http_json(f"http://{settings.host}:{cfg.port}/api/v2/monitor/health")
    if not health:
        return False
    key = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}[component]
    return (health.get(key) or {}).get("status") == "healthy"
