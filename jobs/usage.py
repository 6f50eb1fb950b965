"""Load Trino's query events and the Delta Sharing audit into ``ops/query_log``, ``table_reads``, ``sharing_log``.

Reads the lines of ``<state>/usage/spool/events-*.jsonl`` (written by the ``events`` service) and of
``<state>/sharing/audit.jsonl`` that no earlier run loaded (``<state>/usage/loaded.json`` keeps the byte
offset reached in each file), and inserts rows whose key is not in the table yet (query id; query id and
table; the audit line's hash), so a re-run, or a run after a crash between the commit and the offsets,
adds nothing twice.  A line that is not a usable JSON object is set aside in
``<state>/usage/rejected.jsonl`` with its file, offset and reason; the lines around it are loaded.

    python -m jobs.usage [--date YYYY-MM-DD]

The date only names the run's batch: what is loaded is what the files hold and was not loaded yet.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from lakehouse.core.errors import LakeError
from lakehouse.core.settings import Settings, get_settings
from lakehouse.engine import jobrun
from lakehouse.io import delta_io
from lakehouse.serving import usage

SPOOL = "spool/"
AUDIT = "sharing/audit.jsonl"


def usage_dir(settings: Settings) -> Path:
    return settings.state_dir / "usage"


def _read_offsets(path: Path) -> dict[str, int]:
    try:
        return {k: int(v) for k, v in json.loads(path.read_text()).items()}
    except FileNotFoundError:
        return {}
    except (ValueError, AttributeError) as exc:
        raise LakeError(f"{path}: not the loader's offsets file ({exc}); delete it to load every file again "
                        "(nothing is loaded twice: rows are keyed)") from None


def _write_offsets(path: Path, offsets: dict[str, int]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(offsets, indent=1, sort_keys=True))
    tmp.replace(path)  # atomic: the old offsets or the new ones, never half


def sources(settings: Settings) -> dict[str, Path]:
    """Every file the loader reads, by the name its offset is kept under."""
    from lakehouse.serving.events import spool_dir
    from lakehouse.serving.sharing import audit_log

    files = {SPOOL + p.name: p for p in sorted(spool_dir(settings).glob(f"{usage.SPOOL_PREFIX}*.jsonl"))}
    files[AUDIT] = audit_log(settings).path
    return files


def _columns(schema: str) -> list[str]:
    """Column names of a DDL schema string (no nested commas at the top level except inside <...>)."""
    names, depth, current = [], 0, ""
    for ch in schema + ",":
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            names.append(current.strip().split()[0].strip("`"))
            current = ""
        else:
            current += ch
    return names


def _unique(rows: list[dict], keys: list[str]) -> list[dict]:
    seen, out = set(), []
    for row in rows:
        key = tuple(row[k] for k in keys)
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def _insert_new(spark, rows: list[dict], table: str, schema: str, settings: Settings) -> int:
    """Insert the rows whose key the table lacks; returns how many were inserted."""
    keys = usage.KEYS[table]
    names = _columns(schema)
    uri = settings.table_uri("ops", table)
    if not rows and delta_io.exists(spark, uri):
        return 0  # nothing new: no MERGE job (the first run creates the table even empty, for Trino)
    df = spark.createDataFrame([tuple(r[c] for c in names) for r in rows], schema)
    metrics = delta_io.merge(spark, df, uri, keys, mode="append")
    return metrics["inserted"]


def run(date: str, settings: Settings) -> jobrun.Accounting:
    state = usage_dir(settings)
    state.mkdir(parents=True, exist_ok=True)
    offsets_file = state / "loaded.json"
    offsets = _read_offsets(offsets_file)
    chunks = usage.read_chunks(sources(settings), offsets)
    queries = usage.parse([c for c in chunks if c.name.startswith(SPOOL)], required=("query_id",))
    audit = usage.parse([c for c in chunks if c.name == AUDIT], required=("at",))
    rejected = queries.rejected + audit.rejected

    acc = jobrun.Accounting(dataset="usage", layer="ops", batch_id=jobrun.batch_id("usage", date))
    with jobrun.logged(acc, settings):
        from lakehouse.config.spec import load_specs
        from lakehouse.io.spark import get_spark

        service_user, lake = settings.env.trino.user, settings.trino_catalog
        try:
            known: set[str] | None = set(load_specs().datasets)
        except LakeError:  # a broken spec must not stop the audit: name datasets by convention
            known = None
        q_rows = [usage.query_row(r, service_user) for _, r in queries.records]
        t_rows = [row for _, r in queries.records for row in usage.table_read_rows(r, service_user, lake, known)]
        s_rows = [usage.sharing_row(line, entry) for line, entry in audit.records]
        q_unique = _unique(q_rows, usage.KEYS[usage.QUERY_LOG])
        t_unique = _unique(t_rows, usage.KEYS[usage.TABLE_READS])
        s_unique = _unique(s_rows, usage.KEYS[usage.SHARING_LOG])

        spark = acc.spark = get_spark("usage", settings)
        inserted_q = _insert_new(spark, q_unique, usage.QUERY_LOG, usage.QUERY_LOG_SCHEMA, settings)
        inserted_t = _insert_new(spark, t_unique, usage.TABLE_READS, usage.TABLE_READS_SCHEMA, settings)
        inserted_s = _insert_new(spark, s_unique, usage.SHARING_LOG, usage.SHARING_LOG_SCHEMA, settings)

        if rejected:
            with open(state / "rejected.jsonl", "a", encoding="utf-8") as fh:
                for r in rejected:
                    fh.write(json.dumps({"rejected_at": jobrun.now_iso(), **r}, ensure_ascii=False) + "\n")
            for r in rejected:
                print(f"[usage] rejected {r['file']} at byte {r['offset']}: {r['reason']}", file=sys.stderr,
                      flush=True)
        _write_offsets(offsets_file, {**offsets, **{c.name: c.end for c in chunks}})

        acc.rows_in = len(q_rows) + len(s_rows) + len(rejected)
        acc.rows_written = inserted_q + inserted_s
        acc.rows_quarantined = len(rejected)
        acc.duplicates_collapsed = acc.rows_in - acc.rows_written - acc.rows_quarantined
        acc.extra = {"queries": inserted_q, "table_reads": inserted_t, "sharing_requests": inserted_s,
                     "files": len(chunks), "rejected_file": str(state / "rejected.jsonl") if rejected else None}
        acc.check()
        print(f"[usage] {inserted_q} queries ({inserted_t} table reads) and {inserted_s} sharing requests loaded"
              + (f"; {len(rejected)} bad line(s) set aside in {state / 'rejected.jsonl'}" if rejected else ""),
              flush=True)
    try:
        from lakehouse.io import trino
        trino.register_ops(settings)
    except Exception as exc:  # the rows are in Delta; Trino registers them on the next run or publish
        print(f"[usage] warning: could not register lake.ops.* in Trino: {exc.__class__.__name__}: {exc}",
              file=sys.stderr, flush=True)
    return acc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--date", type=jobrun._date, default=dt.date.today().isoformat(),
                        help="logical date naming the run's batch (default: today); loads whatever is new")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        run(args.date, get_settings())
    except LakeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    print(f"done in {time.monotonic() - started:.1f}s", flush=True)


if __name__ == "__main__":
    main()
