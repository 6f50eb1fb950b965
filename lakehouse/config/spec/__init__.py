"""Dataset specs: one YAML file per dataset in ``lake_config/datasets/<domain>/``.

A *source* dataset declares where its rows come from and their schema; the
platform derives its bronze and silver tables, its quality suite, its Airflow
tasks and its Trino tables from it.  A *gold* dataset declares the SQL that
builds a business table from silver ones.

Defaults are set per folder in ``_defaults.yaml`` and merged under each file of
that folder, so a value shared by a domain is written once.

One module per part of a spec: :mod:`.base` (names, types, the strict base), :mod:`.sources`
(columns, where rows come from), :mod:`.bounds` (range bounds, relative days), :mod:`.rules`
(quality rules, freshness), :mod:`.entry` (the DCAT catalog entry), :mod:`.datasets` (source and
gold datasets), :mod:`.loader` (reading ``lake_config/``).  Callers import from ``lakehouse.config.spec``.
"""

from lakehouse.config.spec.base import (NAME_RE, SIMPLE_TYPES, DECIMAL_RE, Dimension, Action, Classification,
                                        CatalogName, Strict)
from lakehouse.config.spec.bounds import (RELATIVE_RE, BOUND_FORMS, BoundValue, bound_kind, resolve_bound,
                                          canonical_bound, day_bounds, run_day)
from lakehouse.config.spec.sources import (Conform, Column, DOCUMENT_FIELDS, SourceKind, FileFormat, Encoding, Source,
                                           LEGACY_ENCODINGS, XLSX_ENCODINGS)
from lakehouse.config.spec.rules import (ROW_CHECKS, TABLE_CHECKS, VIETNAMESE_CHECKS, Message, Reference, Rule,
                                         Freshness, check_range_columns, range_bounds)
from lakehouse.config.spec.entry import (Theme, LICENSES, check_license, Text, Keywords, Contact, ContributedBy)
from lakehouse.config.spec.datasets import (Maintenance, SourceDataset, Incremental, GoldDataset, Dataset)
from lakehouse.config.spec.loader import (load_dataset_file, Specs, load_specs, json_schema)

__all__ = [
    "NAME_RE", "SIMPLE_TYPES", "DECIMAL_RE", "Dimension", "Action", "Classification", "CatalogName", "Strict",
    "RELATIVE_RE", "BOUND_FORMS", "BoundValue", "bound_kind", "resolve_bound", "canonical_bound", "day_bounds",
    "run_day", "Conform", "Column", "DOCUMENT_FIELDS", "SourceKind", "FileFormat", "Encoding", "Source",
    "LEGACY_ENCODINGS", "XLSX_ENCODINGS", "ROW_CHECKS", "TABLE_CHECKS", "VIETNAMESE_CHECKS", "Message", "Reference",
    "Rule", "Freshness", "check_range_columns", "range_bounds", "Theme", "LICENSES", "check_license", "Text",
    "Keywords", "Contact", "ContributedBy", "Maintenance", "SourceDataset", "Incremental", "GoldDataset", "Dataset",
    "load_dataset_file", "Specs", "load_specs", "json_schema",
]
