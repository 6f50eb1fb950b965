"""Open-data exports, the DCAT catalogs and the portal that serves them, on the real stack.

A small open dataset (and the gold table built from it) is ingested, exported and
catalogued: the CSV and Parquet files must hold exactly the rows Trino returns, the
manifest must describe the bytes in S3, the catalog's quality measurements must be
the newest row of ``lake.ops.quality_scorecard``, and a published dataset that is not
open must never be exported.  The portal (`lake up portal`) is read with the CKAN client, rdflib
and a real Chromium, where a partner also asks for the shared gold table cat_partner_counts, a steward
approves, and the partner reads it through Trino and Delta Sharing.  The datasets are in
tests/integration/datasets/catalog, copied for the module (an approval writes the grant into the copy;
cat_officers, internal and never ingested, must not appear on the portal).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import rdflib
from rdflib import RDF, Namespace, URIRef

from jobs import export_open_data
from lakehouse.serving import open_data
from lakehouse.core.errors import LakeError
from lakehouse.io import storage, trino
from lakehouse.serving import catalog as catalogs, catalog_publish, trino_security
from lakehelp import as_user, chromium, ingest, navigating, passwords, reset, screenshots, use_datasets

HERE = Path(__file__).resolve().parent
FOLDER = HERE / "datasets" / "catalog"
OPEN = ["cat_stations", "cat_station_counts"]
DATASETS = [*OPEN, "cat_partners", "cat_partner_counts"]
PUBLIC = ["cat_partner_counts", "cat_partners", "cat_station_counts", "cat_stations"]
DAY = "2026-11-20"
DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
DQV = Namespace("http://www.w3.org/ns/dqv#")

STATIONS = [
    {"station_id": "KT-01", "station_name": "Trạm Láng", "kind": "tự động", "capacity": "12.50",
     "installed_on": "2020-01-15", "measured_at": "2026-11-20T08:00:00+07:00", "is_active": "true"},
    {"station_id": "KT-02", "station_name": "Trạm Đà Nẵng", "kind": "thủ công", "capacity": "-1",
     "installed_on": "15/03/2019", "measured_at": "2026-11-20T09:30:00Z", "is_active": "false"},
    {"station_id": "KT-03", "station_name": "Trạm Cà Mau", "kind": None, "capacity": "7",
     "installed_on": None, "measured_at": None, "is_active": None},
    {"station_id": "KT-04", "station_name": "Trạm Huế; \"cũ\", ven sông", "kind": "tự động", "capacity": None,
     "installed_on": "2021-12-31", "measured_at": "2026-11-19T23:59:59Z", "is_active": "true"},
]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _object(settings, key: str) -> bytes:
    return storage.fetcher(settings)(f"s3a://{settings.bucket}/{key}")


@pytest.fixture(scope="module")
def published(stack, tmp_path_factory):
    settings = stack
    reset(DATASETS, settings)
    for name in DATASETS:
        storage.delete_prefix(f"{catalogs.EXPORT_PREFIX}/{name}/", settings)
    folder = tmp_path_factory.mktemp("catalog")
    specs = shutil.copytree(FOLDER, folder / "specs")  # approvals write grants into this copy
    (settings.state_dir / "access" / "requests.jsonl").unlink(missing_ok=True)  # no request left from a past run
    with use_datasets(specs):
        ingest("cat_stations", [_jsonl(folder / "stations.jsonl", STATIONS)], DAY)
        ingest("cat_partners", [_jsonl(folder / "partners.jsonl", [{"office_id": 1, "office_name": "Sở A"}])], DAY)
        trino.register_ops(settings)
        manifests = {m["dataset"]: m for m in export_open_data.run_all(DAY)}
        out = folder / "dcat"
        catalog_publish.publish(out_dir=out, settings=settings)
        yield {"settings": settings, "manifests": manifests, "out": out, "specs": specs}


def _trino_rows(settings, sql: str) -> tuple[list[str], list[tuple]]:
    return trino.query(sql, settings)


@pytest.mark.parametrize("name, layer, order", [("cat_stations", "silver", "station_id"),
                                                ("cat_station_counts", "gold", "kind")])
def test_csv_and_parquet_hold_exactly_the_rows_trino_returns(published, name, layer, order):
    settings, manifest = published["settings"], published["manifests"][name]
    columns = [c["name"] for c in manifest["columns"]]
    assert not [c for c in columns if c.startswith("_")], "bookkeeping columns must not be published"
    names, rows = _trino_rows(settings, f"SELECT {', '.join(columns)} FROM lake.{layer}.{name} ORDER BY {order}")
    assert rows and manifest["rows"] == len(rows)
    parquet = pq.read_table(io.BytesIO(_object(settings, f"open_data/{name}/{name}.parquet")))
    assert parquet.column_names == names
    assert parquet.to_pylist() == [dict(zip(names, r)) for r in rows]
    text = _object(settings, f"open_data/{name}/{name}.csv").decode("utf-8")
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == names and len(parsed) == len(rows) + 1
    for line, row in zip(parsed[1:], rows):
        assert line == [open_data._text(v) for v in row]
    # the portal folder serves the same bytes, and the manifest describes them
    portal = settings.state_dir / "portal" / "open_data" / name
    assert json.loads(_object(settings, f"open_data/{name}/manifest.json")) == \
        json.loads((portal / "manifest.json").read_text(encoding="utf-8"))
    for f in manifest["files"]:
        data = _object(settings, f["key"])
        assert data == (portal / f["name"]).read_bytes()
        assert f["bytes"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()


def test_values_survive_as_written(published):
    settings = published["settings"]
    text = _object(settings, "open_data/cat_stations/cat_stations.csv").decode("utf-8")
    by_id = {r["station_id"]: r for r in csv.DictReader(io.StringIO(text))}
    assert by_id["KT-01"]["station_name"] == "Trạm Láng" and by_id["KT-01"]["capacity"] == "12.50"
    assert by_id["KT-01"]["measured_at"].startswith("2026-11-20T01:00:00")  # +07:00 kept in UTC
    assert by_id["KT-02"]["installed_on"] == "2019-03-15" and by_id["KT-02"]["is_active"] == "false"
    assert by_id["KT-03"]["kind"] == "" and by_id["KT-03"]["measured_at"] == ""
    assert by_id["KT-04"]["station_name"] == "Trạm Huế; \"cũ\", ven sông"
    table = pq.read_table(io.BytesIO(_object(settings, "open_data/cat_stations/cat_stations.parquet")))
    first = table.to_pylist()[0]
    assert first["capacity"] == Decimal("12.50") and first["installed_on"] == dt.date(2020, 1, 15)


def test_a_dataset_that_is_not_open_is_never_exported(published):
    settings = published["settings"]
    assert set(published["manifests"]) == set(OPEN)
    _, rows = _trino_rows(settings, "SELECT count(*) FROM lake.silver.cat_partners")
    assert rows[0][0] == 1  # published in Trino, yet
    with pytest.raises(LakeError, match="cat_partners is not open data"):
        with use_datasets(published["specs"]):
            export_open_data.run("cat_partners", DAY)
    assert storage.list_keys("open_data/cat_partners/", settings) == []
    assert not (settings.state_dir / "portal" / "open_data" / "cat_partners").exists()


def _graph(published, name: str) -> rdflib.Graph:
    return rdflib.Graph().parse(published["out"] / f"{name}.jsonld", format="json-ld")


def test_catalogs_list_their_datasets(published):
    config = catalogs.load_config()
    listed = {}
    for name in catalogs.CATALOGS:
        g = _graph(published, name)
        cat = URIRef(catalogs.catalog_iri(config, name))
        listed[name] = {str(d).rsplit("/", 1)[1] for d in g.objects(cat, DCAT.dataset)}
    assert listed == {"open_data": set(OPEN), "big_data": set(OPEN),
                      "master_shared": {"cat_partners", "cat_partner_counts"}}


def test_catalog_scores_and_freshness_are_those_of_the_scorecard(published):
    settings = published["settings"]
    config = catalogs.load_config()
    g = _graph(published, "open_data")
    dataset = URIRef(catalogs.dataset_iri(config, "cat_stations"))
    got = {}
    for m in g.objects(dataset, DQV.hasQualityMeasurement):
        got[str(g.value(m, DQV.isMeasurementOf)).rsplit("/", 1)[1]] = g.value(m, DQV.value).toPython()
    names, rows = _trino_rows(settings, "SELECT dung, du, sach, song, overall, checked_at FROM "
                                        "lake.ops.quality_scorecard WHERE dataset = 'cat_stations' "
                                        "ORDER BY checked_at DESC LIMIT 1")
    newest = dict(zip(names, rows[0]))
    for dim in ("dung", "du", "sach", "song", "overall"):
        assert got[dim] == pytest.approx(newest[dim]), dim
    assert got["dung"] < 100 and got["du"] < 100 and got["sach"] == 100  # the warn rules were counted
    _, loads = _trino_rows(settings, "SELECT max(finished_at) FROM lake.ops.run_log WHERE dataset = 'cat_stations' "
                                     "AND layer = 'silver' AND status = 'success'")
    assert got["last_load"] == loads[0][0]
    assert got["on_time"] is True
    assert g.value(dataset, DCT.modified).toPython() == loads[0][0]
    # the downloads are described with the manifest's size and checksum
    manifest = published["manifests"]["cat_stations"]
    sizes = {f["format"]: f["bytes"] for f in manifest["files"]}
    for dist in g.objects(dataset, DCAT.distribution):
        fmt = str(dist).rsplit("/", 1)[1]
        if fmt in sizes:
            assert g.value(dist, DCAT.byteSize).toPython() == sizes[fmt]
    # a gold dataset carries its last build
    gold = URIRef(catalogs.dataset_iri(config, "cat_station_counts"))
    assert g.value(gold, DCT.modified) is not None
    assert (gold, URIRef("http://www.w3.org/ns/prov#wasDerivedFrom"), dataset) in g
    assert (dataset, RDF.type, DCAT.Dataset) in g


@pytest.fixture(scope="module")
def portal(published):
    """`lake up portal` on the facts `lake catalog` kept in its default folder; stopped after the module."""
    from lakehouse import services

    settings = published["settings"]
    catalog_publish.publish(settings=settings)  # the default folder, with facts.json: what the portal reads
    services.up(["portal"], settings)  # inherits LAKE_DATASETS_DIR: this module's specs
    yield f"http://{settings.host}:{settings.env.services.portal.port}"
    services.down(["portal"], settings)


def test_the_portal_serves_the_catalogs_downloads_and_ckan_calls_of_what_was_published(published, portal):
    """The CKAN client and rdflib read the portal as harvesters do; a download is the export's bytes."""
    import unicodedata
    import urllib.request

    import ckanapi

    settings, base = published["settings"], portal
    ckan = ckanapi.RemoteCKAN(base)
    assert ckan.action.package_list() == PUBLIC  # not cat_officers
    assert ckan.action.status_show()["ckan_version"].startswith("2.")
    found = ckan.action.package_search(q=unicodedata.normalize("NFD", "Trạm theo loại"), fq="groups:open_data")
    assert [p["name"] for p in found["results"]] == ["cat_station_counts"]
    manifest = published["manifests"]["cat_stations"]
    package = ckan.action.package_show(id="cat_stations")
    got = {r["format"].lower(): r for r in package["resources"]}
    for f in manifest["files"]:
        assert got[f["format"]]["hash"] == f"sha256:{f['sha256']}" and got[f["format"]]["size"] == f["bytes"]
        with urllib.request.urlopen(got[f["format"]]["url"]) as answer:
            assert answer.read() == _object(settings, f["key"])
    for hidden in ("no_such_dataset", "cat_officers"):
        with pytest.raises(ckanapi.NotFound):
            ckan.action.package_show(id=hidden)

    g = rdflib.Graph().parse(f"{base}/catalog.ttl", format="turtle")
    dataset = URIRef(catalogs.dataset_iri(catalogs.load_config(), "cat_stations"))
    overall = {str(g.value(m, DQV.isMeasurementOf)).rsplit("/", 1)[1]: g.value(m, DQV.value).toPython()
               for m in g.objects(dataset, DQV.hasQualityMeasurement)}["overall"]
    assert (dataset, RDF.type, DCAT.Dataset) in g
    with urllib.request.urlopen(f"{base}/dataset/cat_stations?lang=en") as answer:
        page = answer.read().decode("utf-8")
    assert "Weather stations (test)" in page and f"{overall:.1f}" in page
    versions = page[page.index("<h2>Versions</h2>"):page.index("<h2>Use in")]  # read from the Delta log on S3
    assert "<td>0</td>" in versions and ("WRITE" in versions or "MERGE" in versions)


def test_a_visitor_searches_without_accents_downloads_and_reads_english_in_a_real_browser(published, portal,
                                                                                          tmp_path):
    """Screenshots go to $LAKE_SCREENSHOTS (docs/ keeps the README's) or the test's folder."""
    import time

    from selenium.webdriver.common.by import By

    shots, downloads = screenshots(tmp_path), tmp_path / "downloads"

    def use_of_cat_stations() -> tuple[int, int]:
        import csv
        import datetime as dt
        import urllib.request

        year = dt.datetime.now(dt.timezone.utc).year
        with urllib.request.urlopen(f"{portal}/evaluation.csv?year={year}") as answer:
            row = next(r for r in csv.DictReader(io.StringIO(answer.read().decode())) if r["dataset"] == "cat_stations")
        return int(row["views"]), int(row["downloads"])

    before = use_of_cat_stations()
    with chromium(downloads) as driver:
        driver.get(portal)
        listed = {a.get_attribute("href").rsplit("/", 1)[1] for a in driver.find_elements(By.CSS_SELECTOR, "article h2 a")}
        assert listed == set(PUBLIC)  # never the internal cat_officers
        box = driver.find_element(By.ID, "q")
        box.send_keys("tram khi tuong")  # typed without accents: "Trạm khí tượng"
        navigating(driver, box.submit)
        hits = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "article h2 a")]
        assert hits[0] == "Trạm khí tượng (thử)"
        driver.save_screenshot(str(shots / "portal-search.png"))
        navigating(driver, driver.find_element(By.LINK_TEXT, "Trạm khí tượng (thử)").click)
        assert driver.find_element(By.TAG_NAME, "h1").text == "Trạm khí tượng (thử)"
        driver.save_screenshot(str(shots / "portal-dataset.png"))

        driver.find_element(By.LINK_TEXT, "cat_stations.csv").click()
        target = downloads / "cat_stations.csv"
        for _ in range(100):  # Chrome writes <name>.crdownload, then renames it
            if target.exists():
                break
            time.sleep(0.1)
        key = next(f["key"] for f in published["manifests"]["cat_stations"]["files"] if f["format"] == "csv")
        assert target.read_bytes() == _object(published["settings"], key)

        navigating(driver, driver.find_element(By.LINK_TEXT, "English").click)
        assert driver.find_element(By.TAG_NAME, "h1").text == "Weather stations (test)"
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
        driver.save_screenshot(str(shots / "portal-dataset-en.png"))

        driver.set_window_size(390, 900)  # a phone's width: nothing wider than the screen
        driver.get(f"{portal}/?q=tram")
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 390
        driver.save_screenshot(str(shots / "portal-phone.png"))
        driver.get(f"{portal}/dataset/cat_officers")
        assert "cat_officers" not in driver.find_element(By.TAG_NAME, "h1").text  # a 404 page, no data
        assert "citizen_id" not in driver.page_source
    views, downloads = use_of_cat_stations()
    assert (views - before[0], downloads - before[1]) == (2, 1)  # its page in Vietnamese and English; the CSV


def test_a_partner_asks_for_shared_data_a_steward_approves_and_trino_and_delta_sharing_serve_it(published, portal,
                                                                                               tmp_path, capsys):
    """The whole request in a real Chromium: the partner signs in on the dataset's page and asks, the steward
    approves from the queue; then the partner's Trino user reads the table and its Delta Sharing share lists it."""
    settings = published["settings"]
    try:
        _partner_flow(settings, published["specs"], portal, screenshots(tmp_path), tmp_path, capsys)
    finally:  # Trino's rules hold every published dataset's grants: this test's grant must not outlive it
        trino_security.withdraw_grants(settings, "cat_partner_counts")


def _partner_flow(settings, specs: Path, portal: str, shots: Path, tmp_path: Path, capsys) -> None:
    import time

    import delta_sharing
    from selenium.webdriver.common.by import By

    from lakehouse import services
    from lakehouse.cli import main as lake
    from lakehouse.serving import sharing

    secret = passwords(settings)
    table = "lake.gold.cat_partner_counts"
    with pytest.raises(Exception, match="Access Denied"):
        as_user("btc_analyst", f"SELECT offices FROM {table}", settings, secret["btc_analyst"])

    def sign_in(driver, user: str) -> None:
        driver.find_element(By.ID, "user").send_keys(user)
        box = driver.find_element(By.ID, "password")
        box.send_keys(secret[user])
        navigating(driver, box.submit)

    with chromium(tmp_path) as driver:
        driver.get(f"{portal}/dataset/cat_partner_counts")
        navigating(driver, driver.find_element(By.CSS_SELECTOR, "main a[href^='/signin']").click)
        sign_in(driver, "btc_analyst")
        assert driver.current_url.endswith("/dataset/cat_partner_counts")  # back where the partner was
        session = driver.get_cookie("portal_session")
        assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Lax"
        driver.find_element(By.ID, "purpose").send_keys("Đối chiếu số văn phòng đối tác khi lập dự toán")
        box = driver.find_element(By.ID, "legal_basis")
        box.send_keys("Nghị định 47/2024/NĐ-CP, Điều 12")
        navigating(driver, box.submit)
        request_id = driver.current_url.rsplit("/", 1)[1]
        assert driver.find_element(By.ID, "status").text.startswith("Chờ duyệt")
        driver.save_screenshot(str(shots / "portal-request.png"))
        navigating(driver, driver.find_element(By.CSS_SELECTOR, "form.inline button").click)  # sign out

        driver.get(f"{portal}/signin?next=/requests")
        sign_in(driver, "engineer")  # a steward (data_engineers: steward: true)
        driver.save_screenshot(str(shots / "portal-requests.png"))
        navigating(driver, driver.find_element(By.LINK_TEXT, request_id).click)
        driver.find_element(By.ID, "note").send_keys("Đủ căn cứ")
        navigating(driver, driver.find_element(By.CSS_SELECTOR, "button[value=approve]").click)
        assert driver.find_element(By.ID, "status").text.startswith("Đã cấp quyền")

    spec = (specs / "cat_partner_counts.yaml").read_text(encoding="utf-8")
    assert f"- to: bo_tai_chinh  # request {request_id} approved by engineer" in spec
    for _ in range(40):  # Trino re-reads its rules every 5 s
        try:
            assert as_user("btc_analyst", f"SELECT offices FROM {table}", settings, secret["btc_analyst"]) == [(1,)]
            break
        except Exception as exc:
            if "Access Denied" not in str(exc):
                raise
            time.sleep(0.5)
    else:
        pytest.fail("btc_analyst still cannot read the approved table after 20 s")
    with pytest.raises(Exception, match="Access Denied"):  # so_ha_noi asked for nothing
        as_user("hn_officer", f"SELECT offices FROM {table}", settings, secret["hn_officer"])

    started = services.select(["sharing"], settings)[0].pid() is None
    services.up(["sharing"], settings)  # inherits this module's specs, as the portal did
    try:
        _, _, profile = sharing.issue_token("bo_tai_chinh", settings, tmp_path / "btc.share")
        shared = {(t.schema, t.name) for t in delta_sharing.SharingClient(str(profile)).list_all_tables()}
        assert ("catalog_demo", "cat_partner_counts") in shared
    finally:
        if started:
            services.down(["sharing"], settings)
    capsys.readouterr()
    lake(["access", "requests", "--all", "--format", "json"])  # the CLI reads the same record
    [kept] = [r for r in json.loads(capsys.readouterr().out) if r["id"] == request_id]
    assert (kept["status"], kept["user"], kept["decided_by"], kept["note"]) == \
        ("approved", "btc_analyst", "engineer", "Đủ căn cứ")


def test_an_earlier_version_of_open_data_downloads_as_it_was_exported(published, portal, tmp_path):
    """Runs last: it loads a new snapshot of cat_stations.  The version the daily export was made from, asked
    for after the table changed, gives the export's very bytes; the new version holds the change."""
    import urllib.error
    import urllib.request

    settings = published["settings"]

    def newest() -> int:
        return max(int(k.rsplit("/", 1)[1][:20]) for k in storage.list_keys("silver/cat_stations/_delta_log/",
                                                                            settings) if k.endswith(".json"))

    exported = newest()
    renamed = [dict(STATIONS[0], station_name="Trạm Láng (mới)"), *STATIONS[1:]]
    with use_datasets(published["specs"]):  # its own steps only: the gold table built from it is not needed here
        from lakehouse.config.spec import load_specs
        from lakehouse.orchestration.pipeline import land_files, plan, run_steps

        land_files("cat_stations", [_jsonl(tmp_path / "stations-2.jsonl", renamed)], "2026-11-21")
        run_steps([s for s in plan(load_specs(), ["cat_stations"], with_land=False) if s.dataset == "cat_stations"],
                  "2026-11-21")
    changed = newest()
    assert changed > exported
    csv_key = next(f["key"] for f in published["manifests"]["cat_stations"]["files"] if f["format"] == "csv")
    with urllib.request.urlopen(f"{portal}/download/cat_stations/v{exported}/cat_stations.csv") as answer:
        assert answer.read() == _object(settings, csv_key)
        assert f'filename="cat_stations-v{exported}.csv"' in answer.headers["content-disposition"]
    with urllib.request.urlopen(f"{portal}/download/cat_stations/v{changed}/cat_stations.parquet") as answer:
        names = {r["station_id"]: r["station_name"] for r in pq.read_table(io.BytesIO(answer.read())).to_pylist()}
    assert names["KT-01"] == "Trạm Láng (mới)" and len(names) == len(STATIONS)
    for wrong in (f"v{changed + 1}/cat_stations.csv", f"v{exported}/cat_partners.csv", "v-1/cat_stations.csv"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{portal}/download/cat_stations/{wrong}")
        assert refused.value.code in (400, 404), wrong
    with pytest.raises(urllib.error.HTTPError) as shared:  # shared data has no downloads, of any version
        urllib.request.urlopen(f"{portal}/download/cat_partners/v0/cat_partners.csv")
    assert shared.value.code == 404
