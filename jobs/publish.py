"""Register a dataset's Delta tables in Trino, so analysts can query them (no Spark)."""

from __future__ import annotations

from lakehouse import jobrun, storage, trino, trino_security
from lakehouse.settings import get_settings, quarantine_table
from lakehouse.spec import GoldDataset, load_catalog


def run(dataset: str, date: str) -> list[str]:
    settings = get_settings()
    spec = load_catalog()[dataset]
    tables = ([("gold", dataset)] if isinstance(spec, GoldDataset) else
              [("bronze", dataset), ("silver", dataset), ("quarantine", quarantine_table(dataset))])
    published = []
    for layer, table in tables:
        if not storage.list_keys(f"{layer}/{table}/_delta_log/", settings):
            continue  # e.g. no quarantine table when nothing was ever rejected
        created = trino.register_table(layer, table, settings)
        name = f"{settings.trino_catalog}.{layer}.{table}"
        print(f"[publish] {name}: {'registered' if created else 'already registered'}", flush=True)
        published.append(name)
    trino.register_ops(settings)
    if trino_security.refresh(settings):  # a new spec's grants reach the local Trino with its tables
        print("[publish] Trino access rules regenerated from the specs", flush=True)
    return published


if __name__ == "__main__":
    jobrun.main(__doc__, run)
