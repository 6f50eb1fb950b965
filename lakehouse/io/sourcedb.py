"""Write to a source database (the ministry's dossier system, a PostgreSQL) with psycopg.

The lake only *reads* source databases (Spark over JDBC, ``settings.jdbc(name)``);
this module is the other side, used by demo generators and tests to make the
simulated source system change over time::

    from lakehouse.io import sourcedb
    sourcedb.load_rows("ministry_db", "dossiers",
                       "dossier_id bigint PRIMARY KEY, title text NOT NULL, updated_at timestamptz NOT NULL",
                       [{"dossier_id": 1, "title": "Cấp phép", "updated_at": now}], key=["dossier_id"])

``connection`` is a name under ``connections:`` in the environment file.
"""

from __future__ import annotations

import socket
from typing import Any, Sequence

from lakehouse.core.errors import ServiceError
from lakehouse.core.settings import Settings


def _table_identifier(table: str):
    """``name`` or ``schema.name`` as a quoted SQL identifier."""
    from psycopg import sql

    parts = table.split(".")
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise ValueError(f"table {table!r}: expected `name` or `schema.name`")
    return sql.Identifier(*parts)


def connect(connection: str, settings: Settings):
    """A psycopg connection (autocommit off: use it as a context manager to commit)."""
    import psycopg

    dsn = settings.pg_dsn(connection)  # ConfigError for an unknown name
    conn_cfg = settings.connection(connection)
    host = conn_cfg.host or settings.host_of(conn_cfg.service)
    port = conn_cfg.port or settings.env.services.postgres.port
    try:
        return psycopg.connect(dsn, connect_timeout=5)
    except psycopg.OperationalError as exc:
        with socket.socket() as sock:
            sock.settimeout(1)
            listening = sock.connect_ex((host, port)) == 0
        if not listening:
            raise ServiceError(f"cannot reach PostgreSQL for connection {connection!r} at {host}:{port}: "
                               f"nothing is listening. Start it with `lake up postgres`") from exc
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else exc.__class__.__name__
        raise ServiceError(f"PostgreSQL at {host}:{port} refused connection {connection!r} "
                           f"(database {conn_cfg.database}, user {conn_cfg.user}): {detail}. If the server "
                           "was started before this connection was configured, restart it: "
                           "`lake down postgres && lake up postgres`") from exc


def execute(connection: str, sql: Any, params: Sequence[Any] | dict[str, Any] | None = None, *,
            settings: Settings) -> list[tuple]:
    """Run one statement in its own transaction; return its rows (``[]`` when it returns none)."""
    with connect(connection, settings) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


def _has_unique_index(conn, table_sql, key: list[str]) -> bool:
    rows = conn.execute(
        """SELECT array_agg(a.attname::text ORDER BY a.attname::text)
             FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE i.indrelid = %s::regclass AND i.indisunique AND i.indpred IS NULL
            GROUP BY i.indexrelid""", (table_sql,)).fetchall()
    return any(r[0] == sorted(key) for r in rows)


def load_rows(connection: str, table: str, ddl: str, rows: list[dict[str, Any]], key: list[str],
              settings: Settings) -> int:
    """Upsert ``rows`` into ``table`` (created from ``ddl`` when missing); return the rows written.

    ``ddl`` is either the column definitions (``"id bigint PRIMARY KEY, name text"``)
    or a whole ``CREATE TABLE`` statement.  Rows whose ``key`` already exists are
    updated in place (``INSERT … ON CONFLICT (key) DO UPDATE``), so calling it
    again with changed rows simulates the source system changing.  Every row
    must have the same columns.  All rows go in one transaction.
    """
    from psycopg import sql

    if not key:
        raise ValueError("load_rows: `key` must name at least one column")
    ident = _table_identifier(table)
    columns = list(rows[0]) if rows else []
    for i, row in enumerate(rows):
        if list(row) != columns and set(row) != set(columns):
            raise ValueError(f"load_rows: row {i} has columns {sorted(row)}, row 0 has {sorted(columns)}")
    missing_key = [k for k in key if rows and k not in columns]
    if missing_key:
        raise ValueError(f"load_rows: key column(s) {missing_key} are not in the rows ({columns})")

    with connect(connection, settings) as conn:
        qualified = ident.as_string(conn)
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (qualified,)).fetchone()[0]
        if not exists:
            if "." in table:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(table.split(".")[0])))
            if ddl.lstrip()[:6].upper() == "CREATE":
                conn.execute(ddl)
            else:
                conn.execute(sql.SQL("CREATE TABLE {} (" + ddl + ")").format(ident))
        if not _has_unique_index(conn, qualified, key):
            # ON CONFLICT needs a unique index on exactly the key columns
            name = (table.split(".")[-1] + "_" + "_".join(key) + "_key")[:63]
            conn.execute(sql.SQL("CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({})").format(
                sql.Identifier(name), ident, sql.SQL(", ").join(map(sql.Identifier, key))))
        if not rows:
            return 0
        updates = [c for c in columns if c not in key]
        on_conflict = (sql.SQL("DO UPDATE SET ") + sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in updates)
            if updates else sql.SQL("DO NOTHING"))
        statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) ").format(
            ident, sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            sql.SQL(", ").join(map(sql.Identifier, key))) + on_conflict
        with conn.cursor() as cur:
            cur.executemany(statement, [[row[c] for c in columns] for row in rows])
            return cur.rowcount
