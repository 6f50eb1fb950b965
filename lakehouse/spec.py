"""Dataset specs: one YAML file per dataset in ``lake_config/datasets/<domain>/``.

A *source* dataset declares where its rows come from and their schema; the
platform derives its bronze and silver tables, its quality suite, its Airflow
tasks and its Trino tables from it.  A *gold* dataset declares the SQL that
builds a business table from silver ones.

Defaults are set per folder in ``_defaults.yaml`` and merged under each file of
that folder, so a value shared by a domain is written once.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from lakehouse.access import Grant, access_file, check_grants, load_access
from lakehouse.dimensions import DIMENSIONS
from lakehouse.durations import parse_duration
from lakehouse.errors import ConfigError, format_validation_error

NAME_RE = r"^[a-z][a-z0-9_]*$"
SIMPLE_TYPES = ("string", "int", "bigint", "double", "boolean", "date", "timestamp")
DECIMAL_RE = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")

Dimension = Literal[DIMENSIONS]  # type: ignore[valid-type]
Action = Literal["warn", "quarantine", "fail"]
Classification = Literal["open", "shared", "internal", "personal"]
CatalogName = Literal["open_data", "big_data", "master_shared"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Conform(_Strict):
    """Codes that must exist in a master-data table (rows with unknown codes are quarantined)."""

    dataset: str = Field(pattern=NAME_RE, description="the master-data source dataset")
    column: str = Field(pattern=NAME_RE, description="its column holding the valid codes")


class Column(_Strict):
    """One column of the silver table."""

    name: str = Field(pattern=NAME_RE)
    type: str = Field(description="string, int, bigint, double, boolean, date, timestamp or decimal(p,s)")
    nullable: bool = True
    description: str = ""
    source: str | None = Field(None, description="field name in the source, when it differs from `name`")
    personal: bool = Field(False, description="holds personal data (masked for partners)")
    number_format: Literal["plain", "vi"] = Field(
        "plain", description="'vi': '.' groups thousands and ',' is the decimal mark (1.234.567,5)")
    conform: Conform | None = Field(None, description="codes conformed to master data")

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


DOCUMENT_FIELDS = ("document_path", "size_bytes", "sha256", "media_type", "dossier_id")  # what a documents source gives
SourceKind = Literal["files", "jdbc", "stream", "documents", "builtin"]
FileFormat = Literal["csv", "jsonl", "parquet", "xlsx"]
Encoding = Literal["utf-8", "utf-8-sig", "windows-1258"]


class Source(_Strict):
    """Where rows come from, and how landed files are read.

    * ``files``: files dropped into ``landing/<dataset>/<date>/`` (by `lake ingest` or the source system).
    * ``jdbc``: a table of a relational database named in the environment's ``connections``;
      a full snapshot, or only rows whose ``watermark`` column grew since the last load.
    * ``stream``: JSON Lines files dropped continuously under ``landing/<dataset>/``,
      read by Spark Structured Streaming (available-now trigger, checkpointed).
    * ``documents``: binary files (PDF, scans); bronze keeps their metadata, not their bytes.
    * ``builtin``: an extractor shipped with the platform (``extractor``), landed as JSON Lines.
    """

    kind: SourceKind = "files"
    format: FileFormat = Field("jsonl", description="format of landed files (files, stream, builtin)")
    pattern: str = Field("*", description="glob of the landed files to read, relative to the date folder")
    encoding: Encoding = Field("utf-8", description="text encoding of csv/jsonl files")
    delimiter: str = Field(",", min_length=1, max_length=1, description="csv field separator")
    header_row: int = Field(1, ge=1, description="xlsx: the row (1-based) holding the column headers")
    sheet: str | None = Field(None, description="xlsx: the sheet to read (default: the first)")
    connection: str | None = Field(None, description="jdbc: a connection named in the environment file")
    table: str | None = Field(None, description="jdbc: schema.table to read")
    watermark: str | None = Field(None, description="jdbc: source column; only rows above the last load's maximum")
    event_time: str | None = Field(None, description="stream: the column holding when a reading was taken")
    late_after_minutes: int = Field(60, ge=0, description="stream: a row arriving later than this is counted late")
    dossier_id_pattern: str | None = Field(
        None, description="documents: regex with one group that finds the linked dossier id in the file path")
    extractor: str | None = Field(None, description="builtin: the extractor's name")
    options: dict[str, Any] = Field(default_factory=dict, description="builtin: the extractor's options")

    @model_validator(mode="after")
    def _fields_for_kind(self) -> "Source":
        need = {"jdbc": ["connection", "table"], "builtin": ["extractor"], "stream": ["event_time"]}
        for name in need.get(self.kind, []):
            if getattr(self, name) is None:
                raise ValueError(f"{name}: required when kind is {self.kind!r}")
        if self.kind == "stream" and self.format != "jsonl":
            raise ValueError("format: stream sources read JSON Lines only")
        if self.kind == "builtin" and self.format != "jsonl":
            raise ValueError("format: built-in extractors land JSON Lines")
        if self.format == "jsonl" and self.encoding != "utf-8":
            raise ValueError("encoding: JSON Lines are read as UTF-8; use csv for legacy encodings")
        if self.format in ("parquet", "xlsx") and self.encoding != "utf-8":
            raise ValueError(f"encoding: {self.format} files carry their own encoding; leave it as utf-8")
        if self.dossier_id_pattern is not None:
            try:
                if re.compile(self.dossier_id_pattern).groups != 1:
                    raise ValueError("dossier_id_pattern: needs exactly one (group)")
            except re.error as exc:
                raise ValueError(f"dossier_id_pattern: not a regular expression: {exc}") from None
        return self

    def matches(self, relative: str) -> bool:
        """Is a file at ``relative`` (its path under the date folder) one this source reads?

        ``pattern`` matches the whole relative path or the file's name alone.
        """
        import fnmatch

        name = relative.rsplit("/", 1)[-1]
        return fnmatch.fnmatch(relative, self.pattern) or fnmatch.fnmatch(name, self.pattern)


ROW_CHECKS = ("not_null", "range", "regex", "in_set", "reference",
              "cccd", "cmnd", "phone", "tax_code", "admin_unit", "nfc")   # judged on each row
TABLE_CHECKS = ("unique", "row_count")                                      # judged on the whole batch
VIETNAMESE_CHECKS = ("cccd", "cmnd", "phone", "tax_code", "admin_unit", "nfc")


# ---- range bounds: numbers, or on a date/timestamp column dates, timestamps and days relative to the run --------

_RELATIVE_RE = re.compile(r"^today(?:\s*([+-])\s*(\d+)\s*([dmy]))?$", re.IGNORECASE)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$",
                           re.IGNORECASE)
BOUND_FORMS = ("a number; or, on a date or timestamp column, a date (2000-01-01), a timestamp "
               "(2026-01-01 00:00:00, UTC unless it carries an offset) or a day relative to the day of the check: "
               "today, today-120y, today+30d, today-6m (d days, m months, y years)")
BoundValue = Union[float, dt.date, dt.datetime]


def _parse_bound(value: Any) -> tuple[str, Any]:
    """A bound as written → (kind, parsed): ``number`` float, ``date`` date, ``timestamp`` naive UTC datetime,
    or ``relative`` (amount, unit) for ``today±N(d|m|y)``.  The one place a bound's text is read."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a bound; write {BOUND_FORMS}")
    if isinstance(value, (int, float)):
        return "number", float(value)
    text = str(value).strip()
    relative = _RELATIVE_RE.match(text)
    if relative:
        sign, amount, unit = relative.groups()
        return "relative", ((-1 if sign == "-" else 1) * int(amount or 0), (unit or "d").lower())
    try:
        if _DATE_RE.match(text):
            return "date", dt.date.fromisoformat(text)
        if _TIMESTAMP_RE.match(text):
            stamp = dt.datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
            if stamp.tzinfo is not None:  # timestamps are kept in UTC
                stamp = stamp.astimezone(dt.timezone.utc).replace(tzinfo=None)
            return "timestamp", stamp
    except ValueError as exc:  # 2026-02-30, 25:00
        raise ValueError(f"{text!r} is not a real date or time ({exc}); write {BOUND_FORMS}") from None
    try:
        return "number", float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a bound; write {BOUND_FORMS}") from None


def _shift(day: dt.date, amount: int, unit: str) -> dt.date:
    """``day`` moved by ``amount`` days, months or years; a day the target month lacks becomes its last day
    (31 March - 1 month = 28/29 February; 29 February - 1 year = 28 February)."""
    try:
        if unit == "d":
            return day + dt.timedelta(days=amount)
        months = day.year * 12 + day.month - 1 + amount * (12 if unit == "y" else 1)
        year, month = divmod(months, 12)
        return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))
    except (ValueError, OverflowError):
        raise ValueError(f"{day.isoformat()} {'+' if amount >= 0 else '-'} {abs(amount)}{unit} is not a date "
                         "between the years 1 and 9999") from None


def bound_kind(value: float | str) -> str:
    """``number``, ``date`` (a date or a day relative to the check) or ``timestamp``: what a bound compares with."""
    kind, _ = _parse_bound(value)
    return "date" if kind == "relative" else kind


def resolve_bound(value: float | str, today: dt.date) -> BoundValue:
    """One ``min``/``max`` of a range rule → what values are compared with, on the day ``today``.

    A number → float; ``2000-01-01`` → that date; ``2026-01-01 00:00:00`` (``T`` or a space; an offset such as
    ``+07:00`` or ``Z`` is converted, else UTC) → a naive UTC datetime; ``today`` → ``today``,
    ``today-120y``/``today+30d``/``today-6m`` → that many years, days or months from it (see :func:`_shift`).
    Pure: ``today`` is the day of the run, passed in (see :func:`run_day`), never read from the clock.
    Anything else raises ValueError naming the text and the allowed forms.
    """
    kind, parsed = _parse_bound(value)
    if kind != "relative":
        return parsed
    if today is None:
        raise ValueError(f"{value!r} is relative to the day of the check; pass that day (today)")
    return _shift(today, *parsed)


def _canonical_bound(value: Any) -> float | str | None:
    """A bound as the model keeps it: a float, or the text of a date/timestamp/relative bound in one spelling.

    YAML reads an unquoted ``2000-01-01`` as a date and ``2026-01-01 00:00:00`` as a datetime: both are kept
    as text.  A number written as text (``"5"``) is a number, as it always was.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.isoformat(sep=" ")
    elif isinstance(value, dt.date):
        value = value.isoformat()
    kind, parsed = _parse_bound(value)
    if kind == "number":
        return parsed
    if kind == "date":
        return parsed.isoformat()
    if kind == "timestamp":
        return parsed.isoformat(sep=" ")
    amount, unit = parsed
    return "today" if amount == 0 else f"today{'-' if amount < 0 else '+'}{abs(amount)}{unit}"


def _day_bounds(low: BoundValue | None, high: BoundValue | None, timestamp: bool) -> tuple:
    """Compared with timestamps, a date bound is its whole day: ``min`` from 00:00, ``max`` to 23:59:59.999999."""
    if timestamp and type(low) is dt.date:
        low = dt.datetime.combine(low, dt.time.min)
    if timestamp and type(high) is dt.date:
        high = dt.datetime.combine(high, dt.time.max)
    return low, high


def run_day(at: str) -> dt.date:
    """The day of a run (UTC) from its timestamp ``at`` (ISO 8601, e.g. ``2026-12-02T09:30:00.000000Z``; without
    an offset it is UTC): what ``today`` means in the range rules of that run, so re-running a batch on the same
    day judges it the same way."""
    stamp = dt.datetime.fromisoformat(at.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(dt.timezone.utc)
    return stamp.date()


class Message(_Strict):
    """What a failed rule means, for the quality officer, in Vietnamese and in English."""

    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _quoted(cls, data: Any) -> Any:
        if isinstance(data, str):
            raise ValueError("give the message in both languages: {vi: ..., en: ...}")
        if isinstance(data, dict):
            stray = [k for k, v in data.items() if k not in ("vi", "en") and v is None]
            if stray:  # YAML read `{vi: A, B, en: C}` as the keys vi, "B" and en
                raise ValueError(f"{stray[0]!r} looks like the rest of a text cut at a comma: quote a text "
                                 f"with commas inside {{...}}, e.g. vi: \"Nam, Nữ\"")
        return data


class Reference(_Strict):
    """Master data whose codes a column's values must be among."""

    dataset: str = Field(pattern=NAME_RE, description="the master-data source dataset")
    column: str = Field(pattern=NAME_RE, description="its column holding the valid codes")


class Rule(_Strict):
    """A quality rule, tagged with its dimension and what happens when it fails.

    Row checks judge each row; a failing row is quarantined (``quarantine``),
    counted (``warn``) or stops the batch from being published (``fail``).
    Table checks (``unique``, ``row_count``) judge the whole batch, so their
    action is ``warn`` or ``fail``.
    """

    id: str | None = Field(None, pattern=NAME_RE, description="rule id; default <check>__<columns>")
    check: Literal[ROW_CHECKS + TABLE_CHECKS]  # type: ignore[valid-type]
    columns: list[str] = Field(default_factory=list)
    dimension: Dimension
    action: Action = "fail"
    message: Message
    min: float | str | None = Field(
        None, description="range: smallest allowed value (a number; on a date or timestamp column a date, a "
                          "timestamp or today±N d/m/y, e.g. today-120y); row_count: fewest rows")
    max: float | str | None = Field(
        None, description="range: largest allowed value (as min, e.g. today); row_count: most rows")
    pattern: str | None = Field(None, description="regex: a regular expression the value must match (anywhere in it: "
                                                   "anchor with ^…$ for the whole value), in the syntax Java "
                                                   "(Spark) and Python (a batch audited on pandas) share")
    values: list[str | int | float] | None = Field(None, description="in_set: the allowed values")
    reference: Reference | None = Field(None, description="reference: master data holding the valid codes")
    max_change_pct: float | None = Field(
        None, ge=0, description="row_count: most the batch may differ from the previous published one, in %")
    at: str | None = Field(None, description="admin_unit: date column the code must be valid at")
    level: Literal["province", "commune", "any"] = Field("any", description="admin_unit: which level of unit")

    @field_validator("min", "max", mode="before")
    @classmethod
    def _bound(cls, value: Any) -> float | str | None:
        return _canonical_bound(value)

    @model_validator(mode="after")
    def _options_fit_check(self) -> "Rule":
        need = {"range": ("min", "max"), "regex": ("pattern",), "in_set": ("values",),
                "reference": ("reference",), "row_count": ("min", "max", "max_change_pct")}
        if self.check in need and all(getattr(self, f) is None for f in need[self.check]):
            raise ValueError(f"{self.check}: give {' or '.join(need[self.check])}")
        own = {f for fields in need.values() for f in fields} | {"at"}
        allowed = set(need.get(self.check, ())) | ({"at"} if self.check == "admin_unit" else set())
        stray = sorted(f for f in own - allowed if getattr(self, f) is not None)
        if stray:
            raise ValueError(f"{self.check}: {', '.join(stray)} do not apply to this check")
        if self.check == "row_count":
            if self.columns:
                raise ValueError("row_count: takes no columns")
        elif not self.columns:
            raise ValueError(f"{self.check}: columns must name at least one column")
        if self.check in TABLE_CHECKS and self.action == "quarantine":
            raise ValueError(f"{self.check} judges the whole batch, so its action is warn or fail, not quarantine")
        if self.check == "cccd" and len(self.columns) not in (1, 3):
            raise ValueError("cccd: columns is [id] or [id, date_of_birth, sex]")
        if self.check in VIETNAMESE_CHECKS + ("reference",) and self.check != "cccd" and len(self.columns) != 1:
            raise ValueError(f"{self.check}: takes one column")
        if self.level != "any" and self.check != "admin_unit":
            raise ValueError(f"{self.check}: level applies to admin_unit only")
        if self.check == "regex":
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"regex: pattern is not a regular expression: {exc}") from None
        bounds = {side: getattr(self, side) for side in ("min", "max") if getattr(self, side) is not None}
        kinds = {side: bound_kind(value) for side, value in bounds.items()}
        if self.check == "row_count" and any(kind != "number" for kind in kinds.values()):
            raise ValueError("row_count: min and max are numbers of rows, not "
                             + ", ".join(map(repr, bounds.values())))
        if len({kind == "number" for kind in kinds.values()}) > 1:
            raise ValueError(f"{self.check}: min {self.min!r} is a {kinds['min']} but max {self.max!r} is a "
                             f"{kinds['max']}; give both as numbers or both as dates/timestamps")
        if len(bounds) == 2 and not any(_RELATIVE_RE.match(str(v)) for v in bounds.values()):
            low, high = _day_bounds(resolve_bound(self.min, None), resolve_bound(self.max, None),
                                    "timestamp" in kinds.values())
            if low > high:
                raise ValueError(f"{self.check}: min {self.min!r} is above max {self.max!r}")
        return self

    @property
    def rule_id(self) -> str:
        if self.id:
            return self.id
        if self.check == "row_count":
            return "row_count"
        judged = self.columns[:1] if self.check == "cccd" else self.columns
        return f"{self.check}__{'__'.join(judged)}"

    def per_column(self) -> list["Rule"]:
        """A not-null, range, regex or value-set rule over several columns is one rule per column."""
        if self.check in ("not_null", "range", "regex", "in_set") and len(self.columns) > 1:
            return [self.model_copy(update={"columns": [c], "id": f"{self.id}__{c}" if self.id else None})
                    for c in self.columns]
        return [self]

    @property
    def row_level(self) -> bool:
        return self.check in ROW_CHECKS


class Freshness(_Strict):
    """sống: how current the dataset must be. Checked after each load and on a schedule."""

    column: str | None = Field(None, description="event-time column; default source.event_time")
    event_max_age: str | None = Field(None, description="newest event at most this old, e.g. 2h")
    load_max_age: str | None = Field(None, description="last successful load at most this old, e.g. 1d")

    @model_validator(mode="after")
    def _durations(self) -> "Freshness":
        if self.event_max_age is None and self.load_max_age is None:
            raise ValueError("give event_max_age, load_max_age or both")
        for name in ("event_max_age", "load_max_age"):
            if getattr(self, name) is not None:
                try:
                    parse_duration(getattr(self, name))
                except ValueError as exc:
                    raise ValueError(f"{name}: {exc}") from None
        return self


class Maintenance(_Strict):
    """Table upkeep: compaction (with Z-order) and removal of unreferenced files."""

    zorder_by: list[str] = Field(default_factory=list, description="columns to cluster files by in OPTIMIZE")
    vacuum_retain_hours: int = Field(168, ge=0, description="keep files no longer referenced for this long")


# ---- catalog entry (DCAT-AP): what the national data portal shows of a dataset -------------------

Theme = Literal["AGRI", "ECON", "EDUC", "ENER", "ENVI", "GOVE", "HEAL", "INTR", "JUST", "REGI", "SOCI", "TECH",
                "TRAN"]   # the EU data-theme vocabulary DCAT-AP uses for dcat:theme
LICENSES = {  # SPDX id → the licence's IRI (dct:license); any other licence is given as its http(s) IRI
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "ODbL-1.0": "https://opendatacommons.org/licenses/odbl/1-0/",
    "PDDL-1.0": "https://opendatacommons.org/licenses/pddl/1-0/",
}
_EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def check_license(value: str) -> str:
    """An SPDX id from :data:`LICENSES` or an http(s) IRI."""
    if value in LICENSES or re.match(r"^https?://\S+$", value):
        return value
    raise ValueError(f"{value!r} is neither a known SPDX id ({', '.join(LICENSES)}) nor an http(s) IRI")


class Text(_Strict):
    """A short text in Vietnamese and in English (a catalog title)."""

    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Keywords(_Strict):
    """Search words of the catalog entry, per language."""

    vi: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)


class Contact(_Strict):
    """Who answers questions about a dataset (dcat:contactPoint)."""

    name: str = Field(min_length=1)
    email: str = Field(pattern=_EMAIL_RE)
    url: str | None = Field(None, pattern=r"^https?://\S+$")


class _DatasetBase(_Strict):
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
                _check_range_columns(f"quality[{i}]", rule, types)
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


def _is_number(type_: str) -> bool:
    return type_ in ("int", "bigint", "double") or type_.startswith("decimal")


def _check_range_columns(where: str, rule: Rule, types: dict[str, str]) -> None:
    """A range judges number, date or timestamp columns, with bounds of the column's kind."""
    wrong = [c for c in rule.columns if not (_is_number(types[c]) or types[c] in ("date", "timestamp"))]
    if wrong:
        raise ValueError(f"{where}: a range needs number, date or timestamp columns; "
                         f"{', '.join(f'{c} is {types[c]}' for c in wrong)}")
    for one in rule.per_column():
        column = one.columns[0]
        type_ = types[column]
        for side in ("min", "max"):
            value = getattr(one, side)
            if value is None:
                continue
            kind = bound_kind(value)
            if _is_number(type_) and kind != "number":
                problem = "give a number"
            elif type_ in ("date", "timestamp") and kind == "number":
                problem = "give a date (2000-01-01), a timestamp (2026-01-01 00:00:00) or today±N d/m/y (today-120y)"
            elif type_ == "date" and kind == "timestamp":
                problem = "give a date (2000-01-01) or today±N d/m/y: a date has no time of day"
            else:
                continue
            raise ValueError(f"{where}.{side}: rule {one.rule_id}: {value!r} is a {kind} but {column} is {type_}; "
                             f"{problem}")


def range_bounds(rule: Rule, column_type: str, today: dt.date | None) -> tuple[BoundValue | None, BoundValue | None]:
    """A range rule's (min, max) for its column of ``column_type``, on the day of the check ``today``.

    Numbers for a number column (``rule.min``/``rule.max`` as they are); dates for a date column; datetimes for
    a timestamp column, where a date bound is the whole day: ``min`` from its 00:00, ``max`` to its last
    microsecond (23:59:59.999999), so ``max: today`` lets through everything stamped today.  Both engines,
    the Spark pass and Great Expectations, compare with these.  Raises ValueError when, on ``today``, ``min``
    comes after ``max`` (possible when one of them is relative).
    """
    low, high = _day_bounds(None if rule.min is None else resolve_bound(rule.min, today),
                            None if rule.max is None else resolve_bound(rule.max, today), column_type == "timestamp")
    if low is not None and high is not None and low > high:
        raise ValueError(f"rule {rule.rule_id}: on {today}, min {rule.min} is {low} and max {rule.max} is {high}: "
                         "no value can be in between")
    return low, high


class Incremental(_Strict):
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
    from lakehouse import yamlfile

    return yamlfile.read_mapping(path)


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


_catalogs: dict[tuple, "Catalog"] = {}


def load_catalog(config_dir: Path | None = None) -> Catalog:
    """Load every ``datasets/**/<name>.yaml``, merging each folder's ``_defaults.yaml``.

    ``LAKE_DATASETS_DIR`` points at another datasets folder (tests and benchmarks
    use their own specs with the same environments).
    """
    import os

    from lakehouse.settings import CONFIG_DIR

    if config_dir is None and os.environ.get("LAKE_DATASETS_DIR"):
        root = Path(os.environ["LAKE_DATASETS_DIR"])
    else:
        root = Path(config_dir or CONFIG_DIR) / "datasets"
    if not root.is_dir():
        raise ConfigError(f"{root}: no datasets folder")
    other = sorted(root.rglob("*.yml"))
    if other:  # a spec that is never loaded is a dataset that silently does not exist
        raise ConfigError(f"{other[0]}: spec files end in .yaml; rename it to {other[0].with_suffix('.yaml').name}")
    access_dir = None if config_dir is None else Path(config_dir)  # access.yaml: beside datasets/ of config_dir
    # one parse per process while no file changes (a `lake run` step or a job asks several times)
    stamp = (str(root), str(access_dir), *[(str(p), p.stat().st_mtime_ns, p.stat().st_size)
                                          for p in sorted(root.rglob("*.yaml")) + [access_file(access_dir)]
                                          if p.exists()])
    if stamp in _catalogs:
        return _catalogs[stamp]
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
        if isinstance(spec, SourceDataset):
            for i, col in enumerate(spec.columns):
                if col.conform is not None:
                    _check_master(datasets, f"{files[name]}: field 'columns[{i}].conform", col.conform)
            for i, rule in enumerate(spec.quality):
                if rule.reference is not None:
                    _check_master(datasets, f"{files[name]}: field 'quality[{i}].reference", rule.reference)
        if isinstance(spec, GoldDataset):
            for i, dep in enumerate(spec.depends_on):
                if not isinstance(datasets.get(dep), SourceDataset):
                    raise ConfigError(f"{files[name]}: field 'depends_on[{i}]': {dep!r} is not a source dataset")
    check_grants(datasets, files, load_access(access_dir), access_file(access_dir))
    _catalogs.clear()  # only the newest state of the files is worth keeping
    _catalogs[stamp] = Catalog(datasets, files)
    return _catalogs[stamp]


def _check_master(datasets: dict, where: str, ref: Conform | Reference) -> None:
    """A conform or reference names a source dataset and one of its columns."""
    master = datasets.get(ref.dataset)
    if not isinstance(master, SourceDataset):
        raise ConfigError(f"{where}.dataset': {ref.dataset!r} is not a source dataset")
    if ref.column not in [c.name for c in master.columns]:
        raise ConfigError(f"{where}.column': {ref.dataset} has no column {ref.column!r}")


def json_schema() -> dict:
    """JSON Schema of a dataset spec file, for editors and `lake spec schema`."""
    return _dataset_adapter.json_schema()
