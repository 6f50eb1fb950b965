"""The portal's signed-in pages: signing in and out, a partner's request for shared data, the stewards' queue.

A partner's user asks for a shared gold dataset from its page (purpose, legal basis) and follows the
request on ``/requests``; a steward sees every request there and approves or rejects it
(:mod:`lakehouse.serving.access_requests` writes the grant and publishes it).  Every POST needs the
session and the CSRF token of :mod:`.auth`; a request id of another partner is answered as one that does
not exist.
"""
# No `from __future__ import annotations`: FastAPI reads the routes' `Request` annotations at run time.

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote

from lakehouse.serving.portal.auth import NONCE, SESSION, SESSION_HOURS, password_ok
from lakehouse.serving.portal.errors import PortalError
from lakehouse.serving.portal.limits import RateLimit, client_of

MAX_FORM = 20_000
SIGN_INS_PER_MINUTE = 10


@dataclass(frozen=True)
class Me:
    """Who is signed in: the user, the partner it belongs to (None for the ministry's own), steward or not."""

    user: str
    partner: str | None
    steward: bool
    organisation: dict[str, str]

    def may_see(self, request: Any) -> bool:
        return self.steward or (self.partner is not None and request.partner == self.partner)


def me_of(settings: Any, user: str | None) -> Me | None:
    """The signed-in user as the portal needs it; None when signed out or no longer in access.yaml."""
    from lakehouse.config.access import load_access

    if user is None:
        return None
    access = load_access(service_user=settings.env.trino.user)
    where = access.users().get(user)
    if where is None:
        return None
    partner = access.partners.get(where)
    name = {"vi": partner.name.vi, "en": partner.name.en} if partner else {"vi": where, "en": where}
    return Me(user, where if partner else None, user in access.stewards(), name)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def cookie_secure(request: Any, trusted_proxies: list[str]) -> bool:
    """Mark cookies Secure when the browser reaches the portal over HTTPS (a trusted proxy says so with
    ``X-Forwarded-Proto``) or on this machine's loopback address, which browsers treat as a secure origin."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-proto") if peer in trusted_proxies else None
    return request.url.scheme == "https" or forwarded == "https" or request.url.hostname in LOOPBACK


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of this site only (never ``//host`` or a scheme)."""
    value = value or "/"
    if not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 500:
        return "/"
    return value


async def form_of(request: Any) -> dict[str, str]:
    """A urlencoded form's fields (the first value of each); a :class:`PortalError` for anything else."""
    if not (request.headers.get("content-type") or "").startswith("application/x-www-form-urlencoded"):
        raise PortalError(415, "send the form as application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > MAX_FORM:
        raise PortalError(413, f"a form is at most {MAX_FORM:,} bytes")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise PortalError(400, "the form is not UTF-8 text of at most 20 fields") from None
    return {k: v[0] for k, v in fields.items()}


async def checked_form_fields(request: Any, portal: Any) -> dict[str, str]:
    """A urlencoded form whose CSRF token matches this browser's nonce cookie (:func:`form_of`)."""
    form = await form_of(request)
    if not portal.signer.csrf_ok(request.cookies.get(NONCE), form.get("csrf")):
        raise PortalError(403, "the form's security token is missing or stale: reload the page and send it again")
    return form


def share_state(spec: Any, specs: Any, me: Me | None) -> dict:
    """What a signed-in partner can do with a shared dataset: granted (and how to read it), asked, or ask."""
    from lakehouse.config.access import load_access
    from lakehouse.serving.sharing import build_shares

    if me is None or me.partner is None:
        return {}
    if not any(g.to == me.partner for g in spec.grants):
        return {"granted": False}
    shares, refused = build_shares(specs.datasets, load_access())
    shared = any(t.dataset == spec.name for t in shares[me.partner].tables)
    reason = next((r.reason for r in refused if (r.partner, r.dataset) == (me.partner, spec.name)), None)
    return {"granted": True, "sharing": f"{me.partner}.share#{me.partner}.{spec.domain}.{spec.name}" if shared
            else None, "refused": reason}


def routes(app: Any, portal: Any) -> None:
    from fastapi import Request
    from fastapi.responses import HTMLResponse, RedirectResponse

    from lakehouse.serving import access_requests as ar

    settings = portal.settings
    sign_ins = RateLimit(SIGN_INS_PER_MINUTE)
    conf = settings.env.services.portal

    async def checked_form(request: Request) -> dict[str, str]:
        return await checked_form_fields(request, portal)

    def signed_in(request: Request) -> Me:
        me = portal.me(request)
        if me is None:
            raise PortalError(401, "sign in first")
        return me

    def back(path: str) -> RedirectResponse:
        return RedirectResponse(path, status_code=303)

    def shown(me: Me, request_id: str) -> Any:
        found = ar.request_log(settings).get(request_id)
        if found is None or not me.may_see(found):  # another partner's request is one that does not exist
            raise PortalError(404, f"no request {request_id[:40]!r}")
        return found

    @app.get("/signin", response_class=HTMLResponse)
    def signin_page(request: Request):
        return portal.page(request, "signin.html", next=safe_next(request.query_params.get("next")), failed=False)

    @app.post("/signin")
    async def signin(request: Request):
        form = await checked_form(request)
        wait = sign_ins.retry_after(client_of(request.client.host if request.client else None,
                                              request.headers.get("x-forwarded-for"), conf.trusted_proxies))
        if wait:
            raise PortalError(429, f"too many sign-in attempts: try again in {wait} s")
        user, target = form.get("user", "").strip().lower(), safe_next(form.get("next"))
        if not password_ok(settings, user, form.get("password", "")):
            return portal.page(request, "signin.html", 401, next=target, failed=True)
        answer = back(target)
        answer.set_cookie(SESSION, portal.signer.session(user), max_age=SESSION_HOURS * 3600, httponly=True,
                          samesite="lax", path="/", secure=cookie_secure(request, conf.trusted_proxies))
        return answer

    @app.post("/signout")
    async def signout(request: Request):
        await checked_form(request)
        answer = back("/")
        answer.delete_cookie(SESSION, path="/", secure=cookie_secure(request, conf.trusted_proxies), httponly=True,
                             samesite="lax")
        return answer

    @app.post("/dataset/{name}/request")
    async def ask(request: Request, name: str):
        form = await checked_form(request)
        me = signed_in(request)
        portal.catalog.current().entry(name)  # a public dataset's name, or 404
        try:
            made = ar.submit(settings, me.user, name, form.get("purpose"), form.get("legal_basis"))
        except ar.RequestError as exc:
            raise PortalError(exc.status, str(exc)) from None
        return back(f"/requests/{made.id}")

    @app.get("/requests", response_class=HTMLResponse)
    def queue(request: Request):
        me = portal.me(request)
        if me is None:
            return back("/signin?next=" + quote("/requests"))
        if not (me.steward or me.partner):
            raise PortalError(403, "only partners and stewards have requests")
        rows = [r for r in ar.request_log(settings).all() if me.may_see(r)]
        rows.sort(key=lambda r: r.status != "pending")  # pending first, newest first within
        return portal.page(request, "requests.html", me=me, rows=rows)

    @app.get("/requests/{request_id}", response_class=HTMLResponse)
    def one(request: Request, request_id: str):
        me = portal.me(request)
        if me is None:
            return back("/signin?next=" + quote(f"/requests/{request_id[:40]}"))
        return portal.page(request, "request.html", me=me, r=shown(me, request_id))

    @app.post("/requests/{request_id}/decision")
    async def decision(request: Request, request_id: str):
        form = await checked_form(request)
        me = signed_in(request)
        if not me.steward:
            shown(me, request_id)  # 404 for another partner's request
            raise PortalError(403, "only a steward decides requests")
        verdict = form.get("decision")
        if verdict not in ("approve", "reject"):
            raise PortalError(400, "decision is approve or reject")
        try:
            ar.decide(settings, request_id, verdict == "approve", me.user, form.get("note", ""))
        except ar.RequestError as exc:
            raise PortalError(exc.status, str(exc)) from None
        return back(f"/requests/{request_id}")
