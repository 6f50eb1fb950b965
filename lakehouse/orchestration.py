"""Airflow DAGs derived from the dataset specs: one DAG per domain.

One DAG per domain (not per dataset) because a domain's gold tables join several
of its silver tables: inside one DAG that ordering is a plain dependency.  Each
task runs a `jobs/` entry point as its own process, so the scheduler never
imports Spark, and the same command runs by hand.

Parsing this is cheap: it reads the YAML specs and builds task objects, nothing else.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import sys

from lakehouse.settings import REPO_ROOT
from lakehouse.spec import Catalog, load_catalog

PASS_THROUGH_ENV = ("LAKE_HOME", "LAKE_ENV", "LAKE_CACHE", "LAKE_CONFIG_DIR", "LAKE_DATASETS_DIR", "JAVA_HOME",
                    "LAKE_S3_PORT", "LAKE_TRINO_PORT", "LAKE_AIRFLOW_PORT", "LAKE_POSTGRES_PORT")


def dag_id(domain: str) -> str:
    return f"lake__{domain}"


def _job_command(job: str, dataset: str) -> str:
    root, python = shlex.quote(str(REPO_ROOT)), shlex.quote(sys.executable)
    return f"cd {root} && exec {python} -m jobs.{job} --dataset {dataset} --date {{{{ ds }}}}"


def build_domain_dag(catalog: Catalog, domain: str):
    """The DAG for one domain: land → bronze → silver → publish per source, gold → publish per gold table."""
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG, Asset

    sources = catalog.sources(domain)
    golds = catalog.golds(domain)
    schedules = sorted({d.schedule for d in sources if d.schedule})
    env = {k: os.environ[k] for k in PASS_THROUGH_ENV if k in os.environ}
    default_args = {
        "retries": 2,
        "retry_delay": dt.timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "execution_timeout": dt.timedelta(hours=2),
    }

    def job(task_id: str, job_name: str, dataset: str, layer: str | None = None) -> BashOperator:
        outlets = [Asset(f"lake://{layer}/{dataset}")] if layer else []
        return BashOperator(task_id=task_id, bash_command=_job_command(job_name, dataset),
                            env=env, append_env=True, outlets=outlets)

    with DAG(
        dag_id=dag_id(domain),
        description=f"Domain {domain}: " + ", ".join(sorted(d.name for d in sources + golds)),
        schedule=schedules[0] if schedules else None,
        start_date=dt.datetime(2025, 7, 1, tzinfo=dt.timezone.utc),  # the 2025 administrative reform
        catchup=False,
        max_active_runs=1,  # one writer per Delta table: runs of a domain never overlap
        default_args=default_args,
        tags=["lake", domain],
    ) as dag:
        silver_tasks = {}
        for spec in sources:
            land = job(f"land__{spec.name}", "land", spec.name)
            bronze = job(f"bronze__{spec.name}", "bronze", spec.name, "bronze")
            silver = job(f"silver__{spec.name}", "silver", spec.name, "silver")
            publish = job(f"publish__{spec.name}", "publish", spec.name)
            land >> bronze >> silver >> publish
            silver_tasks[spec.name] = silver
        for spec in golds:
            gold = job(f"gold__{spec.name}", "gold", spec.name, "gold")
            publish = job(f"publish__{spec.name}", "publish", spec.name)
            for dep in spec.depends_on:
                if dep in silver_tasks:
                    silver_tasks[dep] >> gold
            gold >> publish
    return dag


QUALITY_DAG = "lake__quality"


def build_quality_dag(catalog: Catalog):
    """Hourly: check every dataset with a freshness SLA (sống), then rebuild the quality site.

    Freshness is judged on a clock, not only when data arrives: a source that
    stops delivering never triggers its own DAG, so this one notices.
    """
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG

    env = {k: os.environ[k] for k in PASS_THROUGH_ENV if k in os.environ}
    root, python = shlex.quote(str(REPO_ROOT)), shlex.quote(sys.executable)
    with DAG(
        dag_id=QUALITY_DAG,
        description="Freshness (sống) of every dataset with an SLA, then the quality report site",
        schedule="@hourly",
        start_date=dt.datetime(2025, 7, 1, tzinfo=dt.timezone.utc),
        catchup=False,
        max_active_runs=1,
        default_args={"retries": 1, "retry_delay": dt.timedelta(minutes=2),
                      "execution_timeout": dt.timedelta(minutes=30)},
        tags=["lake", "quality"],
    ) as dag:
        site = BashOperator(task_id="quality_site", bash_command=f"cd {root} && exec {python} -m lakehouse.cli "
                                                                 "quality --site --format json > /dev/null",
                            env=env, append_env=True, trigger_rule="all_done")
        for spec in catalog.sources():
            if spec.freshness:
                BashOperator(task_id=f"freshness__{spec.name}", bash_command=_job_command("freshness", spec.name),
                             env=env, append_env=True) >> site
    return dag


def build_all_dags(catalog: Catalog | None = None) -> dict:
    """Every domain's DAG and the quality DAG, keyed by dag id."""
    catalog = catalog or load_catalog()
    dags = {dag_id(d): build_domain_dag(catalog, d) for d in catalog.domains}
    dags[QUALITY_DAG] = build_quality_dag(catalog)
    return dags



CATALOG_DAG = "lake__catalog"


def build_catalog_dag(catalog: Catalog):
    """Daily: export every open dataset (CSV, Parquet) for download, then write the three DCAT catalogs.

    The catalogs are written even when an export failed (``all_done``): they then
    carry that dataset's previous download and its current quality scores.
    """
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG, Asset

    from lakehouse.catalog import open_datasets

    env = {k: os.environ[k] for k in PASS_THROUGH_ENV if k in os.environ}
    root, python = shlex.quote(str(REPO_ROOT)), shlex.quote(sys.executable)
    with DAG(
        dag_id=CATALOG_DAG,
        description="Open-data downloads (CSV, Parquet) of every open dataset, then the open-data, big-data "
                    "and master/shared catalogs (DCAT-AP JSON-LD) with quality scores and freshness",
        schedule="@daily",
        start_date=dt.datetime(2025, 7, 1, tzinfo=dt.timezone.utc),
        catchup=False,
        max_active_runs=1,
        default_args={"retries": 1, "retry_delay": dt.timedelta(minutes=2),
                      "execution_timeout": dt.timedelta(hours=1)},
        tags=["lake", "catalog"],
    ) as dag:
        write = BashOperator(task_id="catalogs", bash_command=f"cd {root} && exec {python} -m lakehouse.cli catalog",
                             env=env, append_env=True, trigger_rule="all_done",
                             outlets=[Asset("lake://catalog/dcat")])
        for spec in open_datasets(catalog):
            BashOperator(task_id=f"export__{spec.name}", bash_command=_job_command("export_open_data", spec.name),
                         env=env, append_env=True, outlets=[Asset(f"lake://open_data/{spec.name}")]) >> write
    return dag
