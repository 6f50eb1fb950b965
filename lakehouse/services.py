"""Start, stop and watch the local stack: S3 (SeaweedFS), PostgreSQL, the Hive Metastore, Spark Connect,
Trino, Airflow and the Delta Sharing server.

Every process we start gets a pid file and a log under ``<state>/run`` and
``<state>/logs``; ``down`` only signals processes whose pid file we wrote and
whose command line is still ours.  All servers listen on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Collection, Sequence

from lakehouse import airflow_env, install
from lakehouse.errors import ServiceError
from lakehouse.settings import Settings, get_settings, port_variables


def say(message: str) -> None:
    print(f"[lake] {message}", flush=True)


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def http_json(url: str, timeout: float = 2.0, context: "ssl.SSLContext | None" = None) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


@dataclass
class Service:
    """One long-running process of the stack."""

    name: str
    ports: list[int]
    command: Callable[[], list[str]]
    healthy: Callable[[], bool]
    url: str = ""
    env: Callable[[], dict[str, str]] = dict
    prepare: Callable[[], None] = lambda: None  # before the process starts (config files, first-start init)
    # What the running service must hold (a bucket, roles and databases, pools); idempotent. `up` runs it
    # once the service answers, whether it started it or found it running, so a stack a failed `up`
    # left half set up is completed by the next `up`.
    set_up: Callable[[], None] = lambda: None
    start_timeout: float = 180.0
    marker: str = ""  # a string every command line of ours contains
    group: str = ""
    needs: tuple[str, ...] = ()  # services that must answer before this one starts (`up` starts them too)
    # how `down` asks it to stop: signal and whether to send it to the whole process group
    stop_signal: int = signal.SIGTERM
    stop_group: bool = True
    # seconds `down` waits after stop_signal before it sends SIGKILL to the service's process group
    stop_timeout: float = 30.0
    stop_note: str = ""  # why a SIGKILL after stop_timeout is expected and harmless, said with it
    settings: Settings = field(default_factory=get_settings)

    @property
    def pid_file(self) -> Path:
        return self.settings.state_dir / "run" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.settings.state_dir / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        """Our pid for this service, if the process is alive and still ours."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return None
        return pid if self.marker in cmdline else None

    def _process_alive(self) -> bool:
        """The process in our pid file exists and is not a zombie (its command line may be mid-exec)."""
        try:
            pid = int(self.pid_file.read_text().strip())
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            return False
        return state != "Z"

    def start(self) -> None:
        busy = [p for p in self.ports if port_open(self.settings.host, p)]
        if busy:
            variables = [v for v, (service, _) in port_variables().items() if service == (self.group or self.name)]
            raise ServiceError(
                f"{self.name}: port {', '.join(map(str, busy))} on {self.settings.host} is already in use by a "
                f"program lake did not start. Stop that program, or move {self.name} to a free port in "
                f"lake_config/environments/{self.settings.env.name}.yaml (or "
                f"{', '.join(variables) or f'LAKE_{self.name.upper()}_PORT'}).")
        self.prepare()
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_file, "ab")
        log.write(f"\n==== lake up {time.strftime('%Y-%m-%d %H:%M:%S')} ====\n".encode())
        log.flush()
        env = {**os.environ, **self.env()}
        proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True, cwd=self.settings.state_dir)
        self.pid_file.write_text(str(proc.pid))

    def wait_healthy(self, quiet: bool = False) -> None:
        started = time.monotonic()
        last_note = started
        while time.monotonic() - started < self.start_timeout:
            if self.healthy():
                if not quiet:
                    say(f"{self.name}: up after {time.monotonic() - started:.0f}s {self.url}")
                return
            if not self._process_alive():
                raise ServiceError(f"{self.name} exited during start-up. Last lines of {self.log_file}:\n"
                                   + tail(self.log_file, 25))
            if time.monotonic() - last_note > 15:
                say(f"{self.name}: still starting ({time.monotonic() - started:.0f}s)")
                last_note = time.monotonic()
            time.sleep(1)
        raise ServiceError(f"{self.name} did not become healthy in {self.start_timeout:.0f}s. "
                           f"Last lines of {self.log_file}:\n" + tail(self.log_file, 25))

    def _still_ours(self, pid: int) -> bool:
        """``pid`` runs and is ours: its command line holds our marker, or is empty, as it is while the
        process exits (or execs); a zombie or another program that got the pid is not ours."""
        if not _process_alive(pid):
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return False
        return not cmdline.strip() or self.marker in cmdline

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        """Wait up to ``timeout`` s for our process ``pid`` to end; True when it has."""
        deadline = time.monotonic() + timeout
        while True:
            try:  # reap it if this process started it (`up` and `down` in one process, as in tests)
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            if not self._still_ours(pid):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)

    def stop(self) -> bool:
        """Send stop_signal, wait up to stop_timeout, then SIGKILL the process group (pgid = our pid,
        from start_new_session) and say so. False when it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        try:
            if self.stop_group:
                os.killpg(pid, self.stop_signal)
            else:
                os.kill(pid, self.stop_signal)
        except ProcessLookupError:
            pass
        if not self._wait_exit(pid, self.stop_timeout):
            say(f"{self.name}: still running {self.stop_timeout:g}s after {signal.Signals(self.stop_signal).name}; "
                f"sending SIGKILL to its process group {pid}" + (f" ({self.stop_note})" if self.stop_note else ""))
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._wait_exit(pid, 10)
        # An exiting process loses its command line before its sockets close: wait for the
        # ports too, or a `down` then `up` finds the old one still answering.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(port_open(self.settings.host, p) for p in self.ports):
            time.sleep(0.2)
        self.pid_file.unlink(missing_ok=True)
        return True


def tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log yet)"


# ---- SeaweedFS S3 -------------------------------------------------------------------

S3_STOP_TIMEOUT = 5.0


def _s3_service(settings: Settings) -> Service:
    cfg = settings.env.services.s3
    data_dir = settings.s3_data_dir
    s3_config = data_dir / "s3-identities.json"

    def prepare() -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        identities = {"identities": [{
            "name": "lake",
            "credentials": [{"accessKey": settings.s3_access_key, "secretKey": settings.s3_secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}
        s3_config.write_text(json.dumps(identities, indent=2))
        s3_config.chmod(0o600)

    def command() -> list[str]:
        return [str(install.weed_binary(settings)), "server",
                f"-ip={settings.host}", f"-ip.bind={settings.host}", f"-dir={data_dir}",
                f"-master.port={cfg.master_port}", f"-volume.port={cfg.volume_port}",
                "-filer", f"-filer.port={cfg.filer_port}",
                "-s3", f"-s3.port={cfg.port}", f"-s3.config={s3_config}",
                "-s3.port.iceberg=0", "-s3.port.lance=0",  # REST catalogs we do not use
                "-master.volumeSizeLimitMB=1024", "-volume.max=0",
                # one master: after a restart it waits this long before electing itself leader, and until
                # then nothing can be written (the default, 10 s, was most of a restart's wait)
                "-master.electionTimeout=1s",
                # one volume server, so no client to redirect before it stops: skip its 10 s pre-stop wait
                "-volume.preStopSeconds=0"]

    def healthy() -> bool:
        return http_status(f"http://{settings.host}:{cfg.port}/") is not None and \
            http_status(f"http://{settings.host}:{cfg.master_port}/cluster/status") == 200

    def set_up() -> None:
        from lakehouse.storage import ensure_bucket, ensure_usable
        ensure_bucket(settings)
        ensure_usable(settings)  # up means objects can be stored, not only that the ports answer

    # each server's port and its gRPC port (+10000), the S3 API's included
    ports = [cfg.port, cfg.master_port, cfg.volume_port, cfg.filer_port,
             cfg.port + 10000, cfg.master_port + 10000, cfg.volume_port + 10000, cfg.filer_port + 10000]
    return Service("s3", ports, command, healthy, url=f"http://{settings.host}:{cfg.port}",
                   prepare=prepare, set_up=set_up, start_timeout=90, marker="weed", group="s3",
                   # On SIGTERM weed stops its volume server before its filer, whose last metadata-log flush
                   # then retries against the closed volumes for 15 s and is dropped anyway. Objects are on
                   # disk once the volume server has closed (well under a second): SIGKILL after 5 s.
                   stop_timeout=S3_STOP_TIMEOUT, stop_note="its volume server has closed its files; the filer "
                   "would wait 15 s to write its change log to it", settings=settings)


# ---- Spark Connect ---------------------------------------------------------------

def _spark_service(settings: Settings) -> Service:
    from lakehouse import spark

    port = settings.env.services.spark.port
    return Service("spark", [port], lambda: spark.connect_server_command(settings),
                   lambda: port_open(settings.host, port), url=f"sc://{settings.host}:{port}",
                   env=spark.connect_server_env, start_timeout=180, marker="SparkConnectServer",
                   group="spark", settings=settings)


# ---- Trino --------------------------------------------------------------------------

def _process_alive(pid: int) -> bool:
    """A running process (a zombie, dead but not yet reaped, does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


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


def _trino_service(settings: Settings) -> Service:
    cfg = settings.env.services.trino
    etc = settings.state_dir / "trino" / "etc"
    data = settings.state_dir / "trino" / "data"

    def prepare() -> None:
        from lakehouse.trino import catalog_properties
        (etc / "catalog").mkdir(parents=True, exist_ok=True)
        data.mkdir(parents=True, exist_ok=True)
        _drop_stale_pid_file(data / "var" / "run" / "launcher.pid")
        node_id_file = settings.state_dir / "trino" / "node-id"
        if not node_id_file.exists():
            node_id_file.write_text(str(uuid.uuid4()))
        (etc / "node.properties").write_text(
            "node.environment=lake_local\n"
            f"node.id={node_id_file.read_text().strip()}\n"
            f"node.data-dir={data}\n"
            f"node.bind-ip={settings.host}\n"
            f"node.internal-address={settings.host}\n")
        from lakehouse.trino_security import write_security
        write_security(settings, etc)  # certificate, users, groups, access rules from the published grants
        server_pem, cert = settings.trino_tls_dir / "trino-server.pem", settings.trino_tls_dir / "trino.crt"
        # One port, HTTPS only, for clients and for the node's own (internal) calls alike;
        # Trino accepts passwords over HTTPS only.
        config = (
            "coordinator=true\n"
            "node-scheduler.include-coordinator=true\n"
            "http-server.http.enabled=false\n"
            "http-server.https.enabled=true\n"
            f"http-server.https.port={cfg.port}\n"
            f"http-server.https.keystore.path={server_pem}\n"
            "http-server.authentication.type=PASSWORD\n"
            f"internal-communication.shared-secret={settings.secrets['trino_shared_secret']}\n"
            "internal-communication.https.required=true\n"
            f"internal-communication.https.keystore.path={server_pem}\n"
            f"internal-communication.https.truststore.path={cert}\n"
            f"discovery.uri=https://{settings.host}:{cfg.port}\n"
            f"query.max-memory={_query_memory_mb(cfg.heap)}MB\n"
            f"query.max-memory-per-node={_query_memory_mb(cfg.heap)}MB\n"
            "http-server.log.enabled=false\n")
        config += _event_listener(settings, etc)
        config_file = etc / "config.properties"
        config_file.write_text(config)
        config_file.chmod(0o600)
        (etc / "jvm.config").write_text("\n".join([
            "-server", f"-Xmx{cfg.heap}", "-XX:InitialRAMPercentage=5",
            "-XX:+ExplicitGCInvokesConcurrent", "-XX:+ExitOnOutOfMemoryError",
            "-XX:-OmitStackTraceInFastThrow", "-XX:ReservedCodeCacheSize=256M",
            "-XX:PerMethodRecompilationCutoff=10000", "-XX:PerBytecodeRecompilationCutoff=10000",
            "-Djdk.attach.allowAttachSelf=true", "-Djdk.nio.maxCachedBufferSize=2000000",
            "-Dfile.encoding=UTF-8", "-XX:+EnableDynamicAgentLoading", "-XX:+UseG1GC",
        ]) + "\n")
        (etc / "log.properties").write_text("io.trino=INFO\n")
        catalog_file = etc / "catalog" / f"{settings.trino_catalog}.properties"
        catalog_file.write_text(catalog_properties(settings))
        catalog_file.chmod(0o600)

    def command() -> list[str]:
        home = install.trino_home(settings)
        if not (home / ".complete").exists():
            raise ServiceError(f"Trino is not installed in {home}: run `lake install`")
        return [str(home / "bin" / "launcher"), "run", f"--etc-dir={etc}", f"--data-dir={data}",
                f"--launcher-log-file={settings.state_dir / 'logs' / 'trino-launcher.log'}"]

    def env() -> dict[str, str]:
        java_home = install.trino_java_home()
        return {"JAVA_HOME": str(java_home), "PATH": f"{java_home / 'bin'}:{os.environ.get('PATH', '')}"}

    def healthy() -> bool:
        cert = settings.trino_tls_dir / "trino.crt"
        if not cert.exists():
            return False
        info = http_json(f"https://{settings.host}:{cfg.port}/v1/info", context=ssl.create_default_context(
            cafile=str(cert)))
        return bool(info) and info.get("starting") is False

    def set_up() -> None:
        # /v1/info says "started" before the node has announced itself: a query then fails with
        # NO_NODES_AVAILABLE (seen right after a restart, test_fault_drills). Up means a query runs.
        from lakehouse import trino

        deadline = time.monotonic() + 60
        while True:
            try:
                trino.query("SELECT count(*) FROM (VALUES 1, 2) AS t(x)", settings)
                return
            except Exception as exc:  # the trino client raises several types
                if "NO_NODES_AVAILABLE" not in str(exc) or time.monotonic() > deadline:
                    raise ServiceError(f"trino: answers but cannot run a query: {exc}") from exc
                time.sleep(0.5)

    return Service("trino", [cfg.port], command, healthy, url=f"https://{settings.host}:{cfg.port}",
                   env=env, prepare=prepare, set_up=set_up, start_timeout=240, marker="trino", group="trino",
                   settings=settings)


# ---- PostgreSQL (the ministry's dossier system, a source database) ------------------------

POSTGRES_SUPERUSER = "postgres"
POSTGRES_OS_USER = "postgres"  # initdb and postgres refuse to run as root


def _as_postgres_user(cmd: list[str]) -> list[str]:
    """Run ``cmd`` as the `postgres` OS user when we are root.

    setpriv execs in place (runuser would fork and stay the parent), so the pid
    `lake` records is the postmaster itself and its command line is the server's.
    """
    if os.geteuid() != 0:
        return cmd
    return ["setpriv", f"--reuid={POSTGRES_OS_USER}", f"--regid={POSTGRES_OS_USER}", "--init-groups", "--", *cmd]


def _pg_connect(settings: Settings, socket_dir: Path, dbname: str = "postgres", timeout: int = 2):
    """A superuser connection over our own Unix socket (trusted; the socket dir is private)."""
    import psycopg

    return psycopg.connect(host=str(socket_dir), port=settings.env.services.postgres.port,
                           user=POSTGRES_SUPERUSER, dbname=dbname, connect_timeout=timeout, autocommit=True)


# ---- where PostgreSQL keeps its files ----
# As root, the server runs as the `postgres` OS user, which must enter every folder above its data.
# A state folder under a private home (/root is drwx------) is out of its reach: its files then
# live in POSTGRES_ELSEWHERE/postgres-<hash of the state folder>, and <state>/postgres is a
# symlink to that folder, which is how `up`, `status`, `down` and `make clean-state` find it.
# Not /var/tmp: systemd-tmpfiles deletes files there that nobody touched for 30 days.
POSTGRES_ELSEWHERE = Path("/var/lib/lakehouse")


def can_enter(mode: int, owner: int, group: int, uid: int, gids: Collection[int]) -> bool:
    """Whether user ``uid`` (member of ``gids``) may enter a folder with permission bits ``mode`` owned by
    ``owner``:``group`` (the owner's bits apply to the owner, the group's to its members, the others' to the rest)."""
    if uid == 0:
        return True
    if owner == uid:
        return bool(mode & stat.S_IXUSR)
    if group in gids:
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)


def first_closed_folder(folders: Sequence[tuple[Path, int, int, int]], uid: int,
                        gids: Collection[int]) -> Path | None:
    """The outermost of ``folders`` (path, mode, owner uid, owner gid; from / down) that ``uid`` cannot enter,
    or None when it can enter all of them."""
    for path, mode, owner, group in folders:
        if not can_enter(mode, owner, group, uid, gids):
            return path
    return None


def _folder_chain(folder: Path) -> list[tuple[Path, int, int, int]]:
    """``folder`` and every folder above it, from / down, with mode and owners (of where a symlink
    leads): as written, then as resolved, since a path through a symlink needs both."""
    chain, seen = [], set()
    for path in (folder.absolute(), folder.resolve()):
        for step in [*reversed(path.parents), path]:
            if step not in seen:
                seen.add(step)
                st = step.stat()
                chain.append((step, st.st_mode, st.st_uid, st.st_gid))
    return chain


def _postgres_os_user():
    import pwd
    try:
        return pwd.getpwnam(POSTGRES_OS_USER)
    except KeyError as exc:
        raise ServiceError(f"postgres: no `{POSTGRES_OS_USER}` OS user to run the server as "
                           "(PostgreSQL refuses to run as root); reinstall the `postgresql` package") from exc


def postgres_closed_folder(state_dir: Path) -> Path | None:
    """The folder above PostgreSQL's files in ``state_dir`` that the server's OS user cannot enter (None:
    it can enter them all, or we are not root and the server runs as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        pw = _postgres_os_user()
    except ServiceError:  # `prepare` says so when it matters; `status` and `down` need no such user
        return None
    return first_closed_folder(_folder_chain(state_dir), pw.pw_uid, set(os.getgrouplist(pw.pw_name, pw.pw_gid)))


def postgres_elsewhere(state_dir: Path) -> Path:
    """The folder PostgreSQL's files move to when the server cannot reach ``state_dir``: one per state folder."""
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
    return POSTGRES_ELSEWHERE / f"postgres-{digest}"


def postgres_home(settings: Settings) -> Path:
    """The folder of PostgreSQL's data (``data/``) and socket (``run/``): ``<state>/postgres``, or where that
    symlink points, or (not started yet) where ``prepare`` will put it: elsewhere when the server's OS
    user cannot enter the state folder and no cluster is in place yet."""
    link = settings.state_dir.absolute() / "postgres"
    if link.is_symlink():
        return Path(os.readlink(link))
    if (link / "data" / "PG_VERSION").exists() or postgres_closed_folder(link.parent) is None:
        return link
    return postgres_elsewhere(link.parent)


def _place_postgres_home(settings: Settings, home: Path) -> None:
    """Create ``home`` for the server's OS user (mode 700); when it is not ``<state>/postgres``, make that
    a symlink to it and say once where it went and why."""
    link = settings.state_dir.absolute() / "postgres"
    pw = _postgres_os_user() if os.geteuid() == 0 else None
    if home != link:
        POSTGRES_ELSEWHERE.mkdir(mode=0o755, parents=True, exist_ok=True)
        try:
            home.mkdir(mode=0o700)
        except FileExistsError:
            pass
        st = os.lstat(home)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid not in (0, pw.pw_uid if pw else os.geteuid()):
            raise ServiceError(f"postgres: {home} exists but is not a folder of root or `{POSTGRES_OS_USER}`; "
                               "remove it and run `lake up postgres` again")
        if not link.is_symlink():
            if link.exists():  # what an earlier, failed start left: no cluster (postgres_home checked)
                shutil.rmtree(link)
            link.symlink_to(home)
            say(f"postgres: the `{POSTGRES_OS_USER}` OS user cannot enter {postgres_closed_folder(link.parent)}, "
                f"so PostgreSQL's data and socket live in {home} ({link} points there)")
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    if pw is not None:
        os.chown(home, pw.pw_uid, pw.pw_gid)


def _postgres_service(settings: Settings) -> Service:
    cfg = settings.env.services.postgres
    root = postgres_home(settings)
    data = root / "data"
    socket_dir = root / "run"

    def prepare() -> None:
        bindir = install.find_postgres(install=False)
        _place_postgres_home(settings, root)
        socket_dir.mkdir(parents=True, exist_ok=True)
        socket_dir.chmod(0o700)
        if os.geteuid() == 0:
            pw = _postgres_os_user()
            os.chown(socket_dir, pw.pw_uid, pw.pw_gid)
            # the mode bits said yes (or the cluster was already here); ask the system itself (ACLs, mounts)
            if subprocess.run(_as_postgres_user(["test", "-w", str(root)])).returncode != 0:
                raise ServiceError(f"postgres: the `{POSTGRES_OS_USER}` OS user cannot reach {root}; every "
                                   f"folder above it needs o+x, or move {root} to a folder it can reach and "
                                   "leave a symlink to it in its place")
        if (data / "PG_VERSION").exists():
            return
        partial = root / "data.partial"
        subprocess.run(_as_postgres_user(["rm", "-rf", str(partial)]), check=False)
        say(f"postgres: initdb {data} (first start only)")
        result = subprocess.run(_as_postgres_user([
            str(bindir / "initdb"), "-D", str(partial), "-U", POSTGRES_SUPERUSER, "--encoding=UTF8",
            "--locale=C.UTF-8", "--auth-host=scram-sha-256", "--auth-local=trust"]),
            capture_output=True, text=True, cwd=root)
        if result.returncode != 0:
            raise ServiceError(f"postgres: initdb failed (exit {result.returncode}):\n"
                               + (result.stdout + result.stderr).strip()[-3000:])
        partial.rename(data)

    def command() -> list[str]:
        bindir = install.find_postgres(install=False)
        return _as_postgres_user([
            str(bindir / "postgres"), "-D", str(data), "-p", str(cfg.port),
            "-c", f"listen_addresses={settings.host}", "-c", f"unix_socket_directories={socket_dir}"])

    def healthy() -> bool:
        import psycopg

        if not (socket_dir / f".s.PGSQL.{cfg.port}").exists():
            return False
        try:
            with _pg_connect(settings, socket_dir) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def set_up() -> None:
        _ensure_roles_and_databases(settings, socket_dir)

    # our command line (setpriv execs into it) holds the data dir, so another cluster is never ours
    return Service("postgres", [cfg.port], command, healthy,
                   url=f"postgresql://{settings.host}:{cfg.port}", prepare=prepare, set_up=set_up,
                   start_timeout=60, marker=f"postgres -D {data}", group="postgres",
                   # SIGINT to the postmaster alone = "fast" shutdown: roll back sessions, checkpoint, exit
                   stop_signal=signal.SIGINT, stop_group=False, settings=settings)


def _ensure_roles_and_databases(settings: Settings, socket_dir: Path) -> None:
    """Each `connections` entry on the local server gets its login role (password from secrets) and database."""
    password = settings.secrets["postgres_password"]
    for c in settings.env.connections.values():
        if c.service == "postgres" and c.host is None:
            ensure_database(settings, c.user, c.database, password, socket_dir)


def postgres_socket_dir(settings: Settings) -> Path:
    return postgres_home(settings) / "run"


def ensure_database(settings: Settings, user: str, database: str, password: str,
                    socket_dir: Path | None = None) -> bool:
    """A login role (its password set to ``password``) owning ``database`` on our PostgreSQL; idempotent.
    True when it created the database."""
    from psycopg import sql

    with _pg_connect(settings, socket_dir or postgres_socket_dir(settings), timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(user), sql.Literal(password)))
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8'").format(
                sql.Identifier(database), sql.Identifier(user)))
            say(f"postgres: created database {database} owned by {user}")
            return True
    return False


def drop_database(settings: Settings, database: str) -> None:
    """Drop ``database`` (closing its sessions) if it exists."""
    from psycopg import sql

    with _pg_connect(settings, postgres_socket_dir(settings), timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


# ---- Airflow --------------------------------------------------------------------------

AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def _airflow_services(settings: Settings) -> list[Service]:
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
                # --skip-serve-logs: the log server would listen on all interfaces; logs are read from files
                return [airflow_bin, c] + (["--skip-serve-logs"] if c in ("scheduler", "triggerer") else [])
            healthy = (lambda c=component: _airflow_component_healthy(settings, c))
            ports = []
        services.append(Service(
            f"airflow-{component}", ports, command, healthy,
            url=f"http://{settings.host}:{cfg.port}" if component == "api-server" else "",
            env=lambda: airflow_env.environment(settings),
            prepare=(lambda: migrate_airflow(settings, pools=False)) if component == "api-server"
            else (lambda: None),
            set_up=(lambda: _airflow_set_up(settings)) if component == "api-server" else (lambda: None),
            # the api-server renames itself "airflow api_server -- host:…", hence the shorter marker
            start_timeout=240, marker=f"airflow {component.split('-')[0]}", group="airflow",
            needs=("postgres",) if component == "api-server" else (), settings=settings))
    return services


def _airflow_set_up(settings: Settings) -> None:
    """Airflow's role and metadata database (migrated when it had to be created), every dataset's pool,
    and a warm task-execution API; idempotent, so `lake up` runs it on a running api-server too."""
    created = ensure_database(settings, airflow_env.METADATA_USER, airflow_env.METADATA_DB,
                              settings.secrets["airflow_db_password"])
    if created:
        migrate_airflow(settings, pools=False)
    airflow_env.sync_pools(settings)
    _warm_execution_api(settings)


def ensure_airflow_database(settings: Settings) -> None:
    """Start PostgreSQL if needed and create Airflow's role and database there (idempotent)."""
    up(["postgres"], settings)
    ensure_database(settings, airflow_env.METADATA_USER, airflow_env.METADATA_DB,
                    settings.secrets["airflow_db_password"])


def reset_airflow_database(settings: Settings) -> None:
    """Drop Airflow's metadata database (every DAG run, pool and log record); `migrate_airflow` makes a new one."""
    up(["postgres"], settings)
    drop_database(settings, airflow_env.METADATA_DB)


def migrate_airflow(settings: Settings | None = None, pools: bool = True) -> None:
    """Airflow's metadata database on a running PostgreSQL, created or upgraded, then the pools unless
    ``pools`` is false (`airflow_env.migrate`)."""
    settings = settings or get_settings()
    ensure_airflow_database(settings)
    airflow_env.migrate(settings, pools)


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


# ---- Delta Sharing (partner ministries) -----------------------------------------------------

def _python_server(settings: Settings, name: str, port: int, url_path: str = "") -> Service:
    """A FastAPI server of ours, ``python -m lakehouse.<name> --host --port``, healthy when /health answers 200."""
    module = f"lakehouse.{name}"

    def command() -> list[str]:
        return [sys.executable, "-m", module, "--host", settings.host, "--port", str(port)]

    return Service(name, [port], command,
                   lambda: http_status(f"http://{settings.host}:{port}/health") == 200,
                   url=f"http://{settings.host}:{port}{url_path}", start_timeout=60,
                   marker=module, group=name, settings=settings)


def _sharing_service(settings: Settings) -> Service:
    return _python_server(settings, "sharing", settings.env.services.sharing.port, "/delta-sharing")


# ---- Hive Metastore (table names shared by Spark and Trino) -------------------------------

METASTORE_DB = "metastore"
METASTORE_USER = "hive"
METASTORE_SCHEMA = "4.0.0"  # the schema version Hive Metastore 4.0.1 runs on


def metastore_site(settings: Settings) -> str:
    """metastore-site.xml: the PostgreSQL database, the thrift port on 127.0.0.1, and S3A for table locations.

    Tables are registered as ``s3://<bucket>/<layer>/<name>`` (Trino's scheme), so
    ``fs.s3.impl`` maps that scheme to S3A as well.  The metadata transformer is
    off: Hive 4 would otherwise rewrite the tables other engines register.
    """
    from xml.sax.saxutils import escape

    cfg = settings.env.services.metastore
    pg = settings.env.services.postgres
    props = {
        "javax.jdo.option.ConnectionURL": f"jdbc:postgresql://{settings.host}:{pg.port}/{METASTORE_DB}",
        "javax.jdo.option.ConnectionDriverName": "org.postgresql.Driver",
        "javax.jdo.option.ConnectionUserName": METASTORE_USER,
        "javax.jdo.option.ConnectionPassword": settings.secrets["metastore_db_password"],
        "metastore.thrift.port": str(cfg.port),
        "metastore.thrift.bind.host": settings.host,
        "metastore.thrift.uris": settings.metastore_uri,
        "metastore.warehouse.dir": f"s3a://{settings.bucket}/warehouse",
        "metastore.warehouse.external.dir": f"s3a://{settings.bucket}/warehouse",
        "metastore.schema.verification": "true",
        "metastore.metadata.transformer.class": " ",
        "metastore.event.db.notification.api.auth": "false",
        # housekeeping of the metastore alone (the default list names Hive-server classes not shipped here)
        "metastore.task.threads.always": "org.apache.hadoop.hive.metastore.events.EventCleanerTask,"
                                         "org.apache.hadoop.hive.metastore.RuntimeStatsCleanerTask",
        "metastore.async.log.enabled": "false",  # async logging needs the LMAX disruptor, which Hive does not ship
        "fs.s3a.endpoint": settings.s3_endpoint,
        "fs.s3a.endpoint.region": settings.env.storage.region,
        "fs.s3a.path.style.access": "true",
        "fs.s3a.connection.ssl.enabled": str(settings.s3_endpoint.startswith("https")).lower(),
        "fs.s3a.access.key": settings.s3_access_key,
        "fs.s3a.secret.key": settings.s3_secret_key,
        "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
    }
    body = "".join(f"  <property><name>{k}</name><value>{escape(v)}</value></property>\n" for k, v in props.items())
    return f'<?xml version="1.0"?>\n<configuration>\n{body}</configuration>\n'


METASTORE_LOG4J2 = """status = WARN
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{ISO8601} %-5p [%t] %c{2}: %m%n
rootLogger.level = WARN
rootLogger.appenderRef.console.ref = console
logger.hms.name = org.apache.hadoop.hive.metastore.HiveMetaStore
logger.hms.level = INFO
logger.audit.name = org.apache.hadoop.hive.metastore.HiveMetaStore.audit
logger.audit.level = INFO
"""


def _metastore_schema_version(settings: Settings) -> str | None:
    """The schema version recorded in the metastore database; None before the schema exists."""
    import psycopg

    with _pg_connect(settings, postgres_socket_dir(settings), dbname=METASTORE_DB, timeout=10) as conn:
        try:
            row = conn.execute('SELECT "SCHEMA_VERSION" FROM "VERSION"').fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return row[0] if row else None


def _metastore_service(settings: Settings) -> Service:
    cfg = settings.env.services.metastore
    root = settings.state_dir / "metastore"
    conf = root / "conf"

    def java() -> str:
        return str(install.spark_java_home() / "bin" / "java")

    def classpath() -> str:
        return os.pathsep.join([str(conf), *install.metastore_classpath(settings)])

    def prepare() -> None:
        conf.mkdir(parents=True, exist_ok=True)
        site = conf / "metastore-site.xml"
        site.write_text(metastore_site(settings))
        site.chmod(0o600)
        (conf / "metastore-log4j2.properties").write_text(METASTORE_LOG4J2)
        set_up()  # the server checks the schema as it starts

    def set_up() -> None:
        """Its PostgreSQL role and database, and the schema in it; idempotent (a query when all is there)."""
        ensure_database(settings, METASTORE_USER, METASTORE_DB, settings.secrets["metastore_db_password"])
        version = _metastore_schema_version(settings)
        if version == METASTORE_SCHEMA:
            return
        action = "-initSchema" if version is None else "-upgradeSchema"
        say(f"metastore: {'creating' if version is None else f'upgrading from {version} to'} schema "
            f"{METASTORE_SCHEMA} in PostgreSQL database {METASTORE_DB}")
        result = subprocess.run(
            [java(), "-cp", classpath(), "org.apache.hadoop.hive.metastore.tools.schematool.MetastoreSchemaTool",
             "-dbType", "postgres", action],
            env={**os.environ, "METASTORE_HOME": str(install.metastore_schema_dir(settings))},
            capture_output=True, text=True, cwd=root)
        if result.returncode != 0:
            raise ServiceError(f"metastore: schema tool {action} failed (exit {result.returncode}):\n"
                               + (result.stdout + result.stderr).strip()[-3000:])

    def command() -> list[str]:
        return [java(), f"-Xmx{cfg.heap}", f"-Dlog4j2.configurationFile={conf / 'metastore-log4j2.properties'}",
                "-cp", classpath(), "org.apache.hadoop.hive.metastore.HiveMetaStore"]

    return Service("metastore", [cfg.port], command, lambda: port_open(settings.host, cfg.port),
                   url=settings.metastore_uri, prepare=prepare, set_up=set_up, start_timeout=120, needs=("postgres",),
                   marker="org.apache.hadoop.hive.metastore.HiveMetaStore", group="metastore", settings=settings)


# ---- query events (usage statistics and audit) ---------------------------------------------

def _event_listener(settings: Settings, etc: Path) -> str:
    """Trino's HTTP event listener, POSTing every completed query to the `events` service; its config line."""
    from lakehouse.events import listener_properties

    listener = etc / "event-listener.properties"
    listener.write_text(listener_properties(settings))
    listener.chmod(0o600)  # it holds the events token
    return f"event-listener.config-files={listener}\n"


def _events_service(settings: Settings) -> Service:
    return _python_server(settings, "events", settings.env.services.events.port)


# ---- the stack --------------------------------------------------------------------------

def all_services(settings: Settings | None = None) -> list[Service]:
    settings = settings or get_settings()
    services = [_s3_service(settings), _postgres_service(settings), _spark_service(settings),
                _events_service(settings), _trino_service(settings),  # events before Trino: it sends each query there
                *_airflow_services(settings), _sharing_service(settings)]
    if settings.env.services.metastore.uri is None:  # an external metastore is not ours to start
        services.insert(2, _metastore_service(settings))
    return services


def select(names: list[str] | None, settings: Settings | None = None) -> list[Service]:
    """Services by name or group (`s3`, `postgres`, `metastore`, `spark`, `events`, `trino`, `airflow`, `sharing`);
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


def up(names: list[str] | None = None, settings: Settings | None = None) -> None:
    """Start what is not running, wait until everything answers, then run every service's set-up
    (also of those found running). Idempotent."""
    settings = settings or get_settings()
    services = with_needs(select(names, settings), settings)
    everything = {s.name: s for s in services}
    started: list[Service] = []
    for service in services:
        if service.pid() is not None:
            say(f"{service.name}: already running (pid {service.pid()})")
            continue
        if service.healthy():
            raise ServiceError(f"{service.name}: something not started by lake already answers on "
                               f"port {service.ports}; stop it or change the port in "
                               f"lake_config/environments/{settings.env.name}.yaml")
        for need in service.needs:  # started above (the order of all_services puts needs first)
            everything[need].wait_healthy(quiet=everything[need] not in started)
        say(f"{service.name}: starting (log: {service.log_file})")
        service.start()
        started.append(service)
    for service in services:
        service.wait_healthy(quiet=service not in started)
        service.set_up()  # also when found running: an earlier `up` may have failed before setting it up


def down(names: list[str] | None = None, settings: Settings | None = None) -> None:
    """Stop the processes lake started; anything else is left alone."""
    for service in reversed(select(names, settings)):
        if service.stop():
            say(f"{service.name}: stopped")
        else:
            say(f"{service.name}: not running")


def rss_tree_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    total = 0
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(proc.name))
            except (OSError, IndexError, ValueError):
                pass
    todo = [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def status(settings: Settings | None = None) -> list[dict]:
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
