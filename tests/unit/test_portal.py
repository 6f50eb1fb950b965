"""The data portal without a stack: Vietnamese search, public pages only, harvest formats, hostile input.

The app runs in-process (FastAPI's test client) on the shipped specs and a facts file written here;
the portal as a service, with the CKAN client and real exports, is test_open_data_catalog's.
"""

from __future__ import annotations

import json
import re
import unicodedata

import pytest
import rdflib

from lakehouse.config.spec import load_specs
from lakehouse.serving.portal.entries import is_public
from lakehouse.serving.portal.search import Doc, Index, fold

SHIPPED = load_specs()
PUBLIC = sorted(n for n, s in SHIPPED.datasets.items() if is_public(s))
HIDDEN = sorted(n for n, s in SHIPPED.datasets.items() if not is_public(s))
FACTS = {"provinces": {"scores": {"dung": 100.0, "du": 98.5, "sach": 100.0, "song": 100.0, "overall": 99.6},
                       "last_load_at": "2026-11-30T02:00:00+00:00", "on_time": True, "open_quarantine": 3,
                       "trend": [{"checked_at": "2026-11-29T02:00:00", "overall": 90.0},
                                 {"checked_at": "2026-11-30T02:00:00", "overall": 99.6}]},
         "enterprises": {"scores": {"dung": 80.0, "du": 75.0, "sach": 90.0, "song": None, "overall": 81.7},
                         "last_load_at": "2026-11-29T02:00:00+00:00"}}
YEAR = 2026  # of the facts' usage; the portal counts visits in the current year
FACTS["provinces"]["usage"] = {"year": YEAR, "queries": 7, "users": 2, "sharing_reads": 0, "partners": 0}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    from lakehouse.core.settings import Settings
    from lakehouse.serving.catalog_publish import default_out_dir
    from lakehouse.serving.portal.app import create_app

    home = tmp_path_factory.mktemp("portal")
    mp = pytest.MonkeyPatch()
    mp.setenv("LAKE_HOME", str(home))
    settings = Settings()
    out = default_out_dir(settings)
    out.mkdir(parents=True)
    (out / "facts.json").write_text(json.dumps(FACTS), encoding="utf-8")
    client = TestClient(create_app(settings))
    client.app_settings = settings
    yield client
    mp.undo()


def test_folding_drops_marks_and_reads_nfc_nfd_and_both_tone_placements_alike():
    assert fold("Thành phố Hà Nội") == "thanh pho ha noi"
    assert fold("ĐỒNG Tháp") == fold("dong thap") == "dong thap"
    assert fold(unicodedata.normalize("NFD", "Hoà Bình")) == fold("Hòa Bình") == fold("hoa binh")
    assert fold("Thừa Thiên–Huế; (cũ)") == "thua thien hue cu"


def test_every_query_form_of_a_vietnamese_word_finds_the_same_datasets():
    index = Index([Doc("a", {"title": "Hòa Bình"}, {}), Doc("b", {"title": "Hà Nội"}, {}),
                   Doc("c", {"description": "đường hoà bình"}, {})])
    forms = ["hoa binh", "Hòa Bình", "hoà bình", unicodedata.normalize("NFD", "hòa bình"), "HOA BINH"]
    answers = {tuple(d.name for d, _ in index.search(q).hits) for q in forms}
    assert answers == {("a", "c")}  # the title match ranks above the description's
    assert [d.name for d, _ in index.search("ha noi").hits] == ["b"]
    assert [d.name for d, _ in index.search("ha no").hits] == ["b"]  # the last word may be a prefix
    assert index.search("hoa noi").total == 0  # every word must match


def test_equal_scores_go_newest_first_and_facets_count_the_matches():
    index = Index([Doc("old", {"title": "dân số"}, {"catalog": ("open_data",)}, "2026-01-01"),
                   Doc("new", {"title": "dân số"}, {"catalog": ("open_data", "big_data")}, "2026-11-01"),
                   Doc("other", {"title": "khác"}, {"catalog": ("big_data",)}, "2026-12-01")])
    result = index.search("dan so")
    assert [d.name for d, _ in result.hits] == ["new", "old"]
    assert result.facets["catalog"] == [("open_data", 2), ("big_data", 1)]
    assert [d.name for d, _ in index.search("", {"catalog": ["big_data"]}).hits] == ["other", "new"]


def test_search_pages_show_public_datasets_in_both_languages(client):
    page = client.get("/", params={"q": "ha noi"})
    assert page.status_code == 200 and 'href="/dataset/provinces"' in page.text
    english = client.get("/", params={"q": "tinh", "lang": "en", "quality": "good"})
    assert english.status_code == 200 and '<html lang="en">' in english.text
    assert 'href="/dataset/provinces?lang=en"' in english.text and "/dataset/enterprises" not in english.text
    assert 'href="/?q=tinh&amp;quality=good" lang="vi"' in english.text  # the other language keeps the search
    assert 'href="/?q=ha+noi&amp;lang=en" lang="en"' in page.text
    everything = client.get("/").text
    assert all(f'href="/dataset/{n}"' in everything for n in PUBLIC)


def test_a_dataset_page_carries_its_dictionary_scores_and_lineage(client):
    page = client.get("/dataset/provinces").text
    spec = SHIPPED.datasets["provinces"]
    assert spec.title.vi in page and all(f"<code>{c.name}</code>" in page for c in spec.columns)
    assert "99.6" in page and "98.5" in page and "đúng hạn" in page
    assert 'points="0.0,12.0 480.0,0.5"' in page and "2026-11-29 90.0" in page  # the trend, drawn and in words
    assert "vùng cách ly: 3" in page
    feeds = [n for n, s in SHIPPED.datasets.items() if "provinces" in getattr(s, "depends_on", []) and n in PUBLIC]
    assert feeds and all(f'href="/dataset/{n}"' in page for n in feeds)


def test_no_internal_or_personal_dataset_is_named_anywhere_public(client):
    assert HIDDEN, "the shipped specs have datasets that are not public"
    pages = client.get("/").text + client.get("/", params={"q": "a"}).text
    catalog = client.get("/catalog.jsonld", params={"page_size": 1000}).json()
    in_catalog = {d["dct:identifier"] for n in catalog["@graph"] for d in n.get("dcat:dataset", [])}
    searched = client.get("/api/3/action/package_search", params={"rows": 1000}).json()["result"]["results"]
    assert in_catalog == set(PUBLIC) == {p["name"] for p in searched}
    assert client.get("/api/3/action/package_list").json()["result"] == PUBLIC
    for name in HIDDEN:
        assert client.get(f"/dataset/{name}").status_code == 404
        assert client.get(f"/dataset/{name}.jsonld").status_code == 404
        assert client.get("/api/3/action/package_show", params={"id": name}).status_code == 404
        assert f'href="/dataset/{name}"' not in pages


@pytest.mark.parametrize("fmt, parser", [("jsonld", "json-ld"), ("ttl", "turtle"), ("rdf", "xml")])
def test_the_dcat_catalog_parses_alike_in_each_format_and_pages(client, fmt, parser):
    g = rdflib.Graph().parse(data=client.get(f"/catalog.{fmt}", params={"page_size": 1000}).text, format=parser)
    dcat = rdflib.Namespace("http://www.w3.org/ns/dcat#")
    assert len(set(g.subjects(rdflib.RDF.type, dcat.Dataset))) == len(PUBLIC)
    first = client.get("/catalog.jsonld", params={"page_size": 2}).json()
    view = next(n for n in first["@graph"] if n.get("@type") == "hydra:PartialCollectionView")
    assert view["hydra:totalItems"] == len(PUBLIC) and "page=2" in view["hydra:next"]
    since = client.get("/catalog.jsonld", params={"modified_since": "2026-11-30"}).json()
    listed = [d["dct:identifier"] for n in since["@graph"] for d in n.get("dcat:dataset", [])]
    assert listed == ["provinces"]


def test_ckan_answers_carry_its_envelope(client):
    listed = client.get("/api/3/action/package_list").json()
    assert listed["success"] is True and listed["result"] == PUBLIC
    shown = client.post("/api/3/action/package_show", json={"id": "enterprises"}).json()["result"]
    assert shown["name"] == "enterprises" and shown["metadata_modified"] == "2026-11-29T02:00:00"
    found = client.get("/api/3/action/package_search",
                       params={"q": "doanh nghiep", "sort": "metadata_modified desc", "rows": 1}).json()["result"]
    assert found["count"] == 2 and [p["name"] for p in found["results"]] == ["enterprises"]
    missing = client.get("/api/3/action/package_show", params={"id": "nope"})
    assert missing.status_code == 404 and missing.json()["success"] is False


HOSTILE = ["' OR 1=1 --", "../../etc/passwd", "%2e%2e%2f", "<script>alert(1)</script>", "x" * 5000, "\x00",
           "provinces; DROP TABLE x", "１２３", "-1", "99999999999", "nan", "{}", "[]", "citizens"]


def test_hostile_input_gets_a_4xx_or_an_escaped_page_never_a_5xx(client):
    from urllib.parse import quote

    for bad in HOSTILE:
        seg = quote(bad, safe="")  # in a path, as a browser or client sends it
        for method, url, kwargs in [
            ("get", "/", {"params": {"q": bad}}), ("get", "/", {"params": {"page": bad}}),
            ("get", "/", {"params": {"catalog": bad, "quality": bad}}), ("get", f"/dataset/{seg}", {}),
            ("get", f"/dataset/{seg}.ttl", {}), ("get", f"/download/{seg}/{seg}.csv", {}),
            ("get", "/download/provinces/" + seg, {}),
            ("get", "/catalog.ttl", {"params": {"page": bad, "page_size": bad, "modified_since": bad}}),
            ("get", "/api/3/action/package_show", {"params": {"id": bad}}),
            ("get", "/api/3/action/package_search", {"params": {"q": bad, "fq": bad, "rows": bad, "sort": bad}}),
            ("post", "/api/3/action/package_search", {"content": bad.encode()}),
            ("get", f"/api/3/action/{seg}", {}),
        ]:
            answer = getattr(client, method)(url, **kwargs)
            assert answer.status_code < 500, (url, bad, answer.status_code)
            if answer.headers["content-type"].startswith("text/html"):
                assert "<script>" not in answer.text, (url, bad)
            if bad == "citizens":
                assert answer.status_code != 200 or "/dataset/citizens\"" not in answer.text


def test_views_and_downloads_are_counted_without_anything_that_tells_visitors_apart(client, tmp_path):
    import datetime as dt

    from lakehouse.serving.portal.visits import Visits

    visits = Visits(tmp_path, today=lambda: dt.date(2026, 5, 1))
    for _ in range(3):
        visits.count("provinces", "view")
    visits.count("provinces", "download", "csv")
    (tmp_path / "2026-05-01.jsonl").open("a").write('{"day": "2026-05-01", "data')  # a line cut by a crash
    assert visits.totals(2026) == {"provinces": {"views": 3, "downloads": {"csv": 1}}}
    assert visits.totals(2025) == {}
    assert {tuple(sorted(json.loads(line))) for line in (tmp_path / "2026-05-01.jsonl").read_text().splitlines()[:4]} \
        == {("dataset", "day", "format", "kind")}  # no address, agent, cookie or time of day

    client.get("/dataset/provinces", headers={"User-Agent": "visitor-agent", "X-Forwarded-For": "203.0.113.9"})
    year = dt.datetime.now(dt.timezone.utc).year
    folder = client.app_settings.state_dir / "portal" / "visits"
    text = "".join(p.read_text() for p in folder.glob("*.jsonl"))
    assert '"provinces"' in text and "visitor-agent" not in text and "203.0.113" not in text
    page = client.get("/evaluation", params={"year": year}).text
    assert 'href="/dataset/provinces"' in page
    csv_rows = client.get("/evaluation.csv", params={"year": YEAR}).text.splitlines()
    header, rows = csv_rows[0].split(","), [r.split(",") for r in csv_rows[1:]]
    provinces = dict(zip(header, next(r for r in rows if r[0] == "provinces")))
    assert provinces["queries"] == "7" and provinces["unit"] == "admin_units" and provinces["quality_last"] == "99.6"
    assert {r[0] for r in rows} == set(PUBLIC)


def test_a_gold_page_shows_its_sources_scores_and_is_banded_by_the_weakest(client):
    page = client.get("/dataset/enterprises_by_province").text  # from enterprises (81.7) and provinces (99.6)
    assert "của các nguồn" in page and "81.7" in page and "99.6" in page
    assert 'href="/dataset/enterprises_by_province"' in client.get("/", params={"quality": "fair"}).text


def test_a_gold_page_never_names_a_source_that_is_not_public(client):
    hidden = [d for d in SHIPPED.datasets["citizens_by_province"].depends_on if d in HIDDEN]
    assert hidden, "citizens_by_province is built from a dataset that is not public"
    page = client.get("/dataset/citizens_by_province").text
    assert "nguồn không công bố" in page
    for name in hidden:
        assert not re.search(rf"\b{name}\b(?!_)", page.replace(f"{name}_by_province", "")), name


def test_an_open_dataset_previews_its_exported_rows_escaped(client):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = client.app_settings.state_dir / "portal" / "open_data" / "provinces"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"province_code": i, "province_name": f"Tỉnh {i}"} for i in range(30)]
    rows[0]["province_name"] = "<b>Hà Nội</b>"
    pq.write_table(pa.Table.from_pylist(rows), folder / "provinces.parquet")
    page = client.get("/dataset/provinces").text
    assert "Tỉnh 19" in page and "Tỉnh 20" not in page  # the first 20 rows
    assert "&lt;b&gt;Hà Nội&lt;/b&gt;" in page and "<b>Hà Nội</b>" not in page


def test_a_client_over_its_rate_gets_429_and_its_tokens_come_back():
    from lakehouse.serving.portal.limits import RateLimit, client_of

    now = [0.0]
    limit = RateLimit(60, clock=lambda: now[0])  # one a second, 60 at once
    assert all(limit.retry_after("a") == 0 for _ in range(60))
    assert limit.retry_after("a") == 1 and limit.retry_after("b") == 0  # another client is not held back
    now[0] += 2.0
    assert limit.retry_after("a") == 0 and limit.retry_after("a") == 0 and limit.retry_after("a") >= 1
    assert client_of("10.0.0.5", "203.0.113.9", trusted=[]) == "10.0.0.5"  # a header anyone can send
    assert client_of("127.0.0.1", "198.51.100.1, 203.0.113.9", trusted=["127.0.0.1"]) == "203.0.113.9"


def test_the_portal_answers_429_with_retry_after_past_the_limit(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from lakehouse.core.settings import Settings
    from lakehouse.serving.portal.app import create_app

    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    monkeypatch.setenv("LAKE_PORTAL_REQUESTS_PER_MINUTE", "5")
    client = TestClient(create_app(Settings()))
    answers = [client.get("/", params={"q": "tinh"}).status_code for _ in range(7)]
    assert answers == [200] * 5 + [429] * 2
    late = client.get("/api/3/action/package_list")
    assert late.status_code == 429 and int(late.headers["retry-after"]) >= 1
    assert client.get("/health").status_code == 200  # never limited: the stack's health check


def test_a_delta_commit_gives_its_version_time_operation_and_rows():
    from lakehouse.serving.portal.history import version_of

    commit = "\n".join([
        '{"commitInfo":{"timestamp":1796300000000,"operation":"MERGE","operationMetrics":'
        '{"numTargetRowsInserted":"3","numTargetRowsUpdated":"2","numTargetRowsDeleted":"0","numOutputRows":"5"}}}',
        '{"add":{"path":"part-0.parquet","size":10}}'])
    got = version_of(7, commit)
    assert got == {"version": 7, "at": "2026-12-03 12:13 UTC", "operation": "MERGE",
                   "rows": {"written": 5, "inserted": 3, "updated": 2, "deleted": 0}}
    assert version_of(0, '{"protocol":{}}')["operation"] is None


def test_a_page_says_so_when_the_history_cannot_be_read(client):
    page = client.get("/dataset/communes").text  # no S3 beside the unit tests
    assert "không đọc được lịch sử" in page and client.get("/dataset/communes").status_code == 200


def test_a_broken_facts_file_keeps_the_last_good_catalog_and_a_first_one_is_a_503(tmp_path, monkeypatch):
    import os

    from fastapi.testclient import TestClient

    from lakehouse.core.settings import Settings
    from lakehouse.serving.catalog_publish import default_out_dir
    from lakehouse.serving.portal.app import create_app

    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    settings = Settings()
    facts = default_out_dir(settings) / "facts.json"
    facts.parent.mkdir(parents=True)
    facts.write_text(json.dumps(FACTS), encoding="utf-8")
    client = TestClient(create_app(settings))
    assert "99.6" in client.get("/dataset/provinces").text
    facts.write_text('{"provinces": ', encoding="utf-8")  # cut short (no replace in one step)
    os.utime(facts, ns=(1, 1))
    assert "99.6" in client.get("/dataset/provinces").text  # the last good one, not a 500

    broken = TestClient(create_app(settings))  # nothing good to fall back on
    answer = broken.get("/")
    assert answer.status_code == 503 and "cannot load its datasets" in answer.text
    assert "Tạm thời chưa phục vụ được" in answer.text
