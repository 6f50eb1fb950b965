"""Partners' requests for shared data and the stewards' decisions (the portal and `lake access`).

A partner's user (``partners`` of ``lake_config/access.yaml``) asks for a gold dataset classified
``shared``, giving the purpose and the legal basis; a steward (a user of a group with ``steward: true``)
approves or rejects it.  An approval writes the grant into the dataset's own spec file
(:mod:`lakehouse.config.grant_file`), so the specs stay the one source of grants, checks the specs
again, and publishes the dataset's grants: Trino's rules are rewritten at once (Trino reads them within
5 s) and the Delta Sharing server, which reads the shares from the specs on every request, serves the
table to the partner from its next request.

Every request and decision is one JSON line of ``<state>/access/requests.jsonl`` (who, what, when),
appended under a lock that also makes "is it still pending?" and the decision one step; a request's
state is the fold of its lines.  Nothing is ever rewritten or removed there.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lakehouse.core.errors import LakeError, RefusedError

ID = re.compile(r"yc-[0-9a-f]{10}")
LIMITS = {"purpose": (10, 2000), "legal_basis": (5, 500), "note": (0, 1000)}
LABELS = {"purpose": "the purpose", "legal_basis": "the legal basis", "note": "the note"}


class RequestError(RefusedError):
    """A request or decision that cannot be made; ``status`` is the HTTP answer the portal gives."""


@dataclass(frozen=True)
class Request:
    id: str
    dataset: str
    partner: str
    user: str
    purpose: str
    legal_basis: str
    requested_at: str
    status: str = "pending"  # pending, approved, rejected
    decided_by: str | None = None
    decided_at: str | None = None
    note: str = ""


def requestable(spec: Any) -> bool:
    """A dataset partners may ask for: a catalogued gold table classified ``shared`` (partners read gold only)."""
    return getattr(spec, "layer", None) == "gold" and spec.classification == "shared" and bool(spec.catalogs)


def clean_text(value: Any, field: str) -> str:
    """A form's free text, stripped; :class:`RequestError` when too short, too long or holding control characters."""
    low, high = LIMITS[field]
    text = " ".join(str(value or "").split()) if field != "purpose" else str(value or "").strip()
    if any(ord(c) < 32 and c not in "\n\t" or ord(c) == 127 for c in text):
        raise RequestError(f"{LABELS[field]} holds control characters")
    if not low <= len(text) <= high:
        raise RequestError(f"{LABELS[field]} must be {low} to {high} characters (it is {len(text)})")
    return text


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def fold(lines: list[dict]) -> dict[str, Request]:
    """Each request's current state from its events, in the order they were written (pure)."""
    out: dict[str, Request] = {}
    for event in lines:
        kind, rid = event.get("event"), event.get("id")
        if kind == "requested":
            out[rid] = Request(rid, event["dataset"], event["partner"], event["user"], event["purpose"],
                               event["legal_basis"], event["at"])
        elif kind in ("approved", "rejected") and rid in out:
            out[rid] = replace(out[rid], status=kind, decided_by=event["by"], decided_at=event["at"],
                               note=event.get("note", ""))
    return out


class RequestLog:
    """``<state>/access/requests.jsonl``: the requests and decisions, appended, never rewritten."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _lines(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    raise LakeError(f"{self.path}:{number}: not a JSON line; the file is only ever appended to, "
                                    f"so it was edited by hand: restore it from a backup") from None
        return out

    def _append(self, event: dict) -> None:  # the lock is held
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def all(self) -> list[Request]:
        """Every request, newest first."""
        return sorted(fold(self._lines()).values(), key=lambda r: r.requested_at, reverse=True)

    def get(self, request_id: str) -> Request | None:
        return fold(self._lines()).get(request_id) if ID.fullmatch(request_id or "") else None

    def add(self, dataset: str, partner: str, user: str, purpose: str, legal_basis: str) -> Request:
        with self.locked():
            for r in fold(self._lines()).values():
                if (r.dataset, r.partner, r.status) == (dataset, partner, "pending"):
                    raise RequestError(f"{partner} already asked for {dataset} ({r.id}, {r.requested_at}); "
                                       f"a steward has not decided yet", 409)
            event = {"event": "requested", "id": f"yc-{secrets.token_hex(5)}", "at": _now(), "dataset": dataset,
                     "partner": partner, "user": user, "purpose": purpose, "legal_basis": legal_basis}
            self._append(event)
        return fold([event])[event["id"]]

    def decide(self, request_id: str, approve: bool, by: str, note: str, apply: Any = None) -> Request:
        """Record a steward's decision on a pending request; ``apply(request)`` runs first for an approval
        (and nothing is recorded when it fails)."""
        with self.locked():
            current = fold(self._lines()).get(request_id) if ID.fullmatch(request_id or "") else None
            if current is None:
                raise RequestError(f"no request {request_id[:40]!r}", 404)
            if current.status != "pending":
                raise RequestError(f"{current.id} was already {current.status} by {current.decided_by} "
                                   f"at {current.decided_at}", 409)
            if approve and apply is not None:
                apply(current)
            event = {"event": "approved" if approve else "rejected", "id": current.id, "at": _now(), "by": by,
                     "note": note}
            self._append(event)
        return replace(current, status=event["event"], decided_by=by, decided_at=event["at"], note=note)


def request_log(settings: Any) -> RequestLog:
    return RequestLog(settings.state_dir / "access" / "requests.jsonl")


# ---- the steps the portal and `lake access` call -------------------------------------------------------

def submit(settings: Any, user: str, dataset: str, purpose: Any, legal_basis: Any) -> Request:
    """A partner's user asks for ``dataset``."""
    from lakehouse.config.access import load_access
    from lakehouse.config.spec import load_specs

    access = load_access(service_user=settings.env.trino.user)
    partner = access.users().get(user)
    if partner not in access.partners:
        raise RequestError("only a partner's user can ask for shared data; the ministry's own groups read "
                           "through their groups", 403)
    spec = load_specs().datasets.get(dataset)
    if spec is None or not requestable(spec):
        raise RequestError(f"{dataset[:100]!r} is not a shared dataset that can be requested", 404)
    if any(g.to == partner for g in spec.grants):
        raise RequestError(f"{partner} is already granted {dataset}", 409)
    return request_log(settings).add(dataset, partner, user, clean_text(purpose, "purpose"),
                                     clean_text(legal_basis, "legal_basis"))


def decide(settings: Any, request_id: str, approve: bool, by: str, note: Any = "") -> Request:
    """A steward approves (the grant is written and published) or rejects (with a reason) a pending request."""
    note = clean_text(note, "note")
    if not approve and len(note) < 5:
        raise RequestError("a rejection needs its reason (at least 5 characters): the partner reads it")
    return request_log(settings).decide(request_id, approve, by, note,
                                        apply=lambda r: grant(settings, r.dataset, r.partner,
                                                              f"request {r.id} approved by {by} on {_now()[:10]}"))


def grant(settings: Any, dataset: str, partner: str, note: str) -> bool:
    """Write ``partner``'s grant into ``dataset``'s spec file, check the specs with it, and publish the grants.

    The file is put back as it was when the specs do not load with the grant.  True when a local Trino's rules
    were rewritten (False: no Trino here; the grant takes effect when the dataset is next published).
    """
    from lakehouse.config.grant_file import GrantEditError, add_grant
    from lakehouse.config.spec import load_specs
    from lakehouse.serving import trino_security

    path = load_specs().files[dataset]
    before = path.read_text(encoding="utf-8")
    try:
        after = add_grant(before, partner, note)
    except GrantEditError as exc:
        raise RequestError(f"{path}: {exc}", 409) from None
    if after != before:
        _write(path, after)
        try:
            specs = load_specs()
        except LakeError as exc:
            _write(path, before)
            raise RequestError(f"{path}: the grant was not kept, the specs do not load with it: {exc}", 409) from None
    else:
        specs = load_specs()
    return trino_security.publish_grants(settings, specs.datasets[dataset], specs.datasets)


def _write(path: Path, text: str) -> None:
    """Replace the file at once (a reader sees the old text or the new), keeping its permissions."""
    import shutil

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    shutil.copymode(path, tmp)
    os.replace(tmp, path)


def is_steward(settings: Any, user: str) -> bool:
    from lakehouse.config.access import load_access

    return user in load_access(service_user=settings.env.trino.user).stewards()
