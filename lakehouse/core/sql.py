"""SQL text from values: the one place a string literal or an identifier is quoted (pure).

For Trino and PostgreSQL, and for Spark SQL's string literals. Spark SQL's backquoted
table paths stay in `delta_io`, the only module that writes them.
"""

from __future__ import annotations

import datetime
from typing import Iterable


def literal(value: object) -> str:
    """A string literal of ``value`` as text, its quotes doubled: ``it's`` → ``'it''s'``."""
    return "'" + str(value).replace("'", "''") + "'"


def literals(values: Iterable[object]) -> str:
    """A comma-separated list of string literals, for ``IN (...)``."""
    return ", ".join(literal(v) for v in values)


def identifier(name: str) -> str:
    """A double-quoted identifier, its double quotes doubled: ``a"b`` → ``"a""b"``."""
    return '"' + name.replace('"', '""') + '"'


def spark_literal(value: object, type_: str) -> str:
    """A Spark SQL literal of ``value`` read as the spec type ``type_``, parsed as a literal (not a cast), so Delta
    can compare it with each file's statistics: ``string`` (backslash and quote escaped, as Spark's parser reads
    them), ``int``, ``bigint``, ``date`` (a ``datetime.date``) and ``timestamp`` (microseconds since the epoch,
    written in UTC so the session's time zone cannot move it)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"no Spark SQL literal of {value!r} as {type_}")
    if type_ == "string":
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
    if type_ == "int":
        return str(int(value))
    if type_ == "bigint":
        return f"{int(value)}L"
    if type_ == "date" and isinstance(value, datetime.date):
        return f"DATE '{value.isoformat()}'"
    if type_ == "timestamp" and isinstance(value, int):
        moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=value)
        return f"TIMESTAMP '{moment:%Y-%m-%d %H:%M:%S.%f}Z'"
    raise ValueError(f"no Spark SQL literal of {value!r} as {type_}")
