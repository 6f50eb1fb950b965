"""Table upkeep: OPTIMIZE (with the spec's Z-order columns) and VACUUM (with its retention).

Runs on every Delta table of a dataset (bronze, silver, quarantine for a source
dataset; gold for a gold one).  VACUUM removes files no table version within the
retention still references, so time travel reaches back that far and no further.
"""

from __future__ import annotations

from lakehouse.config.spec import GoldDataset, load_specs
from lakehouse.core.settings import get_settings, quarantine_table
from lakehouse.engine import jobrun
from lakehouse.engine.jobrun import Accounting
from lakehouse.io import delta_io
from lakehouse.io.spark import get_spark


def statements(table: str, zorder_by: list[str], retain_hours: int) -> list[str]:
    """The SQL run on one table (pure)."""
    optimize = f"OPTIMIZE {table}" + (f" ZORDER BY ({', '.join(f'`{c}`' for c in zorder_by)})" if zorder_by else "")
    return [optimize, f"VACUUM {table} RETAIN {retain_hours} HOURS"]


def run(dataset: str, date: str) -> Accounting:
    settings = get_settings()
    spec = load_specs()[dataset]
    acc = Accounting(dataset, "maintenance", jobrun.batch_id(dataset, date))
    with jobrun.logged(acc, settings):
        spark = acc.spark = get_spark(f"maintain {dataset}", settings)
        tables = ([("gold", dataset)] if isinstance(spec, GoldDataset) else
                  [("bronze", dataset), ("silver", dataset), ("quarantine", quarantine_table(dataset))])
        retain = spec.maintenance.vacuum_retain_hours
        if retain < 168:  # Delta refuses short retentions unless its safety check is lifted for the session
            spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
        for layer, name in tables:
            uri = settings.table_uri(layer, name)
            if not delta_io.exists(spark, uri):
                continue
            zorder = spec.maintenance.zorder_by if layer in ("silver", "gold") else []
            before = delta_io.detail(spark, uri)
            for sql in statements(delta_io.sql_name(uri), zorder, retain):
                spark.sql(sql).collect()
            after = delta_io.detail(spark, uri)
            acc.extra[layer] = {"files_before": before["numFiles"], "files_after": after["numFiles"]}
            print(f"[maintain] {layer}.{dataset}: files {before['numFiles']} -> {after['numFiles']}"
                  f"{' (z-order ' + ','.join(zorder) + ')' if zorder else ''}; vacuum retain {retain}h", flush=True)
    return acc


if __name__ == "__main__":
    jobrun.main(__doc__, run)
