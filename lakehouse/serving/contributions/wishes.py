"""Public data requests: anyone asks for a dataset that is not published yet; a steward answers.

A request is what data, why, and optionally who asks and an address to answer (never shown); the list on the
portal (``/data-requests``) shows every request with its status and the steward's answer.  Statuses: ``open``,
``planned`` (the ministry will publish it), ``published`` (the answer names where), ``declined`` (the answer says
why).  Each request and answer is one JSON line of ``<state>/contributions/data_requests.jsonl``, appended under
the contributions' lock; a request's state is the fold of its lines.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace

from lakehouse.serving.contributions.store import (ContributionError, _append, _locked, _now, _read, clean_text,
                                                   folder)

ID = re.compile(r"dr-[0-9a-f]{10}")
ANSWERS = ("planned", "published", "declined")


@dataclass(frozen=True)
class DataRequest:
    id: str
    title: str
    description: str
    organisation: str
    contact: str
    asked_at: str
    status: str = "open"
    answer: str = ""
    answered_by: str | None = None
    answered_at: str | None = None


def _log(settings):
    return folder(settings) / "data_requests.jsonl"


def fold(lines: list[dict]) -> dict[str, DataRequest]:
    out: dict[str, DataRequest] = {}
    for e in lines:
        if e["event"] == "asked":
            out[e["id"]] = DataRequest(e["id"], e["title"], e["description"], e.get("organisation", ""),
                                       e.get("contact", ""), e["at"])
        elif e["event"] == "answered" and e["id"] in out:
            out[e["id"]] = replace(out[e["id"]], status=e["status"], answer=e["answer"], answered_by=e["by"],
                                   answered_at=e["at"])
    return out


def requests(settings) -> list[DataRequest]:
    """Every request, open ones first, newest first within each group."""
    found = sorted(fold(_read(_log(settings))).values(), key=lambda r: r.asked_at, reverse=True)
    return sorted(found, key=lambda r: r.status != "open")


def ask(settings, title: str, description: str, organisation: str = "", contact: str = "") -> DataRequest:
    """Record a request for data that is not published yet."""
    if contact and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", contact):
        raise ContributionError("the contact is not an e-mail address (leave it empty to ask anonymously)")
    event = {"event": "asked", "id": f"dr-{secrets.token_hex(5)}", "at": _now(), "by": "public",
             "title": clean_text(title, "title"), "description": clean_text(description, "description"),
             "organisation": clean_text(organisation, "organisation") if organisation.strip() else "",
             "contact": contact}
    with _locked(settings):
        _append(_log(settings), event)
    return fold([event])[event["id"]]


def answer(settings, request_id: str, status: str, text: str, by: str) -> DataRequest:
    """A steward's answer: planned, published (say where) or declined (say why)."""
    if status not in ANSWERS:
        raise ContributionError(f"the answer is one of {', '.join(ANSWERS)}")
    if not ID.fullmatch(request_id or ""):
        raise ContributionError(f"{request_id!r} is not a data request id (dr- and 10 hexadecimal digits)", 404)
    why = clean_text(text, "reason")
    with _locked(settings):
        known = fold(_read(_log(settings)))
        if request_id not in known:
            raise ContributionError(f"no data request {request_id}", 404)
        _append(_log(settings), {"event": "answered", "id": request_id, "at": _now(), "by": by, "status": status,
                                 "answer": why})
    return fold(_read(_log(settings)))[request_id]
