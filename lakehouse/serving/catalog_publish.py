"""`lake catalog`: the facts the catalogs carry, read through Trino and S3, and the JSON-LD files written.

The catalogs themselves are built by the pure :mod:`lakehouse.serving.catalog`; this module is the thin
part around it: each dataset's quality scores and freshness (``lake.ops.quality_scorecard``
through :mod:`lakehouse.quality.scorecard`), its last successful load (``lake.ops.run_log``), the time
span of its events, and the manifest of its open-data export.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from lakehouse.config.spec import SourceDataset, Specs
from lakehouse.core.settings import Settings
from lakehouse.serving.catalog import EXPORT_PREFIX, build_all, is_open, load_config, write


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).isoformat()
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), dt.timezone.utc).isoformat()
    return str(value)


def facts_from_report(rep: dict) -> dict:
    """Quality facts of a source dataset from its :func:`lakehouse.quality.scorecard.report` (pure)."""
    out: dict[str, Any] = {}
    latest = rep.get("latest")
    if latest:
        out["scores"] = dict(latest["scores"])
        out["measured_at"] = rep["trend"][-1]["checked_at"] if rep.get("trend") else latest["checked_at"]
        out["batch_id"], out["status"] = latest["batch_id"], latest["status"]
    if rep.get("trend"):  # the last loads' scores, oldest first: the portal draws them
        out["trend"] = [{k: t.get(k) for k in ("checked_at", "dung", "du", "sach", "song", "overall")}
                        for t in rep["trend"]]
    if rep.get("quarantine"):
        out["open_quarantine"] = rep["quarantine"]["open_rows"]  # a count: never a quarantined row
    fresh = rep.get("freshness")
    if fresh:
        out["on_time"] = fresh.get("ok")
        out["freshness_checked_at"] = fresh.get("checked_at")
        if fresh.get("last_success"):
            out["last_load_at"] = fresh["last_success"]
    return out


def read_facts(specs: Specs, settings: Settings, names: list[str] | None = None) -> dict[str, dict]:
    """What the catalogs carry of each dataset in one: scores and freshness (``lake.ops.quality_scorecard``
    through :mod:`lakehouse.quality.scorecard`), the last successful load (``lake.ops.run_log``), the time span of
    its events, the manifest of its open-data export (S3), and this year's Trino queries and Delta Sharing
    reads (``lake usage``'s figures)."""
    from lakehouse.io import storage, trino
    from lakehouse.quality import scorecard

    cat = settings.trino_catalog
    wanted = [s for s in specs.datasets.values() if s.catalogs and (names is None or s.name in names)]
    _, rows = trino.query(f"SELECT table_schema, table_name FROM {cat}.information_schema.tables "
                          "WHERE table_schema IN ('silver', 'gold', 'ops', 'quarantine')", settings)
    tables = {f"{s}.{t}" for s, t in rows}
    last_loads: dict[str, str] = {}
    if "ops.run_log" in tables:
        _, rows = trino.query(f"SELECT dataset, max(finished_at) FROM {cat}.ops.run_log WHERE status = 'success' "
                              "AND layer IN ('silver', 'gold') GROUP BY dataset", settings)
        last_loads = {d: _iso(at) for d, at in rows}
    used: dict[str, dict] = {}
    if {"ops.table_reads", "ops.sharing_log"} <= tables:  # this year's use, for the portal's evaluation
        from lakehouse.serving import usage

        year = dt.datetime.now(dt.timezone.utc).year
        names_, rows = trino.query(usage.usage_sql(cat, f"{year}-01-01", f"{year + 1}-01-01"), settings)
        for row in rows:
            r = dict(zip(names_, row))
            used[r["dataset"]] = {"year": year, **{k: int(r[k]) for k in ("queries", "users", "sharing_reads",
                                                                          "partners")}}
    facts: dict[str, dict] = {}
    for spec in wanted:
        entry: dict[str, Any] = {}
        if isinstance(spec, SourceDataset):
            entry.update(facts_from_report(scorecard.report(spec, settings, tables)))
            column = spec.freshness_column or spec.source.event_time
            if column and f"silver.{spec.name}" in tables:
                _, span = trino.query(f'SELECT min("{column}"), max("{column}") FROM {cat}.silver.{spec.name}',
                                      settings)
                if span and span[0][0] is not None:
                    entry["temporal"] = {"start": _iso(span[0][0]), "end": _iso(span[0][1])}
        if spec.name in used:
            entry["usage"] = used[spec.name]
        if spec.name in last_loads:
            entry["last_load_at"] = last_loads[spec.name]
        if is_open(spec):
            key = f"{EXPORT_PREFIX}/{spec.name}/manifest.json"
            if storage.exists(key, settings):
                data = storage.fetcher(settings)(f"s3a://{settings.bucket}/{key}")
                entry["export"] = json.loads(data.decode("utf-8"))
        facts[spec.name] = entry
    return facts


def sql_endpoint(settings: Settings) -> dict:
    """Where the Trino distributions are reached, from the environment."""
    return {"url": f"http://{settings.trino_host}:{settings.trino_port}", "catalog": settings.trino_catalog}


def default_out_dir(settings: Settings) -> Path:
    """``<state>/portal/catalog``: where `lake catalog` writes the JSON-LD files."""
    return settings.state_dir / "portal" / "catalog"


def publish(names: list[str] | None = None, out_dir: Path | None = None, *, with_facts: bool = True,
            settings: Settings) -> list[Path]:
    """Read the facts (unless ``with_facts`` is false), build and write the catalogs; returns the files.

    The facts are kept beside them in ``facts.json``, which the portal reads (``lake up portal``).
    """
    from lakehouse.config.spec import load_specs
    specs = load_specs()
    config = load_config()
    facts = read_facts(specs, settings) if with_facts else {}
    docs = build_all(specs, config, facts, sql=sql_endpoint(settings),
                     generated_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), names=names)
    out_dir = out_dir or default_out_dir(settings)
    paths = write(docs, out_dir)
    if with_facts:
        kept = out_dir / "facts.json"
        written = out_dir / ".facts.json.tmp"  # replaced in one step: the portal never reads half a file
        written.write_text(json.dumps(facts, ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8")
        written.replace(kept)
        paths.append(kept)
    return paths
