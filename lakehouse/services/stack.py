"""The whole stack, in start order: `lake up/down/status`, and Airflow's database, which needs PostgreSQL up."""

from __future__ import annotations

from lakehouse.core.errors import ServiceError
from lakehouse.core.settings import Settings
from lakehouse.orchestration import airflow_env
from lakehouse.services.airflow_components import _airflow_services
from lakehouse.services.metastore import _metastore_service
from lakehouse.services.postgres import _postgres_service, drop_database, ensure_database
from lakehouse.services.python_servers import _events_service, _portal_service, _sharing_service
from lakehouse.services.s3 import _s3_services
from lakehouse.services.spark_connect import _spark_services
from lakehouse.services.supervisor import Service, rss_tree_mb, say
from lakehouse.services.trino_server import _trino_services


def ensure_airflow_database(settings: Settings) -> None:
    """Start PostgreSQL if needed and create Airflow's role and database there (idempotent)."""
    up(["postgres"], settings)
    ensure_database(settings, airflow_env.METADATA_USER, airflow_env.METADATA_DB,
                    settings.secrets["airflow_db_password"])


def reset_airflow_database(settings: Settings) -> None:
    """Drop Airflow's metadata database (every DAG run, pool and log record); `migrate_airflow` makes a new one."""
    up(["postgres"], settings)
    drop_database(settings, airflow_env.METADATA_DB)


def migrate_airflow(settings: Settings, pools: bool = True) -> None:
    """Airflow's metadata database on a running PostgreSQL, created or upgraded, then the pools unless
    ``pools`` is false (`airflow_env.migrate`)."""
    ensure_airflow_database(settings)
    airflow_env.migrate(settings, pools)


def all_services(settings: Settings) -> list[Service]:
    """Every process of the stack in start order; a clustered engine is several (`spark-master`,
    `spark-worker-1`, …, grouped under `spark`)."""
    # an external metastore is not ours to start
    metastore = [_metastore_service(settings)] if settings.env.services.metastore.uri is None else []
    return [*_s3_services(settings), _postgres_service(settings), *metastore, *_spark_services(settings),
            _events_service(settings), *_trino_services(settings),  # events before Trino: it sends each query there
            *_airflow_services(settings, lambda: migrate_airflow(settings, pools=False)),
            _sharing_service(settings), _portal_service(settings)]


def select(names: list[str] | None, settings: Settings) -> list[Service]:
    """Services by name or group (`s3`, `postgres`, `metastore`, `spark`, `events`, `trino`, `airflow`, `sharing`,
    `portal`);
    all when ``names`` is empty."""
    services = all_services(settings)
    if not names:
        return services
    known = {s.name for s in services} | {s.group for s in services}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ServiceError(f"unknown service {', '.join(unknown)}; choose from {', '.join(sorted(known))}")
    return [s for s in services if s.name in names or s.group in names]


def with_needs(services: list[Service], settings: Settings) -> list[Service]:
    """``services`` and the services they need, in start order (`lake up metastore` starts PostgreSQL too)."""
    wanted = {s.name for s in services} | {need for s in services for need in s.needs}
    return [s for s in all_services(settings) if s.name in wanted]


def up(names: list[str] | None, settings: Settings) -> None:
    """Start what is not running, wait until everything answers, then run every service's set-up
    (also of those found running). Idempotent."""
    elsewhere = {name: host for name, host in settings.env.services.hosts.items() if host != settings.host}
    if elsewhere:
        raise ServiceError(
            f"{settings.environment_file}: services.hosts puts "
            f"{', '.join(f'{name} on {host}' for name, host in sorted(elsewhere.items()))}; `lake up` starts "
            "processes on this machine only. On hosts of their own the services run from the systemd units "
            "`lake deploy render` writes (docs/deploy.md).")
    services = with_needs(select(names, settings), settings)
    if any(s.name.startswith("airflow") for s in services):
        from lakehouse.orchestration import airflow_env
        airflow_env.environment(settings)  # built before anything starts: a bad variable in it is refused now
    everything = {s.name: s for s in services}
    started: list[Service] = []
    ready: set[str] = set()  # needs seen answering while starting the rest
    for service in services:
        if service.pid() is not None:
            say(f"{service.name}: already running (pid {service.pid()})")
            continue
        # a port that answers though lake started nothing there is someone else's server; a service with no
        # port (an Edge worker) is healthy by what Airflow last heard, which outlives a crashed process: its
        # start waits for Airflow to count it lost, and says so if something else keeps that name alive
        if service.ports and service.healthy():
            raise ServiceError(f"{service.name}: something not started by lake already answers on "
                               f"port {service.ports}; stop it or change the port in "
                               f"lake_config/environments/{settings.env.name}.yaml")
        for need in service.needs:  # started above (the order of all_services puts needs first)
            if need not in ready:
                everything[need].wait_healthy(quiet=everything[need] not in started)
                ready.add(need)
        say(f"{service.name}: starting (log: {service.log_file})")
        service.start()
        started.append(service)
    for service in services:
        service.wait_healthy(quiet=service not in started or service.name in ready)  # said once
        service.set_up()  # also when found running: an earlier `up` may have failed before setting it up


def down(names: list[str] | None, settings: Settings) -> None:
    """Stop the processes lake started; anything else is left alone."""
    for service in reversed(select(names, settings)):
        if service.stop():
            say(f"{service.name}: stopped")
        else:
            say(f"{service.name}: not running")


def status(settings: Settings) -> list[dict]:
    """One row per service: running, healthy, pid, memory, url."""
    rows = []
    for service in all_services(settings):
        pid = service.pid()
        rows.append({
            "service": service.name,
            "state": ("up" if service.healthy() else "starting") if pid else "stopped",
            "pid": pid or "",
            "rss_mb": round(rss_tree_mb(pid)) if pid else "",
            "url": service.url,
        })
    return rows
