"""Run datasets end to end in one process: land → bronze → silver → gold → publish.

`lake run` and `lake ingest` use this.  Every step calls the same `jobs/` entry
point an Airflow task runs, but all steps share one Spark session (a Spark
Connect client, or one local Spark per pipeline run), so a small step pays no
JVM or interpreter start-up.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from pathlib import Path

from lakehouse.config.spec import Specs, GoldDataset, SourceDataset, load_specs
from lakehouse.core.errors import LakeError


@dataclass(frozen=True)
class Step:
    job: str       # module under jobs/
    dataset: str

    @property
    def label(self) -> str:
        return f"{self.job} {self.dataset}"


def source_order(specs: Specs, names: list[str]) -> list[str]:
    """Source datasets with the master data they are conformed to first (a stable topological order)."""
    wanted = set(names)
    done: list[str] = []

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in done:
            return
        if name in trail:
            raise LakeError(f"conform references form a cycle: {' -> '.join(trail + (name,))}")
        spec = specs[name]
        for rule in spec.effective_rules:  # conformed columns and reference rules
            if rule.reference and rule.reference.dataset != name:
                visit(rule.reference.dataset, trail + (name,))
        done.append(name)

    for name in sorted(wanted):
        visit(name, ())
    return done


def plan(specs: Specs, targets: list[str], with_land: bool = True) -> list[Step]:
    """The steps for ``targets`` (datasets or domains) and the gold tables built from them.

    A conformed source needs its master table: masters not among the targets are
    not re-run, they must exist already (the silver job says so if not).
    """
    sources: list[str] = []
    golds: list[str] = []
    for target in targets:
        if target in specs.domains and target not in specs.datasets:
            names = [d.name for d in specs.sources(target)] + [d.name for d in specs.golds(target)]
        else:
            names = [specs[target].name]
        for name in names:
            bucket = golds if isinstance(specs[name], GoldDataset) else sources
            if name not in bucket:
                bucket.append(name)
    ordered = [n for n in source_order(specs, sources) if n in sources]
    for gold in specs.golds():  # gold tables built from what is refreshed
        if gold.name not in golds and set(gold.depends_on) & set(ordered):
            golds.append(gold.name)
    steps: list[Step] = []
    for name in ordered:
        spec: SourceDataset = specs[name]
        if with_land and spec.source.kind in ("jdbc", "builtin"):
            steps.append(Step("land", name))
        steps += [Step("bronze", name), Step("silver", name), Step("publish", name)]
    for name in sorted(golds):
        steps += [Step("gold", name), Step("publish", name)]
    return steps


def missing_inputs(step: Step) -> list[str]:
    """Silver tables a gold step reads that do not exist (yet)."""
    if step.job != "gold":
        return []
    from lakehouse.core.settings import get_settings
    from lakehouse.io import delta_io
    from lakehouse.io.spark import get_spark

    settings = get_settings()
    spark = get_spark("lake run", settings)
    spec = load_specs()[step.dataset]
    return [dep for dep in spec.depends_on if not delta_io.exists(spark, settings.table_uri("silver", dep))]


def run_steps(steps: list[Step], date: str) -> list[tuple[Step, object, float]]:
    """Run each step's job in this process; stops at the first failure (later steps depend on it).

    A gold table that reads a silver table nobody has loaded yet is skipped with
    a note (its publish step too): ingesting one source must not fail on another.
    """
    results = []
    skipped: set[str] = set()
    if any(step.job == "silver" for step in steps):
        from lakehouse.core.settings import get_settings
        from lakehouse.quality import validation

        validation.open_early(get_settings())  # imported while the first steps wait on Spark
    for i, step in enumerate(steps, 1):
        print(f"\n[lake] ({i}/{len(steps)}) {step.label} for {date}", flush=True)
        if step.dataset in skipped:
            print(f"[lake] skipped: {step.dataset} was not built", flush=True)
            continue
        missing = missing_inputs(step)
        if missing:
            print(f"[lake] skipped: gold {step.dataset} reads {', '.join(missing)}, which has no silver table "
                  "yet; it is built once that source has been loaded", flush=True)
            skipped.add(step.dataset)
            continue
        started = time.monotonic()
        module = importlib.import_module(f"jobs.{step.job}")
        outcome = module.run(step.dataset, date)
        results.append((step, outcome, time.monotonic() - started))
    return results


def summary_rows(results: list[tuple[Step, object, float]]) -> list[list]:
    """One line per step: rows in / written / quarantined / duplicates, seconds."""
    from lakehouse.engine.jobrun import Accounting

    rows = []
    for step, outcome, seconds in results:
        if isinstance(outcome, Accounting):
            rows.append([step.job, step.dataset, outcome.rows_in, outcome.rows_written, outcome.rows_quarantined,
                         outcome.duplicates_collapsed, f"{seconds:.1f}"])
        else:
            rows.append([step.job, step.dataset, "", "", "", "", f"{seconds:.1f}"])
    return rows


SUMMARY_COLUMNS = ["step", "dataset", "in", "written", "quarantined", "duplicates", "seconds"]


def land_files(dataset: str, files: list[Path], date: str) -> list[str]:
    """Upload local files into the dataset's landing folder for ``date``.

    A relative path lands with its folders (``HS-2026-000123/scan.png``), an absolute one by its name.
    """
    from lakehouse.core.settings import get_settings
    from lakehouse.io import storage

    settings = get_settings()
    specs = load_specs()
    spec = specs[dataset]
    if not isinstance(spec, SourceDataset):
        raise LakeError(f"{dataset} is a gold dataset: it is built from silver tables, not ingested")
    if spec.source.kind in ("jdbc", "builtin"):
        raise LakeError(f"{dataset} is read from its {spec.source.kind} source by `lake run {dataset}`; "
                        "files are ingested into `files`, `stream` or `documents` datasets only")
    names = {}
    for path in files:
        if not path.is_file():
            raise LakeError(f"{path}: no such file")
        # a relative path keeps its folders (documents are linked to a dossier by folder)
        names[path] = path.as_posix() if not path.is_absolute() and ".." not in path.parts else path.name
    # bronze reads only files matching the pattern: landing another would be ingesting nothing, silently
    unread = [str(p) for p, name in names.items() if not spec.source.matches(name)]
    if unread:
        raise LakeError(f"{dataset} reads files matching {spec.source.pattern!r} (source.pattern in its spec); "
                        f"not landed: {', '.join(unread)}. Rename the file, or change the pattern")
    keys = []
    for path, name in names.items():
        key = settings.landing_key(dataset, date, name)
        storage.put_file(key, path, settings)
        print(f"[land] {path} -> s3://{settings.bucket}/{key} ({path.stat().st_size:,} bytes)", flush=True)
        keys.append(key)
    return keys
