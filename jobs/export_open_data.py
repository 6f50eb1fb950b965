"""Export an open dataset for the data portal: its published table as CSV (UTF-8, header) and Parquet.

Only a dataset with ``classification: open`` listed in the ``open_data`` catalog is
exported; any other is refused before anything is read.  The rows are what
analysts see: the dataset's published table read through Trino (``lake.gold.<name>``
for gold, ``lake.silver.<name>`` for a source dataset), the lake's bookkeeping
columns (``_source_file``, ``_batch_id``, …) left out, ordered by the keys so the
same table always gives the same bytes.  Files and ``manifest.json`` (rows, bytes,
sha256, generated_at) go to ``s3://<bucket>/open_data/<name>/`` and to
``<state>/portal/open_data/<name>/``, the folder the portal serves.  Re-running
replaces them.  Reads Trino, so no Spark is started.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable

from lakehouse.config.spec import GoldDataset, SourceDataset
from lakehouse.core import sql
from lakehouse.core.errors import LakeError
from lakehouse.engine import jobrun
from lakehouse.serving import catalog as catalogs

BATCH_ROWS = 10_000
SCD2_COLUMNS = ("valid_from", "valid_to", "is_current")


class NotPublished(LakeError):
    """The dataset's table is not in Trino yet."""


def check_open(spec: SourceDataset | GoldDataset) -> None:
    """Refuse a dataset that is not open data (the only guard between a table and the public)."""
    if not catalogs.is_open(spec):
        raise LakeError(f"{spec.name} is not open data (classification {spec.classification!r}, catalogs "
                        f"{list(spec.catalogs)}): only a dataset with classification: open in the open_data "
                        "catalog is exported")


def table_of(spec: SourceDataset | GoldDataset) -> tuple[str, str]:
    """The published table an export reads: (layer, name)."""
    return ("gold" if isinstance(spec, GoldDataset) else "silver"), spec.name


def export_columns(spec: SourceDataset | GoldDataset, table_columns: list[str]) -> list[str]:
    """The columns the public gets: a source's declared columns (and SCD2's), a gold table's own; never ``_…``."""
    if isinstance(spec, SourceDataset):
        declared = [c.name for c in spec.columns if not c.personal]
        if spec.load_mode == "scd2":
            declared += list(SCD2_COLUMNS)
        return [c for c in declared if c in table_columns]
    return [c for c in table_columns if not c.startswith("_")]




def select_sql(spec: SourceDataset | GoldDataset, columns: list[str], trino_catalog: str) -> str:
    """The query of an export: the public columns, ordered by the keys (else every column) for stable bytes."""
    layer, name = table_of(spec)
    order = [k for k in spec.keys if k in columns] or columns
    if isinstance(spec, SourceDataset) and spec.load_mode == "scd2" and "valid_from" in columns:
        order = order + ["valid_from"]
    return (f"SELECT {', '.join(sql.identifier(c) for c in columns)} FROM {trino_catalog}.{layer}.{name} "
            f"ORDER BY {', '.join(sql.identifier(c) for c in order)}")


# ---- writing the files (no services) ----------------------------------------------------------------

def arrow_type(trino_type: str):
    """The Arrow type a Trino column is written as in Parquet (text for what has no plain equivalent)."""
    import pyarrow as pa

    t = trino_type.lower()
    simple = {"boolean": pa.bool_(), "tinyint": pa.int8(), "smallint": pa.int16(), "integer": pa.int32(),
              "bigint": pa.int64(), "real": pa.float32(), "double": pa.float64(), "date": pa.date32()}
    if t in simple:
        return simple[t]
    match = re.match(r"^decimal\((\d+),\s*(\d+)\)$", t)
    if match:
        return pa.decimal128(int(match.group(1)), int(match.group(2)))
    if t.startswith("timestamp"):
        return pa.timestamp("us", tz="UTC") if "with time zone" in t else pa.timestamp("us")
    return pa.string()


def _text(value: Any) -> str:
    """A CSV cell: empty for NULL, ISO 8601 for times, plain digits for decimals, JSON for arrays and rows."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return (value.astimezone(dt.timezone.utc) if value.tzinfo else value).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)*")


def csv_cell(value: Any) -> str:
    """A CSV cell a spreadsheet opens safely: text starting like a formula gets a leading ``'``.

    ``=HYPERLINK(...)`` in a reused open-data file would run in the reader's spreadsheet
    (formula injection).  Numbers stay numbers: values of number columns, and text that is a
    plain number such as ``-5`` or a phone number ``+84912345678``.  The Parquet file keeps
    every value as it is.
    """
    text = _text(value)
    if isinstance(value, str) and text.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def _arrow_value(value: Any, type_) -> Any:
    import pyarrow as pa

    if value is None:
        return None
    if pa.types.is_string(type_) and not isinstance(value, str):
        return _text(value)
    if pa.types.is_timestamp(type_) and isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc) if (type_.tz and value.tzinfo) else value
    return value


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_files(name: str, columns: list[tuple[str, str]], batches: Iterable[list[tuple]], folder: Path) -> dict:
    """Write ``<name>.csv`` and ``<name>.parquet`` into ``folder`` from row batches; returns the manifest's
    ``rows`` and ``files`` (name, format, media type, bytes, sha256).  ``columns`` are (name, Trino type)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [c for c, _ in columns]
    schema = pa.schema([pa.field(c, arrow_type(t)) for c, t in columns])
    files = catalogs.export_files(name)
    csv_path, parquet_path = folder / files["csv"], folder / files["parquet"]
    rows = 0
    with csv_path.open("w", newline="", encoding="utf-8") as fh, \
            pq.ParquetWriter(parquet_path, schema, compression="zstd") as parquet:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(names)
        for batch in batches:
            if not batch:
                continue
            writer.writerows([[csv_cell(v) for v in row] for row in batch])
            arrays = [pa.array([_arrow_value(row[i], f.type) for row in batch], type=f.type)
                      for i, f in enumerate(schema)]
            parquet.write_table(pa.Table.from_arrays(arrays, schema=schema))
            rows += len(batch)
        if rows == 0:
            parquet.write_table(schema.empty_table())
    out = []
    for fmt, path in (("csv", csv_path), ("parquet", parquet_path)):
        out.append({"name": path.name, "format": fmt, "media_type": catalogs.FORMATS[fmt][1],
                    "bytes": path.stat().st_size, "sha256": _digest(path)})
    return {"rows": rows, "files": out}


# ---- the job ---------------------------------------------------------------------------------------

def _batches(cursor) -> Iterable[list[tuple]]:
    while True:
        rows = cursor.fetchmany(BATCH_ROWS)
        if not rows:
            return
        yield [tuple(r) for r in rows]


def run(dataset: str, date: str) -> dict:
    """Export one open dataset (CSV + Parquet + manifest) to S3 and the portal folder; returns the manifest."""
    from lakehouse.config.spec import load_specs
    from lakehouse.core.settings import get_settings
    from lakehouse.io import storage, trino

    spec = load_specs()[dataset]
    check_open(spec)  # before anything is read
    settings = get_settings()
    layer, name = table_of(spec)
    table = f"{settings.trino_catalog}.{layer}.{name}"
    _, found = trino.query(f"SELECT column_name FROM {settings.trino_catalog}.information_schema.columns WHERE "
                           f"table_schema = '{layer}' AND table_name = '{name}' ORDER BY ordinal_position", settings)
    if not found:
        raise NotPublished(f"{table} is not published yet: run `lake run {dataset}` first")
    columns = export_columns(spec, [r[0] for r in found])
    generated_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    portal = settings.state_dir / "portal" / catalogs.EXPORT_PREFIX / name
    portal.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=portal.parent))
    try:
        conn = trino.connect(settings)
        try:
            cur = conn.cursor()
            cur.execute(select_sql(spec, columns, settings.trino_catalog))
            first = cur.fetchmany(BATCH_ROWS)  # the description is known once the first rows came
            typed = [(d.name, d.type_code) for d in cur.description]
            written = write_files(name, typed, _chain([tuple(r) for r in first], _batches(cur)), work)
        finally:
            conn.close()
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


def _chain(first: list[tuple], rest: Iterable[list[tuple]]) -> Iterable[list[tuple]]:
    yield first
    yield from rest


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
