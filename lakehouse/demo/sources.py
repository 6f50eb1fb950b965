"""Every demo source for one date, by dataset name: files to land or rows to upsert."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

from lakehouse.demo.air_quality import readings_files, sensors_parquet
from lakehouse.demo.common import as_date
from lakehouse.demo.dossiers import DOSSIER_DDL, PROCEDURE_DDL, dossier_documents, dossier_rows, procedure_rows
from lakehouse.demo.registers import citizens_csv, enterprises_csv
from lakehouse.demo.reports import province_report_xlsx


@dataclass(frozen=True)
class DemoSource:
    """What one demo dataset's source delivers for a date.

    ``files``: (path, bytes) to land under ``landing/<dataset>/<date>/`` (files, documents), or
    under ``landing/<dataset>/`` for the stream, whose paths start with the date folder.
    ``rows``: rows for a database table (``table``, created with ``ddl``, primary key ``key``),
    ready for ``sourcedb.load_rows(connection, table, ddl, rows, key)``.
    """

    dataset: str
    files: list[tuple[str, bytes]] = field(default_factory=list)
    table: str | None = None
    ddl: str | None = None
    key: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)


DEMO_SOURCES: dict[str, Callable[[dt.date, int, float], DemoSource]] = {
    "enterprises": lambda d, s, k: DemoSource("enterprises", [("enterprises.csv", enterprises_csv(d, s, k))]),
    "citizens": lambda d, s, k: DemoSource("citizens", [("citizens.csv", citizens_csv(d, s, k))]),
    "sensors": lambda d, s, k: DemoSource("sensors", [("sensors.parquet", sensors_parquet(s, k))]),
    "air_quality_readings": lambda d, s, k: DemoSource("air_quality_readings", readings_files(d, s, k)),
    "procedures": lambda d, s, k: DemoSource("procedures", table="public.procedures", ddl=PROCEDURE_DDL,
                                             key=["procedure_code"], rows=procedure_rows(s)),
    "dossiers": lambda d, s, k: DemoSource("dossiers", table="public.dossiers", ddl=DOSSIER_DDL,
                                           key=["dossier_id"], rows=dossier_rows(d, s, k)),
    "dossier_documents": lambda d, s, k: DemoSource("dossier_documents", dossier_documents(d, s, k)),
    "province_reports": lambda d, s, k: DemoSource(
        "province_reports", [(f"bao-cao-{d:%Y-%m}.xlsx", province_report_xlsx(d, s))]),
}
"""Dataset name → generator of its demo source for (date, seed, scale)."""


def demo_sources(date: str | dt.date, seed: int = 2026, scale: float = 1.0,
                 datasets: list[str] | None = None) -> dict[str, DemoSource]:
    """Every demo dataset's source for ``date`` (or only ``datasets``), by dataset name."""
    day = as_date(date)
    names = datasets if datasets is not None else list(DEMO_SOURCES)
    unknown = sorted(set(names) - set(DEMO_SOURCES))
    if unknown:
        raise KeyError(f"no demo data for {unknown}; known: {', '.join(DEMO_SOURCES)}")
    return {name: DEMO_SOURCES[name](day, seed, scale) for name in names}
