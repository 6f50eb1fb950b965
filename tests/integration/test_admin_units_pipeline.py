"""The administrative-units pipeline through Airflow, Spark, Delta on S3, GE and Trino."""

import json
import os
import subprocess
import sys
from collections import Counter

import pytest
from vietnam_provinces import Province, Ward

from lakehouse import airflow_env, trino
from lakehouse.settings import REPO_ROOT

DATE = "2026-11-27"


def run_dag(settings) -> None:
    """`airflow dags test` — the CLI form of dag.test() — for each DAG of the domain, masters first, gold last."""
    from lakehouse.orchestration import run_order
    from lakehouse.spec import load_catalog

    catalog = load_catalog()
    dags = [d for d in run_order(catalog, ["admin_units"]) if catalog[d.removeprefix("lake__")].domain == "admin_units"]
    assert dags == ["lake__communes", "lake__provinces", "lake__commune_counts_by_province",
                    "lake__communes_with_province"]
    for dag in dags:
        code = airflow_env.run_cli(["dags", "test", dag, DATE], settings, check=False)
        assert code == 0, f"the {dag} DAG run failed; its task logs are printed above"


def rows(sql: str) -> list[tuple]:
    return trino.query(sql)[1]


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
def first_run(stack):
    airflow_env.migrate(stack)
    run_dag(stack)
    return snapshot()


def test_gold_holds_exactly_what_the_package_ships(first_run):
    provinces = {int(p.code): p.name for p in Province.iter_all()}
    communes = {int(w.code): (w.name, int(w.province_code)) for w in Ward.iter_all()}
    assert len(provinces) == 34 and len(communes) == 3321

    got = rows("SELECT commune_code, commune_name, province_code, province_name "
               "FROM lake.gold.communes_with_province")
    assert len(got) == 3321
    assert {r[0]: (r[1], r[2]) for r in got} == communes
    assert all(r[3] == provinces[r[2]] for r in got)

    counts = {r[0]: (r[1], r[2]) for r in rows(
        "SELECT province_code, province_name, commune_count FROM lake.gold.commune_counts_by_province")}
    expected = Counter(pc for _, pc in communes.values())
    assert {code: name for code, (name, _) in counts.items()} == provinces
    assert {code: n for code, (_, n) in counts.items()} == dict(expected)
    assert sum(n for _, n in counts.values()) == 3321


def test_silver_is_typed_and_unique(first_run):
    assert rows("SELECT count(*), count(DISTINCT commune_code) FROM lake.silver.communes") == [(3321, 3321)]
    types = dict(rows("SELECT column_name, data_type FROM lake.information_schema.columns "
                      "WHERE table_schema = 'silver' AND table_name = 'communes'"))
    assert types["commune_code"] == "integer" and types["province_code"] == "integer"
    assert types["commune_name"] == "varchar"


def test_rerunning_the_same_date_changes_no_row(first_run, stack):
    run_dag(stack)
    assert snapshot() == first_run


def test_quality_docs_were_written(first_run, stack):
    index = stack.state_dir / "quality" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert index.exists()
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
