"""The administrative-units pipeline with `lake run` (in one process, and its DAGs through Airflow's `dag.test`),
Spark, Delta on S3, GE and Trino."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from lakehouse.core.settings import REPO_ROOT
from lakehouse.io import trino
from lakehouse.core.settings import get_settings

from lakehelp import admin_units_reference, admin_units_rows, use_datasets

DATE = "2026-11-27"


def lake_run(*args: str) -> str:
    """`lake run admin_units --date DATE [ARGS]` as a user types it."""
    return lake_run_target("admin_units", *args)


def lake_run_target(target: str, *args: str) -> str:
    """`lake run TARGET --date DATE [ARGS]` as a user types it."""
    result = subprocess.run([sys.executable, "-m", "lakehouse.cli", "run", target, "--date", DATE, *args],
                            cwd=REPO_ROOT, env={**os.environ}, capture_output=True, text=True)
    assert result.returncode == 0, f"lake run {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


def rows(sql: str) -> list[tuple]:
    return trino.query(sql, get_settings())[1]


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every table the pipeline writes, metadata columns included."""
    tables = {
        "bronze.provinces": "SELECT * FROM lake.bronze.provinces",
        "bronze.communes": "SELECT * FROM lake.bronze.communes",
        "silver.provinces": "SELECT * FROM lake.silver.provinces",
        "silver.communes": "SELECT * FROM lake.silver.communes",
        "gold.communes_with_province": "SELECT * FROM lake.gold.communes_with_province",
        "gold.commune_counts_by_province": "SELECT * FROM lake.gold.commune_counts_by_province",
    }
    return {name: sorted(rows(sql), key=repr) for name, sql in tables.items()}


@pytest.fixture(scope="module")
def admin_units_only(tmp_path_factory):
    """Only the admin-units specs: other domains' gold tables read provinces too, and `lake run` would
    rebuild them from whatever earlier tests left behind."""
    datasets = tmp_path_factory.mktemp("datasets")
    shutil.copytree(REPO_ROOT / "lake_config" / "datasets" / "admin_units", datasets / "admin_units")
    with use_datasets(datasets):
        yield


@pytest.fixture(scope="module")
def first_run(stack, admin_units_only):
    """In one process (`lake run`): every step of the domain with one Spark Connect session."""
    out = lake_run()
    assert "[lake] 12/12 steps done" in out  # 2 sources (land, bronze, silver, publish), 2 gold (gold, publish)
    return snapshot()


def test_silver_and_gold_hold_exactly_what_the_package_ships(first_run):
    """Every business column of every silver and gold row, silver's row hash included, against the reference
    derived from the package itself (the cluster's module compares its tables with the same reference)."""
    expected = admin_units_reference()
    assert len(expected["gold.communes_with_province"]) == 3321 and len(expected["silver.provinces"]) == 34
    assert sum(r[2] for r in expected["gold.commune_counts_by_province"]) == 3321
    got = admin_units_rows(get_settings())
    for table, rows in expected.items():
        assert got[table] == rows, table


def test_silver_is_typed_and_unique(first_run):
    assert rows("SELECT count(*), count(DISTINCT commune_code) FROM lake.silver.communes") == [(3321, 3321)]
    types = dict(rows("SELECT column_name, data_type FROM lake.information_schema.columns "
                      "WHERE table_schema = 'silver' AND table_name = 'communes'"))
    assert types["commune_code"] == "integer" and types["province_code"] == "integer"
    assert types["commune_name"] == "varchar"


def test_rerunning_a_dag_through_airflow_changes_no_row(first_run, stack):
    """`lake run provinces --airflow`: the province DAG and the gold DAGs it feeds, real DAG runs as
    `airflow dags test` makes them (`dag.test`); a re-run of the date is idempotent, whichever runner ran it.
    (That the DAGs build gold from nothing through the real scheduler is test_airflow_scheduler's.)"""
    out = lake_run_target("provinces", "--airflow")
    assert ("3 DAGs, one after the other (masters first, gold last): lake__provinces, "
            "lake__commune_counts_by_province, lake__communes_with_province") in out
    assert snapshot() == first_run


def test_each_load_keeps_its_validation_and_data_docs_are_built_from_them(first_run, stack):
    from lakehouse.quality import validation

    validations = stack.state_dir / "quality" / "gx" / "uncommitted" / "validations"
    assert any(validations.glob("communes__silver/**/*.json"))  # the loads stored their results
    index = validation.build_data_docs(stack)  # what the quality site (lake quality --site, hourly DAG) does
    assert index == stack.state_dir / "quality" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert "communes__silver" in index.read_text(encoding="utf-8")


def test_lake_sql_prints_csv_and_json(first_run):
    env = {**os.environ}
    query = "SELECT province_name FROM lake.gold.commune_counts_by_province WHERE province_code = 1"
    out = subprocess.run([sys.executable, "-m", "lakehouse.cli", "sql", query, "--format", "json"],
                         env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [{"province_name": "Thành phố Hà Nội"}]
    out = subprocess.run([sys.executable, "-m", "lakehouse.cli", "sql", query, "--format", "csv"],
                         env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["province_name", "Thành phố Hà Nội"]
