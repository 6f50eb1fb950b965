"""Page views and downloads of the portal, counted without knowing who the visitor is.

One JSON line per view or download in ``<state>/portal/visits/<YYYY-MM-DD>.jsonl``:
the day, the dataset, ``view`` or ``download`` and the file's format.  No address, no
cookie, no user agent, no time finer than the day is ever written, so nothing here can
tell two visitors apart or follow one.  Totals per year are read back from those files
(a file is read again only when it grew).
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
        self._read: dict[Path, tuple[int, list[dict]]] = {}

    def count(self, dataset: str, kind: str, fmt: str | None = None) -> None:
        day = self.today().isoformat()
        line = json.dumps({"day": day, "dataset": dataset, "kind": kind, "format": fmt}) + "\n"
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.folder / f"{day}.jsonl", "a", encoding="utf-8") as out:
                out.write(line)

    def _lines(self, path: Path) -> list[dict]:
        size = path.stat().st_size
        cached = self._read.get(path)
        if cached and cached[0] == size:
            return cached[1]
        rows = []
        for text in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(text))
            except ValueError:  # a line cut by a crash: not counted
                continue
        self._read[path] = (size, rows)
        return rows

    def totals(self, year: int) -> dict[str, dict]:
        """``{dataset: {"views": n, "downloads": {format: n}}}`` over ``year``."""
        out: dict[str, dict] = {}
        for path in sorted(self.folder.glob(f"{year:04d}-*.jsonl")) if self.folder.is_dir() else []:
            for row in self._lines(path):
                entry = out.setdefault(row.get("dataset"), {"views": 0, "downloads": {}})
                if row.get("kind") == "view":
                    entry["views"] += 1
                elif row.get("kind") == "download":
                    fmt = row.get("format") or "?"
                    entry["downloads"][fmt] = entry["downloads"].get(fmt, 0) + 1
        return out
