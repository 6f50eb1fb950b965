"""Environment settings: where the lake lives and how to reach each service.

An environment file (``lake_config/environments/<name>.yaml``) binds the logical
dataset specs to storage, Spark and Trino.  Secrets never live there: they are
generated once per install into the state directory, or come from ``LAKE_*``
environment variables in production.
"""

from __future__ import annotations

import json
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from lakehouse.core.errors import ConfigError
from lakehouse.core.yamlfile import Strict, read_mapping, validated

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = Path(os.environ.get("LAKE_CONFIG_DIR", REPO_ROOT / "lake_config"))

LAYERS = ("bronze", "silver", "gold", "quarantine", "ops", "staging")


def quarantine_table(dataset: str) -> str:
    """The quarantine table's name: ``<dataset>__quarantine`` (``lake.quarantine.<dataset>__quarantine`` in Trino)."""
    return f"{dataset}__quarantine"



class StorageConfig(Strict):
    bucket: str = "lake"
    region: str = "us-east-1"
    endpoint: str | None = None  # None: the local S3 server from `services.s3`


class S3Service(Strict):
    port: int = 8333
    master_port: int = 9333
    volume_port: int = 8380  # the first volume server's; the next ones count up from it
    filer_port: int = 8888
    # 1: one `weed server` process holds master, volume, filer and S3 gateway; more: a master, this many
    # volume servers, a filer and an S3 gateway, each its own process (the `cluster` environment)
    volume_servers: int = Field(1, ge=1)
    # SeaweedFS's replica placement of new volumes, xyz: copies in other data centres, other racks, other
    # servers of the same rack ("001": every object on two volume servers)
    replication: str = Field("000", pattern=r"^[0-9]{3}$")


class TrinoService(Strict):
    port: int = 8080
    heap: str = "2G"
    # 0: the coordinator also runs every query's work; more: this many worker nodes run it, the
    # coordinator only plans and schedules (the `cluster` environment)
    workers: int = Field(0, ge=0)
    worker_port: int = 8081  # the first worker's HTTPS port; the next ones count up from it
    worker_heap: str = "2G"


class AirflowService(Strict):
    port: int = 8280
    parallelism: int = 2
    # local: the scheduler runs each task in a process of its own; edge: Edge workers (`lake up` starts
    # `workers` of them: airflow-worker-1, …) fetch tasks from the api-server over HTTP, as from other hosts
    executor: Literal["local", "edge"] = "local"
    workers: int = Field(2, ge=1)
    worker_concurrency: int = Field(1, ge=1)  # tasks one Edge worker runs at once


class SparkService(Strict):
    """The Spark Connect server; with ``spark.master: standalone`` also a standalone master and its workers."""

    port: int = 15002
    master_port: int = 7077
    master_ui_port: int = 8090  # the master's web UI and JSON status
    workers: int = Field(2, ge=1)
    worker_port: int = 7078  # the first worker's; the next ones count up from it
    worker_ui_port: int = 8091  # the first worker's web UI; the next ones count up from it
    worker_cores: int = Field(1, ge=1)
    worker_memory: str = Field("2g", pattern=r"^[0-9]+[mMgG]$")
    ui_port: int = 4040  # the Connect server's own UI and REST API (/api/v1), on when the master is standalone


class PostgresService(Strict):
    port: int = 5442


class SharingService(Strict):
    """The Delta Sharing server for partner ministries (``lake up sharing``)."""

    port: int = 8100
    # the endpoint written into partners' profile files when a proxy (TLS) fronts the server;
    # None: http://<services.host>:<port>/delta-sharing
    public_url: str | None = None


class MetastoreService(Strict):
    """The Hive Metastore Spark and Trino share table names through (on PostgreSQL)."""

    port: int = 9083
    heap: str = "512M"
    # an existing metastore (thrift://host:port) instead of the local one `lake up` starts
    uri: str | None = None


class EventsService(Strict):
    """The receiver of Trino's query events (``lake up events``): usage statistics and audit."""

    port: int = 8110


class PortalService(Strict):
    """The data portal (``lake up portal``): search, dataset pages, downloads, DCAT and CKAN harvest endpoints."""

    port: int = 8120
    # per client (address), in any minute; 0: no limit.  LAKE_PORTAL_REQUESTS_PER_MINUTE overrides it
    requests_per_minute: int = Field(600, ge=0)
    # addresses of reverse proxies in front of the portal: their X-Forwarded-For names the client
    trusted_proxies: list[str] = Field(default_factory=list)
    # the largest file a contributor may submit (`lake contributions submit`, the portal's upload), in MiB
    contribution_max_mb: int = Field(50, ge=1)


class ServicesConfig(Strict):
    host: str = "127.0.0.1"
    # where each service runs when the stack spans hosts (`lake deploy render` writes it): a client reaches
    # service S at hosts[S], else at `host`; `lake up` starts processes on this machine only, so it refuses
    # an environment whose services live elsewhere (docs/deploy.md)
    hosts: dict[str, str] = Field(default_factory=dict)
    s3: S3Service = Field(default_factory=S3Service)
    spark: SparkService = Field(default_factory=SparkService)
    trino: TrinoService = Field(default_factory=TrinoService)
    airflow: AirflowService = Field(default_factory=AirflowService)
    postgres: PostgresService = Field(default_factory=PostgresService)
    sharing: SharingService = Field(default_factory=SharingService)
    metastore: MetastoreService = Field(default_factory=MetastoreService)
    events: EventsService = Field(default_factory=EventsService)
    portal: PortalService = Field(default_factory=PortalService)


    @field_validator("hosts")
    @classmethod
    def _known_services(cls, hosts: dict[str, str]) -> dict[str, str]:
        known = [name for name in cls.model_fields if name not in ("host", "hosts")]
        unknown = sorted(set(hosts) - set(known))
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: no such service (known: {', '.join(known)})")
        return hosts


class SparkConfig(Strict):
    # connect: jobs talk to the long-lived Spark Connect server that `lake up` starts
    #          (no JVM start-up per job); local: each job starts its own Spark.
    mode: Literal["connect", "local"] = "connect"
    connect_url: str | None = None  # None: the local server from `services.spark`
    # local[N]: the engine runs inside the Connect server (or the job); standalone: the master and workers
    # of `services.spark` that `lake up` starts; spark://host:port: a standalone master run elsewhere
    master: str = "local[2]"
    executor_memory: str = Field("1g", pattern=r"^[0-9]+[mMgG]$")  # per executor, on a standalone master
    driver_memory: str = "auto"  # auto: a quarter of the machine's memory, 2–16 GB (lakehouse.io.spark.driver_memory)
    shuffle_partitions: int = 4
    # true: projections outside whole-stage code (Delta's log replay, scans of a held batch, shuffle
    # keys) are interpreted instead of generated and compiled in every task; cheaper for batches of
    # thousands of rows, dearer for millions (lakehouse.io.spark.spark_conf; bench/README.md)
    interpreted_projections: bool = False


class TrinoConfig(Strict):
    catalog: str = "lake"
    host: str | None = None  # None: the local Trino from `services.trino`
    port: int | None = None
    user: str = "lake"  # the platform's own user (jobs, `lake sql`); full access
    cert: str | None = None  # CA/certificate file clients verify Trino's TLS with; None: the one `lake up` generates


class ConnectionConfig(Strict):
    """A source database the jobs read from (``connections.<name>`` in an environment file).

    Its password is the generated secret ``postgres_password`` (or ``LAKE_POSTGRES_PASSWORD``).
    """

    service: Literal["postgres"] = "postgres"
    database: str
    user: str
    host: str | None = None  # None: the local server from `services.postgres`
    port: int | None = None


class Environment(Strict):
    name: str
    storage: StorageConfig = Field(default_factory=StorageConfig)
    services: ServicesConfig = Field(default_factory=ServicesConfig)
    spark: SparkConfig = Field(default_factory=SparkConfig)
    trino: TrinoConfig = Field(default_factory=TrinoConfig)
    connections: dict[str, ConnectionConfig] = Field(default_factory=dict)


def port_variables() -> dict[str, tuple[str, str]]:
    """Every shell variable that moves a port: ``LAKE_<SERVICE>_PORT`` → (service, field), and for
    SeaweedFS's other servers ``LAKE_S3_MASTER_PORT``, ``LAKE_S3_VOLUME_PORT``, ``LAKE_S3_FILER_PORT``."""
    out = {}
    for service, field in ServicesConfig.model_fields.items():
        model = field.annotation
        if not isinstance(model, type) or not issubclass(model, BaseModel):
            continue
        for name in model.model_fields:
            if name == "port" or name.endswith("_port"):
                out[f"LAKE_{service.upper()}_{name.upper()}"] = (service, name)
    return out


def _apply_shell_overrides(env: Environment) -> None:
    """Let one shell move a service (LAKE_<SERVICE>_PORT; SeaweedFS's master, volume and filer
    with LAKE_S3_MASTER_PORT, LAKE_S3_VOLUME_PORT, LAKE_S3_FILER_PORT), pick the Spark mode
    (LAKE_SPARK_MODE) or the portal's rate limit (LAKE_PORTAL_REQUESTS_PER_MINUTE)."""
    for variable, (service, name) in port_variables().items():
        value = os.environ.get(variable)
        if value:
            try:
                setattr(getattr(env.services, service), name, int(value))
            except ValueError as exc:
                raise ConfigError(f"{variable}={value!r} is not a port number") from exc
    mode = os.environ.get("LAKE_SPARK_MODE")
    if mode:
        if mode not in ("connect", "local"):
            raise ConfigError(f"LAKE_SPARK_MODE={mode!r}: use 'connect' or 'local'")
        env.spark.mode = mode  # type: ignore[assignment]
    limit = os.environ.get("LAKE_PORTAL_REQUESTS_PER_MINUTE")
    if limit:
        if not limit.isdigit():
            raise ConfigError(f"LAKE_PORTAL_REQUESTS_PER_MINUTE={limit!r} is not a whole number (0: no limit)")
        env.services.portal.requests_per_minute = int(limit)


def load_environment(name: str | None = None) -> Environment:
    """Read ``lake_config/environments/<name>.yaml`` (default ``$LAKE_ENV`` or ``local``)."""
    name = name or os.environ.get("LAKE_ENV", "local")
    path = CONFIG_DIR / "environments" / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in (CONFIG_DIR / "environments").glob("*.yaml"))
        raise ConfigError(f"{path}: no such environment file (known: {', '.join(known)})")
    env = validated(Environment, read_mapping(path), path)  # strictly: a key given twice is an error
    _apply_shell_overrides(env)
    return env


class Settings:
    """Resolved settings for one environment: paths, endpoints and credentials."""

    def __init__(self, env: Environment | None = None, home: Path | None = None):
        self.env = env or load_environment()
        self._home = home  # None: $LAKE_HOME or .lake/ (one process may speak to two stacks, as a test does)

    # ---- directories -------------------------------------------------------
    @cached_property
    def state_dir(self) -> Path:
        """Pid files, logs, service data and generated secrets of this checkout: ``$LAKE_HOME``, else ``.lake/``
        for the `local` environment and ``.lake-<name>/`` for another, so two environments' stacks never share
        their data."""
        default = REPO_ROOT / (".lake" if self.env.name == "local" else f".lake-{self.env.name}")
        path = self._home or Path(os.environ.get("LAKE_HOME", default))
        path.mkdir(parents=True, exist_ok=True)
        return path

    @cached_property
    def cache_dir(self) -> Path:
        """Downloads and builds shared by every checkout on this machine."""
        default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lakehouse"
        path = Path(os.environ.get("LAKE_CACHE", default))
        path.mkdir(parents=True, exist_ok=True)
        return path

    # ---- storage -------------------------------------------------------------
    @property
    def bucket(self) -> str:
        return self.env.storage.bucket

    @property
    def host(self) -> str:
        return self.env.services.host

    def host_of(self, service: str) -> str:
        """Where a client reaches ``service`` (`s3`, `spark`, `trino`, `airflow`, `postgres`, `metastore`,
        `events`, `sharing`, `portal`): ``services.hosts`` names it on a stack spread over hosts, else
        ``services.host``."""
        return self.env.services.hosts.get(service, self.host)

    @property
    def s3_data_dir(self) -> Path:
        """Where the stack's own S3 server (SeaweedFS) keeps its objects."""
        return self.state_dir / "s3"

    @property
    def s3_endpoint(self) -> str:
        if self.env.storage.endpoint:
            return self.env.storage.endpoint
        return f"http://{self.host_of('s3')}:{self.env.services.s3.port}"

    def table_uri(self, layer: str, name: str, scheme: str = "s3a") -> str:
        """Location of a Delta table: ``<scheme>://<bucket>/<layer>/<name>``."""
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {layer!r}; expected one of {LAYERS}")
        return f"{scheme}://{self.bucket}/{layer}/{name}"

    def quarantine_uri(self, dataset: str, scheme: str = "s3a") -> str:
        """Where a dataset's rejected rows go: ``quarantine/<dataset>__quarantine``."""
        return self.table_uri("quarantine", quarantine_table(dataset), scheme)

    def landing_key(self, dataset: str, date: str, filename: str) -> str:
        return f"landing/{dataset}/{date}/{filename}"

    @property
    def spark_master(self) -> str:
        """Spark's master URL: ``local[N]``, or ``spark://`` for the stack's standalone master or another one."""
        master = self.env.spark.master
        if master == "standalone":
            return f"spark://{self.host}:{self.env.services.spark.master_port}"
        return master

    @property
    def spark_standalone(self) -> bool:
        """`lake up` starts a Spark standalone master and its workers (``spark.master: standalone``)."""
        return self.env.spark.master == "standalone"

    @property
    def spark_connect_url(self) -> str:
        return self.env.spark.connect_url or f"sc://{self.host_of('spark')}:{self.env.services.spark.port}"

    # ---- trino ---------------------------------------------------------------
    @property
    def trino_host(self) -> str:
        return self.env.trino.host or self.host_of("trino")

    @property
    def trino_port(self) -> int:
        return self.env.trino.port or self.env.services.trino.port

    @property
    def trino_catalog(self) -> str:
        return self.env.trino.catalog

    @property
    def metastore_uri(self) -> str:
        """The Hive Metastore's thrift address, shared by Spark and Trino."""
        cfg = self.env.services.metastore
        return cfg.uri or f"thrift://{self.host_of('metastore')}:{cfg.port}"

    # ---- secrets ---------------------------------------------------------------
    @cached_property
    def secrets(self) -> dict[str, str]:
        """Credentials generated once per install, kept in the state dir (never in git)."""
        path = self.state_dir / "secrets.json"
        current: dict[str, Any] = {}
        if path.exists():
            current = json.loads(path.read_text())
        wanted = {
            "s3_access_key": lambda: "lake" + secrets.token_hex(8),
            "s3_secret_key": lambda: secrets.token_urlsafe(30),
            "airflow_admin_password": lambda: secrets.token_urlsafe(12),
            "airflow_jwt_secret": lambda: secrets.token_urlsafe(32),
            "airflow_api_secret_key": lambda: secrets.token_urlsafe(32),
            "postgres_password": lambda: secrets.token_urlsafe(24),
            "airflow_db_password": lambda: secrets.token_urlsafe(24),
            "trino_password": lambda: secrets.token_urlsafe(18),          # the service user's (trino.user)
            "trino_shared_secret": lambda: secrets.token_urlsafe(48),     # Trino's internal communication
            "metastore_db_password": lambda: secrets.token_urlsafe(24),   # the Hive Metastore's PostgreSQL role
        }
        changed = False
        for key, make in wanted.items():
            if key not in current:
                current[key] = make()
                changed = True
        if changed:
            path.write_text(json.dumps(current, indent=2))
            path.chmod(0o600)
        for key in wanted:  # production injects them instead
            override = os.environ.get(f"LAKE_{key.upper()}")
            if override:
                current[key] = override
        return current

    def trino_passwords(self, users: list[str]) -> dict[str, str]:
        """Each Trino user's password, generated once into ``secrets.json`` (``trino_users``), and the
        service user's (``trino_password``, or ``LAKE_TRINO_PASSWORD``)."""
        current = self.secrets
        stored = current.setdefault("trino_users", {})
        missing = [u for u in users if u not in stored and u != self.env.trino.user]
        if missing:
            path = self.state_dir / "secrets.json"
            on_disk = json.loads(path.read_text()) if path.exists() else {}
            on_disk.setdefault("trino_users", {})
            for user in missing:
                stored[user] = on_disk["trino_users"].setdefault(user, secrets.token_urlsafe(12))
            path.write_text(json.dumps(on_disk, indent=2))
            path.chmod(0o600)
        out = {u: stored[u] for u in users if u != self.env.trino.user}
        out[self.env.trino.user] = current["trino_password"]
        return out

    @property
    def trino_tls_dir(self) -> Path:
        """The generated TLS key and certificate of the local Trino."""
        return self.state_dir / "trino" / "tls"

    @property
    def trino_cert(self) -> Path:
        """The certificate (or CA) clients verify Trino's TLS against."""
        return Path(self.env.trino.cert) if self.env.trino.cert else self.trino_tls_dir / "trino.crt"

    @property
    def trino_url(self) -> str:
        return f"https://{self.trino_host}:{self.trino_port}"

    @property
    def s3_access_key(self) -> str:
        return self.secrets["s3_access_key"]

    @property
    def s3_secret_key(self) -> str:
        return self.secrets["s3_secret_key"]

    # ---- source databases --------------------------------------------------------
    @property
    def environment_file(self) -> Path:
        return CONFIG_DIR / "environments" / f"{self.env.name}.yaml"

    def connection(self, name: str) -> ConnectionConfig:
        """The ``connections.<name>`` entry of the environment file."""
        try:
            return self.env.connections[name]
        except KeyError:
            known = ", ".join(sorted(self.env.connections)) or "none defined"
            raise ConfigError(f"{self.environment_file}: field 'connections': no connection named {name!r} "
                              f"(known: {known})") from None

    def _connection_address(self, name: str) -> tuple[ConnectionConfig, str, int]:
        conn = self.connection(name)
        return conn, conn.host or self.host_of(conn.service), conn.port or self.env.services.postgres.port

    def jdbc(self, name: str) -> dict[str, str]:
        """Spark JDBC options for a connection: ``spark.read.format("jdbc").options(**settings.jdbc(name))``."""
        conn, host, port = self._connection_address(name)
        return {"url": f"jdbc:postgresql://{host}:{port}/{conn.database}", "user": conn.user,
                "password": self.secrets["postgres_password"], "driver": "org.postgresql.Driver"}

    def pg_dsn(self, name: str) -> str:
        """A libpq connection string for a connection (``psycopg.connect(settings.pg_dsn(name))``)."""
        conn, host, port = self._connection_address(name)
        parts = {"host": host, "port": str(port), "dbname": conn.database, "user": conn.user,
                 "password": self.secrets["postgres_password"], "application_name": "lake"}
        return " ".join(f"{key}={_libpq_quote(value)}" for key, value in parts.items())


def _libpq_quote(value: str) -> str:
    """Quote a libpq connection-string value when it needs it."""
    if value and not any(c in value for c in " '\\\t\n\r"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_settings: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, loaded on first use."""
    global _settings
    if _settings is None:
        _settings = Settings()
    return _settings
