"""SQL text from values: the one place a string literal or an identifier is quoted (pure).

For Trino and PostgreSQL, and for Spark SQL's string literals. Spark SQL's backquoted
table paths stay in `delta_io`, the only module that writes them.
"""

from __future__ import annotations

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
