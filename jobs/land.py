"""Land a dataset's source as files under ``landing/<dataset>/<date>/`` (no Spark)."""

from __future__ import annotations

from lakehouse import connectors, jobrun, storage
from lakehouse.settings import get_settings
from lakehouse.spec import SourceDataset


def run(dataset: str, date: str) -> str | None:
    """Extract and store the file for ``date``; returns its key, or None for file-drop sources."""
    spec = jobrun.dataset_spec(dataset, SourceDataset, "gold datasets have nothing to land")
    extracted = connectors.extract(spec)
    if extracted is None:
        print(f"[land] {dataset}: source is 'files': nothing to extract, files are dropped into landing")
        return None
    filename, body = extracted
    settings = get_settings()
    key = settings.landing_key(dataset, date, filename)
    digest = storage.put_bytes(key, body, settings)
    print(f"[land] {dataset}: {len(body):,} bytes -> s3://{settings.bucket}/{key} (sha256 {digest[:12]})", flush=True)
    return key


if __name__ == "__main__":
    jobrun.main(__doc__, run)
