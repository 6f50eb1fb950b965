"""The administrative-units pipeline through Airflow (`lake run --airflow`), Spark, Delta on S3, GE and Trino."""

import json
import os
import subprocess
import sys
from collections import Counter

import pytest
from vietnam_provinces import Province, Ward

from lakehouse import trino
from lakehouse.settings import REPO_ROOT

DATE = "2026-11-27"


def lake_run(*args: str) -> None:
    """`lake run admin_units --date DATE [ARGS]` as a user types it."""
    result = subprocess.run([sys.executable, "-m", "lakehouse.cli", "run", "admin_units", "--date", DATE, *args],
                            cwd=REPO_ROOT, env={**os.environ}, capture_output=True, text=True)
    assert result.returncode == 0, f"lake run {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"


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
    """Through Airflow: `airflow dags test` of each dataset's DAG, masters first, gold last."""
    lake_run("--airflow")
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


def test_rerunning_the_same_date_without_airflow_changes_no_row(first_run, stack):
    """The same jobs in one process (`lake run`): a re-run of the date is idempotent, whichever runner ran it."""
    lake_run()
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
