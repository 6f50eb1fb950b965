"""What the parts of Delta Sharing have in common: the clock, the state folder and the endpoint partners use."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

PREFIX = "/delta-sharing"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sharing_dir(settings: Any) -> Path:
    return settings.state_dir / "sharing"


def endpoint(settings: Any) -> str:
    """The URL partners put in their profile (``services.sharing.public_url`` when set)."""
    cfg = settings.env.services.sharing
    return (cfg.public_url or f"http://{settings.host_of('sharing')}:{cfg.port}{PREFIX}").rstrip("/")
