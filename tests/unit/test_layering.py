"""lakehouse/README.md says what each module may import and in which layer it sits; the code must say the same,
no module imports from a layer above its own, and nothing imports in a circle.

The "may import" column names `lakehouse` modules (and libraries, which are not
checked here). A module is written with dots for its folders: `core.settings`,
`serving.sharing.tokens`; its row is `` `serving/sharing/tokens.py` ``, a package's own module
`` `serving/sharing/__init__.py` `` (named `serving.sharing`). Every module has a row; each module a
row names is imported by that module, at its top or lazily inside a function, and no
other is. `core.errors` may be imported anywhere. No module
imports itself back through others, lazily or not.
"""

import ast
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lakehouse"
ANYWHERE = {"core.errors"}


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module under ``package`` by its dotted name: `core.sql`, `serving.sharing` (its __init__),
    `serving.sharing.server`."""
    found = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:  # lakehouse/__init__.py itself is empty
            found[".".join(parts)] = path
    return found


MODULES = set(module_files())


def declared() -> dict[str, set[str]]:
    rows = {}
    for line in (PACKAGE / "README.md").read_text(encoding="utf-8").splitlines():
        row = re.match(r"^\| `([\w/]+)\.py` \| .* \| ([^|]*) \|$", line)
        if row:
            name = row[1].removesuffix("/__init__").replace("/", ".")
            cell = re.sub(r"\([^)]*\)", "", row[2])  # "(lazily)" and other notes
            rows[name] = set(re.findall(r"[A-Za-z_]\w*(?:\.\w+)*", cell)) & MODULES
    return rows


def _targets(node: ast.ImportFrom, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The `lakehouse` modules one ``from … import …`` in ``module`` names: a submodule when a name is one,
    else the module the names come from."""
    if node.level:  # relative: from the module's own package up
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = package[:len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
    elif node.module == "lakehouse" or (node.module or "").startswith("lakehouse."):
        base = node.module.split(".")[1:]
    else:
        return set()
    prefix = ".".join(base)
    if not prefix:  # from lakehouse import core, serving
        return {alias.name for alias in node.names}
    return {f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in known else prefix for alias in node.names}


def imported(module: str, package: Path = PACKAGE) -> set[str]:
    """The `lakehouse` modules ``module`` imports, anywhere in its source (lazily inside functions too)."""
    files = module_files(package)
    path = files[module]
    known = MODULES | set(files)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            found |= _targets(node, module, path.name == "__init__.py", known)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("lakehouse."):
                    name = alias.name.split(".", 1)[1]
                    found.add(name if name in known else name.split(".")[0])
    return found - {module}


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    return {module: imported(module, package) for module in module_files(package)}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import one another in a circle (strongly connected components of more than
    one module), each sorted, found with Tarjan's algorithm (iterative: no recursion limit to meet)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            step = next(edges, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph.get(step, ())))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return sorted(found)


def test_every_module_has_a_row_and_every_row_a_module():
    rows = declared()
    assert set(rows) == MODULES, (f"no row in lakehouse/README.md: {sorted(MODULES - set(rows))}; "
                                  f"a row for no module: {sorted(set(rows) - MODULES)}")


def test_the_subpackages_are_covered():
    assert {"serving.sharing", "serving.sharing.server", "serving.sharing.__main__", "services",
            "services.supervisor", "config.spec.loader"} <= MODULES
    assert "serving.sharing.tokens" in declared()["serving.sharing.server"]


def test_each_row_names_exactly_the_modules_its_module_imports():
    wrong = {}
    for module, named in declared().items():
        used = imported(module) - ANYWHERE
        named = named - ANYWHERE
        if used != named:
            wrong[module] = {"imported but not in the row": sorted(used - named),
                             "in the row but not imported": sorted(named - used)}
    assert not wrong, wrong


def test_no_module_imports_itself_back_through_others():
    found = circles(import_graph())
    assert not found, f"modules that import one another in a circle (lazy imports count): {found}"


def test_a_lazy_import_the_row_does_not_name_is_found(tmp_path):
    """The check itself: storage importing trino inside a function would be caught."""
    assert "io.trino" not in declared()["io.storage"] and "io.trino" not in imported("io.storage")
    source = (PACKAGE / "io" / "storage.py").read_text(encoding="utf-8")
    (tmp_path / "io").mkdir()
    (tmp_path / "io" / "storage.py").write_text(source + "\n\ndef upward():\n    from lakehouse.io import trino\n",
                                                encoding="utf-8")
    assert "io.trino" in imported("io.storage", tmp_path)


def test_a_submodule_import_is_told_from_an_import_of_the_package(tmp_path):
    """`from lakehouse.serving.sharing import deltalog` imports the module `serving.sharing.deltalog`;
    `from lakehouse.serving.sharing import audit_log` imports the package's own module `serving.sharing`."""
    assert imported("serving.sharing.shares") >= {"serving.sharing.deltalog", "serving.sharing.tokens"}
    assert "serving.sharing" not in imported("serving.sharing.shares")
    (tmp_path / "usage.py").write_text("def load():\n"
                                       "    from lakehouse.serving.sharing import audit_log\n"
                                       "    from lakehouse.serving.sharing import deltalog\n"
                                       "    import lakehouse.services.stack\n", encoding="utf-8")
    assert imported("usage", tmp_path) == {"serving.sharing", "serving.sharing.deltalog", "services.stack"}


def test_the_circle_finder_finds_circles_and_only_them():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}, "x": {"a", "c"}}) == [["a", "b"], ["c", "d"]]
    assert circles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []  # a diamond is no circle


def test_a_lazy_import_closing_a_circle_in_the_real_package_is_found(tmp_path):
    """The circle test on a copy of the package in which storage lazily imports trino (trino imports storage)."""
    copy = tmp_path / "lakehouse"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert circles(import_graph(copy)) == []
    with open(copy / "io" / "storage.py", "a", encoding="utf-8") as source:
        source.write("\n\ndef upward():\n    from lakehouse.io import trino\n")
    assert circles(import_graph(copy)) == [["io.storage", "io.trino"]]


def layers(readme: Path = PACKAGE / "README.md") -> dict[str, int]:
    """The README's "Layers" table: each folder of the package → its layer's position (0 = lowest)."""
    text = readme.read_text(encoding="utf-8")
    table = text[text.index("## Layers"):].split("\n## ", 1)[0]
    folders = re.findall(r"^\| `(\w+)/` \|", table, re.M)
    return {folder: position for position, folder in enumerate(folders)}


def upward_imports(graph: dict[str, set[str]], layer: dict[str, int]) -> list[str]:
    """Imports that reach a module of a higher layer than the importer's (every module of a folder is in its layer)."""
    top = lambda name: name.split(".")[0]  # noqa: E731
    return sorted(f"{module} imports {target} ({layer[top(module)]} < {layer[top(target)]})"
                  for module, targets in graph.items() for target in targets
                  if layer[top(target)] > layer[top(module)])


def test_every_module_is_in_the_folder_of_a_layer():
    named = layers()
    tops = {m.split(".")[0] for m in MODULES}
    assert tops == set(named), (f"in no layer: {sorted(tops - set(named))}; "
                                f"a layer names no folder: {sorted(set(named) - tops)}")
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert not loose, f"modules outside every layer's folder: {loose}"


def test_no_module_imports_from_a_layer_above_its_own():
    wrong = upward_imports(import_graph(), layers())
    assert not wrong, "imports that go up the layers of lakehouse/README.md: " + "; ".join(wrong)


def test_an_import_up_the_layers_is_found(tmp_path):
    """The contract itself, on a copy of the package in which storage (io) lazily imports the CLI."""
    copy = tmp_path / "lakehouse"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "io" / "storage.py", "a", encoding="utf-8") as source:
        source.write("\n\ndef upward():\n    from lakehouse.cli import output\n")
    found = upward_imports(import_graph(copy), layers())
    assert found == [f"io.storage imports cli.output ({layers()['io']} < {layers()['cli']})"]


def settings_fallbacks(root: Path = ROOT) -> list[str]:
    """Functions that fetch the settings themselves when a caller leaves them out: a ``settings`` parameter
    defaulting to None, or ``settings or get_settings()``. Settings come from the entry point (a job's
    ``run``, a CLI command, an Airflow callback, a server's ``main``) and are passed down."""
    found = []
    for path in sorted([*(root / "lakehouse").rglob("*.py"), *(root / "jobs").glob("*.py")]):
        source = path.read_text(encoding="utf-8")
        where = path.relative_to(root)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                positional = [*args.posonlyargs, *args.args]
                defaults = dict(zip([a.arg for a in positional][len(positional) - len(args.defaults):], args.defaults))
                defaults |= {a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None}
                default = defaults.get("settings")
                if isinstance(default, ast.Constant) and default.value is None:
                    found.append(f"{where}:{node.lineno}: {node.name}(settings=None)")
            elif (isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or)
                  and any(isinstance(v, ast.Call) and getattr(v.func, "id", None) == "get_settings" for v in node.values)):
                found.append(f"{where}:{node.lineno}: … or get_settings()")
    return found


def test_settings_are_passed_in_not_fetched_as_a_fallback():
    assert settings_fallbacks() == []


def test_a_settings_fallback_is_found(tmp_path):
    (tmp_path / "lakehouse").mkdir()
    (tmp_path / "jobs").mkdir()
    (tmp_path / "lakehouse" / "storage.py").write_text(
        "def client(settings=None):\n    settings = settings or get_settings()\n", encoding="utf-8")
    (tmp_path / "jobs" / "gold.py").write_text("def run(date, *, settings: 'Settings | None' = None): ...\n",
                                               encoding="utf-8")
    assert settings_fallbacks(tmp_path) == ["jobs/gold.py:1: run(settings=None)",
                                            "lakehouse/storage.py:1: client(settings=None)",
                                            "lakehouse/storage.py:2: … or get_settings()"]
