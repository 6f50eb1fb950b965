"""Trino: the catalog file for our Delta tables, a client, and table registration."""

from __future__ import annotations

import re
import time
from typing import Any

from lakehouse.core import sql
from lakehouse.core.errors import ServiceError
from lakehouse.core.settings import Settings


def catalog_properties(settings: Settings) -> str:
    """The `delta_lake` catalog over the lake bucket; table names live in the Hive Metastore Spark shares."""
    return "\n".join([
        "connector.name=delta_lake",
        "hive.metastore=thrift",
        f"hive.metastore.uri={settings.metastore_uri}",
        "fs.native-s3.enabled=true",
        f"s3.endpoint={settings.s3_endpoint}",
        f"s3.region={settings.env.storage.region}",
        "s3.path-style-access=true",
        f"s3.aws-access-key={settings.s3_access_key}",
        f"s3.aws-secret-key={settings.s3_secret_key}",
        "delta.register-table-procedure.enabled=true",
        "delta.enable-non-concurrent-writes=true",
        "",
    ])


def http_session(settings: Settings):
    """A requests session that verifies Trino's certificate (and ignores ``REQUESTS_CA_BUNDLE``,
    which requests would otherwise put before the session's own ``verify``)."""
    import requests

    cert = settings.trino_cert
    if not cert.exists():
        raise ServiceError(f"no Trino certificate at {cert}: start Trino with `lake up trino` (it generates one), "
                           f"or set trino.cert in lake_config/environments/{settings.env.name}.yaml")
    session = requests.Session()
    session.verify = str(cert)
    session.trust_env = False
    return session


def connect(settings: Settings, schema: str | None = None, user: str | None = None,
            password: str | None = None):
    """A DB-API connection to Trino (the `trino` client) over HTTPS with a password.

    Without ``user``: the platform's service user (``trino.user``) with its generated password.
    """
    import trino

    if user is None:
        user, password = settings.env.trino.user, settings.secrets["trino_password"]
    return trino.dbapi.connect(host=settings.trino_host, port=settings.trino_port, user=user,
                               auth=trino.auth.BasicAuthentication(user, password or ""),
                               catalog=settings.trino_catalog, schema=schema, http_scheme="https",
                               http_session=http_session(settings), source="lake")


NODES_WAIT = 30.0  # seconds: right after a start Trino can take a query before its node has announced a catalog


def query(sql: str, settings: Settings, user: str | None = None,
          password: str | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one statement (as the service user unless ``user`` is given); returns column names and rows.

    A statement refused with NO_NODES_AVAILABLE was not scheduled, so nothing of it ran: it is sent
    again for up to ``NODES_WAIT`` seconds (seen after a restart, when a query of VALUES already ran).
    """
    from trino.exceptions import TrinoQueryError

    deadline = time.monotonic() + NODES_WAIT
    while True:
        try:
            return _query_once(sql, settings, user, password)
        except TrinoQueryError as exc:
            if exc.error_name == "HIVE_METASTORE_ERROR" and "Failed connecting" in (exc.message or ""):
                raise ServiceError(f"Trino cannot reach the Hive metastore ({exc.message}); is it up? "
                                   "(`lake status`, `lake up metastore`)") from exc
            if exc.error_name != "NO_NODES_AVAILABLE" or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _query_once(sql: str, settings: Settings | None, user: str | None,
                password: str | None) -> tuple[list[str], list[tuple[Any, ...]]]:
    from trino.exceptions import HttpError, TrinoConnectionError

    conn = connect(settings, user=user, password=password)
    cur = None
    try:
        cur = conn.cursor()
        cur.execute(sql)
        rows = cur.fetchall()
        columns = [d[0] for d in cur.description] if cur.description else []
        return columns, [tuple(r) for r in rows]
    except (TrinoConnectionError, HttpError) as exc:  # the server went away, or forgot the query
        text = " ".join(str(exc).split())
        cause = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)  # e.g. Connection refused, under urllib3's wrapping
        detail = cause.group(1).strip() if cause else text[:200]
        if cur is not None and cur.query_id:
            raise ServiceError(f"Trino stopped answering during the query {cur.query_id} ({detail}); it did not "
                               f"finish: run it again once `lake status` shows Trino up") from exc
        raise ServiceError(f"cannot reach Trino at {settings.trino_url} ({detail}); is it up? "
                           f"(`lake status`, `lake up trino`)") from exc
    finally:
        conn.close()




def registered(settings: Settings) -> set[tuple[str, str]]:
    """Every ``(schema, table)`` of the lake's catalog Trino knows, in one query."""
    _, rows = query(f"SELECT table_schema, table_name FROM {sql.identifier(settings.trino_catalog)}.information_schema.tables "
                    "WHERE table_schema <> 'information_schema'", settings)
    return {(schema, table) for schema, table in rows}


def register_location(schema: str, table: str, location: str, settings: Settings,
                      known: set[tuple[str, str]] | None = None) -> bool:
    """Make the Delta table at ``location`` queryable as ``<catalog>.<schema>.<table>``.

    Idempotent: returns False when the table was already registered.  Trino reads
    the schema from the Delta log, so later writes need no re-registration.
    ``known``: what :func:`registered` answered (spares a query per table); a table
    registered here is added to it.
    """
    catalog = sql.identifier(settings.trino_catalog)
    if known is None:
        _, rows = query(f"SELECT table_schema, table_name FROM {catalog}.information_schema.tables "
                        f"WHERE table_schema = '{schema}' AND table_name = '{table}'", settings)
        known = {(r[0], r[1]) for r in rows}
    if (schema, table) in known:
        return False
    if not any(s == schema for s, _ in known):
        schema_location = location.rsplit("/", 1)[0]
        query(f"CREATE SCHEMA IF NOT EXISTS {catalog}.{sql.identifier(schema)} WITH (location = '{schema_location}')",
              settings)
    query(f"CALL {catalog}.system.register_table(schema_name => '{schema}', table_name => '{table}', "
          f"table_location => '{location}')", settings)
    known.add((schema, table))
    return True


def register_table(layer: str, name: str, settings: Settings,
                   known: set[tuple[str, str]] | None = None) -> bool:
    """Register the lake table ``s3://<bucket>/<layer>/<name>`` as ``<catalog>.<layer>.<name>``."""
    return register_location(layer, name, settings.table_uri(layer, name, scheme="s3"), settings, known)


OPS_TABLES = ("run_log", "quality_results", "quality_scorecard", "refused_files",
              "query_log", "table_reads", "sharing_log")  # the last three: usage and audit (jobs/usage.py)


def register_ops(settings: Settings, known: set[tuple[str, str]] | None = None) -> None:
    """The run log, the quality tables and the usage tables, once they exist, are queryable as ``<catalog>.ops.*``."""
    from lakehouse.io import storage

    known = registered(settings) if known is None else known
    for table in OPS_TABLES:
        if ("ops", table) in known:
            continue
        if storage.list_keys(f"ops/{table}/_delta_log/", settings) and register_table("ops", table, settings, known):
            print(f"[publish] {settings.trino_catalog}.ops.{table}: registered", flush=True)
