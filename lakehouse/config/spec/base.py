"""What every spec model shares: names, column types, the strict base (an unknown key is an error), the enums."""

from __future__ import annotations

import re
from typing import Literal

from lakehouse.core.dimensions import DIMENSIONS
from lakehouse.core.yamlfile import Strict  # noqa: F401  (the spec's models import it from here)


NAME_RE = r"^[a-z][a-z0-9_]*$"
SIMPLE_TYPES = ("string", "int", "bigint", "double", "boolean", "date", "timestamp")
DECIMAL_RE = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")

Dimension = Literal[DIMENSIONS]  # type: ignore[valid-type]
Action = Literal["warn", "quarantine", "fail"]
Classification = Literal["open", "shared", "internal", "personal"]
CatalogName = Literal["open_data", "big_data", "master_shared"]
