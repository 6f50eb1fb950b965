"""Earlier versions of open data as downloads: exported the first time someone asks, then kept.

A Delta version never changes, so its CSV and Parquet are written once, by the export's own code
(:func:`lakehouse.serving.open_data.query_files`, through Trino ``FOR VERSION AS OF``), into
``<state>/portal/versions/<name>/<version>/`` and served from there afterwards.  One export per
version at a time; a version whose files VACUUM removed is answered 410 with what to do instead.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from lakehouse.serving.portal.errors import PortalError


class VersionFiles:
    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.root = settings.state_dir / "portal" / "versions"
        self._locks: dict[tuple[str, int], threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, key: tuple[str, int]) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def file(self, spec: Any, version: int, file_name: str) -> Path:
        """``file_name`` (``<name>.csv`` or ``<name>.parquet``) of ``spec``'s table at ``version``."""
        folder = self.root / spec.name / str(version)
        with self._lock((spec.name, version)):
            if not (folder / file_name).is_file():
                self._export(spec, version, folder)
        return folder / file_name

    def _export(self, spec: Any, version: int, folder: Path) -> None:
        from lakehouse.serving.open_data import query_files

        folder.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=folder.parent))
        try:
            query_files(self.settings, spec, work, version)
            shutil.rmtree(folder, ignore_errors=True)
            work.rename(folder)
        except Exception as exc:  # Trino's answer: a vacuumed file, or Trino down
            text = str(exc)
            if "FileNotFound" in text or "not found" in text.lower() or "does not exist" in text:
                raise PortalError(410, f"version {version} of {spec.name} is no longer kept (its files were "
                                       f"removed by the table's retention); download the current one") from None
            raise PortalError(503, f"version {version} of {spec.name} cannot be exported just now; try again "
                                   f"later") from None
        finally:
            if work.exists():
                shutil.rmtree(work)
