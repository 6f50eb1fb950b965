"""Page views and downloads of the portal, counted without knowing who the visitor is.

One JSON line per view or download in ``<state>/portal/visits/<YYYY-MM-DD>.jsonl``:
the day, the dataset, ``view`` or ``download`` and the file's format.  No address, no
cookie, no user agent, no time finer than the day is ever written, so nothing here can
tell two visitors apart or follow one.  Totals per year are read back from those files
(each file is read once, then only what was added to it).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path


class Visits:
    def __init__(self, folder: Path, today=lambda: dt.datetime.now(dt.timezone.utc).date()) -> None:
        self.folder = folder
        self.today = today
        self._lock = threading.Lock()
        self._read: dict[Path, tuple[int, dict[str, dict]]] = {}  # file → (bytes counted, its counts)

    def count(self, dataset: str, kind: str, fmt: str | None = None) -> None:
        day = self.today().isoformat()
        line = json.dumps({"day": day, "dataset": dataset, "kind": kind, "format": fmt}) + "\n"
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.folder / f"{day}.jsonl", "a", encoding="utf-8") as out:
                out.write(line)

    def _counts(self, path: Path) -> dict[str, dict]:
        """The counts of one day's file, read on from where the last call stopped (a file only grows)."""
        read, counts = self._read.get(path, (0, {}))
        if path.stat().st_size > read:
            with open(path, "rb") as f:
                f.seek(read)
                chunk = f.read()
            whole = chunk[:chunk.rfind(b"\n") + 1]  # a line still being written waits for the next call
            for text in whole.decode("utf-8", "replace").splitlines():
                try:
                    row = json.loads(text)
                except ValueError:  # a line cut by a crash: not counted
                    continue
                entry = counts.setdefault(row.get("dataset"), {"views": 0, "downloads": {}})
                if row.get("kind") == "view":
                    entry["views"] += 1
                elif row.get("kind") == "download":
                    fmt = row.get("format") or "?"
                    entry["downloads"][fmt] = entry["downloads"].get(fmt, 0) + 1
            self._read[path] = (read + len(whole), counts)
        return counts

    def totals(self, year: int) -> dict[str, dict]:
        """``{dataset: {"views": n, "downloads": {format: n}}}`` over ``year``."""
        out: dict[str, dict] = {}
        with self._lock:
            files = sorted(self.folder.glob(f"{year:04d}-*.jsonl")) if self.folder.is_dir() else []
            for path in files:
                for dataset, c in self._counts(path).items():
                    entry = out.setdefault(dataset, {"views": 0, "downloads": {}})
                    entry["views"] += c["views"]
                    for fmt, n in c["downloads"].items():
                        entry["downloads"][fmt] = entry["downloads"].get(fmt, 0) + n
        return out
