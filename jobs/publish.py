"""Register a dataset's Delta tables in Trino, so analysts can query them (no Spark)."""

from __future__ import annotations

from lakehouse.config.spec import GoldDataset, load_specs
from lakehouse.core.settings import get_settings, quarantine_table
from lakehouse.engine import jobrun
from lakehouse.io import storage, trino
from lakehouse.serving import trino_security


def run(dataset: str, date: str) -> list[str]:
    settings = get_settings()
    specs = load_specs()
    spec = specs[dataset]
    tables = ([("gold", dataset)] if isinstance(spec, GoldDataset) else
              [("bronze", dataset), ("silver", dataset), ("quarantine", quarantine_table(dataset))])
    published = []
    known = trino.registered(settings)  # one query instead of one per table
    for layer, table in tables:
        if not storage.list_keys(f"{layer}/{table}/_delta_log/", settings):
            continue  # e.g. no quarantine table when nothing was ever rejected
        created = trino.register_table(layer, table, settings, known)
        name = f"{settings.trino_catalog}.{layer}.{table}"
        print(f"[publish] {name}: {'registered' if created else 'already registered'}", flush=True)
        published.append(name)
    trino.register_ops(settings, known)
    # this dataset's grants reach the local Trino with its tables; other datasets' grants stay as published
    if trino_security.publish_grants(settings, spec, specs.datasets):
        print(f"[publish] Trino access rules: {dataset}'s grants in force (to: "
              f"{', '.join(g.to for g in spec.grants) or 'nobody'}); other datasets' grants kept", flush=True)
    return published


if __name__ == "__main__":
    jobrun.main(__doc__, run)
