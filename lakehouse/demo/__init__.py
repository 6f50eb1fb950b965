"""Play the demo source systems: land a day's demo files and update the demo database.

`lake generate` and `lake demo` use this to stand in for the ministry's sources:
files land exactly as a source would drop them, and the dossier system's tables
in PostgreSQL are brought to their state at the end of the day.
"""

from __future__ import annotations

import datetime as dt

from lakehouse.config.spec import SourceDataset, load_specs
from lakehouse.core.settings import Settings
from lakehouse.demo import sources
from lakehouse.io import storage


def land_demo(date: str, seed: int = 2026, scale: float = 1.0, datasets: list[str] | None = None, *,
              settings: Settings) -> dict[str, int]:
    """Deliver every demo source for ``date``; returns files or rows delivered per dataset."""
    from lakehouse.io import sourcedb

    specs = load_specs()
    delivered = {}
    for name, source in sources.demo_sources(date, seed, scale, datasets).items():
        spec = specs[name]
        assert isinstance(spec, SourceDataset)
        if source.rows or source.table:
            count = sourcedb.load_rows(spec.source.connection, source.table, source.ddl, source.rows, source.key,
                                       settings=settings)
            print(f"[generate] {name}: {count:,} rows upserted into {spec.source.connection}:{source.table}",
                  flush=True)
            delivered[name] = count
            continue
        prefix = f"landing/{name}/" if spec.source.kind == "stream" else f"landing/{name}/{date}/"
        size = 0
        for path, body in source.files:
            storage.put_bytes(prefix + path, body, settings)
            size += len(body)
        print(f"[generate] {name}: {len(source.files)} file(s), {size:,} bytes -> s3://{settings.bucket}/{prefix}",
              flush=True)
        delivered[name] = len(source.files)
    return delivered


def demo_dates(last: str, days: int) -> list[str]:
    """``days`` consecutive dates ending at ``last`` (oldest first)."""
    end = dt.date.fromisoformat(last)
    return [(end - dt.timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]
