"""The Trino server of the stack: its generated configuration (node, HTTPS, memory, JVM, catalog, security,
event listener) and its process; with ``services.trino.workers``, worker nodes that run the queries' work
while the coordinator only plans and schedules it."""

from __future__ import annotations

import os
import ssl
import time
import uuid
from pathlib import Path

from lakehouse.core.errors import ServiceError
from lakehouse.core.settings import Settings
from lakehouse.io import install
from lakehouse.services.supervisor import Service, _process_alive, http_json


def _drop_stale_pid_file(path: Path) -> None:
    """Trino's launcher refuses to start while its pid file names a process; forget a dead one."""
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return
    if not _process_alive(pid):
        path.unlink(missing_ok=True)


def _query_memory_mb(heap: str) -> int:
    """Half the heap for queries (Trino also keeps 30 % headroom): 1024 MB of a 2G heap, as before."""
    amount, unit = heap[:-1], heap[-1].upper()
    if not amount.isdigit() or unit not in "GM":
        raise ServiceError(f"services.trino.heap {heap!r}: write a JVM size such as 2G or 1536M")
    return int(amount) * (1024 if unit == "G" else 1) // 2


def _node_properties(settings: Settings, node_id: str, data: Path) -> str:
    return ("node.environment=lake_local\n"
            f"node.id={node_id}\n"
            f"node.data-dir={data}\n"
            f"node.bind-ip={settings.host}\n"
            f"node.internal-address={settings.host}\n")


def _config_properties(settings: Settings) -> str:
    """The coordinator's config.properties without its event-listener line."""
    cfg = settings.env.services.trino
    workers = cfg.workers
    # with workers the coordinator schedules no work on itself; a query may use every worker's share
    cluster_memory = _query_memory_mb(cfg.worker_heap) * workers if workers else _query_memory_mb(cfg.heap)
    return (
        "coordinator=true\n"
        f"node-scheduler.include-coordinator={'false' if workers else 'true'}\n"
        "http-server.authentication.type=PASSWORD\n"
        + _https_properties(settings, cfg.port) +
        f"query.max-memory={cluster_memory}MB\n"
        f"query.max-memory-per-node={_query_memory_mb(cfg.heap)}MB\n")


def _worker_config_properties(settings: Settings, port: int) -> str:
    """A worker's config.properties: it finds the coordinator at discovery.uri, over HTTPS with the shared
    secret; clients never call it, so it has no password authentication."""
    return ("coordinator=false\n" + _https_properties(settings, port) +
            f"query.max-memory-per-node={_query_memory_mb(settings.env.services.trino.worker_heap)}MB\n")


def _https_properties(settings: Settings, port: int) -> str:
    """One port, HTTPS only, for clients and for the nodes' own (internal) calls alike; Trino accepts
    passwords over HTTPS only."""
    server_pem, cert = settings.trino_tls_dir / "trino-server.pem", settings.trino_tls_dir / "trino.crt"
    return (
        "http-server.http.enabled=false\n"
        "http-server.https.enabled=true\n"
        f"http-server.https.port={port}\n"
        f"http-server.https.keystore.path={server_pem}\n"
        f"internal-communication.shared-secret={settings.secrets['trino_shared_secret']}\n"
        "internal-communication.https.required=true\n"
        f"internal-communication.https.keystore.path={server_pem}\n"
        f"internal-communication.https.truststore.path={cert}\n"
        f"discovery.uri=https://{settings.host}:{settings.env.services.trino.port}\n"
        "http-server.log.enabled=false\n")


def _jvm_config(heap: str) -> str:
    return "\n".join([
        "-server", f"-Xmx{heap}", "-XX:InitialRAMPercentage=5",
        "-XX:+ExplicitGCInvokesConcurrent", "-XX:+ExitOnOutOfMemoryError",
        "-XX:-OmitStackTraceInFastThrow", "-XX:ReservedCodeCacheSize=256M",
        "-XX:PerMethodRecompilationCutoff=10000", "-XX:PerBytecodeRecompilationCutoff=10000",
        "-Djdk.attach.allowAttachSelf=true", "-Djdk.nio.maxCachedBufferSize=2000000",
        "-Dfile.encoding=UTF-8", "-XX:+EnableDynamicAgentLoading", "-XX:+UseG1GC",
    ]) + "\n"


def _prepare_trino(settings: Settings, etc: Path, data: Path) -> None:
    """Write Trino's etc folder afresh before each start: node, security, config, JVM, log and catalog files."""
    from lakehouse.io.trino import catalog_properties
    from lakehouse.serving.trino_security import write_security
    (etc / "catalog").mkdir(parents=True, exist_ok=True)
    write_security(settings, etc)  # certificate, users, groups, access rules from the published grants
    config = _config_properties(settings) + _event_listener(settings, etc)
    _write_node_files(settings, settings.state_dir / "trino", etc, data, config, settings.env.services.trino.heap)
    catalog_file = etc / "catalog" / f"{settings.trino_catalog}.properties"
    catalog_file.write_text(catalog_properties(settings))
    catalog_file.chmod(0o600)


def _write_node_files(settings: Settings, home: Path, etc: Path, data: Path, config: str, heap: str) -> None:
    """A node's node.properties (its id kept in ``home``), config.properties, jvm.config and log.properties."""
    (etc / "catalog").mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    _drop_stale_pid_file(data / "var" / "run" / "launcher.pid")
    node_id_file = home / "node-id"
    if not node_id_file.exists():
        node_id_file.write_text(str(uuid.uuid4()))
    (etc / "node.properties").write_text(_node_properties(settings, node_id_file.read_text().strip(), data))
    config_file = etc / "config.properties"
    config_file.write_text(config)
    config_file.chmod(0o600)  # it holds the shared secret
    (etc / "jvm.config").write_text(_jvm_config(heap))
    (etc / "log.properties").write_text("io.trino=INFO\n")


def _trino_command(settings: Settings, etc: Path, data: Path, member: str = "") -> list[str]:
    home = install.trino_home(settings)
    if not (home / ".complete").exists():
        raise ServiceError(f"Trino is not installed in {home}: run `lake install`")
    launcher_log = settings.state_dir / "logs" / f"trino{'-' + member if member else ''}-launcher.log"
    return [str(home / "bin" / "launcher"), "run", f"--etc-dir={etc}", f"--data-dir={data}",
            f"--launcher-log-file={launcher_log}"]


def _trino_env() -> dict[str, str]:
    java_home = install.trino_java_home()
    return {"JAVA_HOME": str(java_home), "PATH": f"{java_home / 'bin'}:{os.environ.get('PATH', '')}"}


def _trino_healthy(settings: Settings, port: int | None = None) -> bool:
    """The node on ``port`` (the coordinator's by default) has finished starting."""
    cert = settings.trino_tls_dir / "trino.crt"
    if not cert.exists():
        return False
    info = http_json(f"https://{settings.host}:{port or settings.env.services.trino.port}/v1/info",
                     context=ssl.create_default_context(cafile=str(cert)))
    return bool(info) and info.get("starting") is False


def _trino_set_up(settings: Settings) -> None:
    # /v1/info says "started" before the node has announced itself: a query then fails with
    # NO_NODES_AVAILABLE (seen right after a restart, test_fault_drills). Up means a query runs.
    from lakehouse.io import trino

    deadline = time.monotonic() + 60
    while True:
        try:
            trino.query("SELECT count(*) FROM (VALUES 1, 2) AS t(x)", settings)
            return
        except Exception as exc:  # the trino client raises several types
            if "NO_NODES_AVAILABLE" not in str(exc) or time.monotonic() > deadline:
                raise ServiceError(f"trino: answers but cannot run a query: {exc}") from exc
            time.sleep(0.5)


def _trino_services(settings: Settings) -> list[Service]:
    """The workers, then the coordinator: its set-up runs a query, which needs a worker to have announced
    itself."""
    workers = [_trino_worker(settings, n) for n in range(1, settings.env.services.trino.workers + 1)]
    return [*workers, _trino_service(settings)]


def _trino_worker(settings: Settings, n: int) -> Service:
    """Worker ``n`` (1-based): its own node id, port, heap, etc and data folders, as on a host of its own;
    the same certificate, shared secret and catalog as the coordinator."""
    cfg = settings.env.services.trino
    port = cfg.worker_port + n - 1
    home = settings.state_dir / "trino" / f"worker-{n}"
    etc, data = home / "etc", home / "data"

    def prepare() -> None:
        from lakehouse.io.trino import catalog_properties
        from lakehouse.serving.trino_security import ensure_certificate

        ensure_certificate(settings.trino_tls_dir, settings.host)
        _write_node_files(settings, home, etc, data, _worker_config_properties(settings, port), cfg.worker_heap)
        catalog_file = etc / "catalog" / f"{settings.trino_catalog}.properties"
        catalog_file.write_text(catalog_properties(settings))
        catalog_file.chmod(0o600)

    return Service(f"trino-worker-{n}", [port], lambda: _trino_command(settings, etc, data, f"worker-{n}"),
                   lambda: _trino_healthy(settings, port), url=f"https://{settings.host}:{port}", env=_trino_env,
                   prepare=prepare, start_timeout=240, marker=str(etc), group="trino",
                   settings=settings)


def _trino_service(settings: Settings) -> Service:
    cfg = settings.env.services.trino
    etc = settings.state_dir / "trino" / "etc"
    data = settings.state_dir / "trino" / "data"
    return Service("trino", [cfg.port], lambda: _trino_command(settings, etc, data), lambda: _trino_healthy(settings),
                   url=f"https://{settings.host}:{cfg.port}", env=_trino_env,
                   prepare=lambda: _prepare_trino(settings, etc, data), set_up=lambda: _trino_set_up(settings),
                   start_timeout=240, marker="trino", group="trino", settings=settings)


def _event_listener(settings: Settings, etc: Path) -> str:
    """Trino's HTTP event listener, POSTing every completed query to the `events` service; its config line."""
    from lakehouse.serving.events import listener_properties

    listener = etc / "event-listener.properties"
    listener.write_text(listener_properties(settings))
    listener.chmod(0o600)  # it holds the events token
    return f"event-listener.config-files={listener}\n"
