"""The ``events`` service: receives Trino's query events and spools them for the usage loader.

Trino's HTTP event listener (``etc/event-listener.properties``, written by ``lake up trino``)
POSTs each ``QueryCompletedEvent`` here; one compact JSON line per query is appended to
``<state>/usage/spool/events-<UTC day>.jsonl`` (``lakehouse.serving.usage.compact``).  The loader
``python -m jobs.usage`` turns the lines into ``ops/query_log`` and ``ops/table_reads``.

It listens on 127.0.0.1 only and accepts a request only with the header Trino is configured to
send (``X-Lake-Events-Token``, derived from Trino's internal shared secret).  An answer of 503
(the spool cannot be written) makes Trino retry; a body it cannot use gets 400 and is not retried.
"""

# no `from __future__ import annotations`: FastAPI must see the real `Request` type of the handler,
# which is imported inside create_app so that importing this module needs no FastAPI
import datetime as dt
import hashlib
import hmac
import json
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from lakehouse.serving import usage

TOKEN_HEADER = "X-Lake-Events-Token"
PATH = "/v1/query-events"


def spool_dir(settings: Any) -> Path:
    return settings.state_dir / "usage" / "spool"


def events_token(settings: Any) -> str:
    """The header value Trino sends (a hash of its internal shared secret: nothing more to store)."""
    secret = settings.secrets["trino_shared_secret"].encode()
    return hashlib.sha256(b"lake events listener\0" + secret).hexdigest()


def ingest_uri(settings: Any) -> str:
    return f"http://{settings.host_of('events')}:{settings.env.services.events.port}{PATH}"


def listener_properties(settings: Any) -> str:
    """Trino's ``etc/event-listener.properties``: every completed query, retried while we are down."""
    return "\n".join([
        "event-listener.name=http",
        "http-event-listener.log-completed=true",
        "http-event-listener.log-created=false",
        "http-event-listener.log-split=false",
        f"http-event-listener.connect-ingest-uri={ingest_uri(settings)}",
        f"http-event-listener.connect-http-headers={TOKEN_HEADER}:{events_token(settings)}",
        # 1 s, doubling, at most 1 min apart: about 10 minutes in all before an event is dropped
        "http-event-listener.connect-retry-count=14",
        "http-event-listener.connect-retry-delay=1s",
        "http-event-listener.connect-backoff-base=2",
        "http-event-listener.connect-max-delay=1m",
        "",
    ])


def create_app(spool: Path, token: str, clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)):
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    app = FastAPI(title="lake events", docs_url=None, redoc_url=None, openapi_url=None)
    lock = threading.Lock()
    repaired: set[Path] = set()

    def refused(request, status: int, why: str) -> None:
        print(f"[events] {status} from {request.client.host if request.client else '?'}: {why}", file=sys.stderr,
              flush=True)

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "spool": str(spool)}

    @app.post(PATH)
    async def receive(request: Request):
        if not hmac.compare_digest(request.headers.get(TOKEN_HEADER, "").strip(), token):
            refused(request, 403, "missing or wrong " + TOKEN_HEADER)
            return JSONResponse({"error": "missing or wrong " + TOKEN_HEADER}, status_code=403)
        try:
            event = json.loads(await request.body())
        except ValueError as exc:
            refused(request, 400, f"not JSON: {exc}")
            return JSONResponse({"error": f"not JSON: {exc}"}, status_code=400)
        if not usage.is_completed_event(event):
            refused(request, 202, "not a QueryCompletedEvent: keys " + ", ".join(sorted(event)[:12]
                                                                            if isinstance(event, dict) else []))
            return JSONResponse({"ignored": "not a QueryCompletedEvent"}, status_code=202)
        record = usage.compact(event)
        if not record.get("query_id"):
            refused(request, 400, "no metadata.queryId")
            return JSONResponse({"error": "the event has no metadata.queryId"}, status_code=400)
        path = usage.spool_file(spool, clock())
        try:
            with lock:  # one writer per file in this process; each line is one write()
                if path not in repaired:
                    usage.repair_tail(path)
                    repaired.add(path)
                usage.append_line(path, record)
        except OSError as exc:
            return JSONResponse({"error": f"cannot write the spool: {exc}"}, status_code=503)
        return {"spooled": record["query_id"]}

    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m lakehouse.serving.events --host H --port P``: what ``lake up events`` starts."""
    from lakehouse.serving.web import serve

    def make_app(settings):
        spool = spool_dir(settings)
        spool.mkdir(parents=True, exist_ok=True)
        return create_app(spool, events_token(settings))

    serve(argv, module="lakehouse.serving.events", service="events", make_app=make_app,
          description="Receive Trino's query events into the usage spool.")


if __name__ == "__main__":
    main()
