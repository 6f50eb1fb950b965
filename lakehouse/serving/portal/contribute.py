"""The portal's contributed-data pages and API: anyone offers a file, follows it by its tracking code; stewards review.

``/contribute`` is the form (signed in, or anonymous with a contact address); the file is checked at once
(:mod:`lakehouse.serving.contributions.store`) and the contributor is sent to ``/contributions/<code>``, the
status page (the check report in Vietnamese and English; never the contact address or a value of the file).
``/contributions`` is the stewards' queue; a steward rejects with a reason, or approves: the spec is written
at once and the load (bronze, silver, export, catalog) runs as ``lake contributions publish`` in its own
process, logged beside the contribution.  ``POST /api/contributions`` takes the same multipart form with a
contributor token (``Authorization: Bearer dgt_…``, from ``lake contributions token``) and answers JSON;
``GET /api/contributions/<code>`` is the status as JSON.  ``/data-requests`` lists what the public asked to be
published (and asks), with each status and the steward's answer.  Uploads and requests are limited in size and per
client per minute.
"""
# No `from __future__ import annotations`: FastAPI reads the routes' `Request` annotations at run time.

from typing import Any

from lakehouse.serving.portal.errors import PortalError
from lakehouse.serving.portal.limits import RateLimit, client_of

SUBMISSIONS_PER_MINUTE = 5
FIELDS = ("title", "description", "license", "organisation", "contact", "updates")


def public_view(c: Any, report: dict) -> dict:
    """What the status page and the API show of a contribution: no contact address, no value of the file."""
    shown = {k: getattr(c, k) for k in ("code", "status", "title", "description", "license", "organisation",
                                        "filename", "format", "bytes", "submitted_at", "updates", "dataset",
                                        "decided_at", "reason")}
    checks = {k: report.get(k) for k in ("status", "format", "rows", "columns", "key", "personal_data", "refusal",
                                         "checked_at")}
    return {**shown, "report": checks}


def routes(app: Any, portal: Any) -> None:
    import subprocess
    import sys

    from fastapi import Request
    from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
    from starlette.concurrency import run_in_threadpool

    from lakehouse.config.spec import LICENSES, load_specs
    from lakehouse.serving.contributions import store, wishes
    from lakehouse.serving.portal.access import checked_form_fields
    from lakehouse.serving.portal.auth import NONCE

    settings = portal.settings
    conf = settings.env.services.portal
    uploads = RateLimit(SUBMISSIONS_PER_MINUTE)

    def client(request: Request) -> str:
        return client_of(request.client.host if request.client else None, request.headers.get("x-forwarded-for"),
                         conf.trusted_proxies)

    async def upload(request: Request) -> tuple[bytes, str, dict[str, str]]:
        """The file and the fields of a multipart form, refused when too big or too frequent."""
        wait = uploads.retry_after(client(request))
        if wait:
            raise PortalError(429, f"too many submissions: try again in {wait} s")
        if not (request.headers.get("content-type") or "").startswith("multipart/form-data"):
            raise PortalError(415, "send the file as multipart/form-data")
        limit = conf.contribution_max_mb * 1024 * 1024
        declared = request.headers.get("content-length") or ""
        if declared.isdigit() and int(declared) > limit + 256 * 1024:
            raise PortalError(413, f"a contribution may be at most {conf.contribution_max_mb} MiB")
        try:
            form = await request.form(max_files=1, max_fields=len(FIELDS) + 2, max_part_size=64 * 1024)
        except Exception as exc:  # Starlette's multipart errors: too many fields or files, a part too big
            raise PortalError(400, f"the form cannot be read: {exc}") from None
        file = form.get("file")
        if file is None or isinstance(file, str):
            raise PortalError(400, "choose the file to contribute")
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise PortalError(413, f"a contribution may be at most {conf.contribution_max_mb} MiB")
        return data, file.filename or "upload", {k: v for k, v in form.items() if isinstance(v, str)}

    async def submitted(data: bytes, filename: str, fields: dict[str, str], by: str) -> Any:
        """The checks read every cell: in a worker thread, so the portal answers other requests meanwhile."""
        try:
            c, _ = await run_in_threadpool(
                lambda: store.submit(settings, data, filename, title=fields.get("title", ""),
                                     description=fields.get("description", ""), license=fields.get("license", ""),
                                     organisation=fields.get("organisation", ""), contact=fields.get("contact", ""),
                                     by=by, updates=fields.get("updates") or None))
        except store.ContributionError as exc:
            raise PortalError(exc.status, str(exc)) from None
        return c

    def steward(request: Request, what: str) -> Any:
        me = portal.me(request)
        if me is None or not me.steward:
            raise PortalError(403, f"only a steward {what}")
        return me

    def found(code: str) -> tuple[Any, dict]:
        try:
            return store.get(settings, code), store.report(settings, code)
        except store.ContributionError as exc:
            raise PortalError(exc.status, str(exc)) from None

    @app.get("/contribute", response_class=HTMLResponse)
    def contribute_page(request: Request):
        contributed = sorted(n for n, d in load_specs().datasets.items() if d.domain == store.DOMAIN)
        return portal.page(request, "contribute.html", licenses=sorted(LICENSES),
                           max_mb=conf.contribution_max_mb, contributed=contributed)

    @app.post("/contribute")
    async def contribute(request: Request):
        data, filename, fields = await upload(request)
        if not portal.signer.csrf_ok(request.cookies.get(NONCE), fields.get("csrf")):
            raise PortalError(403, "the form's security token is missing or stale: reload the page and send it again")
        me = portal.me(request)
        by = f"{me.user} (portal)" if me else f"anonymous, {fields.get('contact', '')[:100]} (portal)"
        c = await submitted(data, filename, fields, by)
        return RedirectResponse(f"/contributions/{c.code}", status_code=303)

    @app.get("/contributions", response_class=HTMLResponse)
    def queue(request: Request):
        me = portal.me(request)
        if me is None:
            return RedirectResponse("/signin?next=/contributions", status_code=303)
        if not me.steward:
            raise PortalError(403, "only stewards review contributions; follow yours by its tracking code")
        rows = sorted(store.contributions(settings).values(),
                      key=lambda c: (c.status not in ("review", "blocked"), c.submitted_at))
        return portal.page(request, "contributions.html", me=me, rows=rows)

    @app.get("/contributions/{code}", response_class=HTMLResponse)
    def status_page(request: Request, code: str):
        c, report = found(code)
        return portal.page(request, "contribution.html", c=public_view(c, report))

    @app.post("/contributions/{code}/decision")
    async def decision(request: Request, code: str):
        form = await checked_form_fields(request, portal)
        me = steward(request, "decides contributions")
        found(code)
        try:
            if form.get("decision") == "reject":
                store.reject(settings, code, f"{me.user} (portal)", form.get("reason", ""))
            elif form.get("decision") == "approve":
                store.approve(settings, code, f"{me.user} (portal)")
                log = store.folder(settings) / code / "publish.log"
                with open(log, "ab") as out:  # the load runs on after this answer; its outcome is recorded
                    subprocess.Popen([sys.executable, "-m", "lakehouse.cli", "contributions", "publish", code,
                                      "--by", f"{me.user} (portal)"], stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
            else:
                raise PortalError(400, "decision is approve or reject")
        except store.ContributionError as exc:
            raise PortalError(exc.status, str(exc)) from None
        return RedirectResponse(f"/contributions/{code}", status_code=303)

    @app.get("/data-requests", response_class=HTMLResponse)
    def data_requests(request: Request):
        return portal.page(request, "data_requests.html", rows=wishes.requests(settings), answers=wishes.ANSWERS)

    @app.post("/data-requests")
    async def ask_for_data(request: Request):
        form = await checked_form_fields(request, portal)
        wait = uploads.retry_after(client(request))
        if wait:
            raise PortalError(429, f"too many requests: try again in {wait} s")
        try:
            made = wishes.ask(settings, form.get("title", ""), form.get("description", ""),
                              form.get("organisation", ""), form.get("contact", ""))
        except store.ContributionError as exc:
            raise PortalError(exc.status, str(exc)) from None
        return RedirectResponse(f"/data-requests#{made.id}", status_code=303)

    @app.post("/data-requests/{request_id}/answer")
    async def answer_data_request(request: Request, request_id: str):
        form = await checked_form_fields(request, portal)
        me = steward(request, "answers data requests")
        try:
            wishes.answer(settings, request_id, form.get("status", ""), form.get("answer", ""), f"{me.user} (portal)")
        except store.ContributionError as exc:
            raise PortalError(exc.status, str(exc)) from None
        return RedirectResponse(f"/data-requests#{request_id}", status_code=303)

    @app.post("/api/contributions")
    async def api_submit(request: Request):
        header = request.headers.get("authorization") or ""
        owner = store.token_owner(settings, header[7:].strip() if header.lower().startswith("bearer ") else None)
        if owner is None:
            return JSONResponse({"error": "give a contributor token: Authorization: Bearer dgt_… "
                                          "(a steward issues one with `lake contributions token`)"}, status_code=401)
        data, filename, fields = await upload(request)
        fields.update(owner)  # who contributes is who the token was issued to
        c = await submitted(data, filename, fields, f"{owner['organisation']} (api)")
        view = public_view(c, store.report(settings, c.code))
        return JSONResponse({**view, "status_url": f"{portal.base_url}/contributions/{c.code}"}, status_code=201)

    @app.get("/api/contributions/{code}")
    def api_status(code: str):
        c, report = found(code)
        return public_view(c, report)
