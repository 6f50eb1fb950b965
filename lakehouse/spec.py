"""Dataset specs: one YAML file per dataset in ``lake_config/datasets/<domain>/``.

A *source* dataset declares where its rows come from and their schema; the
platform derives its bronze and silver tables, its quality suite, its Airflow
tasks and its Trino tables from it.  A *gold* dataset declares the SQL that
builds a business table from silver ones.

Defaults are set per folder in ``_defaults.yaml`` and merged under each file of
that folder, so a value shared by a domain is written once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from lakehouse.errors import ConfigError, format_validation_error

NAME_RE = r"^[a-z][a-z0-9_]*$"
SIMPLE_TYPES = ("string", "int", "bigint", "double", "boolean", "date", "timestamp")
DECIMAL_RE = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")

Dimension = Literal["dung", "du", "sach", "song"]
Action = Literal["warn", "quarantine", "fail"]
Classification = Literal["open", "shared", "internal", "personal"]
CatalogName = Literal["open_data", "big_data", "master_shared"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Column(_Strict):
    """One column of the silver table."""

    name: str = Field(pattern=NAME_RE)
    type: str = Field(description="string, int, bigint, double, boolean, date, timestamp or decimal(p,s)")
    nullable: bool = True
    description: str = ""
    source: str | None = Field(None, description="field name in the source, when it differs from `name`")
    personal: bool = Field(False, description="holds personal data (masked for partners)")

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        value = value.strip().lower()
        if value in SIMPLE_TYPES or DECIMAL_RE.match(value):
            return value
        raise ValueError(f"unknown type {value!r}; use one of {', '.join(SIMPLE_TYPES)} or decimal(p,s)")

    @property
    def source_field(self) -> str:
        return self.source or self.name


class Source(_Strict):
    """How rows reach landing, and how landed files are read."""

    connector: str = Field("files", description="'files' (dropped into landing) or a built-in extractor")
    format: Literal["jsonl"] = Field("jsonl", description="JSON Lines; more formats come with the medallion engine")
    options: dict[str, Any] = Field(default_factory=dict)
    encoding: Literal["utf-8"] = "utf-8"


class Rule(_Strict):
    """A quality rule, tagged with its dimension and what happens when it fails."""

    check: Literal["not_null", "unique"]
    columns: list[str] = Field(min_length=1)
    dimension: Dimension
    action: Action = "fail"
    message: str = ""

    @property
    def rule_id(self) -> str:
        return f"{self.check}__{'__'.join(self.columns)}"


class _DatasetBase(_Strict):
    name: str = Field(pattern=NAME_RE)
    domain: str = Field(pattern=NAME_RE)
    description: str
    grain: str = Field(description="one sentence: what one row is")
    classification: Classification = "internal"
    catalogs: list[CatalogName] = Field(default_factory=list)
    schedule: str | None = Field(None, description="cron expression, or null for manual/asset-driven runs")


class SourceDataset(_DatasetBase):
    """A dataset read from a source into bronze and refined into silver."""

    layer: Literal["silver"] = "silver"
    source: Source
    columns: list[Column] = Field(min_length=1)
    keys: list[str] = Field(min_length=1)
    order_by: str | None = Field(None, description="column that says which duplicate is newest")
    load_mode: Literal["merge"] = "merge"
    quality: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_exist(self) -> "SourceDataset":
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"columns: duplicate column names {dupes}")
        for key in self.keys:
            if key not in names:
                raise ValueError(f"keys: {key!r} is not a declared column")
        if self.order_by and self.order_by not in names:
            raise ValueError(f"order_by: {self.order_by!r} is not a declared column")
        for i, rule in enumerate(self.quality):
            for col in rule.columns:
                if col not in names:
                    raise ValueError(f"quality[{i}].columns: {col!r} is not a declared column")
        return self

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def effective_rules(self) -> list[Rule]:
        """Declared rules plus the ones every key implies: not-null and unique."""
        rules = list(self.quality)
        have = {(r.check, tuple(r.columns)) for r in rules}
        for key in self.keys:
            if ("not_null", (key,)) not in have:
                rules.append(Rule(check="not_null", columns=[key], dimension="du", action="quarantine",
                                  message="key must not be empty"))
        if ("unique", tuple(self.keys)) not in have:
            rules.append(Rule(check="unique", columns=list(self.keys), dimension="sach", action="fail",
                              message="one row per key"))
        return rules


class GoldDataset(_DatasetBase):
    """A business table built from silver tables by SQL."""

    layer: Literal["gold"]
    depends_on: list[str] = Field(min_length=1, description="silver datasets the SQL reads, by name")
    sql: str = Field(description="Spark SQL; refer to each dependency by its name")
    keys: list[str] = Field(default_factory=list)


Dataset = Annotated[Union[SourceDataset, GoldDataset], Field(discriminator="layer")]
_dataset_adapter: TypeAdapter = TypeAdapter(Dataset)


def _deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields at the top level, got {type(data).__name__}")
    return data


def load_dataset_file(path: Path, defaults: dict | None = None) -> SourceDataset | GoldDataset:
    """Load and validate one spec file; errors name the file and the field."""
    raw = _deep_merge(defaults or {}, _read_yaml(path))
    model = GoldDataset if raw.get("layer") == "gold" else SourceDataset
    try:
        spec = model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, exc)) from exc
    if spec.name != path.stem:
        raise ConfigError(f"{path}: field 'name': {spec.name!r} must equal the file name {path.stem!r}")
    return spec


class Catalog:
    """Every dataset spec under one config directory, cross-checked."""

    def __init__(self, datasets: dict[str, SourceDataset | GoldDataset], files: dict[str, Path]):
        self.datasets = datasets
        self.files = files

    def __getitem__(self, name: str) -> SourceDataset | GoldDataset:
        try:
            return self.datasets[name]
        except KeyError:
            known = ", ".join(sorted(self.datasets)) or "none"
            raise ConfigError(f"no dataset named {name!r} in lake_config/datasets (known: {known})") from None

    def sources(self, domain: str | None = None) -> list[SourceDataset]:
        return [d for d in self.datasets.values()
                if isinstance(d, SourceDataset) and (domain is None or d.domain == domain)]

    def golds(self, domain: str | None = None) -> list[GoldDataset]:
        return [d for d in self.datasets.values()
                if isinstance(d, GoldDataset) and (domain is None or d.domain == domain)]

    @property
    def domains(self) -> list[str]:
        return sorted({d.domain for d in self.datasets.values()})


def load_catalog(config_dir: Path | None = None) -> Catalog:
    """Load every ``datasets/**/<name>.yaml``, merging each folder's ``_defaults.yaml``."""
    from lakehouse.settings import CONFIG_DIR

    root = Path(config_dir or CONFIG_DIR) / "datasets"
    if not root.is_dir():
        raise ConfigError(f"{root}: no datasets folder")
    datasets: dict[str, SourceDataset | GoldDataset] = {}
    files: dict[str, Path] = {}
    for path in sorted(root.rglob("*.yaml")):
        if path.name.startswith("_"):
            continue
        defaults: dict = {}
        for folder in reversed(path.relative_to(root).parents):  # outermost first
            candidate = root / folder / "_defaults.yaml"
            if candidate.exists():
                defaults = _deep_merge(defaults, _read_yaml(candidate))
        spec = load_dataset_file(path, defaults)
        if spec.name in datasets:
            raise ConfigError(f"{path}: field 'name': {spec.name!r} is already defined in {files[spec.name]}")
        datasets[spec.name] = spec
        files[spec.name] = path
    for name, spec in datasets.items():
        if isinstance(spec, GoldDataset):
            for i, dep in enumerate(spec.depends_on):
                if not isinstance(datasets.get(dep), SourceDataset):
                    raise ConfigError(f"{files[name]}: field 'depends_on[{i}]': {dep!r} is not a source dataset")
    return Catalog(datasets, files)


def json_schema() -> dict:
    """JSON Schema of a dataset spec file, for editors and `lake spec schema`."""
    return _dataset_adapter.json_schema()
