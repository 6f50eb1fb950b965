"""Airflow DAGs for every domain in lake_config/ (one DAG per domain).

Thin on purpose: the task graph is derived from the dataset specs by
lakehouse.orchestration.  Adding a dataset needs a YAML file, not a DAG file.
"""

from lakehouse.orchestration import build_all_dags

globals().update(build_all_dags())
