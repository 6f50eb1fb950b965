"""Range bounds: numbers, or on a date or timestamp column dates, timestamps and days relative to the run
(``today-120y``)."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Any, Union


RELATIVE_RE = re.compile(r"^today(?:\s*([+-])\s*(\d+)\s*([dmy]))?$", re.IGNORECASE)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$",
                           re.IGNORECASE)
BOUND_FORMS = ("a number; or, on a date or timestamp column, a date (2000-01-01), a timestamp "
               "(2026-01-01 00:00:00, UTC unless it carries an offset) or a day relative to the day of the check: "
               "today, today-120y, today+30d, today-6m (d days, m months, y years)")
BoundValue = Union[float, dt.date, dt.datetime]


def _parse_bound(value: Any) -> tuple[str, Any]:
    """A bound as written → (kind, parsed): ``number`` float, ``date`` date, ``timestamp`` naive UTC datetime,
    or ``relative`` (amount, unit) for ``today±N(d|m|y)``.  The one place a bound's text is read."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a bound; write {BOUND_FORMS}")
    if isinstance(value, (int, float)):
        return "number", float(value)
    text = str(value).strip()
    relative = RELATIVE_RE.match(text)
    if relative:
        sign, amount, unit = relative.groups()
        return "relative", ((-1 if sign == "-" else 1) * int(amount or 0), (unit or "d").lower())
    try:
        if _DATE_RE.match(text):
            return "date", dt.date.fromisoformat(text)
        if _TIMESTAMP_RE.match(text):
            stamp = dt.datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
            if stamp.tzinfo is not None:  # timestamps are kept in UTC
                stamp = stamp.astimezone(dt.timezone.utc).replace(tzinfo=None)
            return "timestamp", stamp
    except ValueError as exc:  # 2026-02-30, 25:00
        raise ValueError(f"{text!r} is not a real date or time ({exc}); write {BOUND_FORMS}") from None
    try:
        return "number", float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a bound; write {BOUND_FORMS}") from None


def _shift(day: dt.date, amount: int, unit: str) -> dt.date:
    """``day`` moved by ``amount`` days, months or years; a day the target month lacks becomes its last day
    (31 March - 1 month = 28/29 February; 29 February - 1 year = 28 February)."""
    try:
        if unit == "d":
            return day + dt.timedelta(days=amount)
        months = day.year * 12 + day.month - 1 + amount * (12 if unit == "y" else 1)
        year, month = divmod(months, 12)
        return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))
    except (ValueError, OverflowError):
        raise ValueError(f"{day.isoformat()} {'+' if amount >= 0 else '-'} {abs(amount)}{unit} is not a date "
                         "between the years 1 and 9999") from None


def bound_kind(value: float | str) -> str:
    """``number``, ``date`` (a date or a day relative to the check) or ``timestamp``: what a bound compares with."""
    kind, _ = _parse_bound(value)
    return "date" if kind == "relative" else kind


def resolve_bound(value: float | str, today: dt.date) -> BoundValue:
    """One ``min``/``max`` of a range rule → what values are compared with, on the day ``today``.

    A number → float; ``2000-01-01`` → that date; ``2026-01-01 00:00:00`` (``T`` or a space; an offset such as
    ``+07:00`` or ``Z`` is converted, else UTC) → a naive UTC datetime; ``today`` → ``today``,
    ``today-120y``/``today+30d``/``today-6m`` → that many years, days or months from it (see :func:`_shift`).
    Pure: ``today`` is the day of the run, passed in (see :func:`run_day`), never read from the clock.
    Anything else raises ValueError naming the text and the allowed forms.
    """
    kind, parsed = _parse_bound(value)
    if kind != "relative":
        return parsed
    if today is None:
        raise ValueError(f"{value!r} is relative to the day of the check; pass that day (today)")
    return _shift(today, *parsed)


def canonical_bound(value: Any) -> float | str | None:
    """A bound as the model keeps it: a float, or the text of a date/timestamp/relative bound in one spelling.

    YAML reads an unquoted ``2000-01-01`` as a date and ``2026-01-01 00:00:00`` as a datetime: both are kept
    as text.  A number written as text (``"5"``) is a number, as it always was.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.isoformat(sep=" ")
    elif isinstance(value, dt.date):
        value = value.isoformat()
    kind, parsed = _parse_bound(value)
    if kind == "number":
        return parsed
    if kind == "date":
        return parsed.isoformat()
    if kind == "timestamp":
        return parsed.isoformat(sep=" ")
    amount, unit = parsed
    return "today" if amount == 0 else f"today{'-' if amount < 0 else '+'}{abs(amount)}{unit}"


def day_bounds(low: BoundValue | None, high: BoundValue | None, timestamp: bool) -> tuple:
    """Compared with timestamps, a date bound is its whole day: ``min`` from 00:00, ``max`` to 23:59:59.999999."""
    if timestamp and type(low) is dt.date:
        low = dt.datetime.combine(low, dt.time.min)
    if timestamp and type(high) is dt.date:
        high = dt.datetime.combine(high, dt.time.max)
    return low, high


def run_day(at: str) -> dt.date:
    """The day of a run (UTC) from its timestamp ``at`` (ISO 8601, e.g. ``2026-12-02T09:30:00.000000Z``; without
    an offset it is UTC): what ``today`` means in the range rules of that run, so re-running a batch on the same
    day judges it the same way."""
    stamp = dt.datetime.fromisoformat(at.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(dt.timezone.utc)
    return stamp.date()
