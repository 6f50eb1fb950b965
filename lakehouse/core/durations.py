"""Durations as specs and ``access.yaml`` write them (``30m``, ``2h``, ``1d``); pure, no other module."""

from __future__ import annotations

import datetime as dt
import re

_DURATION_RE = re.compile(r"^\s*(\d+)\s*(m|h|d)\s*$")


def parse_duration(text: str) -> dt.timedelta:
    """``30m``, ``2h``, ``1d`` → a timedelta."""
    match = _DURATION_RE.match(text or "")
    if not match:
        raise ValueError(f"{text!r} is not a duration; write e.g. 30m, 2h or 1d")
    amount, unit = int(match.group(1)), match.group(2)
    unit_name = {"m": "minutes", "h": "hours", "d": "days"}[unit]
    return dt.timedelta(**{unit_name: amount})
