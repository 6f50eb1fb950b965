"""The two kinds of dataset: a source (bronze → silver, its rules and grants) and a gold table (SQL over silver)."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, TypeAdapter, field_validator, model_validator

from lakehouse.config.access import Grant
from lakehouse.config.spec.base import CatalogName, Classification, NAME_RE, Strict
from lakehouse.config.spec.entry import Contact, ContributedBy, Keywords, Text, Theme, check_license
from lakehouse.config.spec.rules import Freshness, Message, Reference, Rule, check_range_columns
from lakehouse.config.spec.sources import Column, DOCUMENT_FIELDS, Source


class Maintenance(Strict):
    """Table upkeep: compaction (with Z-order) and removal of unreferenced files."""

    zorder_by: list[str] = Field(default_factory=list, description="columns to cluster files by in OPTIMIZE")
    vacuum_retain_hours: int = Field(168, ge=0, description="keep files no longer referenced for this long")


class _DatasetBase(Strict):
    name: str = Field(pattern=NAME_RE)
    domain: str = Field(pattern=NAME_RE)
    description: str
    grain: str = Field(description="one sentence: what one row is")
    classification: Classification = "internal"
    catalogs: list[CatalogName] = Field(default_factory=list)
    title: Text | None = Field(None, description="catalog title {vi, en}; required when `catalogs` is not empty")
    description_vi: str | None = Field(
        None, description="the description in Vietnamese (`description` is the English one); required in a catalog")
    keywords: Keywords = Field(default_factory=Keywords, description="catalog search words {vi: [...], en: [...]}")
    themes: list[Theme] = Field(default_factory=list, description="EU data themes, e.g. GOVE, ENVI, REGI")
    license: str | None = Field(
        None, description="SPDX id or licence IRI; open data defaults to `license` in lake_config/catalogs.yaml")
    contact: Contact | None = Field(
        None, description="contact point; default `contact` in lake_config/catalogs.yaml")
    contributed_by: ContributedBy | None = Field(
        None, description="a contributed dataset's provenance (written when a steward approves the contribution)")
    schedule: str | None = Field(None, description="cron expression, or null for manual/asset-driven runs")
    grants: list[Grant] = Field(default_factory=list,
                                description="who else reads this table: partners (gold only) and groups of access.yaml")

    @field_validator("license")
    @classmethod
    def _known_license(cls, value: str | None) -> str | None:
        return None if value is None else check_license(value)

    @model_validator(mode="after")
    def _catalog_entry(self) -> "_DatasetBase":
        if len(set(self.catalogs)) != len(self.catalogs):
            raise ValueError("catalogs: names a catalog twice")
        if self.catalogs and self.title is None:
            raise ValueError(f"title: required when the dataset is in a catalog ({', '.join(self.catalogs)}); "
                             "give {vi: ..., en: ...}")
        if self.catalogs and not (self.description_vi or "").strip():
            raise ValueError(f"description_vi: required when the dataset is in a catalog "
                             f"({', '.join(self.catalogs)}): the portal shows the description in Vietnamese")
        if "open_data" in self.catalogs and self.classification != "open":
            raise ValueError(f"catalogs: open_data lists only datasets with classification: open "
                             f"(this one is {self.classification!r})")
        personal = [c.name for c in getattr(self, "columns", []) if c.personal]
        if self.classification == "open" and personal:
            raise ValueError(f"classification: an open dataset cannot hold personal data "
                             f"(personal columns: {', '.join(personal)})")
        return self


class SourceDataset(_DatasetBase):
    """A dataset read from a source into bronze and refined into silver."""

    layer: Literal["silver"] = "silver"
    source: Source
    columns: list[Column] = Field(min_length=1)
    keys: list[str] = Field(min_length=1)
    order_by: str | None = Field(None, description="column that says which duplicate is newest")
    load_mode: Literal["append", "merge", "scd2", "snapshot"] = Field(
        "merge", description="append: insert new keys only; merge: upsert on keys; scd2: keep history "
                            "(valid_from, valid_to, is_current); snapshot: the batch is the whole table")
    partition_by: list[str] = Field(default_factory=list)
    maintenance: Maintenance = Field(default_factory=Maintenance)
    quality: list[Rule] = Field(default_factory=list)
    freshness: Freshness | None = None

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
        for field, cols in (("partition_by", self.partition_by), ("maintenance.zorder_by", self.maintenance.zorder_by)):
            for col in cols:
                if col not in names:
                    raise ValueError(f"{field}: {col!r} is not a declared column")
        if self.source.kind == "documents":
            for i, col in enumerate(self.columns):
                if col.source_field not in DOCUMENT_FIELDS:
                    raise ValueError(f"columns[{i}]: a documents source gives only {', '.join(DOCUMENT_FIELDS)}; "
                                     f"{col.source_field!r} is none of them")
        if self.source.event_time and self.source.event_time not in names:
            raise ValueError(f"source.event_time: {self.source.event_time!r} is not a declared column")
        if self.load_mode == "scd2" and {"valid_from", "valid_to", "is_current"} & set(names):
            raise ValueError("columns: valid_from, valid_to and is_current are added by load_mode scd2")
        types = {c.name: c.type for c in self.columns}
        ids: dict[str, int] = {}
        for i, rule in enumerate(self.quality):
            for col in rule.columns + ([rule.at] if rule.at else []):
                if col not in names:
                    raise ValueError(f"quality[{i}].columns: {col!r} is not a declared column")
            if rule.check == "range":
                check_range_columns(f"quality[{i}]", rule, types)
            if rule.at and types[rule.at] not in ("date", "timestamp"):
                raise ValueError(f"quality[{i}].at: {rule.at} is {types[rule.at]}, not a date or timestamp")
            for one in rule.per_column():
                if one.rule_id in ids:
                    raise ValueError(f"quality[{i}]: rule id {one.rule_id!r} is also quality[{ids[one.rule_id]}]; "
                                     f"give one of them an id")
                ids[one.rule_id] = i
            if rule.check == "not_null" and rule.action == "warn" and set(rule.columns) & set(self.keys):
                raise ValueError(f"quality[{i}]: a key is always required; its not_null rule may quarantine or "
                                 f"fail, not warn")
        if self.freshness and self.freshness.event_max_age:
            column = self.freshness.column or self.source.event_time
            if column is None:
                raise ValueError("freshness.event_max_age: name freshness.column (there is no source.event_time)")
            if column not in names or types[column] not in ("date", "timestamp"):
                raise ValueError(f"freshness.column: {column!r} is not a declared date or timestamp column")
        return self

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def freshness_column(self) -> str | None:
        if self.freshness is None or self.freshness.event_max_age is None:
            return None
        return self.freshness.column or self.source.event_time

    def counted_by_dedupe(self, rule: Rule) -> bool:
        """The implied one-row-per-key rule: the de-duplication pass counts it (the rows it collapses),
        so the audit does not pay a second shuffle of the batch for it.  A declared one goes to the suite."""
        declared = any(r.check == "unique" and r.columns == list(self.keys) for r in self.quality)
        return rule.check == "unique" and rule.columns == list(self.keys) and not declared

    @property
    def effective_rules(self) -> list[Rule]:
        """Declared rules plus the ones the schema implies.

        A declared rule over several columns counts once per column (see
        :meth:`Rule.per_column`).  Every key and non-nullable column must not be empty (quarantine); every
        conformed column must hold a known master code (quarantine); duplicate
        keys in a batch are counted against sạch (warn; they are collapsed).
        """
        rules = [r for rule in self.quality for r in rule.per_column()]
        have = {(r.check, tuple(r.columns)) for r in rules}
        for col in self.columns:
            if (not col.nullable or col.name in self.keys) and ("not_null", (col.name,)) not in have:
                rules.append(Rule(check="not_null", columns=[col.name], dimension="du", action="quarantine",
                                  message=Message(vi=f"{col.name}: bắt buộc, không được để trống",
                                                  en=f"{col.name}: required, must not be empty")))
            if col.conform and ("reference", (col.name,)) not in have:
                ref = f"{col.conform.dataset}.{col.conform.column}"
                rules.append(Rule(id=f"conform__{col.name}", check="reference", columns=[col.name],
                                  dimension="dung", action="quarantine",
                                  reference=Reference(dataset=col.conform.dataset, column=col.conform.column),
                                  message=Message(vi=f"{col.name}: mã không có trong danh mục {ref}",
                                                  en=f"{col.name}: code not found in master data {ref}")))
        if ("unique", tuple(self.keys)) not in have:
            rules.append(Rule(check="unique", columns=list(self.keys), dimension="sach", action="warn",
                              message=Message(vi="Mỗi khoá chỉ có một dòng trong lô; dòng trùng được gộp",
                                              en="One row per key in a batch; duplicates are collapsed")))
        return rules


class Incremental(Strict):
    """How a gold table is rebuilt in part: which partitions a changed silver row touches."""

    column: str = Field(pattern=NAME_RE, description="the gold partition column")
    source: str = Field(pattern=NAME_RE, description="the silver dependency whose changes drive the rebuild")
    expression: str = Field(description="Spark SQL over that silver table giving the partition value of a row")


class GoldDataset(_DatasetBase):
    """A business table built from silver tables by SQL."""

    layer: Literal["gold"]
    depends_on: list[str] = Field(min_length=1, description="silver datasets the SQL reads, by name")
    sql: str = Field(description="Spark SQL; refer to each dependency by its name")
    keys: list[str] = Field(default_factory=list)
    partition_by: list[str] = Field(default_factory=list)
    incremental: Incremental | None = Field(
        None, description="rebuild only the partitions the changed silver rows fall in")
    maintenance: Maintenance = Field(default_factory=Maintenance)

    @model_validator(mode="after")
    def _incremental_fits(self) -> "GoldDataset":
        if self.incremental:
            if self.incremental.source not in self.depends_on:
                raise ValueError(f"incremental.source: {self.incremental.source!r} is not in depends_on")
            if self.incremental.column not in self.partition_by:
                raise ValueError(f"incremental.column: {self.incremental.column!r} must be in partition_by")
        return self


Dataset = Annotated[Union[SourceDataset, GoldDataset], Field(discriminator="layer")]
DATASET_ADAPTER: TypeAdapter = TypeAdapter(Dataset)
