"""Airflow DAGs derived from the dataset specs: one DAG per dataset, wired by Assets.

* A **source** dataset's DAG (``lake__<name>``) runs ``land → bronze → silver →
  publish`` on the spec's cron (``schedule``).  A source conformed to master data
  (a ``conform`` or ``reference`` rule naming another dataset) also runs when one
  of those masters' silver Asset changes, so its batch is judged again against
  the new master data.
* A **gold** dataset's DAG (``lake__<name>``) runs ``gold → publish`` whenever the
  Asset of one of its inputs changes (``depends_on``), never on a clock.
* ``lake__maintenance`` runs OPTIMIZE + VACUUM on every dataset at night;
  ``lake__quality`` checks freshness hourly; ``lake__catalog`` exports the open
  datasets and writes the three DCAT catalogs daily; ``lake__usage`` loads Trino's
  query events and the sharing audit into the usage tables hourly.

Every task that writes a dataset's Delta tables (bronze, silver, gold,
maintenance) takes the dataset's one-slot pool ``lake__<name>`` (see `pools`),
and every DAG has ``max_active_runs=1``: Delta on S3 allows one writer per table. (An input's Asset event
that arrives while a gold DAG's run is running waits in Airflow's queue until the dag-processor parses the
file again, about 30 s later, before its run is created: apache/airflow#56050.)

Each job task calls a `jobs/` entry point's ``run`` in the task's own process
(`orchestration/jobtask.py`), forked warm from a scheduler that imported the jobs'
libraries first (`orchestration/preload.py`); the same job runs by hand as
``python -m jobs.<job>``.  Parsing imports no Spark: it reads the YAML specs and
builds task objects, nothing else.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import sys

from lakehouse.config.spec import Specs, GoldDataset, SourceDataset, load_specs
from lakehouse.core.settings import REPO_ROOT, port_variables

PASS_THROUGH_ENV = ("LAKE_HOME", "LAKE_ENV", "LAKE_CACHE", "LAKE_CONFIG_DIR", "LAKE_DATASETS_DIR", "JAVA_HOME",
                    *port_variables(), "LAKE_TEST_FAIL_ONCE_DIR")
START_DATE = dt.datetime(2025, 7, 1, tzinfo=dt.timezone.utc)  # the 2025 administrative reform
TIMEZONE = "UTC"  # the specs' crons are read in UTC
QUALITY_DAG = "lake__quality"
MAINTENANCE_DAG = "lake__maintenance"
CATALOG_DAG = "lake__catalog"
USAGE_DAG = "lake__usage"
MAINTENANCE_SCHEDULE = "0 20 * * 6"  # Saturdays 20:00 UTC = Sunday 03:00 in Vietnam, before the daily loads
RETRIES = 2
TIMEOUT = dt.timedelta(hours=2)
# Logical date of the run; an Asset-triggered run has none, so it takes the day it was queued for.
DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"


def dag_id(dataset: str) -> str:
    """The DAG of one dataset: ``lake__<name>`` (source and gold alike)."""
    return f"lake__{dataset}"


def pool(dataset: str) -> str:
    """The one-slot pool every writer of ``dataset``'s tables takes."""
    return f"lake__{dataset}"


# With `spark.mode: local` every job starts its own Spark driver.  Delta on S3
# (S3SingleDriverLogStore) makes commits to one table safe only inside one
# driver, and every job appends to the shared ops tables (run log, scorecard),
# so then all job tasks share this one slot.  In `connect` mode every commit goes
# through the one Spark Connect server, and only writers of the same dataset
# table need to wait for each other (a MERGE racing a MERGE would fail).
SINGLE_DRIVER_POOL = "lake__spark_local"


def single_driver() -> bool:
    from lakehouse.core.settings import get_settings

    return get_settings().env.spark.mode == "local"


def task_pool(writes: str | None) -> str:
    """The pool of a job task: ``writes`` names the dataset whose tables it writes (None: only ops tables)."""
    if single_driver():
        return SINGLE_DRIVER_POOL
    return pool(writes) if writes else "default_pool"


def pools(specs: Specs | None = None) -> dict[str, dict]:
    """Every dataset's pool as ``airflow pools import`` reads it: one slot each (and the local-mode pool)."""
    specs = specs or load_specs()
    wanted = {pool(name): {"slots": 1, "description": f"one writer at a time for the Delta tables of {name}",
                           "include_deferred": False}
              for name in sorted(specs.datasets)}
    wanted[SINGLE_DRIVER_POOL] = {"slots": 1, "include_deferred": False,
                                  "description": "spark.mode local: one Spark driver (so one Delta writer) at a time"}
    return wanted


def asset_uri(layer: str, dataset: str) -> str:
    return f"lake://{layer}/{dataset}"


def masters(spec: SourceDataset) -> list[str]:
    """The other datasets a source is conformed or referenced to (its master data)."""
    return sorted({r.reference.dataset for r in spec.effective_rules
                   if r.reference and r.reference.dataset != spec.name})


def retry_delay() -> dt.timedelta:
    """First retry delay (doubles each try): ``LAKE_AIRFLOW_RETRY_DELAY`` seconds, default 60."""
    return dt.timedelta(seconds=float(os.environ.get("LAKE_AIRFLOW_RETRY_DELAY", "60")))


def _env() -> dict[str, str]:
    return {k: os.environ[k] for k in PASS_THROUGH_ENV if k in os.environ}


def _job_task_kwargs(job: str, dataset: str) -> dict:
    """A job task's callable and its arguments: ``jobs.<job>`` for ``dataset`` on the run's date."""
    from lakehouse.orchestration import jobtask

    return {"python_callable": jobtask.run, "op_kwargs": {"job": job, "dataset": dataset, "date": DATE}}


def _default_args() -> dict:
    from lakehouse.orchestration import callbacks

    return {
        "retries": RETRIES,
        "retry_delay": retry_delay(),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=30),
        "execution_timeout": TIMEOUT,
        # the job logs the failures it sees; these cover the rest (a timeout kill, a lost process)
        "on_retry_callback": callbacks.record_failure,
        "on_failure_callback": callbacks.record_failure,
        "pre_execute": callbacks.fail_once_for_tests,
    }


def _job_task(job: str, dataset: str, writes: str | None = None, outlet_layer: str | None = None, **kwargs):
    """A task running ``jobs.<job>`` for ``dataset``; ``writes`` names the dataset whose pool it takes."""
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import Asset

    return PythonOperator(
        task_id=f"{job}__{dataset}", **_job_task_kwargs(job, dataset), pool=task_pool(writes),
        outlets=[Asset(asset_uri(outlet_layer, dataset))] if outlet_layer else [], **kwargs)


def build_source_dag(specs: Specs, spec: SourceDataset):
    """A source dataset: land (jdbc, builtin) → bronze → silver (write, audit, publish) → publish to Trino."""
    from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, CronTriggerTimetable

    cron = CronTriggerTimetable(spec.schedule, timezone=TIMEZONE) if spec.schedule else None
    inputs = [Asset(asset_uri("silver", m)) for m in masters(spec)]
    if inputs and cron:
        schedule = AssetOrTimeSchedule(timetable=cron, assets=_any(inputs))
    else:
        schedule = cron or (_any(inputs) if inputs else None)
    with DAG(
        dag_id=dag_id(spec.name),
        description=f"{spec.domain} / {spec.name} ({spec.source.kind}): {spec.description or ''}".strip(),
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=_default_args(),
        tags=["lake", spec.domain, "source"],
        doc_md=_doc(spec, masters(spec)),
    ) as dag:
        chain = []
        if spec.source.kind in ("jdbc", "builtin"):
            chain.append(_job_task("land", spec.name))
        chain += [_job_task("bronze", spec.name, writes=spec.name, outlet_layer="bronze"),
                  _job_task("silver", spec.name, writes=spec.name, outlet_layer="silver"),
                  _job_task("publish", spec.name)]
        for upstream, downstream in zip(chain, chain[1:]):
            upstream >> downstream
    return dag


def build_gold_dag(specs: Specs, spec: GoldDataset):
    """A gold dataset: gold → publish, each time one of its inputs' Assets changes."""
    from airflow.sdk import DAG, Asset

    from lakehouse.orchestration import callbacks

    inputs = [Asset(asset_uri(specs[d].layer, d)) for d in spec.depends_on]
    with DAG(
        dag_id=dag_id(spec.name),
        description=f"{spec.domain} / {spec.name} (gold): built from {', '.join(spec.depends_on)}",
        schedule=_any(inputs),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=_default_args(),
        tags=["lake", spec.domain, "gold"],
        doc_md=_doc(spec, spec.depends_on),
    ) as dag:
        gold = _job_task("gold", spec.name, writes=spec.name, outlet_layer="gold", pre_execute=callbacks.inputs_exist)
        gold >> _job_task("publish", spec.name)
    return dag


def _any(assets: list):
    """Run when any of ``assets`` changes."""
    combined = assets[0]
    for asset in assets[1:]:
        combined = combined | asset
    return combined


def _doc(spec, inputs: list[str]) -> str:
    return (f"**{spec.name}** ({spec.layer}, domain {spec.domain}). {spec.description or ''}\n\n"
            + (f"Inputs: {', '.join(inputs)}.\n\n" if inputs else "")
            + f"Same command by hand: `python -m jobs.<job> --dataset {spec.name} --date YYYY-MM-DD`.")


def build_maintenance_dag(specs: Specs):
    """Weekly at night: OPTIMIZE (Z-order from the spec) and VACUUM (its retention) on every dataset."""
    from airflow.sdk import DAG

    with DAG(
        dag_id=MAINTENANCE_DAG,
        description="OPTIMIZE and VACUUM every dataset's Delta tables, each under its dataset's pool",
        schedule=MAINTENANCE_SCHEDULE,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args={**_default_args(), "retries": 1},
        tags=["lake", "maintenance"],
    ) as dag:
        for name in sorted(specs.datasets):
            _job_task("maintain", name, writes=name)
    return dag


def _platform_dag(dag_id: str, description: str, schedule: str, timeout: dt.timedelta, tag: str):
    """A DAG of the platform's own (not a dataset's): one retry after 2 min, no catch-up, one run at a time."""
    from airflow.sdk import DAG

    return DAG(dag_id=dag_id, description=description, schedule=schedule, start_date=START_DATE, catchup=False,
               max_active_runs=1, tags=["lake", tag],
               default_args={"retries": 1, "retry_delay": dt.timedelta(minutes=2), "execution_timeout": timeout})


def _cli_task(task_id: str, args: str, **kwargs):
    """A task running ``lake <args>`` (after its upstream tasks, whether they failed or not)."""
    from airflow.providers.standard.operators.bash import BashOperator

    root, python = shlex.quote(str(REPO_ROOT)), shlex.quote(sys.executable)
    return BashOperator(task_id=task_id, bash_command=f"cd {root} && exec {python} -m lakehouse.cli {args}",
                        env=_env(), append_env=True, trigger_rule="all_done", **kwargs)


def build_quality_dag(specs: Specs):
    """Hourly: check every dataset with a freshness SLA (sống), then rebuild the quality site.

    Freshness is judged on a clock, not only when data arrives: a source that
    stops delivering never triggers its own DAG, so this one notices.
    """
    from airflow.providers.standard.operators.python import PythonOperator

    with _platform_dag(QUALITY_DAG, "Freshness (sống) of every dataset with an SLA, then the quality report site",
                       "@hourly", dt.timedelta(minutes=30), "quality") as dag:
        site = _cli_task("quality_site", "quality --site --format json > /dev/null")
        for spec in specs.sources():
            if spec.freshness:
                PythonOperator(task_id=f"freshness__{spec.name}", **_job_task_kwargs("freshness", spec.name),
                               pool=task_pool(None)) >> site
    return dag


def build_usage_dag():
    """Hourly: load the query events Trino sent and the Delta Sharing audit into ``ops/query_log``,
    ``ops/table_reads`` and ``ops/sharing_log`` (``jobs/usage.py``; a re-run loads nothing twice)."""
    from airflow.providers.standard.operators.bash import BashOperator

    root, python = shlex.quote(str(REPO_ROOT)), shlex.quote(sys.executable)
    with _platform_dag(USAGE_DAG, "Usage statistics and audit: Trino's query events and the Delta Sharing audit "
                       "into lake.ops.query_log, table_reads and sharing_log", "@hourly", dt.timedelta(minutes=30),
                       "usage") as dag:
        BashOperator(task_id="load_usage", bash_command=f"cd {root} && exec {python} -m jobs.usage --date {DATE}",
                     env=_env(), append_env=True, pool=task_pool(None))  # writes only ops tables
    return dag


def build_all_dags(specs: Specs | None = None) -> dict:
    """One DAG per dataset, the maintenance, quality, catalog and usage DAGs, keyed by dag id."""
    from lakehouse.core.errors import LakeError
    from lakehouse.orchestration.pipeline import source_order

    specs = specs or load_specs()
    source_order(specs, [s.name for s in specs.sources()])  # refuses conform cycles: they would loop
    clash = {dag_id(n) for n in specs.datasets} & {QUALITY_DAG, MAINTENANCE_DAG, CATALOG_DAG, USAGE_DAG}
    if clash:
        raise LakeError(f"dataset names {sorted(clash)} clash with the platform's own DAGs; rename the datasets")
    dags = {}
    for spec in specs.sources():
        dags[dag_id(spec.name)] = build_source_dag(specs, spec)
    for spec in specs.golds():
        dags[dag_id(spec.name)] = build_gold_dag(specs, spec)
    dags[MAINTENANCE_DAG] = build_maintenance_dag(specs)
    dags[QUALITY_DAG] = build_quality_dag(specs)
    dags[CATALOG_DAG] = build_catalog_dag(specs)
    dags[USAGE_DAG] = build_usage_dag()
    return dags


def run_order(specs: Specs, names: list[str]) -> list[str]:
    """DAG ids to run one after the other for ``names`` (datasets or domains) and the gold built from them.

    Masters come before the sources conformed to them, gold last: the order an
    Asset-driven day has, for `lake run --airflow` (`orchestration/dagtest.py` runs them in turn).
    """
    sources, golds = [], []
    for target in names:
        if target in specs.domains and target not in specs.datasets:
            sources += [d.name for d in specs.sources(target)]
            golds += [d.name for d in specs.golds(target)]
        elif isinstance(specs[target], GoldDataset):
            golds.append(target)
        else:
            sources.append(target)
    from lakehouse.orchestration.pipeline import source_order
    ordered = [n for n in source_order(specs, sources) if n in sources]
    golds += [g.name for g in specs.golds() if set(g.depends_on) & set(ordered)]  # as `lake run` does
    return [dag_id(n) for n in ordered] + [dag_id(n) for n in sorted(set(golds))]


def build_catalog_dag(specs: Specs):
    """Daily: export every open dataset (CSV, Parquet) for download, then write the three DCAT catalogs.

    The catalogs are written even when an export failed (``all_done``): they then
    carry that dataset's previous download and its current quality scores.
    """
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import Asset

    from lakehouse.serving.catalog import open_datasets

    with _platform_dag(CATALOG_DAG, "Open-data downloads (CSV, Parquet) of every open dataset, then the open-data, "
                       "big-data and master/shared catalogs (DCAT-AP JSON-LD) with quality scores and freshness",
                       "@daily", dt.timedelta(hours=1), "catalog") as dag:
        write = _cli_task("catalogs", "catalog", outlets=[Asset("lake://catalog/dcat")])
        for spec in open_datasets(specs):
            PythonOperator(task_id=f"export__{spec.name}", **_job_task_kwargs("export_open_data", spec.name),
                           outlets=[Asset(f"lake://open_data/{spec.name}")]) >> write
    return dag
