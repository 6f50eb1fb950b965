"""How `lake` prints results (an aligned table, CSV or JSON) and reads a date argument."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import decimal
import io
import json
from typing import Any, Sequence

FORMAT = dict(choices=["table", "csv", "json"], default="table", help="output format (default: table)")


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def format_records(columns: list[str], records, fmt: str = "table") -> str:
    """Objects (dataclasses) as rows of their ``columns`` attributes, an empty cell for None."""
    return format_rows(columns, [[getattr(r, c) or "" for c in columns] for r in records], fmt)


def format_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str = "table") -> str:
    """Render a result as an aligned table, CSV or JSON (one object per row)."""
    if fmt == "json":
        def default(v: Any) -> Any:
            if isinstance(v, decimal.Decimal):
                return str(v)
            return _cell(v)
        return json.dumps([dict(zip(columns, r)) for r in rows], ensure_ascii=False, default=default, indent=1)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[("" if v is None else _cell(v)) for v in r] for r in rows])
        return out.getvalue().rstrip("\n")
    cells = [[_cell(v) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = lambda vals: " | ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    sep = "-+-".join("-" * w for w in widths)
    body = [line(columns), sep, *[line(r) for r in cells]]
    body.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(body)


def date_arg(value: str) -> str:
    """An argument that must be a date (YYYY-MM-DD)."""
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None
