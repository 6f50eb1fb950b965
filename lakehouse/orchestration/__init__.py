"""Orchestration layer: the Airflow DAGs built from the specs, their callbacks and Airflow's
configuration; `lake run`'s in-process pipeline.

Each module, what it imports and the layer rules: lakehouse/README.md.
"""
