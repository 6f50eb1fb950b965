"""A Delta table's current state read from its log alone (JSON commits, classic Parquet checkpoints), no Spark.

The answer to a partner's query is the table's live Parquet files as presigned S3 URLs,
so a table that a plain Parquet reader would read wrongly (deletion vectors in live files,
column mapping, v2 checkpoints) is refused with a message saying how to fix it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterable, Protocol
from urllib.parse import unquote, urlparse

from lakehouse.core.errors import LakeError
from lakehouse.serving.sharing.common import utcnow

URL_TTL = dt.timedelta(hours=1)  # how long a presigned file URL stays valid
# Delta reader features a plain Parquet reader still reads correctly (deletion vectors only while no
# live file has one; column mapping only in mode `none`, checked separately).
PARQUET_SAFE_FEATURES = {"deletionVectors", "timestampNtz", "columnMapping", "vacuumProtocolCheck",
                         "typeWidening-preview", "typeWidening"}


class TableStorage(Protocol):
    """What the server needs of object storage: list, read and presign keys of the lake bucket."""

    def list(self, prefix: str) -> list[str]: ...
    def read(self, key: str) -> bytes: ...
    def presign(self, key: str, expires: dt.timedelta) -> str: ...


class S3Storage:
    """The lake bucket through the `minio` SDK (any S3)."""

    def __init__(self, settings: Any):
        from lakehouse.io import storage

        self.settings = settings
        self.client = storage.client(settings)
        self.bucket = settings.bucket

    def list(self, prefix: str) -> list[str]:
        return [o.object_name for o in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)]

    def read(self, key: str) -> bytes:
        resp = self.client.get_object(self.bucket, key)
        try:
            return resp.read()
        finally:
            resp.close()
            resp.release_conn()

    def presign(self, key: str, expires: dt.timedelta) -> str:
        return self.client.presigned_get_object(self.bucket, key, expires=expires)


class NotShareable(LakeError):
    """The table exists but cannot be served as plain Parquet files."""


class NoTable(LakeError):
    """No Delta table at the location (not built yet)."""


@dataclass
class Snapshot:
    version: int
    protocol: dict
    metadata: dict
    files: list[dict]  # live `add` actions
    timestamp: int = 0


def _version_of(key: str) -> int | None:
    name = key.rsplit("/", 1)[-1]
    head = name.split(".", 1)[0]
    return int(head) if head.isdigit() and len(head) == 20 else None


def _checkpoint_actions(data: bytes) -> Iterable[dict]:
    """The actions of one classic checkpoint Parquet file, as the JSON log would spell them."""
    import io

    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    wanted = [c for c in ("add", "remove", "metaData", "protocol") if c in table.column_names]
    for row in table.select(wanted).to_pylist():
        for kind in wanted:
            action = row.get(kind)
            if action:
                for key in ("partitionValues", "configuration", "tags"):
                    if isinstance(action.get(key), list):  # Parquet maps come back as (key, value) pairs
                        action[key] = dict(action[key])
                yield {kind: action}


def snapshot(store: TableStorage, table_prefix: str) -> Snapshot:
    """The current state of the Delta table under ``table_prefix`` (``gold/<name>``): replay its log."""
    log = f"{table_prefix.rstrip('/')}/_delta_log/"
    keys = store.list(log)
    commits = sorted((v, k) for k in keys if k.endswith(".json") and (v := _version_of(k)) is not None)
    checkpoints: dict[int, list[str]] = {}
    for k in keys:
        if ".checkpoint." in k and k.endswith(".parquet") and (v := _version_of(k)) is not None:
            checkpoints.setdefault(v, []).append(k)
    if not commits and not checkpoints:
        raise NoTable(f"no Delta table at {table_prefix} (has it been built yet?)")
    # the newest complete classic checkpoint (a multi-part one names its part count)
    start, actions = -1, []
    for v in sorted(checkpoints, reverse=True):
        parts = sorted(checkpoints[v])
        # <v>.checkpoint.parquet, or <v>.checkpoint.<part>.<parts>.parquet; a v2 one is <v>.checkpoint.<uuid>.parquet
        name = parts[0].rsplit("/", 1)[-1].split(".")
        if len(name) == 5 and name[2].isdigit() and name[3].isdigit():
            if len(parts) != int(name[3]):
                continue  # a multi-part checkpoint still being written
        elif len(name) != 3:
            raise NotShareable(f"{table_prefix} has a v2 checkpoint ({parts[0]}), which this server cannot read")
        for part in parts:
            actions.extend(_checkpoint_actions(store.read(part)))
        start = v
        break
    version, timestamp = start, 0
    replay = [(v, k) for v, k in commits if v > start]
    for v, k in replay:
        for line in store.read(k).decode("utf-8").splitlines():
            if line.strip():
                action = json.loads(line)
                if "commitInfo" in action:
                    timestamp = action["commitInfo"].get("timestamp", timestamp)
                actions.append(action)
        version = v
    protocol: dict = {}
    metadata: dict = {}
    live: dict[tuple[str, str], dict] = {}
    for action in actions:
        if "protocol" in action:
            protocol = action["protocol"]
        elif "metaData" in action:
            metadata = action["metaData"]
        elif "add" in action:
            add = action["add"]
            live[(add["path"], _dv_id(add.get("deletionVector")))] = add
        elif "remove" in action:
            rem = action["remove"]
            live.pop((rem["path"], _dv_id(rem.get("deletionVector"))), None)
    if not metadata:
        raise NoTable(f"{table_prefix}: the Delta log has no metaData action")
    return Snapshot(version, protocol, metadata, list(live.values()), timestamp)


def _dv_id(dv: dict | None) -> str:
    if not dv:
        return ""
    return f"{dv.get('storageType')}{dv.get('pathOrInlineDv')}@{dv.get('offset')}"


def check_shareable(snap: Snapshot, table_prefix: str) -> None:
    """Refuse what a Parquet-only answer would get wrong: deletion vectors in live files, column mapping, …"""
    features = set(snap.protocol.get("readerFeatures") or [])
    unknown = sorted(features - PARQUET_SAFE_FEATURES)
    if unknown:
        raise NotShareable(f"{table_prefix} needs Delta reader feature(s) {', '.join(unknown)}, which a "
                           f"Delta Sharing client reading plain Parquet files cannot honour")
    mode = (snap.metadata.get("configuration") or {}).get("delta.columnMapping.mode", "none")
    if mode != "none":
        raise NotShareable(f"{table_prefix} uses column mapping ({mode}): its Parquet files do not carry the "
                           f"table's column names")
    with_dv = [f["path"] for f in snap.files if f.get("deletionVector")]
    if with_dv:
        raise NotShareable(
            f"{table_prefix}: {len(with_dv)} live file(s) carry deletion vectors (rows deleted without "
            f"rewriting the file), so serving the Parquet files would return deleted rows. Purge them, then "
            f"share again: in Spark, REORG TABLE delta.`s3a://<bucket>/{table_prefix}` APPLY (PURGE)")


def object_key(table_prefix: str, path: str) -> str:
    """The bucket key of an ``add`` action's path (relative and URL-encoded, or an absolute URI)."""
    if "://" in path:
        return unquote(urlparse(path).path.lstrip("/"))
    return f"{table_prefix.rstrip('/')}/{unquote(path)}"


def file_lines(store: TableStorage, snap: Snapshot, table_prefix: str, limit_hint: int | None,
               expires: dt.timedelta = URL_TTL) -> list[dict]:
    """The ``file`` lines of a query: every live file with a presigned URL, its stats and partition values.

    ``limitHint`` is honoured loosely: files are added until their stats' ``numRecords`` reach it
    (all files when a file has no stats).  ``predicateHints`` are not applied: the client filters.
    """
    out, rows = [], 0
    expires_ms = int((utcnow() + expires).timestamp() * 1000)
    for add in sorted(snap.files, key=lambda a: a["path"]):
        if limit_hint is not None and rows >= limit_hint:
            break
        line = {"url": store.presign(object_key(table_prefix, add["path"]), expires),
                "id": hashlib.md5(add["path"].encode()).hexdigest(),
                "partitionValues": add.get("partitionValues") or {},
                "size": int(add["size"]), "expirationTimestamp": expires_ms}
        if add.get("stats"):
            line["stats"] = add["stats"]
            try:
                rows += int(json.loads(add["stats"]).get("numRecords", 0))
            except (ValueError, TypeError):
                limit_hint = None
        else:
            limit_hint = None  # without stats a file may hold any number of rows: serve all
        out.append({"file": line})
    return out
