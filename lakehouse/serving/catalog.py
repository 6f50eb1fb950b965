"""The three catalogs of the National Data Strategy as DCAT-AP JSON-LD: open data, big data, master/shared.

Which datasets each catalog lists comes from the specs (``catalogs:``), what
every entry shares (publisher, contact, default licence, spatial coverage)
from ``lake_config/catalogs.yaml``.  Each ``dcat:Dataset`` carries its quality
as W3C Data Quality Vocabulary measurements — one ``dqv:QualityMeasurement``
per dimension (đúng, đủ, sạch, sống) and overall, plus the last load time and
whether the freshness SLA holds — and its distributions: the Trino table, and
for open data the CSV and Parquet downloads that ``jobs/export_open_data``
writes.

:func:`build` is pure (specs + a dict of facts in, a JSON-LD dict out);
:mod:`lakehouse.serving.catalog_publish` is the thin part that reads the facts through Trino and S3
and writes the files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from lakehouse.core.dimensions import DIMENSIONS
from lakehouse.core.errors import ConfigError
from lakehouse.config.spec import (LICENSES, Specs, CatalogName, Contact, GoldDataset, SourceDataset, Text,
                                   check_license)
from lakehouse.core.yamlfile import Strict, read_mapping, validated

CATALOGS: tuple[str, ...] = ("open_data", "big_data", "master_shared")
EXPORT_PREFIX = "open_data"          # s3://<bucket>/open_data/<dataset>/ and <state>/portal/open_data/<dataset>/

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "dqv": "http://www.w3.org/ns/dqv#",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "prov": "http://www.w3.org/ns/prov#",
    "spdx": "http://spdx.org/rdf/terms#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
}
EU = "http://publications.europa.eu/resource/authority/"
IANA = "http://www.iana.org/assignments/media-types/"
ACCESS_RIGHTS = {"open": "PUBLIC", "shared": "RESTRICTED", "internal": "NON_PUBLIC", "personal": "NON_PUBLIC"}
LANGUAGES = {"vi": "VIE", "en": "ENG"}
FORMATS = {  # export format → (EU file type, IANA media type)
    "csv": ("CSV", "text/csv"),
    "parquet": ("PARQUET", "application/vnd.apache.parquet"),
}
METRICS = {  # metric → (vi label, en label, dimension or None, expected type)
    "dung": ("đúng", "correct", "dung", "xsd:double"),
    "du": ("đủ", "complete", "du", "xsd:double"),
    "sach": ("sạch", "clean", "sach", "xsd:double"),
    "song": ("sống", "current", "song", "xsd:double"),
    "overall": ("tổng thể", "overall", None, "xsd:double"),
    "last_load": ("lần nạp thành công gần nhất", "last successful load", "song", "xsd:dateTime"),
    "on_time": ("đúng hạn cập nhật", "within its freshness SLA", "song", "xsd:boolean"),
}
METRIC_DEFINITIONS = {
    "dung": ("Điểm 0–100: tỉ lệ dòng đạt các quy tắc về tính đúng (kiểu, miền giá trị, mã danh mục).",
             "Score 0-100: the mean share of rows that keep the correctness rules (types, ranges, codes)."),
    "du": ("Điểm 0–100: tỉ lệ dòng đạt các quy tắc về tính đủ (trường bắt buộc, số dòng).",
           "Score 0-100: the mean share of rows that keep the completeness rules (required fields, row counts)."),
    "sach": ("Điểm 0–100: tỉ lệ dòng đạt các quy tắc về tính sạch (không trùng, dạng chuẩn).",
             "Score 0-100: the mean share of rows that keep the cleanliness rules (no duplicates, standard form)."),
    "song": ("Điểm 0–100: dữ liệu còn mới so với cam kết cập nhật.",
             "Score 0-100: whether the data is as current as its freshness SLA requires."),
    "overall": ("Điểm 0–100: trung bình các chiều có quy tắc.",
                "Score 0-100: the mean of the dimensions that have rules."),
    "last_load": ("Thời điểm lần nạp thành công gần nhất (UTC).", "When the last successful load finished (UTC)."),
    "on_time": ("Lần kiểm tra gần nhất cho thấy dữ liệu đạt cam kết cập nhật.",
                "The last check found the data within its freshness SLA."),
}


# ---- lake_config/catalogs.yaml ------------------------------------------------------------------


class Publisher(Strict):
    """The ministry that publishes the catalogs (dct:publisher, a foaf:Agent)."""

    name: Text
    url: str = Field(pattern=r"^https?://\S+$")
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class CatalogText(Strict):
    title: Text
    description: Text


class CatalogsConfig(Strict):
    """``lake_config/catalogs.yaml``: what every catalog entry shares."""

    base_url: str = Field(pattern=r"^https?://\S+[^/]$", description="the portal; IRIs of catalogs and datasets")
    downloads_url: str = Field(pattern=r"^https?://\S+[^/]$", description="where the portal serves open_data/…")
    publisher: Publisher
    contact: Contact
    license: str = Field("CC-BY-4.0", description="licence of open data whose spec gives none")
    spatial: str = Field("http://sws.geonames.org/1562822/", pattern=r"^https?://\S+$",
                         description="dct:spatial of every dataset (default: Vietnam in GeoNames)")
    languages: list[Literal["vi", "en"]] = Field(default_factory=lambda: ["vi", "en"])
    catalogs: dict[CatalogName, CatalogText]

    @field_validator("license")
    @classmethod
    def _license(cls, value: str) -> str:
        return check_license(value)

    @model_validator(mode="after")
    def _all_three(self) -> "CatalogsConfig":
        missing = [c for c in CATALOGS if c not in self.catalogs]
        if missing:
            raise ValueError(f"catalogs: give a title and description for {', '.join(missing)}")
        return self


def load_config(config_dir: Path | None = None) -> CatalogsConfig:
    """Read ``lake_config/catalogs.yaml``; errors name the file and the field."""
    from lakehouse.core.settings import CONFIG_DIR

    path = Path(config_dir or CONFIG_DIR) / "catalogs.yaml"
    if not path.exists():
        raise ConfigError(f"{path}: no such file; it names the publisher, contact and licence of the catalogs "
                          "(see lake_config/README.md#catalogs)")
    return validated(CatalogsConfig, read_mapping(path), path)


# ---- what a spec says about its entry (pure) ------------------------------------------------------

def is_open(spec: SourceDataset | GoldDataset) -> bool:
    """Open data: classification ``open`` and listed in the ``open_data`` catalog. Only these are exported."""
    return spec.classification == "open" and "open_data" in spec.catalogs


def open_datasets(catalog: Specs) -> list[SourceDataset | GoldDataset]:
    """Every open dataset, by name."""
    return sorted((s for s in catalog.datasets.values() if is_open(s)), key=lambda s: s.name)


def members(catalog: Specs, name: str) -> list[SourceDataset | GoldDataset]:
    """The datasets a catalog lists, by name."""
    if name not in CATALOGS:
        raise ConfigError(f"no catalog named {name!r}; the catalogs are {', '.join(CATALOGS)}")
    return sorted((s for s in catalog.datasets.values() if name in s.catalogs), key=lambda s: s.name)


def schedule_of(spec: SourceDataset | GoldDataset, catalog: Specs) -> str | None:
    """The cron a dataset is refreshed on: its own, else (gold) its domain's DAG schedule."""
    if isinstance(spec, SourceDataset) or spec.schedule:
        return spec.schedule
    schedules = sorted({s.schedule for s in catalog.sources(spec.domain) if s.schedule})
    return schedules[0] if schedules else None


def frequency(cron: str | None) -> str:
    """``dct:accrualPeriodicity`` (EU frequency vocabulary) of a cron expression; ``IRREG`` when manual."""
    code = "IRREG"
    parts = (cron or "").split()
    if cron in ("@hourly",):
        code = "HOURLY"
    elif cron in ("@daily", "@midnight"):
        code = "DAILY"
    elif cron == "@weekly":
        code = "WEEKLY"
    elif cron == "@monthly":
        code = "MONTHLY"
    elif cron in ("@yearly", "@annually"):
        code = "ANNUAL"
    elif len(parts) == 5:
        minute, hour, day, month, weekday = parts
        steps = {"*": "1MIN", "*/1": "1MIN", "*/5": "5MIN", "*/10": "10MIN", "*/15": "15MIN", "*/30": "30MIN"}
        hour_steps = {"*/2": "BIHOURLY", "*/3": "TRIHOURLY", "*/12": "12HRS"}
        if (day, month, weekday) == ("*", "*", "*"):
            if hour == "*" and minute in steps:
                code = steps[minute]
            elif hour == "*" and minute.isdigit():
                code = "HOURLY"
            elif minute.isdigit() and hour in hour_steps:
                code = hour_steps[hour]
            elif minute.isdigit() and hour.isdigit():
                code = "DAILY"
        elif minute.isdigit() and hour.isdigit():
            if (day, month) == ("*", "*") and weekday != "*" and "," not in weekday and "-" not in weekday:
                code = "WEEKLY"
            elif day.isdigit() and (month, weekday) == ("*", "*"):
                code = "MONTHLY"
            elif day.isdigit() and month.isdigit() and weekday == "*":
                code = "ANNUAL"
    return f"{EU}frequency/{code}"


def license_iri(spec: SourceDataset | GoldDataset, config: CatalogsConfig) -> str | None:
    """The dataset's licence IRI: its own ``license``, else the default for open data, else none."""
    value = spec.license or (config.license if is_open(spec) else None)
    if value is None:
        return None
    return LICENSES.get(value, value)


def export_files(name: str) -> dict[str, str]:
    """File name of each export format of an open dataset."""
    return {fmt: f"{name}.{fmt}" for fmt in FORMATS}


# ---- JSON-LD (pure) -------------------------------------------------------------------------------

def _texts(text: Text | dict) -> list[dict]:
    text = text if isinstance(text, dict) else text.model_dump()
    return [{"@value": text[lang], "@language": lang} for lang in ("vi", "en") if text.get(lang)]


def _id(iri: str) -> dict:
    return {"@id": iri}


def _typed(value: Any, type_: str) -> dict:
    return {"@value": value, "@type": type_}


def dataset_iri(config: CatalogsConfig, name: str) -> str:
    return f"{config.base_url}/dataset/{name}"


def catalog_iri(config: CatalogsConfig, name: str) -> str:
    return f"{config.base_url}/catalog/{name}"


def publisher_iri(config: CatalogsConfig) -> str:
    return f"{config.base_url}/publisher"


def metric_iri(config: CatalogsConfig, metric: str) -> str:
    return f"{config.base_url}/quality/metric/{metric}"


def _contact(contact: Contact) -> dict:
    node = {"@type": "vcard:Kind", "vcard:fn": contact.name, "vcard:hasEmail": _id(f"mailto:{contact.email}")}
    if contact.url:
        node["vcard:hasURL"] = _id(contact.url)
    return node


def _publisher(config: CatalogsConfig) -> dict:
    pub = config.publisher
    node = {"@id": publisher_iri(config), "@type": "foaf:Agent", "foaf:name": _texts(pub.name), "foaf:homepage": _id(pub.url)}
    if pub.email:
        node["foaf:mbox"] = _id(f"mailto:{pub.email}")
    return node


def _measurements(iri: str, config: CatalogsConfig, facts: dict) -> list[dict]:
    """DQV measurements of a dataset: a score per dimension and overall, the last load, on time or not."""
    out = []
    at = facts.get("measured_at")
    for metric in (*DIMENSIONS, "overall"):
        value = (facts.get("scores") or {}).get(metric)
        if value is None:
            continue  # a dimension without rules has no score
        node = {"@id": f"{iri}#quality-{metric}", "@type": "dqv:QualityMeasurement", "dqv:computedOn": _id(iri),
                "dqv:isMeasurementOf": _id(metric_iri(config, metric)), "dqv:value": _typed(float(value), "xsd:double")}
        if at:
            node["prov:generatedAtTime"] = _typed(at, "xsd:dateTime")
        out.append(node)
    if facts.get("last_load_at"):
        out.append({"@id": f"{iri}#quality-last_load", "@type": "dqv:QualityMeasurement", "dqv:computedOn": _id(iri),
                    "dqv:isMeasurementOf": _id(metric_iri(config, "last_load")),
                    "dqv:value": _typed(facts["last_load_at"], "xsd:dateTime")})
    if facts.get("on_time") is not None:
        node = {"@id": f"{iri}#quality-on_time", "@type": "dqv:QualityMeasurement", "dqv:computedOn": _id(iri),
                "dqv:isMeasurementOf": _id(metric_iri(config, "on_time")),
                "dqv:value": _typed(bool(facts["on_time"]), "xsd:boolean")}
        if facts.get("freshness_checked_at"):
            node["prov:generatedAtTime"] = _typed(facts["freshness_checked_at"], "xsd:dateTime")
        out.append(node)
    return out


def _distributions(spec, iri: str, config: CatalogsConfig, facts: dict, sql: dict) -> list[dict]:
    layer = "gold" if isinstance(spec, GoldDataset) else "silver"
    table = f"{sql['catalog']}.{layer}.{spec.name}"
    licence = license_iri(spec, config)
    trino = {"@id": f"{iri}/distribution/trino", "@type": "dcat:Distribution",
             "dct:title": _texts({"vi": f"Bảng {table} trên Trino (SQL)", "en": f"Trino table {table} (SQL)"}),
             "dct:identifier": table, "dcat:accessURL": _id(sql["url"]),
             "dcat:accessService": {"@type": "dcat:DataService", "dct:title": "Trino",
                                    "dcat:endpointURL": _id(sql["url"]),
                                    "dct:conformsTo": _id("https://trino.io/docs/current/language.html")}}
    out = [trino]
    if not is_open(spec):
        return out
    manifest = facts.get("export") or {}
    by_format = {f["format"]: f for f in manifest.get("files", [])}
    for fmt, file_name in export_files(spec.name).items():
        file_type, media_type = FORMATS[fmt]
        url = f"{config.downloads_url}/{EXPORT_PREFIX}/{spec.name}/{file_name}"
        node = {"@id": f"{iri}/distribution/{fmt}", "@type": "dcat:Distribution",
                "dct:title": _texts({"vi": f"Tải về {fmt.upper()}", "en": f"{fmt.upper()} download"}),
                "dcat:downloadURL": _id(url), "dcat:accessURL": _id(url),
                "dcat:mediaType": _id(f"{IANA}{media_type}"), "dct:format": _id(f"{EU}file-type/{file_type}")}
        if licence:
            node["dct:license"] = _id(licence)
        done = by_format.get(fmt)
        if done:
            node["dcat:byteSize"] = _typed(int(done["bytes"]), "xsd:nonNegativeInteger")
            node["spdx:checksum"] = {"@type": "spdx:Checksum",
                                     "spdx:algorithm": _id("http://spdx.org/rdf/terms#checksumAlgorithm_sha256"),
                                     "spdx:checksumValue": _typed(done["sha256"], "xsd:hexBinary")}
            node["dct:modified"] = _typed(manifest["generated_at"], "xsd:dateTime")
        out.append(node)
    return out


def dataset_node(spec, catalog: Specs, config: CatalogsConfig, facts: dict, sql: dict) -> dict:
    """The ``dcat:Dataset`` of one spec, with its distributions and quality measurements."""
    iri = dataset_iri(config, spec.name)
    node: dict[str, Any] = {
        "@id": iri, "@type": "dcat:Dataset", "dct:identifier": spec.name,
        "dct:title": _texts(spec.title) if spec.title else [{"@value": spec.name, "@language": "en"}],
        "dct:description": _texts({"vi": (spec.description_vi or "").strip(), "en": spec.description.strip()}),
        "dct:publisher": _id(publisher_iri(config)),
        "dcat:contactPoint": _contact(spec.contact or config.contact),
        "dct:accessRights": _id(f"{EU}access-right/{ACCESS_RIGHTS[spec.classification]}"),
        "dct:accrualPeriodicity": _id(frequency(schedule_of(spec, catalog))),
        "dct:spatial": _id(config.spatial),
        "dct:language": [_id(f"{EU}language/{LANGUAGES[lang]}") for lang in config.languages],
        "dcat:distribution": _distributions(spec, iri, config, facts, sql),
    }
    keywords = [{"@value": k, "@language": lang} for lang in ("vi", "en") for k in getattr(spec.keywords, lang)]
    if keywords:
        node["dcat:keyword"] = keywords
    if spec.themes:
        node["dcat:theme"] = [_id(f"{EU}data-theme/{t}") for t in spec.themes]
    licence = license_iri(spec, config)
    if licence:
        node["dct:license"] = _id(licence)
    if isinstance(spec, GoldDataset):
        node["prov:wasDerivedFrom"] = [_id(dataset_iri(config, d)) for d in spec.depends_on]
    given = getattr(spec, "contributed_by", None)
    if given:  # provenance of contributed data: who offered it, and the contribution a steward approved
        node["dct:creator"] = {"@type": "foaf:Agent", "foaf:name": given.organisation}
        node["dct:provenance"] = {"@type": "dct:ProvenanceStatement", "rdfs:label": _texts({
            "vi": f"Dữ liệu do {given.organisation} đóng góp (mã {given.contribution}, gửi {given.submitted_at}), "
                  "được cán bộ quản lý dữ liệu duyệt và kiểm tra chất lượng trước khi công bố",
            "en": f"contributed by {given.organisation} (contribution {given.contribution}, submitted "
                  f"{given.submitted_at}), reviewed by a data steward and quality-checked before publication"})}
    if facts.get("last_load_at"):
        node["dct:modified"] = _typed(facts["last_load_at"], "xsd:dateTime")
    temporal = facts.get("temporal") or {}
    if temporal.get("start") or temporal.get("end"):
        period: dict[str, Any] = {"@type": "dct:PeriodOfTime"}
        if temporal.get("start"):
            period["dcat:startDate"] = _typed(temporal["start"], "xsd:dateTime")
        if temporal.get("end"):
            period["dcat:endDate"] = _typed(temporal["end"], "xsd:dateTime")
        node["dct:temporal"] = period
    measurements = _measurements(iri, config, facts)
    if measurements:
        node["dqv:hasQualityMeasurement"] = measurements
    return node


def _metric_nodes(config: CatalogsConfig) -> list[dict]:
    nodes = []
    for dim in DIMENSIONS:
        vi, en, _, _ = METRICS[dim]
        nodes.append({"@id": f"{config.base_url}/quality/dimension/{dim}", "@type": "dqv:Dimension",
                      "skos:prefLabel": _texts({"vi": vi, "en": en})})
    for metric, (vi, en, dim, type_) in METRICS.items():
        node = {"@id": metric_iri(config, metric), "@type": "dqv:Metric", "skos:prefLabel": _texts({"vi": vi, "en": en}),
                "skos:definition": _texts(dict(zip(("vi", "en"), METRIC_DEFINITIONS[metric]))),
                "dqv:expectedDataType": _id(type_)}
        if dim:
            node["dqv:inDimension"] = _id(f"{config.base_url}/quality/dimension/{dim}")
        nodes.append(node)
    return nodes


def build(catalog: Specs, name: str, config: CatalogsConfig, facts: dict[str, dict], *,
          sql: dict, generated_at: str) -> dict:
    """The JSON-LD document of one catalog.

    ``facts`` maps a dataset name to what was measured (see :func:`read_facts`); a dataset without
    facts is listed without measurements.  ``sql`` is ``{"url": <Trino URL>, "catalog": <Trino catalog>}``.
    """
    text = config.catalogs[name]
    datasets = [dataset_node(s, catalog, config, facts.get(s.name, {}), sql) for s in members(catalog, name)]
    node = {"@id": catalog_iri(config, name), "@type": "dcat:Catalog", "dct:identifier": name,
            "dct:title": _texts(text.title), "dct:description": _texts(text.description),
            "dct:publisher": _publisher(config), "foaf:homepage": _id(config.base_url),
            "dct:language": [_id(f"{EU}language/{LANGUAGES[lang]}") for lang in config.languages],
            "dct:spatial": _id(config.spatial), "dct:modified": _typed(generated_at, "xsd:dateTime"),
            "dcat:dataset": datasets}
    return {"@context": CONTEXT, "@graph": [node, *_metric_nodes(config)]}


def build_all(catalog: Specs, config: CatalogsConfig, facts: dict[str, dict], *, sql: dict,
              generated_at: str, names: list[str] | None = None) -> dict[str, dict]:
    """Every catalog's document (or the ``names`` given), keyed by catalog name."""
    return {n: build(catalog, n, config, facts, sql=sql, generated_at=generated_at) for n in (names or CATALOGS)}


def write(documents: dict[str, dict], out_dir: Path) -> list[Path]:
    """``<out_dir>/<catalog>.jsonld`` for each document (UTF-8, Vietnamese kept as is)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, doc in documents.items():
        path = out_dir / f"{name}.jsonld"
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
