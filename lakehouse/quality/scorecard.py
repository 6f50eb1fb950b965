"""What `lake quality` and the quality site show: report dicts read through Trino.

Each dataset's report comes from ``lake.ops.quality_scorecard`` (scores and
their trend), ``lake.ops.quality_results`` (rules, counts, examples),
``lake.quarantine.<dataset>__quarantine`` (open rows) and ``lake.ops.run_log``
(the last successful load, and the encoding bronze read the last batch's files in).
Rendering is :mod:`lakehouse.quality.quality_report`'s job; this module only reads.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

from lakehouse.config.spec import SourceDataset, load_specs
from lakehouse.core import sql
from lakehouse.core.settings import Settings, quarantine_table
from lakehouse.io import trino

TREND_RUNS = 30
SAMPLE_ROWS = 200


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).isoformat()
    return str(value)




def _rows(sql: str, settings: Settings) -> list[dict]:
    columns, rows = trino.query(sql, settings)
    return [dict(zip(columns, r)) for r in rows]


def _tables(settings: Settings) -> set[str]:
    """``schema.table`` names registered in Trino's lake catalog."""
    rows = _rows(f"SELECT table_schema, table_name FROM {settings.trino_catalog}.information_schema.tables "
                 "WHERE table_schema IN ('ops', 'quarantine')", settings)
    return {f"{r['table_schema']}.{r['table_name']}" for r in rows}


def report(spec: SourceDataset, settings: Settings, tables: set[str] | None = None) -> dict:
    """The quality report of one source dataset (the shape :mod:`lakehouse.quality.quality_report` renders)."""
    tables = _tables(settings) if tables is None else tables
    cat = settings.trino_catalog
    name = sql.literal(spec.name)
    out = {"dataset": spec.name, "domain": spec.domain, "layer": "silver", "description": spec.description.strip(),
           "table": f"{cat}.silver.{spec.name}", "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(),
           "latest": None, "trend": [], "rules": [], "quarantine": None, "freshness": None, "data_docs": None}
    if "ops.quality_scorecard" in tables:
        # the trend is the last loads (an hourly freshness check would crowd them out), plus a newer check
        loads = _rows(f"SELECT * FROM {cat}.ops.quality_scorecard WHERE dataset = {name} AND kind = 'load' "
                      f"ORDER BY checked_at DESC LIMIT {TREND_RUNS}", settings)
        checks = _rows(f"SELECT * FROM {cat}.ops.quality_scorecard WHERE dataset = {name} AND kind <> 'load' "
                       "ORDER BY checked_at DESC LIMIT 1", settings)
        cards = sorted(loads + [c for c in checks if not loads or c["checked_at"] > loads[0]["checked_at"]],
                       key=lambda c: c["checked_at"], reverse=True)
        out["trend"] = [{"batch_id": c["batch_id"], "checked_at": _iso(c["checked_at"]), "kind": c["kind"],
                         **{k: c[k] for k in ("dung", "du", "sach", "song", "overall")}} for c in reversed(cards)]
        if loads:
            last = loads[0]
            newest = cards[0]  # a later freshness check updates sống and overall
            scores = {k: newest[k] for k in ("dung", "du", "sach", "song", "overall")}
            out["latest"] = {"batch_id": last["batch_id"], "checked_at": _iso(last["checked_at"]),
                             "status": last["status"], "scores": scores,
                             "accounting": {k: last[k] for k in ("rows_in", "rows_written", "rows_quarantined",
                                                                 "duplicates_collapsed")}}
            out["rules"] = _rules(last["check_id"], newest["check_id"], settings)
            if spec.source.format in ("csv", "xlsx") and spec.source.kind == "files":
                out["latest"]["encoding"] = _encoding(spec.name, last["batch_id"], settings, tables)
    fresh = [r for r in out["rules"] if r["rule_id"].startswith("freshness__")]
    if spec.freshness:
        by_id = {r["rule_id"]: r for r in fresh}
        event, load = by_id.get("freshness__event"), by_id.get("freshness__load")
        out["freshness"] = {
            "checked_at": max((r["checked_at"] for r in fresh), default=None),
            "newest_event": (event or {}).get("examples", [None])[0] if event else None,
            "event_max_age": spec.freshness.event_max_age,
            "last_success": _last_success(spec.name, settings, tables),
            "load_max_age": spec.freshness.load_max_age,
            "ok": all(r["success"] for r in fresh) if fresh else None}
    qname = quarantine_table(spec.name)
    if f"quarantine.{qname}" in tables:
        table = f"{cat}.quarantine.{qname}"
        by_rule = _rows(f"SELECT rule_id, dimension, count(*) AS rows FROM {table} WHERE replayed_at IS NULL "
                        "GROUP BY rule_id, dimension ORDER BY rows DESC, rule_id", settings)
        sample = _rows(f"SELECT rule_id, dimension, reason, record, _batch_id AS batch_id, _quarantined_at "
                       f"AS quarantined_at FROM {table} WHERE replayed_at IS NULL "
                       f"ORDER BY _quarantined_at DESC, rule_id LIMIT {SAMPLE_ROWS}", settings)
        out["quarantine"] = {"table": table, "open_rows": sum(r["rows"] for r in by_rule), "by_rule": by_rule,
                             "sample": [{**r, "quarantined_at": _iso(r["quarantined_at"])} for r in sample],
                             "csv": None}
    return out


def _rules(load_check: str, newest_check: str, settings: Settings) -> list[dict]:
    """The rules of the last load, plus a newer freshness check's results in place of the load's."""
    cat = settings.trino_catalog
    rows = _rows(f"SELECT * FROM {cat}.ops.quality_results WHERE check_id IN ({sql.literal(load_check)}, "
                 f"{sql.literal(newest_check)}) ORDER BY checked_at, rule_id", settings)
    by_id: dict[str, dict] = {}
    for r in rows:  # ordered by time: a newer freshness result replaces the load's
        by_id[r["rule_id"]] = {"rule_id": r["rule_id"], "check": r["check"], "columns": list(r["columns"] or []),
                               "dimension": r["dimension"], "action": r["action"], "message_vi": r["message_vi"],
                               "message_en": r["message_en"], "success": r["success"],
                               "element_count": r["element_count"], "unexpected_count": r["unexpected_count"],
                               "examples": list(r["examples"] or []), "checked_at": _iso(r["checked_at"])}
    return list(by_id.values())


def encoding_of(extra: str | None) -> dict | None:
    """The encoding fields of a bronze run-log row's ``extra`` JSON (``engine.filecheck.encodings.batch_fields``):
    ``{encoding, declared, confidence, by}`` (``by``: ``font`` for a workbook), or None when it records none."""
    fields = json.loads(extra) if extra else {}
    if not fields.get("encoding"):
        return None
    return {"encoding": fields["encoding"], "declared": fields.get("encoding_declared"),
            "confidence": fields.get("encoding_confidence"), "by": fields.get("encoding_by")}


def _encoding(dataset: str, batch_id: str, settings: Settings, tables: set[str]) -> dict | None:
    """How bronze read the batch's files, from its newest run-log row that records an encoding (a re-run that
    skipped every file records none)."""
    if "ops.run_log" not in tables:
        return None
    rows = _rows(f"SELECT extra FROM {settings.trino_catalog}.ops.run_log WHERE dataset = {sql.literal(dataset)} "
                 f"AND layer = 'bronze' AND batch_id = {sql.literal(batch_id)} "
                 "AND json_extract_scalar(extra, '$.encoding') IS NOT NULL ORDER BY finished_at DESC LIMIT 1",
                 settings)
    return encoding_of(rows[0]["extra"]) if rows else None


def _last_success(dataset: str, settings: Settings, tables: set[str]) -> str | None:
    if "ops.run_log" not in tables:
        return None
    rows = _rows(f"SELECT max(finished_at) AS at FROM {settings.trino_catalog}.ops.run_log "
                 f"WHERE dataset = {sql.literal(dataset)} AND layer = 'silver' AND status = 'success'", settings)
    return _iso(rows[0]["at"]) if rows else None


def reports(names: list[str] | None, settings: Settings) -> list[dict]:
    """Reports of the named source datasets (default: every one)."""
    every = load_specs()
    specs = [every[n] for n in names] if names else every.sources()
    for spec in specs:
        if not isinstance(spec, SourceDataset):
            from lakehouse.core.errors import LakeError
            raise LakeError(f"{spec.name} is a gold dataset; quality is judged on source datasets (silver)")
    tables = _tables(settings)
    return [report(s, settings, tables) for s in specs]


def site_dir(settings: Settings) -> Path:
    return settings.state_dir / "quality" / "site"


def write_site(all_reports: list[dict], settings: Settings) -> Path:
    """The quality site under ``<state>/quality/site``: pages, every open quarantine row as CSV, Data Docs link."""
    from lakehouse.quality import validation
    from lakehouse.quality.quality_report import render_site

    out = site_dir(settings)
    (out / "quarantine").mkdir(parents=True, exist_ok=True)
    docs = validation.build_data_docs(settings)  # from every stored validation (loads no longer rebuild them)
    for rep in all_reports:
        q = rep.get("quarantine")
        if q and q["open_rows"]:
            path = out / "quarantine" / f"{rep['dataset']}.csv"
            columns, rows = trino.query(f"SELECT * FROM {q['table']} WHERE replayed_at IS NULL "
                                        "ORDER BY _quarantined_at, rule_id", settings)
            with path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(columns)
                writer.writerows([[_cell(v) for v in r] for r in rows])
            q["csv"] = f"quarantine/{rep['dataset']}.csv"
        if docs:
            rep["data_docs"] = "../gx/uncommitted/data_docs/local_site/index.html"
    index = render_site(all_reports, out)
    (out / "reports.json").write_text(json.dumps(all_reports, ensure_ascii=False, default=str, indent=1),
                                      encoding="utf-8")
    return index


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return _iso(value) if isinstance(value, dt.datetime) else str(value)
