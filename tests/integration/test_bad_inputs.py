"""The bad-input corpus (tests/data/bad_inputs) through the real stack: every file refused or read as the
manifest says, every refusal recorded, and the silver table that was there before left as it was.

The files are grouped by the dataset they are delivered to (format and source options): one dataset
per group, all its files landed for one date, one bronze run each.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

from lakehouse.core.errors import LakeError
from lakehouse.engine import jobrun
from lakehouse.io import delta_io
from lakehouse.io.spark import get_spark

from lakehelp import ingest, reset, table, use_datasets

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"
MANIFEST = yaml.safe_load((CORPUS / "manifest.yaml").read_text(encoding="utf-8"))
DAY_GOOD, DAY_BAD = "2026-04-01", "2026-04-02"
GOOD_CSV = "ma_ho_so,ho_ten,ngay_sinh,so_tien\nHS-1,Trần Văn Tý,1985-03-12,1500000\nHS-2,Lê Thị Hoa,1990-01-02,20\n"


def groups() -> dict[str, dict]:
    """Dataset name → {spec, files}: one dataset per distinct format and source options."""
    out: dict[str, dict] = {}
    for entry in MANIFEST["files"]:
        fmt = entry["dataset_format"]
        if fmt == "documents":
            source = {"kind": "documents", "pattern": "*"}
            columns, keys = MANIFEST["documents"]["columns"], MANIFEST["documents"]["keys"]
        else:
            source = {"kind": "files", "format": fmt, "pattern": "*", **entry.get("source", {})}
            columns, keys = MANIFEST["columns"], MANIFEST["keys"]
        key = repr(sorted(source.items()))
        name = next((n for n, g in out.items() if g["key"] == key), f"bad_{fmt}_{len(out)}")
        group = out.setdefault(name, {"key": key, "spec": {
            "name": name, "description": f"bad-input corpus: {fmt} files", "grain": "one row per record",
            "source": source, "columns": columns, "keys": keys}, "files": []})
        group["files"].append(entry)
    return out


GROUPS = groups()


def corpus_file(entry: dict, folder: Path) -> Path:
    if not entry.get("generated_by"):
        return CORPUS / entry["file"]
    loaded = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    module = importlib.util.module_from_spec(loaded)
    sys.modules.setdefault("make_corpus", module)
    loaded.loader.exec_module(sys.modules["make_corpus"])
    return getattr(sys.modules["make_corpus"], entry["generated_by"])(folder / entry["file"])


@pytest.fixture(scope="module")
def corpus(stack, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad_inputs")
    specs = folder / "datasets" / "corpus"
    specs.mkdir(parents=True)
    (specs / "_defaults.yaml").write_text("domain: bad_inputs\n", encoding="utf-8")
    for name, group in GROUPS.items():
        (specs / f"{name}.yaml").write_text(yaml.safe_dump(group["spec"], allow_unicode=True), encoding="utf-8")
    with use_datasets(specs.parent):
        reset(list(GROUPS), stack)
        yield {"settings": stack, "folder": folder}
        reset(list(GROUPS), stack)


def test_every_corpus_file_is_refused_or_read_as_its_manifest_says_and_silver_is_untouched(corpus):
    settings, folder = corpus["settings"], corpus["folder"]
    spark = get_spark("test bad inputs", settings)
    csv_group = next(n for n, g in GROUPS.items() if g["spec"]["source"] == {"kind": "files", "format": "csv",
                                                                              "pattern": "*"})
    good = folder / "good.csv"
    good.write_text(GOOD_CSV, encoding="utf-8")
    ingest(csv_group, [good], DAY_GOOD)  # a silver table the wrong files must not touch
    before = sorted(tuple(r) for r in table(spark, "silver", csv_group, settings).drop("_ingested_at").collect())
    assert len(before) == 2

    from lakehouse.config.spec import load_specs
    from lakehouse.orchestration.pipeline import land_files, plan, run_steps

    since = jobrun.now_iso()  # ops tables outlive a test run: count only this run's refusals
    outcome = {}
    for name, group in GROUPS.items():
        files = [corpus_file(e, folder) for e in group["files"]]
        land_files(name, files, DAY_BAD)
        refused = [e for e in group["files"] if e["expect"] == "refused"]
        bronze = [s for s in plan(load_specs(), [name], with_land=False) if s.job == "bronze"]
        if refused:
            with pytest.raises(LakeError, match="refused"):
                run_steps(bronze, DAY_BAD)
        else:
            run_steps(bronze, DAY_BAD)
        outcome[name] = group

    recorded = {(r["dataset"], r["source_file"].rsplit("/", 1)[-1]): r["code"] for r in
                delta_io.read(spark, settings.table_uri("ops", "refused_files"))
                .where(f"batch_id LIKE 'bad\\\\_%@{DAY_BAD}' AND refused_at >= CAST('{since}' AS TIMESTAMP)").collect()}
    expected = {(name, e["file"]): e["code"] for name, g in outcome.items() for e in g["files"]
                if e["expect"] == "refused"}
    assert recorded == expected
    for name, group in outcome.items():  # every accepted file was read into bronze
        accepted = {e["file"] for e in group["files"] if e["expect"] == "accepted"}
        if not accepted:
            continue
        read = {r[0].rsplit("/", 1)[-1] for r in table(spark, "bronze", name, settings)
                .where(f"_batch_id = '{name}@{DAY_BAD}'").select("_source_file").distinct().collect()}
        assert read == accepted, name
    after = sorted(tuple(r) for r in table(spark, "silver", csv_group, settings).drop("_ingested_at").collect())
    assert after == before
