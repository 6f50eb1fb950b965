"""The DAGs generated from lake_config: they import, and their graphs, schedules and guards are the specs'."""

import datetime as dt

import pytest

from lakehouse.orchestration import callbacks
from lakehouse.orchestration.dags import (CATALOG_DAG, MAINTENANCE_DAG, QUALITY_DAG, SINGLE_DRIVER_POOL, USAGE_DAG,
                                          asset_uri, build_all_dags, dag_id, masters, pool, pools, run_order)
from lakehouse.config.spec import load_specs


@pytest.fixture(scope="module")
def specs():
    return load_specs()


@pytest.fixture(scope="module")
def dags():
    return build_all_dags()


def job_of(task) -> tuple:
    """What a job task runs: (callable, job, dataset, date template)."""
    kw = task.op_kwargs
    return task.python_callable, kw["job"], kw["dataset"], kw["date"]


def upstream(dag) -> dict[str, set[str]]:
    return {t.task_id: set(t.upstream_task_ids) for t in dag.tasks}


def asset_uris(condition) -> set[str]:
    """The Asset URIs a schedule condition names (any nesting of | and &)."""
    if hasattr(condition, "uri"):
        return {condition.uri}
    return set().union(*(asset_uris(o) for o in condition.objects))


def test_one_dag_per_dataset_plus_maintenance_and_quality(dags, specs):
    assert set(dags) == {dag_id(n) for n in specs.datasets} | {MAINTENANCE_DAG, QUALITY_DAG, CATALOG_DAG, USAGE_DAG}


def test_dag_file_imports_without_errors_and_without_cycles(specs):
    from airflow.dag_processing.dagbag import DagBag

    from lakehouse.core.settings import REPO_ROOT

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {dag_id(n) for n in specs.datasets} | {MAINTENANCE_DAG, QUALITY_DAG, CATALOG_DAG, USAGE_DAG}
    for dag in bag.dags.values():
        dag.topological_sort()  # raises on a cycle


def test_each_source_dag_is_land_bronze_silver_publish_on_the_spec_cron(dags, specs):
    for spec in specs.sources():
        dag = dags[dag_id(spec.name)]
        chain = ([f"land__{spec.name}"] if spec.source.kind in ("jdbc", "builtin") else []) + \
            [f"bronze__{spec.name}", f"silver__{spec.name}", f"publish__{spec.name}"]
        assert upstream(dag) == {t: ({chain[i - 1]} if i else set()) for i, t in enumerate(chain)}, spec.name
        cron = getattr(dag.timetable, "timetable", dag.timetable)  # AssetOrTimeSchedule wraps the cron
        assert cron.expression == spec.schedule and dag.max_active_runs == 1 and not dag.catchup
        assert dag.get_task(f"silver__{spec.name}").outlets[0].uri == asset_uri("silver", spec.name)


def test_a_conformed_source_also_runs_when_its_masters_silver_changes(dags, specs):
    sensors = dags[dag_id("sensors")]
    assert masters(specs["sensors"]) == ["communes", "provinces"]
    assert asset_uris(sensors.timetable.asset_condition) == {asset_uri("silver", "communes"),
                                                             asset_uri("silver", "provinces")}
    assert asset_uris(dags[dag_id("enterprises")].timetable.asset_condition) == {asset_uri("silver", "provinces")}
    assert type(dags[dag_id("provinces")].timetable).__name__ == "CronTriggerTimetable"  # a master: cron only


def test_each_gold_dag_runs_when_any_input_changes(dags, specs):
    for spec in specs.golds():
        dag = dags[dag_id(spec.name)]
        assert upstream(dag) == {f"gold__{spec.name}": set(), f"publish__{spec.name}": {f"gold__{spec.name}"}}
        assert asset_uris(dag.timetable.asset_condition) == {asset_uri("silver", d) for d in spec.depends_on}
        assert type(dag.timetable.asset_condition).__name__ == "AssetAny"
        gold = dag.get_task(f"gold__{spec.name}")
        assert gold.outlets[0].uri == asset_uri("gold", spec.name)
        assert gold._pre_execute_hook is callbacks.inputs_exist  # skips while an input was never loaded


def test_every_writer_takes_its_datasets_one_slot_pool(dags, specs):
    wanted = pools(specs)
    assert set(wanted) == {pool(n) for n in specs.datasets} | {SINGLE_DRIVER_POOL}
    assert all(p["slots"] == 1 and not p["include_deferred"] for p in wanted.values())
    writers = 0
    for dag in dags.values():
        for task in dag.tasks:
            job, _, dataset = task.task_id.partition("__")
            expected = pool(dataset) if job in ("bronze", "silver", "gold", "maintain") else "default_pool"
            assert task.pool == expected, task.task_id
            writers += job in ("bronze", "silver", "gold", "maintain")
    assert writers == 3 * len(specs.sources()) + 2 * len(specs.golds())


def test_in_spark_local_mode_every_job_shares_one_slot(specs, monkeypatch):
    """Local mode: a Spark driver per job, so commits to the shared ops tables must not overlap."""
    monkeypatch.setattr("lakehouse.orchestration.dags.single_driver", lambda: True)
    dags = build_all_dags(specs)
    # the catalog DAG reads through Trino and writes no Delta table; the quality site only reads
    jobs = [t for n, d in dags.items() if n != CATALOG_DAG for t in d.tasks if t.task_id != "quality_site"]
    assert jobs and all(t.pool == SINGLE_DRIVER_POOL for t in jobs)


def test_tasks_retry_with_backoff_time_out_and_log_failures(dags):
    for name, dag in dags.items():
        if name in (QUALITY_DAG, CATALOG_DAG, USAGE_DAG):  # their own retry policy, see their tests
            continue
        for task in dag.tasks:
            assert task.retries >= 1 and task.retry_exponential_backoff, task.task_id
            assert task.execution_timeout == dt.timedelta(hours=2)
            assert callbacks.record_failure in task.on_failure_callback
            assert callbacks.record_failure in task.on_retry_callback
            hook = callbacks.inputs_exist if task.task_id.startswith("gold__") else callbacks.fail_once_for_tests
            assert task._pre_execute_hook is hook, task.task_id


def test_tasks_run_job_entry_points_for_the_runs_date(dags):
    from lakehouse.orchestration import jobtask

    assert job_of(dags["lake__communes"].get_task("silver__communes")) \
        == (jobtask.run, "silver", "communes", "{{ (dag_run.logical_date or dag_run.run_after) | ds }}")


def test_retry_delay_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("LAKE_AIRFLOW_RETRY_DELAY", "3")
    dag = build_all_dags()["lake__provinces"]
    assert dag.get_task("bronze__provinces").retry_delay == dt.timedelta(seconds=3)


def test_the_maintenance_dag_maintains_every_dataset_at_night(dags, specs):
    dag = dags[MAINTENANCE_DAG]
    assert {t.task_id for t in dag.tasks} == {f"maintain__{n}" for n in specs.datasets}
    assert job_of(dag.get_task("maintain__provinces"))[1:3] == ("maintain", "provinces")


def test_the_quality_dag_checks_freshness_of_every_dataset_with_an_sla_then_builds_the_site(dags, specs):
    dag = dags[QUALITY_DAG]
    with_sla = {s.name for s in specs.sources() if s.freshness}
    assert with_sla and {t.task_id for t in dag.tasks} == {f"freshness__{n}" for n in with_sla} | {"quality_site"}
    site = dag.get_task("quality_site")
    assert {t.task_id for t in site.upstream_list} == {f"freshness__{n}" for n in with_sla}
    first = sorted(with_sla)[0]
    assert job_of(dag.get_task(f"freshness__{first}"))[1:3] == ("freshness", first)


def test_the_usage_dag_loads_query_events_and_the_sharing_audit_hourly(dags):
    dag = dags[USAGE_DAG]
    assert [t.task_id for t in dag.tasks] == ["load_usage"]
    assert "-m jobs.usage --date {{ (dag_run.logical_date or dag_run.run_after) | ds }}" \
        in dag.get_task("load_usage").bash_command
    assert dag.get_task("load_usage").pool == "default_pool"  # it writes only ops tables
    assert dag.max_active_runs == 1 and dag.get_task("load_usage").retries == 1


def test_run_order_puts_masters_first_then_gold(specs):
    assert run_order(specs, ["admin_units"]) == [  # and, as `lake run` does, every gold built from them
        "lake__communes", "lake__provinces", "lake__air_quality_hourly_by_province", "lake__citizens_by_province",
        "lake__commune_counts_by_province", "lake__communes_with_province", "lake__enterprises_by_province"]
    order = run_order(specs, ["sensors", "provinces", "communes"])
    assert order.index("lake__provinces") < order.index("lake__sensors")


def test_the_failure_callback_names_the_task_and_try():
    class TI:
        dag_id, task_id, try_number = "lake__provinces", "bronze__provinces", 1

    class Run:
        logical_date, run_after, run_id = None, dt.datetime(2026, 11, 27, 5, tzinfo=dt.timezone.utc), "r1"

    acc = callbacks.failure_row({"ti": TI(), "dag_run": Run(), "exception": TimeoutError("timed out")})
    assert (acc.dataset, acc.layer, acc.batch_id, acc.status) == ("provinces", "bronze", "provinces@2026-11-27",
                                                                    "failed")
    assert acc.error == "airflow task lake__provinces.bronze__provinces try 1 failed: TimeoutError: timed out"
    TI.start_date = dt.datetime(2026, 11, 27, 12, 30, 1, 5, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    # a lost try's callback may run after the next try: its row starts when the try started
    assert callbacks.failure_row({"ti": TI(), "dag_run": Run()}).started_at == "2026-11-27T05:30:01.000005Z"
    assert callbacks.task_dataset("quality_site") is None
    assert callbacks.task_dataset("maintain__communes") == ("maintenance", "communes")


def test_a_try_that_raised_nothing_is_explained_from_its_airflow_log(tmp_path):
    import json

    class TI:
        dag_id, task_id, run_id, try_number = "lake__provinces", "silver__provinces", "r1", 1

    assert "ended without raising an error" in callbacks.ended_without_error(callbacks.try_log(TI(), str(tmp_path)))
    log = tmp_path / "dag_id=lake__provinces" / "run_id=r1" / "task_id=silver__provinces" / "attempt=1.log"
    log.parent.mkdir(parents=True)
    records = [{"timestamp": "2026-11-20T01:00:00.000000Z", "event": "::group::Pre Execute", "level": "info"},
               {"timestamp": "2026-11-20T01:00:09.000000Z", "event": "::endgroup::", "level": "info"},
               # the same run id and try again after a reset: Airflow appends to the same file
               {"timestamp": "2026-11-27T05:30:01.000005Z", "event": "::group::Pre Execute", "level": "info"},
               {"timestamp": "2026-11-27T05:30:02.000000Z", "event": "::endgroup::", "level": "info"},
               {"event": "Process terminated by signal. Likely out of memory error (OOM).", "level": "critical",
                "signal": -9, "signal_name": "SIGKILL"}]  # as Airflow's task runner and supervisor write them
    log.write_text("\n".join(json.dumps(r) for r in records) + "\n")

    class Run:
        logical_date, run_after, run_id = None, dt.datetime(2026, 11, 27, 5, tzinfo=dt.timezone.utc), "r1"

    # the dag-processor's task instance has no start date: the row starts when the try's log says it did,
    # so a lost try's row comes before the retry's in the run log even when its callback runs last
    acc = callbacks.failure_row({"ti": TI(), "dag_run": Run()}, str(tmp_path))
    assert acc.error == ("airflow task lake__provinces.silver__provinces try 1 failed: the task process was killed by "
                         "SIGKILL (exit code -9; SIGKILL is often the out-of-memory killer)")
    assert acc.started_at == "2026-11-27T05:30:01.000005Z"


def test_lake_status_says_plainly_when_airflow_is_not_running():
    import os
    import socket
    import subprocess
    import sys

    from lakehouse.core.settings import REPO_ROOT

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = subprocess.run([sys.executable, "-m", "lakehouse.cli", "status", "--dags"], cwd=REPO_ROOT,
                            env={**os.environ, "LAKE_AIRFLOW_PORT": str(port)}, capture_output=True, text=True)
    assert result.returncode == 1
    assert f"Airflow is not running (http://127.0.0.1:{port} does not answer)" in result.stderr


def test_the_scheduler_imports_the_jobs_libraries_first_and_keeps_its_command_line_marker():
    from lakehouse.core.settings import get_settings
    from lakehouse.services.airflow_components import _airflow_services

    scheduler = next(s for s in _airflow_services(get_settings(), lambda: None) if s.name == "airflow-scheduler")
    command = scheduler.command()
    assert command[1:3] == ["-m", "lakehouse.orchestration.preload"]
    # a scheduler started before the preload (plain `airflow scheduler`) is still found, and stopped, by it
    assert scheduler.marker == "airflow scheduler" and scheduler.marker in " ".join(command)


def test_a_task_forked_from_the_scheduler_notices_our_files_that_changed_since_its_import(monkeypatch):
    import time

    from lakehouse.orchestration import jobtask, preload

    assert jobtask.stale_modules() == []  # this process was not forked from a preloaded scheduler
    held = frozenset({"lakehouse.orchestration.jobtask", "json"})  # ours, and the standard library's
    monkeypatch.setattr(preload, "HELD", held)
    monkeypatch.setattr(preload, "AT", time.time() + 60)
    assert jobtask.stale_modules() == []
    monkeypatch.setattr(preload, "AT", 0.0)  # imported before any file of ours was written
    assert jobtask.stale_modules() == ["lakehouse/orchestration/jobtask.py"]


def test_preload_refuses_a_command_that_is_not_airflows():
    import subprocess
    import sys

    from lakehouse.core.settings import REPO_ROOT

    result = subprocess.run([sys.executable, "-m", "lakehouse.orchestration.preload", "scheduler"], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 1 and "usage: python -m lakehouse.orchestration.preload" in result.stderr


def test_the_dag_test_runner_refuses_an_unknown_dag_before_running_any(capsys):
    from lakehouse.orchestration import dagtest

    assert dagtest.main(["2026-11-27", "lake__provinces", "lake__nope"]) == 2
    assert "error: no DAG lake__nope" in capsys.readouterr().err
    assert dagtest.main(["2026-11-27"]) == 2
