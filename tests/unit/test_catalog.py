"""The three DCAT catalogs and the open-data exports, without services (milliseconds).

The JSON-LD is parsed with rdflib (expanded to triples), so the tests check what the
catalog says, not how the JSON happens to be laid out.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from decimal import Decimal
from pathlib import Path

import pytest
import rdflib
from rdflib import RDF, Literal, Namespace, URIRef

from jobs import export_open_data
from lakehouse.serving import open_data
from lakehouse.config.spec import load_specs
from lakehouse.core.errors import ConfigError, LakeError
from lakehouse.serving import catalog as catalogs

DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
DQV = Namespace("http://www.w3.org/ns/dqv#")
SQL = {"url": "http://127.0.0.1:8080", "catalog": "lake"}
AT = "2026-11-27T10:00:00+00:00"

FACTS = {
    "provinces": {"scores": {"dung": 100.0, "du": 97.5, "sach": 100.0, "song": 0.0, "overall": 74.38},
                  "measured_at": "2026-11-27T02:05:00+00:00", "last_load_at": "2026-11-27T02:04:00+00:00",
                  "on_time": False, "freshness_checked_at": "2026-11-27T09:00:00+00:00",
                  "export": {"generated_at": "2026-11-27T03:00:00+00:00", "rows": 34,
                             "files": [{"name": "provinces.csv", "format": "csv", "bytes": 1234, "sha256": "ab" * 32},
                                       {"name": "provinces.parquet", "format": "parquet", "bytes": 2345,
                                        "sha256": "cd" * 32}]}},
    "air_quality_readings": {"scores": {"dung": 99.1, "du": 100.0, "sach": 98.0, "song": 100.0, "overall": 99.28},
                             "temporal": {"start": "2026-11-26T00:00:00+00:00", "end": "2026-11-27T09:59:00+00:00"}},
    "enterprises": {"scores": {"dung": 91.0, "du": 100.0, "sach": None, "song": 100.0, "overall": 97.0}},
}


@pytest.fixture(scope="module")
def specs():
    return load_specs()


@pytest.fixture(scope="module")
def config():
    return catalogs.load_config()


@pytest.fixture(scope="module")
def graphs(specs, config):
    docs = catalogs.build_all(specs, config, FACTS, sql=SQL, generated_at=AT)
    return {name: rdflib.Graph().parse(data=json.dumps(doc, ensure_ascii=False), format="json-ld")
            for name, doc in docs.items()}


def ds(config, name: str) -> URIRef:
    return URIRef(catalogs.dataset_iri(config, name))


def listed(graph, config, name: str) -> set[str]:
    cat = URIRef(catalogs.catalog_iri(config, name))
    assert (cat, RDF.type, DCAT.Catalog) in graph
    return {str(d).rsplit("/", 1)[1] for d in graph.objects(cat, DCAT.dataset)}


def test_each_catalog_lists_exactly_the_datasets_whose_spec_names_it(specs, config, graphs):
    for name in catalogs.CATALOGS:
        expected = {s.name for s in specs.datasets.values() if name in s.catalogs}
        assert expected, f"no demo dataset in {name}"
        assert listed(graphs[name], config, name) == expected
        # every listed dataset is a dcat:Dataset, and no other dataset is described
        typed = {str(d).rsplit("/", 1)[1] for d in graphs[name].subjects(RDF.type, DCAT.Dataset)}
        assert typed == expected


def test_open_data_lists_every_open_dataset_and_nothing_else(specs, config, graphs):
    open_names = {s.name for s in specs.datasets.values() if s.classification == "open" and "open_data" in s.catalogs}
    assert listed(graphs["open_data"], config, "open_data") == open_names
    not_open = {s.name for s in specs.datasets.values() if s.classification != "open"}
    assert not_open and not (listed(graphs["open_data"], config, "open_data") & not_open)
    for name in open_names:
        rights = graphs["open_data"].value(ds(config, name), DCT.accessRights)
        assert str(rights).endswith("/access-right/PUBLIC")


def test_titles_and_descriptions_carry_both_languages(specs, config, graphs):
    g = graphs["open_data"]
    titles = {t.language: str(t) for t in g.objects(ds(config, "provinces"), DCT.title)}
    assert titles == {"vi": specs["provinces"].title.vi, "en": specs["provinces"].title.en}
    langs = {d.language for d in g.objects(ds(config, "communes"), DCT.description)}
    assert langs == {"vi", "en"}
    keywords = set(g.objects(ds(config, "provinces"), DCAT.keyword))
    assert Literal("đơn vị hành chính", lang="vi") in keywords and Literal("provinces", lang="en") in keywords


def test_publisher_licence_frequency_and_spatial(config, graphs):
    g = graphs["open_data"]
    provinces = ds(config, "provinces")
    publisher = g.value(provinces, DCT.publisher)
    assert str(publisher) == catalogs.publisher_iri(config)
    assert {n.language for n in g.objects(publisher, URIRef("http://xmlns.com/foaf/0.1/name"))} == {"vi", "en"}
    assert str(g.value(provinces, DCT.license)) == "https://creativecommons.org/licenses/by/4.0/"
    assert str(g.value(provinces, DCT.accrualPeriodicity)).endswith("/frequency/DAILY")        # 0 2 * * *
    readings = ds(config, "air_quality_readings")
    assert str(g.value(readings, DCT.accrualPeriodicity)).endswith("/frequency/15MIN")         # */15 * * * *
    # a gold table is refreshed with its domain's DAG
    assert str(g.value(ds(config, "air_quality_hourly_by_province"), DCT.accrualPeriodicity)).endswith("/15MIN")
    assert str(g.value(provinces, DCT.spatial)) == config.spatial
    period = g.value(readings, DCT.temporal)
    assert g.value(period, DCAT.startDate).toPython() == dt.datetime(2026, 11, 26, tzinfo=dt.timezone.utc)


def _measurements(g, dataset: URIRef) -> dict[str, object]:
    out = {}
    for m in g.objects(dataset, DQV.hasQualityMeasurement):
        assert (m, RDF.type, DQV.QualityMeasurement) in g
        assert g.value(m, DQV.computedOn) == dataset
        metric = str(g.value(m, DQV.isMeasurementOf)).rsplit("/", 1)[1]
        out[metric] = g.value(m, DQV.value).toPython()
    return out


def test_quality_scores_and_freshness_are_dqv_measurements(config, graphs):
    g = graphs["open_data"]
    got = _measurements(g, ds(config, "provinces"))
    assert got == {"dung": 100.0, "du": 97.5, "sach": 100.0, "song": 0.0, "overall": 74.38,
                   "last_load": dt.datetime(2026, 11, 27, 2, 4, tzinfo=dt.timezone.utc), "on_time": False}
    # each metric is described once, in its dimension
    metric = URIRef(catalogs.metric_iri(config, "dung"))
    assert (metric, RDF.type, DQV.Metric) in g
    assert {str(l) for l in g.objects(metric, URIRef("http://www.w3.org/2004/02/skos/core#prefLabel"))} \
        == {"đúng", "correct"}
    assert str(g.value(metric, DQV.inDimension)).endswith("/quality/dimension/dung")
    # a dimension without rules has no score; the same facts show up in every catalog listing the dataset
    assert "sach" not in _measurements(graphs["master_shared"], ds(config, "enterprises"))
    assert _measurements(graphs["master_shared"], ds(config, "provinces")) == got
    # a dataset never measured is listed without measurements
    assert _measurements(g, ds(config, "communes")) == {}


def test_distributions_trino_for_all_downloads_for_open_data_only(config, graphs):
    g = graphs["open_data"]
    dists = {str(d).rsplit("/", 1)[1]: d for d in g.objects(ds(config, "provinces"), DCAT.distribution)}
    assert set(dists) == {"trino", "csv", "parquet"}
    assert str(g.value(dists["trino"], DCT.identifier)) == "lake.silver.provinces"
    csv_url = str(g.value(dists["csv"], DCAT.downloadURL))
    assert csv_url == f"{config.downloads_url}/open_data/provinces/provinces.csv"
    assert str(g.value(dists["parquet"], DCAT.mediaType)).endswith("application/vnd.apache.parquet")
    assert g.value(dists["csv"], DCAT.byteSize).toPython() == 1234
    checksum = g.value(dists["csv"], URIRef("http://spdx.org/rdf/terms#checksum"))
    assert str(g.value(checksum, URIRef("http://spdx.org/rdf/terms#checksumValue"))) == "ab" * 32
    gold = {str(d).rsplit("/", 1)[1]: d for d in g.objects(ds(config, "communes_with_province"), DCAT.distribution)}
    assert str(g.value(gold["trino"], DCT.identifier)) == "lake.gold.communes_with_province"
    ms = graphs["master_shared"]
    shared = {str(d).rsplit("/", 1)[1] for d in ms.objects(ds(config, "enterprises"), DCAT.distribution)}
    assert shared == {"trino"}  # not open: no download
    assert str(ms.value(ds(config, "enterprises"), DCT.accessRights)).endswith("/RESTRICTED")
    assert ms.value(ds(config, "enterprises"), DCT.license) is None


@pytest.mark.parametrize("cron, code", [
    ("*/15 * * * *", "15MIN"), ("5 * * * *", "HOURLY"), ("0 2 * * *", "DAILY"), ("20 1 * * *", "DAILY"),
    ("0 3 * * 1", "WEEKLY"), ("0 0 1 * *", "MONTHLY"), ("0 0 1 1 *", "ANNUAL"), ("0 */3 * * *", "TRIHOURLY"),
    ("@hourly", "HOURLY"), (None, "IRREG"), ("0 1-5 * * *", "IRREG")])
def test_update_frequency_from_the_schedule(cron, code):
    assert catalogs.frequency(cron) == f"http://publications.europa.eu/resource/authority/frequency/{code}"


# ---- spec fields ---------------------------------------------------------------------------------

BASE = """
name: people
domain: demo
description: People counted per province.
grain: one row per province
source: {kind: files, format: jsonl}
columns:
  - {name: province_code, type: int, nullable: false}
  - {name: people, type: int}
keys: [province_code]
"""
ENTRY = """title: {vi: Dân số, en: Population}
description_vi: Số người theo tỉnh.
"""


def load(tmp_path: Path, text: str):
    path = tmp_path / "datasets" / "demo" / "people.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return load_specs(tmp_path)["people"]


@pytest.mark.parametrize("extra, words", [
    ("catalogs: [big_data]\n", "title: required when the dataset is in a catalog (big_data)"),
    ("catalogs: [big_data]\ntitle: {vi: A, en: B}\n", "description_vi: required when the dataset is in a catalog"),
    ("catalogs: [open_data]\nclassification: shared\n" + ENTRY, "open_data lists only datasets with classification: open"),
    ("classification: open\nlicense: MIT-ish\n", "'MIT-ish' is neither a known SPDX id"),
    ("catalogs: [big_data]\n" + ENTRY + "contact: {name: X, email: not-an-email}\n", "contact.email"),
    ("catalogs: [big_data]\n" + ENTRY + "themes: [SPACE]\n", "themes[0]"),
])
def test_catalog_fields_are_checked_with_file_and_field(tmp_path, extra, words):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, BASE + extra)
    assert "people.yaml: field '" in str(err.value) and words in str(err.value)


def test_an_open_dataset_cannot_hold_personal_columns(tmp_path):
    text = BASE.replace("{name: people, type: int}", "{name: people, type: int, personal: true}")
    with pytest.raises(ConfigError, match="an open dataset cannot hold personal data .personal columns: people"):
        load(tmp_path, text + "classification: open\n")


def test_licence_defaults_to_the_config_for_open_data_only(tmp_path, config):
    spec = load(tmp_path, BASE + "classification: open\ncatalogs: [open_data]\n" + ENTRY)
    assert catalogs.license_iri(spec, config) == "https://creativecommons.org/licenses/by/4.0/"
    spec = load(tmp_path, BASE + "classification: open\ncatalogs: [open_data]\nlicense: CC0-1.0\n" + ENTRY)
    assert catalogs.license_iri(spec, config) == "https://creativecommons.org/publicdomain/zero/1.0/"
    spec = load(tmp_path, BASE + "classification: shared\ncatalogs: [master_shared]\n" + ENTRY)
    assert catalogs.license_iri(spec, config) is None


def test_catalogs_yaml_errors_name_the_file_and_field(tmp_path):
    (tmp_path / "catalogs.yaml").write_text("base_url: https://x.vn\ndownloads_url: https://x.vn/f\n"
                                            "publisher: {name: {vi: A, en: B}, url: https://x.vn}\n"
                                            "contact: {name: C, email: c@x.vn}\nlicense: GPL-ish\n"
                                            "catalogs: {open_data: {title: {vi: a, en: b}, description: "
                                            "{vi: a, en: b}}}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        catalogs.load_config(tmp_path)
    text = str(err.value)
    assert "catalogs.yaml: field 'license'" in text and "GPL-ish" in text


# ---- open-data exports ------------------------------------------------------------------------------

def test_only_open_datasets_are_exported(specs):
    exported = {s.name for s in catalogs.open_datasets(specs)}
    assert exported == {s.name for s in specs.datasets.values()
                        if s.classification == "open" and "open_data" in s.catalogs}
    assert not {"citizens", "citizens_by_province", "enterprises", "dossiers"} & exported


@pytest.mark.parametrize("name", ["citizens", "citizens_by_province", "enterprises", "dossiers", "procedures"])
def test_the_export_job_refuses_a_dataset_that_is_not_open_before_reading_anything(monkeypatch, name):
    from lakehouse.io import trino

    def no_trino(*args, **kwargs):
        raise AssertionError("the export read Trino for a dataset that is not open")

    monkeypatch.setattr(trino, "query", no_trino)
    monkeypatch.setattr(trino, "connect", no_trino)
    with pytest.raises(LakeError, match=f"{name} is not open data"):
        export_open_data.run(name, "2026-11-27")


def test_the_catalog_dag_exports_only_open_datasets_then_writes_the_catalogs(specs):
    from lakehouse.orchestration.dags import CATALOG_DAG, build_catalog_dag

    dag = build_catalog_dag(specs)
    assert dag.dag_id == CATALOG_DAG
    exports = {t.task_id for t in dag.tasks} - {"catalogs"}
    assert exports == {f"export__{s.name}" for s in catalogs.open_datasets(specs)}
    assert {t.task_id for t in dag.get_task("catalogs").upstream_list} == exports
    export = dag.get_task("export__provinces").op_kwargs
    assert (export["job"], export["dataset"]) == ("export_open_data", "provinces") and export["date"].startswith("{{ ")


def test_export_columns_leave_out_bookkeeping_columns(specs):
    table = ["province_code", "province_name", "codename", "_source_file", "_batch_id", "_ingested_at", "_row_hash"]
    assert open_data.export_columns(specs["provinces"], table) == ["province_code", "province_name", "codename"]
    gold = ["province_code", "commune_count", "_internal"]
    assert open_data.export_columns(specs["commune_counts_by_province"], gold) == ["province_code",
                                                                                          "commune_count"]
    sql = open_data.select_sql(specs["provinces"], ["province_code", "province_name"], "lake")
    assert sql == ('SELECT "province_code", "province_name" FROM lake.silver.provinces ORDER BY "province_code"')


def test_files_hold_the_rows_typed_and_the_manifest_matches_the_bytes(tmp_path):
    import pyarrow.parquet as pq

    at = dt.datetime(2026, 11, 27, 1, 2, 3, 456000, tzinfo=dt.timezone.utc)
    columns = [("province_code", "integer"), ("province_name", "varchar"), ("share", "decimal(5,2)"),
               ("opened_on", "date"), ("seen_at", "timestamp(3) with time zone"), ("is_city", "boolean"),
               ("tags", "array(varchar)")]
    rows = [(1, "Thành phố Hà Nội", Decimal("12.50"), dt.date(2025, 7, 1), at, True, ["a", "b"]),
            (46, "Thành phố Huế", None, None, None, False, None)]
    out = open_data.write_files("demo", columns, [rows[:1], [], rows[1:]], tmp_path)
    assert out["rows"] == 2
    with (tmp_path / "demo.csv").open(encoding="utf-8", newline="") as fh:
        parsed = list(csv.reader(fh))
    assert parsed[0] == [c for c, _ in columns]
    assert parsed[1] == ["1", "Thành phố Hà Nội", "12.50", "2025-07-01", "2026-11-27T01:02:03.456000+00:00", "true",
                         '["a", "b"]']
    assert parsed[2] == ["46", "Thành phố Huế", "", "", "", "false", ""]
    table = pq.read_table(tmp_path / "demo.parquet")
    assert table.column_names == [c for c, _ in columns]
    assert table.to_pylist()[0] == {"province_code": 1, "province_name": "Thành phố Hà Nội", "share": Decimal("12.50"),
                                    "opened_on": dt.date(2025, 7, 1), "seen_at": at, "is_city": True,
                                    "tags": '["a", "b"]'}
    assert str(table.schema.field("seen_at").type) == "timestamp[us, tz=UTC]"
    for f in out["files"]:
        data = (tmp_path / f["name"]).read_bytes()
        assert f["bytes"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()


def test_an_empty_table_still_gives_a_header_and_a_readable_parquet(tmp_path):
    import pyarrow.parquet as pq

    out = open_data.write_files("empty", [("a", "integer")], [], tmp_path)
    assert out["rows"] == 0
    assert (tmp_path / "empty.csv").read_text(encoding="utf-8") == "a\n"
    assert pq.read_table(tmp_path / "empty.parquet").num_rows == 0


def test_cli_writes_the_three_files_from_the_specs(tmp_path):
    from lakehouse.cli import main

    main(["catalog", "--no-quality", "--out", str(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big_data.jsonld", "master_shared.jsonld",
                                                         "open_data.jsonld"]
    graph = rdflib.Graph().parse(tmp_path / "big_data.jsonld", format="json-ld")
    assert len(set(graph.subjects(RDF.type, DCAT.Dataset))) == len(members := catalogs.members(load_specs(),
                                                                                               "big_data"))
    assert members


@pytest.mark.parametrize("value, cell", [
    ("=HYPERLINK(\"http://x\",\"bấm\")", "'=HYPERLINK(\"http://x\",\"bấm\")"),
    ("+SUM(A1:A9)", "'+SUM(A1:A9)"), ("-2+3", "'-2+3"), ("@cmd", "'@cmd"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("Hà Nội", "Hà Nội"), ("-5", "-5"), ("+84912345678", "+84912345678"), ("-1.234,5", "-1.234,5"),
    (-5, "-5"), (None, ""),
])
def test_open_data_csv_cells_cannot_run_as_spreadsheet_formulas(value, cell):
    from lakehouse.serving.open_data import csv_cell

    assert csv_cell(value) == cell


def test_the_parquet_export_keeps_the_raw_value(tmp_path):
    import pyarrow.parquet as pq

    from lakehouse.serving.open_data import write_files

    write_files("ten", [("ghi_chu", "varchar")], [[("=1+1",), ("-5",)]], tmp_path)
    assert (tmp_path / "ten.csv").read_text(encoding="utf-8").splitlines()[1:] == ["'=1+1", "-5"]
    assert pq.read_table(next(tmp_path.glob("*.parquet"))).column("ghi_chu").to_pylist() == ["=1+1", "-5"]
