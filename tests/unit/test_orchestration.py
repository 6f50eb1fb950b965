"""The DAG generated from lake_config: it imports, and its graph is the one the specs imply."""

from lakehouse.orchestration import QUALITY_DAG, build_all_dags, dag_id
from lakehouse.spec import load_catalog


def test_one_dag_per_domain_with_the_expected_graph():
    dags = build_all_dags()
    assert set(dags) == {dag_id(d) for d in load_catalog().domains} | {QUALITY_DAG}
    dag = dags["lake__admin_units"]
    up = {t.task_id: set(t.upstream_task_ids) for t in dag.tasks}
    assert up["land__provinces"] == set()
    assert up["bronze__communes"] == {"land__communes"}
    assert up["silver__communes"] == {"bronze__communes"}
    assert up["publish__communes"] == {"silver__communes"}
    assert up["gold__commune_counts_by_province"] == {"silver__provinces", "silver__communes"}
    assert up["publish__commune_counts_by_province"] == {"gold__commune_counts_by_province"}
    assert dag.max_active_runs == 1


def test_tasks_run_job_entry_points_for_the_logical_date():
    dag = build_all_dags()["lake__admin_units"]
    command = dag.get_task("silver__communes").bash_command
    assert "-m jobs.silver --dataset communes --date {{ ds }}" in command


def test_dag_file_imports_without_errors():
    from airflow.dag_processing.dagbag import DagBag

    from lakehouse.settings import REPO_ROOT

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    assert "lake__admin_units" in bag.dag_ids


def test_the_quality_dag_checks_freshness_of_every_dataset_with_an_sla_then_builds_the_site():
    dag = build_all_dags()[QUALITY_DAG]
    with_sla = {s.name for s in load_catalog().sources() if s.freshness}
    assert with_sla and {t.task_id for t in dag.tasks} == {f"freshness__{n}" for n in with_sla} | {"quality_site"}
    site = dag.get_task("quality_site")
    assert {t.task_id for t in site.upstream_list} == {f"freshness__{n}" for n in with_sla}
    assert "-m jobs.freshness --dataset" in dag.get_task(f"freshness__{sorted(with_sla)[0]}").bash_command
