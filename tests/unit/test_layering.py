"""lakehouse/README.md says what each module may import; the code must say the same.

The "may import" column names `lakehouse` modules (and libraries, which are not
checked here). Every module has a row; each module a row names is imported by that
module, at its top or lazily inside a function, and no other is. `errors` may be
imported anywhere; `cli` may import everything.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lakehouse"
MODULES = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
ANYWHERE = {"errors"}


def declared() -> dict[str, set[str]]:
    rows = {}
    for line in (PACKAGE / "README.md").read_text(encoding="utf-8").splitlines():
        row = re.match(r"^\| `(\w+)\.py` \| .* \| ([^|]*) \|$", line)
        if row:
            cell = re.sub(r"\([^)]*\)", "", row[2])  # "(lazily)" and other notes
            rows[row[1]] = set(re.findall(r"[A-Za-z_]\w*", cell)) & MODULES
    return rows


def imported(module: str, package: Path = PACKAGE) -> set[str]:
    """The `lakehouse` modules ``module`` imports, anywhere in its source."""
    found = set()
    for node in ast.walk(ast.parse((package / f"{module}.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "lakehouse":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lakehouse."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("lakehouse.")}
    return found - {module}


def test_every_module_has_a_row_and_every_row_a_module():
    rows = declared()
    assert set(rows) == MODULES, (f"no row in lakehouse/README.md: {sorted(MODULES - set(rows))}; "
                                  f"a row for no module: {sorted(set(rows) - MODULES)}")


def test_each_row_names_exactly_the_modules_its_module_imports():
    wrong = {}
    for module, named in declared().items():
        if module == "cli":  # "everything above"
            continue
        used = imported(module) - ANYWHERE
        named = named - ANYWHERE
        if used != named:
            wrong[module] = {"imported but not in the row": sorted(used - named),
                             "in the row but not imported": sorted(named - used)}
    assert not wrong, wrong


def test_a_lazy_import_the_row_does_not_name_is_found(tmp_path):
    """The check itself: storage importing trino inside a function would be caught."""
    assert "trino" not in declared()["storage"] and "trino" not in imported("storage")
    source = (PACKAGE / "storage.py").read_text(encoding="utf-8")
    (tmp_path / "storage.py").write_text(source + "\n\ndef upward():\n    from lakehouse import trino\n",
                                         encoding="utf-8")
    assert "trino" in imported("storage", tmp_path)
