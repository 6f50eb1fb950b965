"""Export an open dataset for the data portal: its published table as CSV (UTF-8, header) and Parquet.

What is exported and how the files are written is :mod:`lakehouse.serving.open_data`.  Files and
``manifest.json`` (rows, bytes, sha256, generated_at) go to ``s3://<bucket>/open_data/<name>/`` and to
``<state>/portal/open_data/<name>/``, the folder the portal serves.  Re-running replaces them.  Reads
Trino, so no Spark is started.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from pathlib import Path

from lakehouse.engine import jobrun
from lakehouse.serving import catalog as catalogs
from lakehouse.serving.open_data import NotPublished, query_files, table_of


def run(dataset: str, date: str) -> dict:
    """Export one open dataset (CSV + Parquet + manifest) to S3 and the portal folder; returns the manifest."""
    from lakehouse.config.spec import load_specs
    from lakehouse.core.settings import get_settings
    from lakehouse.io import storage

    spec = load_specs()[dataset]
    settings = get_settings()
    layer, name = table_of(spec)
    table = f"{settings.trino_catalog}.{layer}.{name}"
    generated_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    portal = settings.state_dir / "portal" / catalogs.EXPORT_PREFIX / name
    portal.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=portal.parent))
    try:
        typed, written = query_files(settings, spec, work)  # refuses a dataset that is not open data first
        manifest = {"dataset": name, "table": table, "date": date, "generated_at": generated_at,
                    "license": catalogs.license_iri(spec, catalogs.load_config()),
                    "columns": [{"name": c, "type": t} for c, t in typed], **written}
        for f in manifest["files"]:
            f["key"] = f"{catalogs.EXPORT_PREFIX}/{name}/{f['name']}"
        (work / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        for f in manifest["files"]:
            storage.put_file(f["key"], work / f["name"], settings)
        storage.put_bytes(f"{catalogs.EXPORT_PREFIX}/{name}/manifest.json", (work / "manifest.json").read_bytes(),
                          settings, content_type="application/json")
        if portal.exists():
            shutil.rmtree(portal)
        work.rename(portal)
    finally:
        if work.exists():
            shutil.rmtree(work)
    sizes = ", ".join(f"{f['name']} {f['bytes']:,} bytes" for f in manifest["files"])
    print(f"[export] {table}: {manifest['rows']:,} rows -> s3://{settings.bucket}/{catalogs.EXPORT_PREFIX}/{name}/ "
          f"and {portal} ({sizes})", flush=True)
    return manifest


def run_all(date: str) -> list[dict]:
    """Export every open dataset whose table is published (the others are named and skipped)."""
    from lakehouse.config.spec import load_specs

    done = []
    for spec in catalogs.open_datasets(load_specs()):
        try:
            done.append(run(spec.name, date))
        except NotPublished as exc:
            print(f"[export] skipped: {exc}", flush=True)
    return done


if __name__ == "__main__":
    jobrun.main(__doc__, run)
