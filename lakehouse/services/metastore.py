"""The Hive Metastore of the stack (table names shared by Spark and Trino): its generated configuration,
its schema in PostgreSQL, and its process."""

from __future__ import annotations

import os
import subprocess

from lakehouse.core.errors import ServiceError
from lakehouse.core.settings import Settings
from lakehouse.io import install
from lakehouse.services.postgres import _pg_connect, ensure_database, postgres_socket_dir
from lakehouse.services.supervisor import Service, port_open, say

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
