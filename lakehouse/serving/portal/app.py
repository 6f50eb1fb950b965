"""The data portal (``lake up portal``): search, dataset pages, downloads and harvest endpoints.

Built on the platform's own files, nothing else: the specs, lake_config/catalogs.yaml, the facts
`lake catalog` measured (``<state>/portal/catalog/facts.json``) and the open-data exports
(``<state>/portal/open_data/<name>/``).  Server-rendered HTML that reads and searches without
JavaScript, Vietnamese first (``?lang=en`` for English).  Every input is checked before use:
a dataset name must be a public dataset's, a file one of its export's, a number a number in range;
anything else is a 4xx answer.  No SQL is built here at all.
"""


import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakehouse.core.dimensions import DIMENSIONS
from lakehouse.core.settings import Settings
from lakehouse.serving.access_requests import request_log, requestable
from lakehouse.serving.portal import access, contribute, harvest
from lakehouse.serving.portal.access import Me, cookie_secure, me_of, share_state
from lakehouse.serving.portal.auth import NONCE, SESSION, Signer, load_key, new_nonce
from lakehouse.serving.portal.entries import CLASSES, FREQUENCIES, Entry, entries
from lakehouse.serving.portal.errors import PortalError
from lakehouse.serving.portal.history import History
from lakehouse.serving.portal.limits import RateLimit, client_of
from lakehouse.serving.portal.search import Index, pages
from lakehouse.serving.portal.versions import VersionFiles
from lakehouse.serving.portal.visits import Visits

FACETS = ("catalog", "domain", "classification", "format", "licence", "frequency", "quality")
NAME = re.compile(r"[a-z][a-z0-9_]{0,99}")
MAX_FILTERS = 20
DIMENSION_TEXT = {  # (vi label, en label, vi explanation, en explanation)
    "dung": ("Đúng", "Correct", "Giá trị hợp lệ: đúng kiểu, đúng khuôn dạng, mã có trong danh mục gốc.",
             "Values are valid: right type and format, codes found in the master data."),
    "du": ("Đủ", "Complete", "Không thiếu: các trường bắt buộc có giá trị, không thiếu bản ghi.",
           "Nothing missing: required fields are filled and no records are lost."),
    "sach": ("Sạch", "Clean", "Không trùng lặp, không mâu thuẫn giữa các bản ghi.",
             "No duplicates and no records that contradict each other."),
    "song": ("Sống", "Current", "Được cập nhật đúng hạn theo tần suất đã công bố.",
             "Updated on time, as often as promised."),
    "overall": ("Tổng thể", "Overall", "Điểm chung của bốn tiêu chí trên.", "The four dimensions together."),
}


@dataclass(frozen=True)
class Catalog:
    """One whole load of the public datasets: their entries, search index, specs and catalogs.yaml."""

    settings: Settings
    entries: dict[str, Entry]
    index: Index
    specs: Any
    config: Any

    def entry(self, name: str) -> Entry:
        if not NAME.fullmatch(name or "") or name not in self.entries:
            raise PortalError(404, f"no public dataset named {name[:100]!r}")
        return self.entries[name]

    def export_file(self, name: str, file_name: str) -> Path:
        from lakehouse.serving.catalog import EXPORT_PREFIX, export_files

        entry = self.entry(name)
        if not entry.is_open or file_name not in export_files(name).values():
            raise PortalError(404, f"{name} has no download named {file_name[:100]!r}")
        path = self.settings.state_dir / "portal" / EXPORT_PREFIX / name / file_name
        if not path.is_file():
            raise PortalError(404, f"{file_name} has not been exported yet (`lake catalog --export`)")
        return path


class Loader:
    """The current :class:`Catalog`, loaded again when a spec or the facts file changed; the last good one
    when a file cannot be read."""

    def __init__(self, settings: Settings) -> None:
        from lakehouse.serving.catalog_publish import default_out_dir

        self.settings = settings
        self.facts_file = default_out_dir(settings) / "facts.json"
        self._seen: tuple = (None, None)  # (specs, facts file's mtime) last loaded or tried
        self._good: Catalog | None = None
        self._lock = threading.Lock()  # routes run in threads: one load at a time

    def current(self) -> Catalog:
        import sys

        from lakehouse.config.spec import load_specs
        from lakehouse.core.errors import ConfigError
        from lakehouse.serving.catalog import load_config

        try:
            with self._lock:
                specs = load_specs()  # parsed again only when a spec file changed
                stamp = self.facts_file.stat().st_mtime_ns if self.facts_file.exists() else None
                if self._good is None or self._seen[0] is not specs or self._seen[1] != stamp:
                    self._seen = (specs, stamp)  # a bad file is reported once, not on every request
                    facts = json.loads(self.facts_file.read_text(encoding="utf-8")) if stamp is not None else {}
                    config = load_config()
                    built = entries(specs, config, facts)
                    self._good = Catalog(self.settings, built, Index([e.doc() for e in built.values()]), specs,
                                         config)
                return self._good
        except (ConfigError, ValueError, OSError) as exc:  # a spec, catalogs.yaml or facts.json that cannot be read
            if self._good is None:
                raise PortalError(503, f"the portal cannot load its datasets: {exc}") from None
            print(f"[portal] warning: still showing the last good catalog: {exc}", file=sys.stderr, flush=True)
            return self._good


EVALUATION = ("dataset", "unit", "catalogs", "views", "downloads", "queries", "users", "sharing_reads", "partners",
              "quality_first", "quality_last", "loads_scored", "on_time")


def _this_year() -> int:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).year


def evaluation(cat: "Catalog", visits: Visits, year: int) -> list[dict]:
    """The yearly evaluation of each public dataset: portal views and downloads, Trino queries and users and
    Delta Sharing reads and partners (from `lake catalog`'s usage facts), the quality at the year's first
    and last scored load, and whether the freshness promise held at the last check."""
    counted = visits.totals(year)
    rows = []
    for name, e in cat.entries.items():
        used = counted.get(name, {"views": 0, "downloads": {}})
        usage = e.facts.get("usage") or {}
        same_year = usage.get("year") == year
        trend = [t for t in e.facts.get("trend") or [] if (t.get("checked_at") or "").startswith(str(year))
                 and t.get("overall") is not None]
        rows.append({"dataset": name, "unit": e.spec.domain, "catalogs": " ".join(e.spec.catalogs),
                     "views": used["views"], "downloads": sum(used["downloads"].values()),
                     **{k: usage.get(k, 0) if same_year else 0 for k in ("queries", "users", "sharing_reads",
                                                                       "partners")},
                     "quality_first": trend[0]["overall"] if trend else None,
                     "quality_last": trend[-1]["overall"] if trend else None, "loads_scored": len(trend),
                     "on_time": e.facts.get("on_time")})
    return rows


def by_unit(rows: list[dict]) -> list[dict]:
    """The evaluation summed per unit (the specs' domain)."""
    units: dict[str, dict] = {}
    for r in rows:
        u = units.setdefault(r["unit"], {"unit": r["unit"], "datasets": 0, "views": 0, "downloads": 0, "queries": 0,
                                         "sharing_reads": 0, "on_time": 0})
        u["datasets"] += 1
        for k in ("views", "downloads", "queries", "sharing_reads"):
            u[k] += r[k]
        u["on_time"] += 1 if r["on_time"] else 0
    return [units[k] for k in sorted(units)]


def trend_points(trend: list[dict], key: str = "overall", width: int = 480, height: int = 120) -> str:
    """SVG polyline points of ``key`` (0–100) over the loads, oldest on the left (pure)."""
    values = [t.get(key) for t in trend]
    if len(values) < 2:
        return ""
    step = width / (len(values) - 1)
    return " ".join(f"{i * step:.1f},{height - (v or 0) * height / 100:.1f}" for i, v in enumerate(values)
                    if v is not None)


PREVIEW_ROWS = 20


def preview(parquet: Path, rows: int = PREVIEW_ROWS) -> tuple[list[str], list[list[str]]]:
    """The first ``rows`` rows of an open dataset's exported Parquet file, as text (never a query)."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(parquet) as f:
        if not f.metadata.num_rows:
            return f.schema_arrow.names, []
        table = next(f.iter_batches(batch_size=rows))
    columns = table.schema.names
    values = table.to_pylist()
    return columns, [["" if r[c] is None else str(r[c]) for c in columns] for r in values]


def _int(value: str | None, default: int, low: int, high: int, what: str) -> int:
    if value is None or value == "":
        return default
    if not re.fullmatch(r"\d{1,6}", value) or not low <= int(value) <= high:
        raise PortalError(400, f"{what} must be a whole number from {low} to {high}")
    return int(value)


def _filters(params) -> dict[str, list[str]]:
    out = {f: params.getlist(f) for f in FACETS if params.getlist(f)}
    if sum(len(v) for v in out.values()) > MAX_FILTERS or any(len(v) > 100 for vs in out.values() for v in vs):
        raise PortalError(400, f"at most {MAX_FILTERS} filters of at most 100 characters")
    return out


async def _action_params(request) -> dict:
    """A CKAN action's parameters: the query string, and a POST's JSON object body (as ckanapi sends)."""
    params = dict(request.query_params)
    if request.method == "POST":
        body = await request.body()
        if len(body) > 10_000:
            raise PortalError(400, "a request body is at most 10,000 bytes")
        if body:
            try:
                data = json.loads(body)
            except ValueError:
                raise PortalError(400, "the body is not JSON") from None
            if not isinstance(data, dict):
                raise PortalError(400, "the body is not a JSON object")
            params.update(data)
    return params


def ckan_result(cat: Catalog, action: str, params: dict, base_url: str) -> Any:
    """The ``result`` of a read-only CKAN action; a :class:`PortalError` for any other action."""
    everything = str(params.get("all_fields", "")).lower() == "true"
    if action == "status_show":
        return {"ckan_version": harvest.CKAN_VERSION, "site_title": "Cổng dữ liệu", "site_url": base_url,
                "site_description": "", "locale_default": "vi", "extensions": []}
    if action == "package_list":
        return sorted(cat.entries)
    if action == "package_show":
        return harvest.package(cat.entry(str(params.get("id") or params.get("name_or_id") or "")), cat.config,
                               base_url)
    if action == "organization_list":
        org = harvest.organization(cat.config)
        return [org] if everything else [org["name"]]
    if action == "group_list":
        groups = harvest.groups(cat.config)
        return groups if everything else [g["name"] for g in groups]
    if action == "package_search":
        return package_search(cat, params, base_url)
    raise PortalError(400, f"the action {action[:50]!r} is not served here (read-only: package_list, "
                           "package_search, package_show, organization_list, group_list, status_show)")


SORTS = ("score desc, metadata_modified desc", "metadata_modified desc", "name asc")


def package_search(cat: Catalog, params: dict, base_url: str) -> dict:
    """CKAN's ``package_search`` over the portal's search: ``q``, ``fq``, ``rows``, ``start``, ``sort``."""
    q = str(params.get("q") or "")
    q = "" if q in ("*:*", "*") else q
    if len(q) > 200:
        raise PortalError(400, "q is at most 200 characters")
    rows = _int(str(params.get("rows", "")) or None, 10, 0, 1000, "rows")
    start = _int(str(params.get("start", "")) or None, 0, 0, 100_000, "start")
    sort = str(params.get("sort") or SORTS[0])
    if sort not in SORTS:
        raise PortalError(400, "sort is " + ", ".join(repr(s) for s in SORTS))
    try:
        filters = harvest.parse_fq(str(params.get("fq") or ""))
    except harvest.BadRequest as exc:
        raise PortalError(400, str(exc)) from None
    names = set(filters.pop("name", [])) or None
    orgs = filters.pop("organization", [])
    keywords = filters.pop("keywords", [])
    found = cat.index.search(q, filters, 0, len(cat.entries) or 1)
    hits = [cat.entries[d.name] for d, _ in found.hits if names is None or d.name in names]
    if orgs and "ministry" not in orgs:
        hits = []
    if keywords:
        hits = [e for e in hits if set(keywords) & {*e.spec.keywords.vi, *e.spec.keywords.en}]
    if sort == "metadata_modified desc":
        hits.sort(key=lambda e: e.modified or "", reverse=True)
    elif sort == "name asc":
        hits.sort(key=lambda e: e.name)
    return {"count": len(hits), "sort": sort, "facets": {}, "search_facets": {},
            "results": [harvest.package(e, cat.config, base_url) for e in hits[start:start + rows]]}


@dataclass
class Portal:
    """What every route reads: the catalog, the visit counts, the version history, the page renderer."""

    settings: Settings
    catalog: Loader
    visits: Visits
    history: History
    versions: VersionFiles
    templates: Any
    base_url: str
    sql: dict
    signer: Signer

    def me(self, request) -> Me | None:
        """The signed-in user of this request (:mod:`.access`), or None."""
        return me_of(self.settings, self.signer.user_of(request.cookies.get(SESSION)))

    def page(self, request, template: str, code: int = 200, **values):
        from fastapi.responses import HTMLResponse

        from urllib.parse import urlencode

        lang = "en" if request.query_params.get("lang") == "en" else "vi"
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]  # the search stays
        switch = request.url.path + "?" + urlencode(kept + ([] if lang == "en" else [("lang", "en")]))
        nonce = request.cookies.get(NONCE) or ""
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", nonce):
            nonce = new_nonce()
        if "me" not in values:  # the dataset page has read it already
            values["me"] = self.me(request)
        html = self.templates.get_template(template).render(
            lang=lang, t=lambda vi, en: en if lang == "en" else vi, path=request.url.path, switch=switch.rstrip("?"),
            classes=CLASSES, frequencies=FREQUENCIES, dimensions=DIMENSIONS, dimension_text=DIMENSION_TEXT,
            base_url=self.base_url, trino_url=self.settings.trino_url, trend_points=trend_points,
            csrf=self.signer.csrf(nonce), **values)
        answer = HTMLResponse(html, status_code=code)
        if request.cookies.get(NONCE) != nonce:  # the forms' CSRF token is bound to this cookie
            answer.set_cookie(NONCE, nonce, httponly=True, samesite="lax", path="/",
                              secure=cookie_secure(request, self.settings.env.services.portal.trusted_proxies))
        return answer


def create_app(settings: Settings):
    from fastapi import FastAPI
    from jinja2 import Environment, PackageLoader, select_autoescape

    app = FastAPI(title="Cổng dữ liệu / Data portal", docs_url=None, redoc_url=None, openapi_url=None)
    portal = Portal(settings, Loader(settings), Visits(settings.state_dir / "portal" / "visits"), History(settings),
                    VersionFiles(settings),
                    Environment(loader=PackageLoader("lakehouse.serving.portal", "templates"),
                                autoescape=select_autoescape(default=True, default_for_string=True)),
                    f"http://{settings.host_of('portal')}:{settings.env.services.portal.port}",
                    {"url": f"http://{settings.trino_host}:{settings.trino_port}", "catalog": settings.trino_catalog},
                    Signer(load_key(settings.state_dir / "portal" / "session.key")))
    _guards(app, portal)
    _pages(app, portal)
    _harvest(app, portal)
    access.routes(app, portal)
    contribute.routes(app, portal)
    return app


def _guards(app, portal: Portal) -> None:
    """The rate limit before every route but /health, and how a :class:`PortalError` is answered."""
    from fastapi import Request
    from fastapi.responses import JSONResponse, Response

    conf = portal.settings.env.services.portal
    limit = RateLimit(conf.requests_per_minute)

    @app.middleware("http")
    async def rate_limited(request: Request, call_next):
        if request.url.path != "/health":
            client = client_of(request.client.host if request.client else None,
                               request.headers.get("x-forwarded-for"), conf.trusted_proxies)
            wait = limit.retry_after(client)
            if wait:
                return Response(f"too many requests: try again in {wait} s\n", status_code=429,
                                media_type="text/plain; charset=utf-8", headers={"Retry-After": str(wait)})
        return await call_next(request)

    @app.exception_handler(PortalError)
    async def portal_error(request: Request, exc: PortalError):
        if request.url.path.startswith("/api/"):
            action = request.url.path.rsplit("/", 1)[-1][:50]
            kind = "Not Found Error" if exc.status == 404 else "Validation Error"
            return JSONResponse(harvest.error(action, portal.base_url, kind, str(exc)), status_code=exc.status)
        if request.url.path.endswith((".jsonld", ".ttl", ".rdf")) or request.url.path.startswith("/download/"):
            return Response(str(exc) + "\n", status_code=exc.status, media_type="text/plain; charset=utf-8")
        return portal.page(request, "error.html", exc.status, status=exc.status, message=str(exc))

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}


def _pages(app, portal: Portal) -> None:
    """The HTML pages people read: search, a dataset, the yearly evaluation; and the downloads."""
    from fastapi import Request
    from fastapi.responses import FileResponse, HTMLResponse

    @app.get("/", response_class=HTMLResponse)
    def search(request: Request):
        cat = portal.catalog.current()
        params = request.query_params
        q = params.get("q", "")
        if len(q) > 200:
            raise PortalError(400, "a search is at most 200 characters")
        rows = 20
        number = _int(params.get("page"), 1, 1, 10_000, "page")
        filters = _filters(params)
        result = cat.index.search(q, filters, (number - 1) * rows, rows)
        return portal.page(request, "search.html", q=q, filters=filters, result=result, entries=cat.entries,
                           number=number, last=pages(result.total, rows), facets=FACETS, query=params)

    @app.get("/dataset/{name}", response_class=HTMLResponse)
    def dataset(request: Request, name: str):
        cat = portal.catalog.current()
        entry = cat.entry(name)
        shown = None
        if entry.is_open:
            try:
                shown = preview(cat.export_file(name, f"{name}.parquet"))
            except PortalError:  # not exported yet
                shown = None
        portal.visits.count(name, "view")
        year = _this_year()
        me = portal.me(request)
        return portal.page(
            request, "dataset.html", e=entry, sql=portal.sql, preview=shown, year=year, me=me,
            requestable=requestable(entry.spec), share=share_state(entry.spec, cat.specs, me),
            asked=next((r for r in request_log(portal.settings).all() if r.partner == me.partner
                        and r.dataset == name and r.status == "pending"), None) if me and me.partner else None,
            built_from=[cat.entries.get(d) for d in getattr(entry.spec, "depends_on", [])],
            feeds=[e for e in cat.entries.values() if name in getattr(e.spec, "depends_on", [])],
            export=(entry.facts.get("export") or {}),
            used=portal.visits.totals(year).get(name, {"views": 0, "downloads": {}}),
            versions=portal.history.versions("gold" if entry.spec.layer == "gold" else "silver", name))

    @app.get("/download/{name}/{file_name}")
    def download(name: str, file_name: str):
        path = portal.catalog.current().export_file(name, file_name)
        portal.visits.count(name, "download", file_name.rsplit(".", 1)[-1])
        media = "text/csv; charset=utf-8" if file_name.endswith(".csv") else "application/vnd.apache.parquet"
        return FileResponse(path, media_type=media, filename=file_name)

    @app.get("/download/{name}/v{version}/{file_name}")
    def download_version(name: str, version: str, file_name: str):
        from lakehouse.serving.catalog import export_files

        entry = portal.catalog.current().entry(name)
        if not entry.is_open or file_name not in export_files(name).values():
            raise PortalError(404, f"{name} has no download named {file_name[:100]!r}")
        number = _int(version, -1, 0, 10**9, "the version")
        listed = portal.history.versions("gold" if entry.spec.layer == "gold" else "silver", name) or []
        if number not in [v["version"] for v in listed]:
            raise PortalError(404, f"{name} has no version {number} among its newest {len(listed)}; older ones "
                                   f"are read through Trino (SELECT … FOR VERSION AS OF n)")
        path = portal.versions.file(entry.spec, number, file_name)
        portal.visits.count(name, "download", file_name.rsplit(".", 1)[-1])
        media = "text/csv; charset=utf-8" if file_name.endswith(".csv") else "application/vnd.apache.parquet"
        stem, ext = file_name.rsplit(".", 1)
        return FileResponse(path, media_type=media, filename=f"{stem}-v{number}.{ext}")

    @app.get("/evaluation", response_class=HTMLResponse)
    def evaluation_page(request: Request):
        year = _int(request.query_params.get("year"), _this_year(), 2000, 2100, "year")
        rows = evaluation(portal.catalog.current(), portal.visits, year)
        return portal.page(request, "evaluation.html", year=year, rows=rows, units=by_unit(rows), columns=EVALUATION)

    @app.get("/evaluation.csv")
    def evaluation_csv(request: Request):
        import csv
        import io

        from fastapi.responses import Response

        year = _int(request.query_params.get("year"), _this_year(), 2000, 2100, "year")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EVALUATION)
        for row in evaluation(portal.catalog.current(), portal.visits, year):
            writer.writerow([row[c] for c in EVALUATION])  # numbers and spec names: no cell can be a formula
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="evaluation-{year}.csv"'})


def _harvest(app, portal: Portal) -> None:
    """What harvesters read: DCAT in three syntaxes, per catalog and per dataset, and the CKAN Action API."""
    from fastapi import Request
    from fastapi.responses import JSONResponse, Response

    @app.get("/dataset/{name}.{fmt}")
    def dataset_rdf(name: str, fmt: str):
        if fmt not in ("jsonld", "ttl"):
            raise PortalError(404, "a dataset is served as .jsonld or .ttl")
        cat = portal.catalog.current()
        doc = harvest.dataset_document(cat.entry(name), cat.specs, cat.config, sql=portal.sql)
        return Response(harvest.serialise(doc, fmt), media_type=harvest.MEDIA[fmt] + "; charset=utf-8")

    @app.get("/catalog.{fmt}")
    def catalog_rdf(request: Request, fmt: str):
        if fmt not in harvest.MEDIA:
            raise PortalError(404, "the catalog is served as .jsonld, .ttl or .rdf")
        cat = portal.catalog.current()
        params = request.query_params
        try:
            doc = harvest.catalog_document(
                list(cat.entries.values()), cat.specs, cat.config, sql=portal.sql, base_url=portal.base_url,
                page=_int(params.get("page"), 1, 1, 100_000, "page"),
                size=_int(params.get("page_size"), 100, 1, 1000, "page_size"),
                modified_since=params.get("modified_since"))
        except harvest.BadRequest as exc:
            raise PortalError(400, str(exc)) from None
        return Response(harvest.serialise(doc, fmt), media_type=harvest.MEDIA[fmt] + "; charset=utf-8")

    @app.api_route("/api/3/action/{action}", methods=["GET", "POST"])
    @app.api_route("/api/action/{action}", methods=["GET", "POST"])  # CKAN serves both; ckanapi calls this one
    async def ckan_action(request: Request, action: str):
        params = await _action_params(request)
        result = ckan_result(portal.catalog.current(), action, params, portal.base_url)
        return JSONResponse(harvest.envelope(action, portal.base_url, result))


def main(argv: list[str] | None = None) -> None:
    from lakehouse.serving.web import serve

    serve(argv, module="lakehouse.serving.portal", description="The data portal (search, datasets, harvest).",
          service="portal", make_app=create_app)
