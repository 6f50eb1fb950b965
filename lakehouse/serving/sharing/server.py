"""The Delta Sharing REST API (read side) as a FastAPI app, and the process `lake up sharing` starts.

FastAPI and uvicorn are imported here only, so a job that imports :mod:`lakehouse.serving.sharing`
(the audit log, the tokens) loads no web framework.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any, Callable

from fastapi import FastAPI
from fastapi import Request  # module level: FastAPI resolves the handlers' (string) annotations here
from fastapi.responses import JSONResponse, Response

from lakehouse.core.errors import ConfigError, LakeError
# snapshot through the module, so a test can make the object store fail
from lakehouse.serving.sharing import deltalog
from lakehouse.serving.sharing.audit import audit_log
from lakehouse.serving.sharing.common import PREFIX, utcnow
from lakehouse.serving.sharing.deltalog import (NoTable, NotShareable, S3Storage, Snapshot, TableStorage,
                                                check_shareable, file_lines)
from lakehouse.serving.sharing.protocol import ProtocolError, metadata_line, page
from lakehouse.serving.sharing.shares import Refusal, Share, SharedTable, load_shares, masked_reason
from lakehouse.serving.sharing.tokens import TokenError, token_store

Handler = Callable[[dict, dict[str, Share]], Any]  # (token record, shares) → (response, audit fields)


class Server:
    """What every request needs: the token store, the audit log, the shares and the lake's object storage."""

    def __init__(self, settings: Any, store: TableStorage | None,
                 shares_loader: Callable[[], tuple[dict[str, Share], list[Refusal], Any]] | None,
                 clock: Callable[[], dt.datetime]):
        self.settings, self.store, self.clock = settings, store, clock
        self.tokens, self.audit = token_store(settings), audit_log(settings)
        self.loader = shares_loader or (lambda: load_shares(store=self.table_storage()))
        self._s3: TableStorage | None = None

    def table_storage(self) -> TableStorage:
        if self.store is not None:
            return self.store
        if self._s3 is None:  # one client for the server's life, made on first use
            self._s3 = S3Storage(self.settings)
        return self._s3

    def serve(self, request: Request, share: str | None, schema: str | None, table: str | None,
              handler: Handler):
        """Authenticate, resolve names, run ``handler``, and write the audit line either way."""
        started = time.monotonic()
        entry: dict[str, Any] = {"partner": None, "token_id": None, "method": request.method,
                                 "path": request.url.path, "share": share, "schema": schema, "table": table,
                                 "client": request.client.host if request.client else None}
        try:
            try:
                record = self.tokens.authenticate(request.headers.get("authorization"), self.clock())
            except TokenError as exc:
                if exc.record:  # who tried, with a token that was theirs
                    entry.update(partner=exc.record["partner"], token_id=exc.record["id"])
                raise ProtocolError(exc.status, exc.code, str(exc)) from None
            entry.update(partner=record["partner"], token_id=record["id"])
            shares, _, _ = self.loader()
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
            self.audit.record(**entry)

    def read_snapshot(self, t: SharedTable) -> tuple[Snapshot, str]:
        prefix = f"gold/{t.dataset}"
        try:
            snap = deltalog.snapshot(self.table_storage(), prefix)
            check_shareable(snap, prefix)
        except NoTable as exc:
            raise ProtocolError(404, "RESOURCE_DOES_NOT_EXIST", str(exc)) from None
        except NotShareable as exc:
            raise ProtocolError(400, "TABLE_NOT_SHAREABLE", str(exc)) from None
        reason = masked_reason(t, snap.metadata["schemaString"])
        if reason:  # the schema changed since the share was listed
            raise ProtocolError(403, "TABLE_NOT_SHAREABLE", f"{t.name}: {reason}")
        return snap, prefix


def _server(request: Request) -> Server:
    return request.app.state.sharing


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"errorCode": code, "message": message}, status_code=status)


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


def ndjson(lines: list[dict], version: int) -> Response:
    body = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    return Response(body, media_type="application/x-ndjson; charset=utf-8",
                    headers={"Delta-Table-Version": str(version),
                             "delta-sharing-capabilities": "responseformat=parquet"})


def table_item(t: SharedTable, s: Share) -> dict:
    return {"name": t.name, "schema": t.schema, "share": t.share, "shareId": s.id, "id": t.id}


# ---- the routes, in the order create_app registers them ----------------------------------------

def health():
    return {"status": "ok"}


def list_shares(request: Request, maxResults: int | None = None, pageToken: str | None = None):
    def handler(record, shares):
        mine = [{"name": s.name, "id": s.id} for s in shares.values() if s.name == record["partner"]]
        return JSONResponse(page(mine, maxResults, pageToken)), {}
    return _server(request).serve(request, None, None, None, handler)


def get_share(request: Request, share: str):
    def handler(record, shares):
        s = own_share(record, shares, share)
        return JSONResponse({"share": {"name": s.name, "id": s.id}}), {}
    return _server(request).serve(request, share, None, None, handler)


def list_schemas(request: Request, share: str, maxResults: int | None = None, pageToken: str | None = None):
    def handler(record, shares):
        s = own_share(record, shares, share)
        return JSONResponse(page([{"name": n, "share": s.name} for n in s.schemas], maxResults, pageToken)), {}
    return _server(request).serve(request, share, None, None, handler)


def list_tables(request: Request, share: str, schema: str, maxResults: int | None = None,
                pageToken: str | None = None):
    def handler(record, shares):
        s = own_share(record, shares, share)
        if schema.lower() not in s.schemas:
            raise ProtocolError(404, "RESOURCE_DOES_NOT_EXIST", f"no schema {schema!r} in share {s.name}")
        items = [table_item(t, s) for t in s.tables if t.schema == schema.lower()]
        return JSONResponse(page(items, maxResults, pageToken)), {}
    return _server(request).serve(request, share, schema, None, handler)


def all_tables(request: Request, share: str, maxResults: int | None = None, pageToken: str | None = None):
    def handler(record, shares):
        s = own_share(record, shares, share)
        return JSONResponse(page([table_item(t, s) for t in s.tables], maxResults, pageToken)), {}
    return _server(request).serve(request, share, None, None, handler)


def version_handler(request: Request, share: str, schema: str, table: str):
    server = _server(request)

    def handler(record, shares):
        t = own_table(record, shares, share, schema, table)
        snap, _ = server.read_snapshot(t)
        return Response(status_code=200, headers={"Delta-Table-Version": str(snap.version)}), \
            {"version": snap.version}
    return server.serve(request, share, schema, table, handler)


def table_version_head(request: Request, share: str, schema: str, table: str):
    return version_handler(request, share, schema, table)


def table_version(request: Request, share: str, schema: str, table: str, startingTimestamp: str | None = None):
    if startingTimestamp:
        return error(400, "INVALID_PARAMETER_VALUE", "history is not shared: startingTimestamp is not supported")
    return version_handler(request, share, schema, table)


def table_metadata(request: Request, share: str, schema: str, table: str):
    server = _server(request)

    def handler(record, shares):
        t = own_table(record, shares, share, schema, table)
        snap, _ = server.read_snapshot(t)
        return ndjson([{"protocol": {"minReaderVersion": 1}}, metadata_line(snap, t)], snap.version), \
            {"version": snap.version}
    return server.serve(request, share, schema, table, handler)


async def table_query(request: Request, share: str, schema: str, table: str):
    server = _server(request)
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
        snap, prefix = server.read_snapshot(t)
        for unsupported in ("timestamp", "startingVersion", "endingVersion"):
            if body.get(unsupported) is not None:
                raise ProtocolError(400, "INVALID_PARAMETER_VALUE",
                                    f"history is not shared: {unsupported} is not supported")
        if body.get("version") is not None and int(body["version"]) != snap.version:
            raise ProtocolError(400, "INVALID_PARAMETER_VALUE", f"history is not shared: only the current "
                                                                f"version {snap.version} can be read")
        limit = body.get("limitHint")
        files = file_lines(server.table_storage(), snap, prefix, int(limit) if limit is not None else None)
        lines = [{"protocol": {"minReaderVersion": 1}}, metadata_line(snap, t), *files]
        return ndjson(lines, snap.version), {
            "version": snap.version, "files": len(files),
            "bytes": sum(f["file"]["size"] for f in files),
            "predicate_hints": body.get("predicateHints"), "limit_hint": limit}
    return server.serve(request, share, schema, table, handler)


def table_changes(request: Request, share: str, schema: str, table: str):
    def handler(record, shares):
        own_table(record, shares, share, schema, table)
        raise ProtocolError(400, "INVALID_PARAMETER_VALUE", "history is not shared: the change data feed "
                                                            "is not served")
    return _server(request).serve(request, share, schema, table, handler)


def no_endpoint(request: Request, rest: str):
    def handler(record, shares):
        raise ProtocolError(404, "RESOURCE_DOES_NOT_EXIST", f"no endpoint {request.method} {request.url.path}")
    return _server(request).serve(request, None, None, None, handler)


def create_app(settings: Any, store: TableStorage | None = None,
               shares_loader: Callable[[], tuple[dict[str, Share], list[Refusal], Any]] | None = None,
               clock: Callable[[], dt.datetime] = utcnow):
    """The Delta Sharing REST API (read side) as a FastAPI app."""
    app = FastAPI(title="lakehouse Delta Sharing", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sharing = Server(settings, store, shares_loader, clock)
    table = PREFIX + "/shares/{share}/schemas/{schema}/tables/{table}"
    app.get("/health")(health)
    app.get(PREFIX + "/shares")(list_shares)
    app.get(PREFIX + "/shares/{share}")(get_share)
    app.get(PREFIX + "/shares/{share}/schemas")(list_schemas)
    app.get(PREFIX + "/shares/{share}/schemas/{schema}/tables")(list_tables)
    app.get(PREFIX + "/shares/{share}/all-tables")(all_tables)
    app.head(table)(table_version_head)
    app.get(table + "/version")(table_version)
    app.get(table + "/metadata")(table_metadata)
    app.post(table + "/query")(table_query)
    app.get(table + "/changes")(table_changes)
    # Last: a path no endpoint above matches (a name with an encoded "/", a "..", a method or endpoint this
    # server lacks) is answered and audited like every request, not with the framework's bare 404 or 405
    app.api_route("/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])(no_endpoint)
    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m lakehouse.serving.sharing --host H --port P``: run the server (what ``lake up sharing`` starts)."""
    from lakehouse.serving.web import serve

    serve(argv, module="lakehouse.serving.sharing", service="sharing", make_app=create_app, log_level="info",
          description="Serve the lake's gold tables to partners over Delta Sharing.")
