"""Airflow DAGs for every dataset in lake_config/ (one per dataset), maintenance and quality.

Thin on purpose: the DAGs are derived from the dataset specs by
lakehouse.orchestration.dags.  Adding a dataset needs a YAML file, not a DAG file.
"""

from lakehouse.orchestration.dags import build_all_dags

globals().update(build_all_dags())
