"""Delta Sharing for partner ministries: shares from the specs' grants, bearer tokens, and the server.

The open Delta Sharing protocol (github.com/delta-io/delta-sharing, PROTOCOL.md) is
a small REST API: a recipient lists the shares, schemas and tables it was given,
asks for a table's metadata and files, and reads those files itself through
short-lived presigned URLs.  The reference server has no per-recipient tokens,
so this module implements the protocol's read side:

* **Shares** (:func:`build_shares`): one share per partner of ``access.yaml``,
  named after the partner; its schemas are the domains of the gold datasets
  granted to it, its tables those datasets.  A grant that Trino narrows (a
  ``rows`` filter, or a personal column masked for that partner) cannot be
  narrowed on raw Parquet files, so that table is **refused** for Delta
  Sharing and stays readable through Trino only (masks are checked against
  the table's Delta schema: :func:`effective_shares`).
* **Tokens** (:class:`TokenStore`): one bearer token per partner, with the
  expiry ``token_ttl`` of ``access.yaml``; only its SHA-256 is kept, in
  ``<state>/sharing/tokens.json``.  A new token revokes the partner's older ones.
* **Tables** (:func:`snapshot`): the Delta log is replayed here (JSON commits and
  classic Parquet checkpoints), so the server needs no Spark.  A table whose
  live files carry deletion vectors, or that uses a reader feature a Parquet
  reader cannot honour (column mapping, v2 checkpoints), is refused with a
  message saying how to fix it: the protocol's ``parquet`` answer would hand out
  rows that were deleted.
* **Audit**: every request, allowed or refused, is one line of
  ``<state>/sharing/audit.jsonl`` (who, which share/table, when, files and bytes served).

The server (:func:`create_app`, FastAPI) is started by ``lake up sharing`` on
``services.sharing.port`` (127.0.0.1); ``lake sharing token PARTNER`` writes the
partner's profile file.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol
from urllib.parse import unquote, urlparse

from fastapi import Request  # module level: FastAPI resolves the handlers' (string) annotations here

from lakehouse.errors import ConfigError, LakeError

PREFIX = "/delta-sharing"
URL_TTL = dt.timedelta(hours=1)  # how long a presigned file URL stays valid
# Delta reader features a plain Parquet reader still reads correctly (deletion vectors only while no
# live file has one; column mapping only in mode `none`, checked separately).
PARQUET_SAFE_FEATURES = {"deletionVectors", "timestampNtz", "columnMapping", "vacuumProtocolCheck",
                         "typeWidening-preview", "typeWidening"}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---- shares from the specs -------------------------------------------------------------

@dataclass(frozen=True)
class SharedTable:
    share: str
    schema: str
    name: str
    dataset: str
    # personal columns of the datasets it is built from that this partner may not see in clear;
    # the table is refused if its schema holds one of them (see `effective_shares`)
    masked: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return _stable_id("table", self.share, self.schema, self.name)


@dataclass
class Share:
    name: str
    tables: list[SharedTable] = field(default_factory=list)

    @property
    def id(self) -> str:
        return _stable_id("share", self.name)

    @property
    def schemas(self) -> list[str]:
        return sorted({t.schema for t in self.tables})


@dataclass(frozen=True)
class Refusal:
    partner: str
    dataset: str
    reason: str


def _stable_id(*parts: str) -> str:
    """A UUID-shaped id that stays the same for the same names (the protocol asks ids to be immutable)."""
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def build_shares(datasets: dict[str, Any], access: Any) -> tuple[dict[str, Share], list[Refusal]]:
    """One share per partner: the gold datasets granted to it, under their domain; and the refused grants.

    A grant with a row filter is refused here.  Masking depends on the table's real columns
    (a gold table declares none), so it is checked against the Delta schema by
    :func:`effective_shares`; each table carries the columns that would need a mask.
    """
    from lakehouse.access import personal_columns

    shares = {partner: Share(partner) for partner in sorted(access.partners)}
    refused: list[Refusal] = []
    for name in sorted(datasets):
        spec = datasets[name]
        if getattr(spec, "layer", None) != "gold":
            continue  # partners are granted gold only (checked by `lake spec validate`)
        for grant in spec.grants:
            if grant.to not in shares:
                continue  # a ministry group: they read through Trino
            if grant.rows:
                refused.append(Refusal(grant.to, name, (
                    f"its grant has a row filter (rows: {grant.rows!r}) that raw Parquet files cannot apply; "
                    f"the partner reads it through Trino")))
                continue
            masked = tuple(sorted(set(personal_columns(spec, datasets)) - set(grant.clear)))
            shares[grant.to].tables.append(SharedTable(grant.to, spec.domain, name, name, masked))
    return shares, refused


def masked_reason(table: SharedTable, schema_string: str) -> str | None:
    """Why ``table`` cannot be shared as files: a column of its schema that this partner sees masked."""
    columns = {f["name"] for f in json.loads(schema_string).get("fields", [])}
    hit = sorted(set(table.masked) & columns)
    if not hit:
        return None
    return (f"personal column(s) {', '.join(hit)} are masked for this partner, and raw Parquet files cannot be "
            f"masked; the partner reads it through Trino (or list them in the grant's `clear`)")


def effective_shares(shares: dict[str, Share], refused: list[Refusal],
                     store: "TableStorage | None") -> tuple[dict[str, Share], list[Refusal]]:
    """Drop the tables whose Delta schema holds a column masked for their partner, and say why.

    A table not built yet stays listed (reading it answers 404), and is checked again when read.
    """
    out: dict[str, Share] = {}
    refused = list(refused)
    for key, share in shares.items():
        kept = []
        for table in share.tables:
            reason = None
            if table.masked and store is not None:
                try:
                    reason = masked_reason(table, snapshot(store, f"gold/{table.dataset}").metadata["schemaString"])
                except NoTable:
                    reason = None
            if reason:
                refused.append(Refusal(table.share, table.dataset, reason))
            else:
                kept.append(table)
        out[key] = Share(share.name, kept)
    return out, refused


def load_shares(config_dir: Path | None = None, store: "TableStorage | None" = None
                ) -> tuple[dict[str, Share], list[Refusal], Any]:
    """Shares, refusals and the access config from ``lake_config/`` (specs re-read on every call);
    with ``store``, tables whose schema holds a masked column are refused too."""
    from lakehouse.access import load_access
    from lakehouse.spec import load_catalog

    access = load_access(config_dir)
    catalog = load_catalog(config_dir)
    shares, refused = effective_shares(*build_shares(catalog.datasets, access), store)
    return shares, refused, access


# ---- tokens ------------------------------------------------------------------------------

def hash_token(token: str) -> str:
    """SHA-256 of a bearer token.  Tokens are 256 random bits, so a fast hash is enough (no guessing)."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenError(LakeError):
    """A request's bearer token is missing, unknown, expired or revoked."""

    def __init__(self, status: int, code: str, message: str, record: dict | None = None):
        super().__init__(message)
        self.status, self.code = status, code
        self.record = record  # the token's record when the token is known (revoked, expired)


class TokenStore:
    """``<state>/sharing/tokens.json``: each token's hash, partner, creation, expiry and revocation."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def _read(self) -> list[dict]:
        if not self.path.exists():
            return []
        try:
            return json.loads(self.path.read_text())["tokens"]
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"{self.path}: not a token file ({exc}); move it away and issue new tokens "
                              f"with `lake sharing token PARTNER`") from exc

    def _write(self, tokens: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"tokens": tokens}, indent=1))
        tmp.chmod(0o600)
        tmp.replace(self.path)

    def issue(self, partner: str, ttl: dt.timedelta, now: dt.datetime | None = None) -> tuple[str, dict]:
        """A new token for ``partner`` (returned once, in clear); the partner's older tokens are revoked."""
        now = now or utcnow()
        token = secrets.token_urlsafe(32)
        record = {"partner": partner, "sha256": hash_token(token), "id": secrets.token_hex(4),
                  "created_at": _iso(now), "expires_at": _iso(now + ttl), "revoked_at": None}
        with self._lock:
            tokens = self._read()
            for old in tokens:
                if old["partner"] == partner and old["revoked_at"] is None:
                    old["revoked_at"] = _iso(now)
                    old["revoked_by"] = "rotated"
            tokens.append(record)
            self._write(tokens)
        return token, record

    def revoke(self, partner: str, now: dt.datetime | None = None) -> int:
        """Revoke every live token of ``partner``; returns how many."""
        now = now or utcnow()
        with self._lock:
            tokens = self._read()
            count = 0
            for record in tokens:
                if record["partner"] == partner and record["revoked_at"] is None:
                    record["revoked_at"] = _iso(now)
                    record["revoked_by"] = "revoked"
                    count += 1
            self._write(tokens)
        return count

    def records(self) -> list[dict]:
        return self._read()

    def current(self, partner: str) -> dict | None:
        """The partner's newest token record (revoked or not), if any."""
        mine = [r for r in self._read() if r["partner"] == partner]
        return mine[-1] if mine else None

    def authenticate(self, authorization: str | None, now: dt.datetime | None = None) -> dict:
        """The token record behind an ``Authorization: Bearer …`` header, or a :class:`TokenError`."""
        now = now or utcnow()
        if not authorization or not authorization.startswith("Bearer ") or not authorization[7:].strip():
            raise TokenError(401, "UNAUTHENTICATED", "no bearer token: send `Authorization: Bearer <token>` "
                                                     "(the bearerToken of your profile file)")
        digest = hash_token(authorization[7:].strip())
        match = next((r for r in self._read() if hmac.compare_digest(r["sha256"], digest)), None)
        if match is None:
            raise TokenError(401, "UNAUTHENTICATED", "unknown bearer token; ask the data owner for a profile file")
        if match["revoked_at"]:
            raise TokenError(403, "TOKEN_REVOKED", f"this token was {match.get('revoked_by', 'revoked')} at "
                                                   f"{match['revoked_at']}; ask the data owner for a new profile file",
                             match)
        expires = dt.datetime.fromisoformat(match["expires_at"].replace("Z", "+00:00"))
        if now >= expires:
            raise TokenError(403, "TOKEN_EXPIRED", f"this token expired at {match['expires_at']}; "
                                                   f"ask the data owner for a new profile file", match)
        return match


def profile(endpoint: str, token: str, expires_at: str) -> dict:
    """A Delta Sharing profile file's content (shareCredentialsVersion 1)."""
    return {"shareCredentialsVersion": 1, "endpoint": endpoint, "bearerToken": token, "expirationTime": expires_at}


# ---- the Delta log ------------------------------------------------------------------------

class TableStorage(Protocol):
    """What the server needs of object storage: list, read and presign keys of the lake bucket."""

    def list(self, prefix: str) -> list[str]: ...
    def read(self, key: str) -> bytes: ...
    def presign(self, key: str, expires: dt.timedelta) -> str: ...


class S3Storage:
    """The lake bucket through the `minio` SDK (any S3)."""

    def __init__(self, settings: Any):
        from lakehouse import storage

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


def metadata_line(snap: Snapshot, table: SharedTable) -> dict:
    meta = snap.metadata
    return {"metaData": {
        "id": meta.get("id") or table.id, "name": table.name,
        "format": {"provider": "parquet"}, "schemaString": meta["schemaString"],
        "partitionColumns": meta.get("partitionColumns") or [],
        "configuration": meta.get("configuration") or {},
        "size": sum(int(f["size"]) for f in snap.files), "numFiles": len(snap.files)}}


# ---- audit --------------------------------------------------------------------------------

class AuditLog:
    """``<state>/sharing/audit.jsonl``: one JSON line per request."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def record(self, **entry: Any) -> None:
        entry = {"at": _iso(utcnow()), **entry}
        line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)

    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]


def sharing_dir(settings: Any) -> Path:
    return settings.state_dir / "sharing"


def token_store(settings: Any) -> TokenStore:
    return TokenStore(sharing_dir(settings) / "tokens.json")


def audit_log(settings: Any) -> AuditLog:
    return AuditLog(sharing_dir(settings) / "audit.jsonl")


def endpoint(settings: Any) -> str:
    """The URL partners put in their profile (``services.sharing.public_url`` when set)."""
    cfg = settings.env.services.sharing
    return (cfg.public_url or f"http://{settings.host}:{cfg.port}{PREFIX}").rstrip("/")


# ---- the server -----------------------------------------------------------------------------

class ProtocolError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _page(items: list[dict], max_results: int | None, page_token: str | None) -> dict:
    """One page of a list answer; the page token is the offset, base64-encoded."""
    start = 0
    if page_token:
        try:
            start = int(base64.urlsafe_b64decode(page_token.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise ProtocolError(400, "INVALID_PARAMETER_VALUE", f"pageToken {page_token!r} is not one this "
                                                                "server returned") from None
    if max_results is not None and max_results < 0:
        raise ProtocolError(400, "INVALID_PARAMETER_VALUE", "maxResults must be non-negative")
    end = len(items) if max_results is None else start + max_results
    body: dict = {"items": items[start:end]}
    if end < len(items):
        body["nextPageToken"] = base64.urlsafe_b64encode(str(end).encode()).decode()
    return body


def create_app(settings: Any, store: TableStorage | None = None,
               shares_loader: Callable[[], tuple[dict[str, Share], list[Refusal], Any]] | None = None,
               clock: Callable[[], dt.datetime] = utcnow):
    """The Delta Sharing REST API (read side) as a FastAPI app."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, Response

    tokens, audit = token_store(settings), audit_log(settings)
    loader = shares_loader or (lambda: load_shares(store=table_storage()))
    storage_holder: dict[str, TableStorage] = {}
    app = FastAPI(title="lakehouse Delta Sharing", docs_url=None, redoc_url=None, openapi_url=None)

    def table_storage() -> TableStorage:
        if store is not None:
            return store
        if "s3" not in storage_holder:
            storage_holder["s3"] = S3Storage(settings)
        return storage_holder["s3"]

    def error(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"errorCode": code, "message": message}, status_code=status)

    def serve(request: Request, share: str | None, schema: str | None, table: str | None,
              handler: Callable[[dict, dict[str, Share]], Any]):
        """Authenticate, resolve names, run ``handler``, and write the audit line either way."""
        started = time.monotonic()
        entry: dict[str, Any] = {"partner": None, "token_id": None, "method": request.method,
                                 "path": request.url.path, "share": share, "schema": schema, "table": table,
                                 "client": request.client.host if request.client else None}
        try:
            try:
                record = tokens.authenticate(request.headers.get("authorization"), clock())
            except TokenError as exc:
                if exc.record:  # who tried, with a token that was theirs
                    entry.update(partner=exc.record["partner"], token_id=exc.record["id"])
                raise ProtocolError(exc.status, exc.code, str(exc)) from None
            entry.update(partner=record["partner"], token_id=record["id"])
            shares, _, _ = loader()
            response, extra = handler(record, shares)
            entry.update(status=response.status_code, **extra)
            return response
        except ProtocolError as exc:
            entry.update(status=exc.status, error=exc.code, message=exc.message)
            return error(exc.status, exc.code, exc.message)
        except (ConfigError, LakeError) as exc:
            entry.update(status=500, error="INTERNAL_ERROR", message=str(exc))
            return error(500, "INTERNAL_ERROR", str(exc))
        except Exception as exc:  # the S3 client raises many types (unreachable, denied, ...)
            if not exc.__class__.__module__.startswith(("minio", "urllib3")):
                entry.update(status=500, error="INTERNAL_ERROR", message=repr(exc))
                raise
            message = f"the lake's object storage cannot be read ({exc.__class__.__name__}); try again later"
            entry.update(status=503, error="TEMPORARILY_UNAVAILABLE", message=f"{message}: {exc}")
            return error(503, "TEMPORARILY_UNAVAILABLE", message)
        finally:
            entry["ms"] = round((time.monotonic() - started) * 1000)
            audit.record(**entry)

    def own_share(record: dict, shares: dict[str, Share], share: str) -> Share:
        # a partner sees its own share only; another partner's share answers like a missing one
        found = shares.get(share.lower())
        if found is None or found.name != record["partner"]:
            raise ProtocolError(404, "RESOURCE_DOES_NOT_EXIST", f"no share {share!r} for this recipient")
        return found

    def own_table(record: dict, shares: dict[str, Share], share: str, schema: str, table: str) -> SharedTable:
        found = own_share(record, shares, share)
        for t in found.tables:
            if t.schema == schema.lower() and t.name == table.lower():
                return t
        raise ProtocolError(404, "RESOURCE_DOES_NOT_EXIST", f"no table {share}.{schema}.{table} for this recipient")

    def read_snapshot(t: SharedTable) -> tuple[Snapshot, str]:
        prefix = f"gold/{t.dataset}"
        try:
            snap = snapshot(table_storage(), prefix)
            check_shareable(snap, prefix)
        except NoTable as exc:
            raise ProtocolError(404, "RESOURCE_DOES_NOT_EXIST", str(exc)) from None
        except NotShareable as exc:
            raise ProtocolError(400, "TABLE_NOT_SHAREABLE", str(exc)) from None
        reason = masked_reason(t, snap.metadata["schemaString"])
        if reason:  # the schema changed since the share was listed
            raise ProtocolError(403, "TABLE_NOT_SHAREABLE", f"{t.name}: {reason}")
        return snap, prefix

    def ndjson(lines: list[dict], version: int) -> Response:
        body = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        return Response(body, media_type="application/x-ndjson; charset=utf-8",
                        headers={"Delta-Table-Version": str(version),
                                 "delta-sharing-capabilities": "responseformat=parquet"})

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.get(PREFIX + "/shares")
    def list_shares(request: Request, maxResults: int | None = None, pageToken: str | None = None):
        def handler(record, shares):
            mine = [{"name": s.name, "id": s.id} for s in shares.values() if s.name == record["partner"]]
            return JSONResponse(_page(mine, maxResults, pageToken)), {}
        return serve(request, None, None, None, handler)

    @app.get(PREFIX + "/shares/{share}")
    def get_share(request: Request, share: str):
        def handler(record, shares):
            s = own_share(record, shares, share)
            return JSONResponse({"share": {"name": s.name, "id": s.id}}), {}
        return serve(request, share, None, None, handler)

    @app.get(PREFIX + "/shares/{share}/schemas")
    def list_schemas(request: Request, share: str, maxResults: int | None = None, pageToken: str | None = None):
        def handler(record, shares):
            s = own_share(record, shares, share)
            return JSONResponse(_page([{"name": n, "share": s.name} for n in s.schemas], maxResults, pageToken)), {}
        return serve(request, share, None, None, handler)

    def table_item(t: SharedTable, s: Share) -> dict:
        return {"name": t.name, "schema": t.schema, "share": t.share, "shareId": s.id, "id": t.id}

    @app.get(PREFIX + "/shares/{share}/schemas/{schema}/tables")
    def list_tables(request: Request, share: str, schema: str, maxResults: int | None = None,
                    pageToken: str | None = None):
        def handler(record, shares):
            s = own_share(record, shares, share)
            if schema.lower() not in s.schemas:
                raise ProtocolError(404, "RESOURCE_DOES_NOT_EXIST", f"no schema {schema!r} in share {s.name}")
            items = [table_item(t, s) for t in s.tables if t.schema == schema.lower()]
            return JSONResponse(_page(items, maxResults, pageToken)), {}
        return serve(request, share, schema, None, handler)

    @app.get(PREFIX + "/shares/{share}/all-tables")
    def all_tables(request: Request, share: str, maxResults: int | None = None, pageToken: str | None = None):
        def handler(record, shares):
            s = own_share(record, shares, share)
            return JSONResponse(_page([table_item(t, s) for t in s.tables], maxResults, pageToken)), {}
        return serve(request, share, None, None, handler)

    def version_handler(request: Request, share: str, schema: str, table: str):
        def handler(record, shares):
            t = own_table(record, shares, share, schema, table)
            snap, _ = read_snapshot(t)
            return Response(status_code=200, headers={"Delta-Table-Version": str(snap.version)}), \
                {"version": snap.version}
        return serve(request, share, schema, table, handler)

    @app.head(PREFIX + "/shares/{share}/schemas/{schema}/tables/{table}")
    def table_version_head(request: Request, share: str, schema: str, table: str):
        return version_handler(request, share, schema, table)

    @app.get(PREFIX + "/shares/{share}/schemas/{schema}/tables/{table}/version")
    def table_version(request: Request, share: str, schema: str, table: str, startingTimestamp: str | None = None):
        if startingTimestamp:
            return error(400, "INVALID_PARAMETER_VALUE", "history is not shared: startingTimestamp is not supported")
        return version_handler(request, share, schema, table)

    @app.get(PREFIX + "/shares/{share}/schemas/{schema}/tables/{table}/metadata")
    def table_metadata(request: Request, share: str, schema: str, table: str):
        def handler(record, shares):
            t = own_table(record, shares, share, schema, table)
            snap, _ = read_snapshot(t)
            return ndjson([{"protocol": {"minReaderVersion": 1}}, metadata_line(snap, t)], snap.version), \
                {"version": snap.version}
        return serve(request, share, schema, table, handler)

    @app.post(PREFIX + "/shares/{share}/schemas/{schema}/tables/{table}/query")
    async def table_query(request: Request, share: str, schema: str, table: str):
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            body = None

        def handler(record, shares):
            if body is None:
                raise ProtocolError(400, "MALFORMED_REQUEST", "the request body is not a JSON object")
            t = own_table(record, shares, share, schema, table)
            snap, prefix = read_snapshot(t)
            for unsupported in ("timestamp", "startingVersion", "endingVersion"):
                if body.get(unsupported) is not None:
                    raise ProtocolError(400, "INVALID_PARAMETER_VALUE",
                                        f"history is not shared: {unsupported} is not supported")
            if body.get("version") is not None and int(body["version"]) != snap.version:
                raise ProtocolError(400, "INVALID_PARAMETER_VALUE", f"history is not shared: only the current "
                                                                    f"version {snap.version} can be read")
            limit = body.get("limitHint")
            files = file_lines(table_storage(), snap, prefix, int(limit) if limit is not None else None)
            lines = [{"protocol": {"minReaderVersion": 1}}, metadata_line(snap, t), *files]
            return ndjson(lines, snap.version), {
                "version": snap.version, "files": len(files),
                "bytes": sum(f["file"]["size"] for f in files),
                "predicate_hints": body.get("predicateHints"), "limit_hint": limit}
        return serve(request, share, schema, table, handler)

    @app.get(PREFIX + "/shares/{share}/schemas/{schema}/tables/{table}/changes")
    def table_changes(request: Request, share: str, schema: str, table: str):
        def handler(record, shares):
            own_table(record, shares, share, schema, table)
            raise ProtocolError(400, "INVALID_PARAMETER_VALUE", "history is not shared: the change data feed "
                                                                "is not served")
        return serve(request, share, schema, table, handler)

    # Last: a path no endpoint above matches (a name with an encoded "/", a "..", a method or endpoint this
    # server lacks) is answered and audited like every request, not with the framework's bare 404 or 405
    @app.api_route("/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
    def no_endpoint(request: Request, rest: str):
        def handler(record, shares):
            raise ProtocolError(404, "RESOURCE_DOES_NOT_EXIST", f"no endpoint {request.method} {request.url.path}")
        return serve(request, None, None, None, handler)

    return app


# ---- commands -------------------------------------------------------------------------------

def issue_token(partner: str, settings: Any, out: Path | None = None) -> tuple[str, dict, Path]:
    """Create or rotate ``partner``'s token; write its profile file (mode 600). Returns token, record, path."""
    from lakehouse.access import access_file, load_access
    from lakehouse.durations import parse_duration

    access = load_access()
    if partner not in access.partners:
        known = ", ".join(sorted(access.partners)) or "none"
        raise ConfigError(f"{access_file()}: no partner {partner!r} under `partners` (known: {known})")
    ttl = parse_duration(access.partners[partner].token_ttl)
    token, record = token_store(settings).issue(partner, ttl)
    path = out or sharing_dir(settings) / "profiles" / f"{partner}.share"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(profile(endpoint(settings), token, record["expires_at"]), indent=2) + "\n")
    path.chmod(0o600)
    return token, record, path


def status_rows(settings: Any, now: dt.datetime | None = None) -> tuple[list[dict], list[Refusal]]:
    """One row per partner (its token's state and expiry, the tables it is shared, the refused ones),
    and why each refused grant is refused."""
    now = now or utcnow()
    try:
        store: TableStorage | None = S3Storage(settings)
        store.list("gold/_none_/")  # reachable?
    except Exception:  # S3 down: masks are checked against the schemas once it is up
        store = None
    shares, refused, access = load_shares(store=store)
    store = token_store(settings)
    rows = []
    for partner in sorted(access.partners):
        record = store.current(partner)
        if record is None:
            state, expires = "no token", ""
        elif record["revoked_at"]:
            state, expires = record.get("revoked_by", "revoked"), record["expires_at"]
        elif dt.datetime.fromisoformat(record["expires_at"].replace("Z", "+00:00")) <= now:
            state, expires = "expired", record["expires_at"]
        else:
            state, expires = "active", record["expires_at"]
        rows.append({"partner": partner, "token": state, "expires_at": expires,
                     "tables": ", ".join(f"{t.share}.{t.schema}.{t.name}" for t in shares[partner].tables) or "-",
                     "refused": ", ".join(r.dataset for r in refused if r.partner == partner) or "-"})
    return rows, refused


def main(argv: list[str] | None = None) -> None:
    """``python -m lakehouse.sharing --host H --port P``: run the server (what ``lake up sharing`` starts)."""
    import argparse

    import uvicorn

    from lakehouse.settings import get_settings

    parser = argparse.ArgumentParser(description="Serve the lake's gold tables to partners over Delta Sharing.")
    parser.add_argument("--host", default=None, help="address to listen on (default: services.host)")
    parser.add_argument("--port", type=int, default=None, help="port (default: services.sharing.port)")
    args = parser.parse_args(argv)
    settings = get_settings()
    uvicorn.run(create_app(settings), host=args.host or settings.host,
                port=args.port or settings.env.services.sharing.port, log_level="info", access_log=False)


if __name__ == "__main__":
    main()
