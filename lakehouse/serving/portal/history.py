"""A published table's past versions, from its Delta log on S3 (no Spark, no SQL).

Each ``_delta_log/<version>.json`` commit starts with (or holds) a ``commitInfo`` line: when,
which operation and its metrics.  The portal lists the newest versions with the rows each
wrote or changed.  Parsing is pure (:func:`version_of`); reading lists the log's keys and
fetches only the newest commits, and keeps them while the log's newest key is the same.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

COMMIT = re.compile(r"_delta_log/(\d{20})\.json$")
SHOWN = 10
ROW_METRICS = {  # operation metric → what the page calls it
    "numOutputRows": "written", "numTargetRowsInserted": "inserted", "numTargetRowsUpdated": "updated",
    "numTargetRowsDeleted": "deleted", "numDeletedRows": "deleted", "numUpdatedRows": "updated",
}


def version_of(number: int, text: str) -> dict[str, Any]:
    """One commit's version, time (UTC ISO), operation and row metrics (pure)."""
    info: dict[str, Any] = {}
    for line in text.splitlines():
        if line.startswith('{"commitInfo"'):
            info = json.loads(line)["commitInfo"]
            break
    metrics = info.get("operationMetrics") or {}
    rows = {}
    for key, name in ROW_METRICS.items():
        if key in metrics and name not in rows:
            rows[name] = int(metrics[key])
    stamp = info.get("timestamp")
    at = dt.datetime.fromtimestamp(stamp / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if stamp else None
    return {"version": number, "at": at, "operation": info.get("operation"), "rows": rows}


class History:
    def __init__(self, settings, clock=None) -> None:
        import time

        self.settings = settings
        self.clock = clock or time.monotonic
        self._kept: dict[str, tuple[str, list[dict]]] = {}
        self._down_until = 0.0  # S3 did not answer: pages say so without waiting on it again for a while

    def _reachable(self) -> bool:
        """Does S3 take a connection within half a second?  (Its client would retry for seconds.)"""
        import socket
        from urllib.parse import urlparse

        if self.clock() < self._down_until:
            return False
        url = urlparse(self.settings.s3_endpoint)
        try:
            socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)),
                                     timeout=0.5).close()
            return True
        except OSError:
            self._down_until = self.clock() + 30
            return False

    def versions(self, layer: str, name: str, shown: int = SHOWN) -> list[dict] | None:
        """The newest ``shown`` versions of ``<layer>/<name>``, newest first; None when S3 cannot be read."""
        from lakehouse.io import storage

        prefix = f"{layer}/{name}/_delta_log/"
        if not self._reachable():
            return None
        try:
            keys = sorted(k for k in storage.list_keys(prefix, self.settings) if COMMIT.search(k))
            if not keys:
                return []
            kept = self._kept.get(prefix)
            if kept and kept[0] == keys[-1]:
                return kept[1]
            fetch = storage.fetcher(self.settings)
            out = [version_of(int(COMMIT.search(k).group(1)),
                              fetch(f"s3a://{self.settings.bucket}/{k}").decode("utf-8", "replace"))
                   for k in reversed(keys[-shown:])]
        except Exception:  # S3 down or unreachable: the page says so instead of failing
            return None
        self._kept[prefix] = (keys[-1], out)
        return out
