"""Open data as files: what an export of a published table holds and how its CSV and Parquet are written.

Only a dataset with ``classification: open`` listed in the ``open_data`` catalog is exported; any other is
refused before anything is read.  The rows are what analysts see: the published table read through Trino
(``lake.gold.<name>`` for gold, ``lake.silver.<name>`` for a source dataset), the lake's bookkeeping columns
(``_source_file``, ``_batch_id``, …) left out, ordered by the keys so the same table always gives the same
bytes; CSV cells are safe to open in a spreadsheet (no formula runs).  ``jobs/export_open_data.py`` exports
the current table daily; the portal exports an earlier version (``FOR VERSION AS OF``) the first time
someone asks for it, with the same code, so both give the same bytes for the same rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Iterable

from lakehouse.config.spec import GoldDataset, SourceDataset
from lakehouse.core import sql
from lakehouse.core.errors import LakeError
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


def select_sql(spec: SourceDataset | GoldDataset, columns: list[str], trino_catalog: str,
               version: int | None = None) -> str:
    """The query of an export: the public columns, ordered by the keys (else every column) for stable bytes;
    at an earlier Delta ``version`` of the table when given."""
    layer, name = table_of(spec)
    at = "" if version is None else f" FOR VERSION AS OF {int(version)}"
    order = [k for k in spec.keys if k in columns] or columns
    if isinstance(spec, SourceDataset) and spec.load_mode == "scd2" and "valid_from" in columns:
        order = order + ["valid_from"]
    return (f"SELECT {', '.join(sql.identifier(c) for c in columns)} FROM {trino_catalog}.{layer}.{name}{at} "
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


def _batches(cursor) -> Iterable[list[tuple]]:
    while True:
        rows = cursor.fetchmany(BATCH_ROWS)
        if not rows:
            return
        yield [tuple(r) for r in rows]


def _chain(first: list[tuple], rest: Iterable[list[tuple]]) -> Iterable[list[tuple]]:
    yield first
    yield from rest


def query_files(settings: Any, spec: SourceDataset | GoldDataset, folder: Path,
                version: int | None = None) -> tuple[list[tuple[str, str]], dict]:
    """Read the published table (at Delta ``version``, else as it is now) through Trino and write its files
    into ``folder``; the (column, Trino type) pairs and :func:`write_files`' answer.
    :class:`NotPublished` when the table is not in Trino."""
    from lakehouse.io import trino

    check_open(spec)  # before anything is read
    layer, name = table_of(spec)
    table = f"{settings.trino_catalog}.{layer}.{name}"
    at = "" if version is None else f" FOR VERSION AS OF {int(version)}"
    conn = trino.connect(settings)
    try:
        cur = conn.cursor()
        try:
            cur.execute(f"SELECT * FROM {table}{at} LIMIT 0")  # that version's columns
            cur.fetchall()
        except Exception as exc:
            if "does not exist" in str(exc) and version is None:
                raise NotPublished(f"{table} is not published yet: run `lake run {name}` first") from None
            raise
        columns = export_columns(spec, [d.name for d in cur.description])
        cur.execute(select_sql(spec, columns, settings.trino_catalog, version))
        first = cur.fetchmany(BATCH_ROWS)  # the description is known once the first rows came
        typed = [(d.name, d.type_code) for d in cur.description]
        return typed, write_files(name, typed, _chain([tuple(r) for r in first], _batches(cur)), folder)
    finally:
        conn.close()
