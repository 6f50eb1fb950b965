"""The sharing server's audit log: one JSON line per request, allowed or refused."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from lakehouse.serving.sharing.common import iso, sharing_dir, utcnow


class AuditLog:
    """``<state>/sharing/audit.jsonl``: one JSON line per request."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def record(self, **entry: Any) -> None:
        entry = {"at": iso(utcnow()), **entry}
        line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)

    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]


def audit_log(settings: Any) -> AuditLog:
    return AuditLog(sharing_dir(settings) / "audit.jsonl")
