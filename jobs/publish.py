"""Register a dataset's Delta tables in Trino, so analysts can query them (no Spark)."""

from __future__ import annotations

from lakehouse import jobrun, storage, trino
from lakehouse.settings import get_settings
from lakehouse.spec import GoldDataset, load_catalog


def run(dataset: str, date: str) -> list[str]:
    settings = get_settings()
    spec = load_catalog()[dataset]
    layers = ["gold"] if isinstance(spec, GoldDataset) else ["bronze", "silver", "quarantine"]
    published = []
    for layer in layers:
        if not storage.list_keys(f"{layer}/{dataset}/_delta_log/", settings):
            continue  # e.g. no quarantine table when nothing was ever rejected
        created = trino.register_table(layer, dataset, settings)
        name = f"{settings.trino_catalog}.{layer}.{dataset}"
        print(f"[publish] {name}: {'registered' if created else 'already registered'}", flush=True)
        published.append(name)
    # the run log, once it exists, is queryable as lake.ops.run_log
    if storage.list_keys("ops/run_log/_delta_log/", settings) and trino.register_table("ops", "run_log", settings):
        print(f"[publish] {settings.trino_catalog}.ops.run_log: registered", flush=True)
    return published


if __name__ == "__main__":
    jobrun.main(__doc__, run)
