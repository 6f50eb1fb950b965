"""What harvesters read (pure): the portal's DCAT catalog, paged, and a read-only CKAN Action API v3.

The national portal's harvester protocol is not published, so both kinds the common harvesters
use are served.  DCAT-AP: one ``dcat:Catalog`` of every public dataset, the nodes of
:mod:`lakehouse.serving.catalog` (quality as DQV measurements), paged with Hydra as piveau and
ckanext-dcat read it, ``modified_since`` keeping datasets loaded at or after a time; Turtle and
RDF/XML are the same graph through rdflib.  CKAN: the package dictionaries and the response
envelope of CKAN 2.10's ``package_list``, ``package_search``, ``package_show``,
``organization_list``, ``group_list`` and ``status_show``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from lakehouse.config.spec import Specs
from lakehouse.serving.catalog import (CONTEXT, FORMATS, CatalogsConfig, _metric_nodes, _publisher, _texts, _typed,
                                       catalog_iri, dataset_node, export_files)
from lakehouse.serving.portal.entries import Entry

DCAT_AP = "http://data.europa.eu/r5r/"  # DCAT-AP 3 (dct:conformsTo of the catalog)
HYDRA = "http://www.w3.org/ns/hydra/core#"
MEDIA = {"jsonld": "application/ld+json", "ttl": "text/turtle", "rdf": "application/rdf+xml"}
CKAN_VERSION = "2.10.4"  # the CKAN whose Action API these answers follow


class BadRequest(ValueError):
    """A parameter a harvester sent that cannot be answered (said back to it, HTTP 400)."""


def parse_time(text: str | None) -> dt.datetime | None:
    """An ISO 8601 date or time (``Z`` allowed); naive times are UTC."""
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"not an ISO 8601 time: {text[:40]!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _modified_at(entry: Entry) -> dt.datetime | None:
    try:
        return parse_time(entry.modified)
    except BadRequest:
        return None


def catalog_document(entries: list[Entry], specs: Specs, config: CatalogsConfig, *, sql: dict, base_url: str,
                     page: int = 1, size: int = 100, modified_since: str | None = None,
                     now: str | None = None) -> dict:
    """The portal's DCAT catalog as JSON-LD: one page of the public datasets, newest load first."""
    if page < 1 or not 1 <= size <= 1000:
        raise BadRequest("page starts at 1; page_size is 1 to 1000")
    since = parse_time(modified_since)
    never = dt.datetime.min.replace(tzinfo=dt.timezone.utc)  # no (readable) load time: never modified since
    chosen = [e for e in entries if since is None or (_modified_at(e) or never) >= since]
    chosen.sort(key=lambda e: e.name)
    chosen.sort(key=lambda e: e.modified or "", reverse=True)
    total = len(chosen)
    shown = chosen[(page - 1) * size: page * size]
    catalog = {"@id": catalog_iri(config, "portal"), "@type": "dcat:Catalog", "dct:identifier": "portal",
               "dct:title": _texts({"vi": "Cổng dữ liệu của bộ", "en": "The ministry's data portal"}),
               "dct:description": _texts({"vi": "Mọi bộ dữ liệu công bố: dữ liệu mở, dữ liệu lớn, dữ liệu dùng chung.",
                                          "en": "Every published dataset: open data, big data, shared data."}),
               "dct:publisher": _publisher(config), "dct:conformsTo": {"@id": DCAT_AP},
               "foaf:homepage": {"@id": base_url},
               "dcat:dataset": [dataset_node(e.spec, specs, config, e.facts, sql) for e in shown]}
    if now:
        catalog["dct:modified"] = _typed(now, "xsd:dateTime")
    last = max(1, -(-total // size))
    query = f"&modified_since={modified_since}" if modified_since else ""
    view = {"@id": f"{base_url}/catalog.jsonld?page={page}&page_size={size}{query}",
            "@type": "hydra:PartialCollectionView", "hydra:totalItems": total,
            "hydra:first": f"{base_url}/catalog.jsonld?page=1&page_size={size}{query}",
            "hydra:last": f"{base_url}/catalog.jsonld?page={last}&page_size={size}{query}"}
    if page < last:
        view["hydra:next"] = f"{base_url}/catalog.jsonld?page={page + 1}&page_size={size}{query}"
    if page > 1:
        view["hydra:previous"] = f"{base_url}/catalog.jsonld?page={page - 1}&page_size={size}{query}"
    return {"@context": {**CONTEXT, "hydra": HYDRA}, "@graph": [catalog, view, *_metric_nodes(config)]}


def dataset_document(entry: Entry, specs: Specs, config: CatalogsConfig, *, sql: dict) -> dict:
    return {"@context": CONTEXT, "@graph": [dataset_node(entry.spec, specs, config, entry.facts, sql),
                                           *_metric_nodes(config)]}


def serialise(document: dict, fmt: str) -> str:
    """The JSON-LD ``document`` as ``jsonld``, ``ttl`` (Turtle) or ``rdf`` (RDF/XML)."""
    text = json.dumps(document, ensure_ascii=False, indent=1)
    if fmt == "jsonld":
        return text
    from rdflib import Graph

    graph = Graph().parse(data=text, format="json-ld")
    return graph.serialize(format={"ttl": "turtle", "rdf": "pretty-xml"}[fmt])


# ---- CKAN Action API v3 ------------------------------------------------------------------------------

def envelope(action: str, base_url: str, result: Any) -> dict:
    return {"help": f"{base_url}/api/3/action/help_show?name={action}", "success": True, "result": result}


def error(action: str, base_url: str, kind: str, message: str) -> dict:
    """CKAN's error answer: ``kind`` is e.g. ``Not Found Error`` or ``Validation Error``."""
    return {"help": f"{base_url}/api/3/action/help_show?name={action}", "success": False,
            "error": {"__type": kind, "message": message}}


def organization(config: CatalogsConfig) -> dict:
    return {"id": "ministry", "name": "ministry", "title": config.publisher.name.vi,
            "description": config.publisher.name.en, "type": "organization", "is_organization": True,
            "state": "active", "approval_status": "approved"}


def groups(config: CatalogsConfig) -> list[dict]:
    """The three catalogs, as CKAN groups."""
    return [{"id": n, "name": n, "title": t.title.vi, "display_name": t.title.vi, "description": t.description.vi,
             "type": "group", "is_organization": False, "state": "active", "approval_status": "approved"}
            for n, t in config.catalogs.items()]


def package(entry: Entry, config: CatalogsConfig, base_url: str) -> dict:
    """A dataset as CKAN's ``package_show`` answers it."""
    spec, facts = entry.spec, entry.facts
    contact = spec.contact or config.contact
    resources = []
    by_format = {f["format"]: f for f in (facts.get("export") or {}).get("files", [])}
    if entry.is_open:
        for fmt, file_name in export_files(spec.name).items():
            info = by_format.get(fmt) or {}
            resources.append({"id": f"{spec.name}-{fmt}", "package_id": spec.name, "name": file_name,
                              "format": FORMATS[fmt][0], "url": f"{base_url}/download/{spec.name}/{file_name}",
                              "size": info.get("bytes"), "hash": info.get("sha256") and f"sha256:{info['sha256']}",
                              "mimetype": FORMATS[fmt][1], "state": "active"})
    scores = facts.get("scores") or {}
    extras = [{"key": "classification", "value": spec.classification},
              {"key": "frequency", "value": entry.frequency},
              {"key": "grain", "value": spec.grain},
              *({"key": f"quality_{k}", "value": str(v)} for k, v in sorted(scores.items()) if v is not None)]
    return {
        "id": spec.name, "name": spec.name, "title": entry.title["vi"], "notes": entry.description["vi"],
        "type": "dataset", "state": "active", "private": False,
        "license_id": entry.licence or "notspecified", "license_title": entry.licence or "License not specified",
        "maintainer": contact.name, "maintainer_email": contact.email,
        "author": config.publisher.name.vi, "url": f"{base_url}/dataset/{spec.name}",
        "metadata_modified": (entry.modified or "").replace("+00:00", "") or None,
        "organization": organization(config), "owner_org": "ministry",
        "groups": [g for g in groups(config) if g["name"] in spec.catalogs],
        "tags": [{"name": k, "display_name": k} for k in [*spec.keywords.vi, *spec.keywords.en]],
        "num_tags": len(spec.keywords.vi) + len(spec.keywords.en),
        "resources": resources, "num_resources": len(resources), "extras": extras,
    }


def parse_fq(fq: str) -> dict[str, list[str]]:
    """CKAN's ``fq`` as the facet filters the portal's search takes: ``groups:open_data``,
    ``organization:ministry``, ``tags:x``, ``res_format:CSV``, ``license_id:CC-BY-4.0``, joined by
    spaces or ``AND``.  Anything else is a :class:`BadRequest` (never passed on as a query)."""
    fields = {"groups": "catalog", "res_format": "format", "license_id": "licence", "tags": "keywords",
              "organization": "organization", "name": "name"}
    out: dict[str, list[str]] = {}
    for part in fq.replace(" AND ", " ").split():
        key, sep, value = part.partition(":")
        value = value.strip('"')
        if not sep or key.lstrip("+") not in fields or not value or len(value) > 100:
            raise BadRequest(f"fq: {part[:60]!r} is not one of {', '.join(f + ':VALUE' for f in fields)}")
        out.setdefault(fields[key.lstrip("+")], []).append(value)
    return out
