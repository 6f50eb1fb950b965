"""Test settings: the `test` environment (its own ports) and its own state folder.

Set before anything imports lakehouse.core.settings, so a developer's running stack
(environment `local`, state in .lake/) is never touched by the tests.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("LAKE_ENV", "test")
os.environ.setdefault("LAKE_HOME", str(ROOT / ".lake-test"))
