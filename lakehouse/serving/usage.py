"""Usage statistics and audit: Trino's query events and the Delta Sharing audit, as rows.

Trino's HTTP event listener POSTs a ``QueryCompletedEvent`` (JSON) for every query,
finished or failed, to the ``events`` service (``lakehouse/events.py``), which keeps
one compact JSON line per query in ``<state>/usage/spool/events-<day>.jsonl``.  The
loader job (``jobs/usage.py``) reads the lines it has not loaded yet into
``ops/query_log`` and ``ops/table_reads``, and the sharing server's
``<state>/sharing/audit.jsonl`` into ``ops/sharing_log``.

Everything here is pure (dicts and lines in, dicts out), except the few spool
helpers at the end, which touch only the files they are given.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from lakehouse.core import sql

QUERY_TEXT_LIMIT = 4000  # characters of a query's text kept in ops/query_log (a longer one is cut, flagged)
ERROR_TEXT_LIMIT = 1000
SPOOL_PREFIX = "events-"
LAYER_SCHEMAS = ("bronze", "silver", "gold", "quarantine")

QUERY_LOG = "query_log"
TABLE_READS = "table_reads"
SHARING_LOG = "sharing_log"
TABLES = (QUERY_LOG, TABLE_READS, SHARING_LOG)

QUERY_LOG_SCHEMA = (
    "query_id string, user string, is_service boolean, source string, client_address string, state string, "
    "query string, is_query_truncated boolean, created_at timestamp, ended_at timestamp, wall_ms bigint, "
    "cpu_ms bigint, physical_input_bytes bigint, physical_input_rows bigint, output_rows bigint, "
    "error_code string, error_type string, error_message string, query_date date")
TABLE_READS_SCHEMA = (
    "query_id string, user string, is_service boolean, catalog string, schema string, `table` string, "
    "dataset string, layer string, columns array<string>, physical_input_bytes bigint, "
    "physical_input_rows bigint, state string, read_at timestamp, query_date date")
SHARING_LOG_SCHEMA = (
    "entry_id string, at timestamp, partner string, token_id string, method string, path string, "
    "action string, share string, schema string, `table` string, table_version bigint, status int, "
    "files bigint, bytes bigint, error string, access_date date")
KEYS = {QUERY_LOG: ["query_id"], TABLE_READS: ["query_id", "catalog", "schema", "table"],
        SHARING_LOG: ["entry_id"]}


# ---- values of Trino's JSON -----------------------------------------------------------------

_ISO_DURATION = re.compile(r"^P(?:(?P<d>[\d.]+)D)?(?:T(?:(?P<h>[\d.]+)H)?(?:(?P<m>[\d.]+)M)?(?:(?P<s>[\d.]+)S)?)?$")
_AIRLIFT_DURATION = re.compile(r"^(?P<v>[\d.]+)\s*(?P<u>ns|us|ms|s|m|h|d)$")
_UNIT_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def duration_ms(value: Any) -> int | None:
    """Milliseconds of a duration as Trino's JSON writes one: seconds as a number, ``PT1.5S`` or ``1.50s``."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return round(value * 1000)
    text = str(value).strip()
    m = _ISO_DURATION.match(text)
    if m and any(m.groupdict().values()):
        parts = {k: float(v) for k, v in m.groupdict().items() if v}
        seconds = parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)
        return round(seconds * 1000)
    m = _AIRLIFT_DURATION.match(text)
    if m:
        return round(float(m.group("v")) * _UNIT_MS[m.group("u")])
    try:
        return round(float(text) * 1000)
    except ValueError:
        return None


def instant(value: Any) -> str | None:
    """An instant as ISO-8601 UTC text (``…Z``): from ISO text or epoch seconds."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        moment = dt.datetime.fromtimestamp(value, dt.timezone.utc)
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cut(text: Any, limit: int) -> tuple[str | None, bool]:
    if text is None:
        return None, False
    text = str(text)
    return (text[:limit], True) if len(text) > limit else (text, False)


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


# ---- a QueryCompletedEvent → one compact spool record ----------------------------------------

def is_completed_event(event: Any) -> bool:
    """Is this JSON a ``QueryCompletedEvent`` (a created or split event has no statistics/end time)?"""
    return isinstance(event, dict) and isinstance(event.get("metadata"), dict) and "statistics" in event \
        and "endTime" in event


def compact(event: dict) -> dict:
    """The spool record of one ``QueryCompletedEvent``: who, what, when, how much, and each table read."""
    meta, stats = event.get("metadata") or {}, event.get("statistics") or {}
    context, io = event.get("context") or {}, event.get("ioMetadata") or {}
    failure = event.get("failureInfo") or {}
    error = failure.get("errorCode") or {}
    query, truncated = _cut(meta.get("query"), QUERY_TEXT_LIMIT)
    message, _ = _cut(failure.get("failureMessage"), ERROR_TEXT_LIMIT)
    inputs = []
    for i in io.get("inputs") or []:
        inputs.append({
            "catalog": i.get("catalogName"), "schema": i.get("schema"), "table": i.get("table"),
            "columns": [(c.get("name") or c.get("column")) if isinstance(c, dict) else str(c)
                        for c in i.get("columns") or []],
            "bytes": _int(i.get("physicalInputBytes")), "rows": _int(i.get("physicalInputRows")),
        })
    return {
        "query_id": meta.get("queryId"),
        "user": context.get("user"),
        "source": context.get("source"),
        "client_address": context.get("remoteClientAddress"),
        "state": meta.get("queryState"),
        "query": query, "truncated": truncated,
        "created_at": instant(event.get("createTime")),
        "ended_at": instant(event.get("endTime")),
        "wall_ms": duration_ms(stats.get("wallTime")),
        "cpu_ms": duration_ms(stats.get("cpuTime")),
        "input_bytes": _int(stats.get("physicalInputBytes")),
        "input_rows": _int(stats.get("physicalInputRows")),
        "output_rows": _int(stats.get("outputRows")),
        "error_code": error.get("name"),
        "error_type": error.get("type"),
        "error_message": message,
        "inputs": inputs,
    }


# ---- spool record → rows of ops/query_log and ops/table_reads --------------------------------

def dataset_of(schema: str | None, table: str | None, known: set[str] | None = None) -> str | None:
    """The dataset a lake table belongs to (layer = schema, table = name; ``X__quarantine`` → X).

    With ``known`` (the spec names) a table that is no dataset's maps to None.
    """
    if schema not in LAYER_SCHEMAS or not table:
        return None
    name = table[: -len("__quarantine")] if schema == "quarantine" and table.endswith("__quarantine") else table
    return name if known is None or name in known else None


def _ts(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _day(record: dict) -> dt.date | None:
    moment = _ts(record.get("ended_at") or record.get("created_at"))
    return moment.date() if moment else None


def query_row(record: dict, service_user: str) -> dict:
    """The ``ops/query_log`` row of one spool record."""
    return {
        "query_id": record["query_id"], "user": record.get("user"),
        "is_service": record.get("user") == service_user,
        "source": record.get("source"), "client_address": record.get("client_address"),
        "state": record.get("state"), "query": record.get("query"),
        "is_query_truncated": bool(record.get("truncated")),
        "created_at": _ts(record.get("created_at")), "ended_at": _ts(record.get("ended_at")),
        "wall_ms": record.get("wall_ms"), "cpu_ms": record.get("cpu_ms"),
        "physical_input_bytes": record.get("input_bytes"), "physical_input_rows": record.get("input_rows"),
        "output_rows": record.get("output_rows"), "error_code": record.get("error_code"),
        "error_type": record.get("error_type"), "error_message": record.get("error_message"),
        "query_date": _day(record),
    }


def table_read_rows(record: dict, service_user: str, lake_catalog: str, known: set[str] | None = None) -> list[dict]:
    """The ``ops/table_reads`` rows of one spool record: one per table it read (the same table once)."""
    rows: dict[tuple, dict] = {}
    for i in record.get("inputs") or []:
        key = (i.get("catalog"), i.get("schema"), i.get("table"))
        if key in rows:  # a self-join reads one table twice: one row, the sums
            row = rows[key]
            row["columns"] = sorted(set(row["columns"]) | set(i.get("columns") or []))
            row["physical_input_bytes"] = (row["physical_input_bytes"] or 0) + (i.get("bytes") or 0)
            row["physical_input_rows"] = (row["physical_input_rows"] or 0) + (i.get("rows") or 0)
            continue
        in_lake = i.get("catalog") == lake_catalog
        rows[key] = {
            "query_id": record["query_id"], "user": record.get("user"),
            "is_service": record.get("user") == service_user,
            "catalog": key[0], "schema": key[1], "table": key[2],
            "dataset": dataset_of(key[1], key[2], known) if in_lake else None,
            "layer": key[1] if in_lake and key[1] in (*LAYER_SCHEMAS, "ops") else None,
            "columns": sorted(set(i.get("columns") or [])),
            "physical_input_bytes": i.get("bytes"), "physical_input_rows": i.get("rows"),
            "state": record.get("state"), "read_at": _ts(record.get("ended_at") or record.get("created_at")),
            "query_date": _day(record),
        }
    return list(rows.values())


# ---- Delta Sharing audit line → ops/sharing_log ----------------------------------------------

def sharing_action(method: str | None, path: str | None) -> str:
    """What a Delta Sharing request did, from its path: list_shares, list_tables, metadata, query, …"""
    parts = [p for p in (path or "").split("?")[0].split("/") if p]
    if parts and parts[0] == "delta-sharing":
        parts = parts[1:]
    if not parts:
        return "other"
    tail = parts[-1]
    if tail == "query":
        return "query"
    if tail == "metadata":
        return "metadata"
    if tail == "version":
        return "version"
    if tail in ("shares", "schemas", "tables", "all-tables"):
        return f"list_{tail.replace('-', '_')}"
    return "get_share" if parts[0] == "shares" and len(parts) == 2 else "other"


def sharing_row(line: str, entry: dict) -> dict:
    """The ``ops/sharing_log`` row of one audit line (its id is the line's hash: loading twice adds nothing)."""
    at = _ts(instant(entry.get("at")))
    return {
        "entry_id": hashlib.sha256(line.encode("utf-8")).hexdigest()[:32],
        "at": at, "partner": entry.get("partner"), "token_id": entry.get("token_id"),
        "method": entry.get("method"), "path": entry.get("path"),
        "action": sharing_action(entry.get("method"), entry.get("path")),
        "share": entry.get("share"), "schema": entry.get("schema"), "table": entry.get("table"),
        "table_version": _int(entry.get("version", entry.get("table_version"))),
        "status": _int(entry.get("status")), "files": _int(entry.get("files")), "bytes": _int(entry.get("bytes")),
        "error": entry.get("error"), "access_date": at.date() if at else None,
    }


# ---- what to load, and the lines of it --------------------------------------------------------

@dataclass
class Chunk:
    """The part of one file not loaded yet: bytes [start, end) hold whole lines."""

    name: str
    start: int
    end: int
    lines: list[tuple[int, str]] = field(default_factory=list)  # (byte offset, text)


def pending(sizes: dict[str, int], loaded: dict[str, int]) -> dict[str, int]:
    """Where to start reading each file: after what was loaded; from 0 when a file shrank (replaced)."""
    out = {}
    for name, size in sorted(sizes.items()):
        start = loaded.get(name, 0)
        if size < start:
            start = 0
        if size > start:
            out[name] = start
    return out


def split_lines(name: str, data: bytes, start: int) -> Chunk:
    """Whole lines of ``data`` (read from byte ``start``); a last line without its newline waits for it."""
    end = data.rfind(b"\n") + 1
    chunk = Chunk(name, start, start + end)
    offset = 0
    for raw in data[:end].split(b"\n")[:-1]:
        if raw.strip():
            chunk.lines.append((start + offset, raw.decode("utf-8", errors="replace")))
        offset += len(raw) + 1
    return chunk


@dataclass
class Parsed:
    records: list[tuple[str, dict]]  # (line, JSON object)
    rejected: list[dict]  # {file, offset, reason, line}


def parse(chunks: Iterable[Chunk], required: tuple[str, ...] = ()) -> Parsed:
    """JSON objects of the chunks' lines; a line that is not one (or lacks a ``required`` key) is rejected
    with its file, offset and reason, and the lines after it are still read."""
    out = Parsed([], [])
    for chunk in chunks:
        for offset, line in chunk.lines:
            reason = None
            try:
                obj = json.loads(line)
            except ValueError as exc:
                reason = f"not JSON: {exc}"
            else:
                if not isinstance(obj, dict):
                    reason = f"not a JSON object but {type(obj).__name__}"
                else:
                    missing = [k for k in required if not obj.get(k)]
                    if missing:
                        reason = f"no {', '.join(missing)}"
            if reason:
                out.rejected.append({"file": chunk.name, "offset": offset, "reason": reason, "line": line[:2000]})
            else:
                out.records.append((line, obj))
    return out


# ---- the spool on disk (the events service writes, the loader reads) --------------------------

def spool_file(spool: Path, moment: dt.datetime) -> Path:
    """The day's spool file (UTC day)."""
    return spool / f"{SPOOL_PREFIX}{moment.astimezone(dt.timezone.utc).date().isoformat()}.jsonl"


def append_line(path: Path, record: dict) -> None:
    """Append one JSON line with a single ``write`` on an O_APPEND descriptor, then fsync.

    A crash can leave at most one unfinished last line; ``repair_tail`` ends it before the next append,
    so it stays one bad line (rejected with its reason by the loader) and never swallows a good one.
    """
    data = (json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        written = os.write(fd, data)
        while written < len(data):  # a short write (disk full, signal): finish the same line
            written += os.write(fd, data[written:])
        os.fsync(fd)
    finally:
        os.close(fd)


def repair_tail(path: Path) -> bool:
    """End an unfinished last line (left by a crash) with a newline; True when one was ended."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    if size == 0:
        return False
    with open(path, "rb") as fh:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return False
    with open(path, "ab") as fh:
        fh.write(b"\n")
    return True


def read_chunks(files: dict[str, Path], loaded: dict[str, int]) -> list[Chunk]:
    """The not yet loaded whole lines of each file (named by key in ``loaded``)."""
    sizes = {name: path.stat().st_size for name, path in files.items() if path.exists()}
    chunks = []
    for name, start in pending(sizes, loaded).items():
        with open(files[name], "rb") as fh:
            fh.seek(start)
            data = fh.read(sizes[name] - start)
        chunk = split_lines(name, data, start)
        if chunk.end > chunk.start:
            chunks.append(chunk)
    return chunks


# ---- the reports `lake usage` and `lake audit` run on Trino -------------------------------------



def period(year: int | None = None, since: str | None = None) -> tuple[str | None, str | None]:
    """[start, end) of a report as dates: a calendar year, or from ``since`` on; (None, None) for all time."""
    if year is not None:
        return f"{year:04d}-01-01", f"{year + 1:04d}-01-01"
    return since, None


def usage_sql(catalog: str, start: str | None = None, end: str | None = None, dataset: str | None = None,
              include_service: bool = False) -> str:
    """Per dataset: finished queries that read it through Trino, distinct users, bytes read, and the Delta
    Sharing reads (``query`` requests answered 200) with distinct partners; first and last access."""
    ops = f"{catalog}.ops"
    reads = ["t.dataset IS NOT NULL", "t.state = 'FINISHED'"]
    shares = ["s.action = 'query'", "s.status = 200", "s.\"table\" IS NOT NULL"]
    if not include_service:
        reads.append("NOT t.is_service")
    if start:
        reads.append(f"t.read_at >= TIMESTAMP {sql.literal(start + ' 00:00:00 UTC')}")
        shares.append(f"s.at >= TIMESTAMP {sql.literal(start + ' 00:00:00 UTC')}")
    if end:
        reads.append(f"t.read_at < TIMESTAMP {sql.literal(end + ' 00:00:00 UTC')}")
        shares.append(f"s.at < TIMESTAMP {sql.literal(end + ' 00:00:00 UTC')}")
    if dataset:
        reads.append(f"t.dataset = {sql.literal(dataset)}")
        shares.append(f"s.\"table\" = {sql.literal(dataset)}")
    return f"""
WITH q AS (
  SELECT t.dataset, count(DISTINCT t.query_id) AS queries, count(DISTINCT t.user) AS users,
         sum(t.physical_input_bytes) AS bytes_read, min(t.read_at) AS first_at, max(t.read_at) AS last_at
  FROM {ops}.table_reads t WHERE {' AND '.join(reads)} GROUP BY t.dataset),
s AS (
  SELECT s."table" AS dataset, count(*) AS sharing_reads, count(DISTINCT s.partner) AS partners,
         sum(s.bytes) AS bytes_shared, min(s.at) AS first_at, max(s.at) AS last_at
  FROM {ops}.sharing_log s WHERE {' AND '.join(shares)} GROUP BY s."table")
SELECT coalesce(q.dataset, s.dataset) AS dataset, coalesce(q.queries, 0) AS queries,
       coalesce(q.users, 0) AS users, coalesce(q.bytes_read, 0) AS bytes_read,
       coalesce(s.sharing_reads, 0) AS sharing_reads, coalesce(s.partners, 0) AS partners,
       coalesce(s.bytes_shared, 0) AS bytes_shared,
       least(coalesce(q.first_at, s.first_at), coalesce(s.first_at, q.first_at)) AS first_at,
       greatest(coalesce(q.last_at, s.last_at), coalesce(s.last_at, q.last_at)) AS last_at
FROM q FULL OUTER JOIN s ON q.dataset = s.dataset
ORDER BY queries + sharing_reads DESC, dataset""".strip()


def audit_sql(catalog: str, user: str | None = None, dataset: str | None = None, since: str | None = None,
              limit: int = 100, include_service: bool = False) -> str:
    """Who queried (Trino) or read through Delta Sharing what, and when, newest first.

    A query refused before it read anything (access denied) names no table: with ``dataset`` it is
    matched by the dataset's name in its text.
    """
    ops = f"{catalog}.ops"
    q_where, s_where = [], []
    if not include_service:
        q_where.append("NOT q.is_service")
    if user:
        q_where.append(f"q.user = {sql.literal(user)}")
        s_where.append(f"s.partner = {sql.literal(user)}")
    if since:
        q_where.append(f"coalesce(q.ended_at, q.created_at) >= TIMESTAMP {sql.literal(since + ' 00:00:00 UTC')}")
        s_where.append(f"s.at >= TIMESTAMP {sql.literal(since + ' 00:00:00 UTC')}")
    if dataset:
        name = sql.literal(dataset)
        q_where.append(f"(q.query_id IN (SELECT query_id FROM {ops}.table_reads WHERE dataset = {name}) OR "
                       f"(q.query_id NOT IN (SELECT query_id FROM {ops}.table_reads) AND "
                       f"regexp_like(lower(q.query), '\\b' || lower({name}) || '\\b')))")
        s_where.append(f"s.\"table\" = {name}")
    q_filter = ("WHERE " + " AND ".join(q_where)) if q_where else ""
    s_filter = ("WHERE " + " AND ".join(s_where)) if s_where else ""
    return f"""
WITH reads AS (
  SELECT query_id, array_join(array_sort(array_agg(DISTINCT schema || '.' || "table")), ', ') AS tables,
         array_join(array_sort(array_agg(DISTINCT dataset) FILTER (WHERE dataset IS NOT NULL)), ', ') AS datasets
  FROM {ops}.table_reads GROUP BY query_id)
SELECT * FROM (
  SELECT coalesce(q.ended_at, q.created_at) AS at, q.user AS who, 'trino' AS via, q.state AS outcome,
         coalesce(r.datasets, '') AS datasets, coalesce(r.tables, '') AS tables, q.error_code AS error,
         substr(replace(q.query, chr(10), ' '), 1, 120) AS what, q.query_id AS id
  FROM {ops}.query_log q LEFT JOIN reads r ON r.query_id = q.query_id {q_filter}
  UNION ALL
  SELECT s.at, s.partner, 'delta_sharing', CAST(s.status AS varchar), coalesce(s."table", ''),
         coalesce(s.share || '.' || s.schema || '.' || s."table", ''), s.error, s.method || ' ' || s.path, s.entry_id
  FROM {ops}.sharing_log s {s_filter})
ORDER BY at DESC, id
LIMIT {int(limit)}""".strip()
