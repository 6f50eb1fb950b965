"""A source dataset's columns and where its rows come from (files, JDBC, a stream, documents, a built-in
connector)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from lakehouse.config.spec.base import DECIMAL_RE, NAME_RE, SIMPLE_TYPES, Strict


class Conform(Strict):
    """Codes that must exist in a master-data table (rows with unknown codes are quarantined)."""

    dataset: str = Field(pattern=NAME_RE, description="the master-data source dataset")
    column: str = Field(pattern=NAME_RE, description="its column holding the valid codes")


class Column(Strict):
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
    tcvn3_capitals: bool = Field(
        False, description="string: raise the small toned letters of words typed in a TCVN3 capital font "
                           "(NGUYễN → NGUYỄN); the rows changed are counted as a sạch warning")

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        value = value.strip().lower()
        if value in SIMPLE_TYPES or DECIMAL_RE.match(value):
            return value
        raise ValueError(f"unknown type {value!r}; use one of {', '.join(SIMPLE_TYPES)} or decimal(p,s)")

    @model_validator(mode="after")
    def _capitals_on_text(self) -> "Column":
        if self.tcvn3_capitals and self.type != "string":
            raise ValueError(f"tcvn3_capitals: repairs text, so only a string column takes it (this one is "
                             f"{self.type})")
        return self

    @property
    def source_field(self) -> str:
        return self.source or self.name


DOCUMENT_FIELDS = ("document_path", "size_bytes", "sha256", "media_type", "dossier_id")  # what a documents source gives
SourceKind = Literal["files", "jdbc", "stream", "documents", "builtin"]
FileFormat = Literal["csv", "jsonl", "parquet", "xlsx"]
Encoding = Literal["utf-8", "utf-8-sig", "windows-1258", "tcvn3", "vni", "viqr", "auto"]
LEGACY_ENCODINGS = ("tcvn3", "vni", "viqr")  # decoded by the platform (core.legacy_text), not by Spark
XLSX_ENCODINGS = ("utf-8", "tcvn3", "vni", "auto")  # xlsx: which legacy fonts' cells are decoded


class Source(Strict):
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
    encoding: Encoding = Field(
        "utf-8", description="csv: the text encoding (tcvn3, vni, viqr: legacy Vietnamese; auto: detected per "
                             "file); xlsx: tcvn3, vni or auto decode text cells in those fonts (.Vn*, VNI-*)")
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
        if self.format == "parquet" and self.encoding != "utf-8":
            raise ValueError("encoding: parquet files carry their own encoding; leave it as utf-8")
        if self.format == "xlsx" and self.encoding not in XLSX_ENCODINGS:
            raise ValueError(f"encoding: an xlsx workbook stores Unicode; only {', '.join(XLSX_ENCODINGS[1:])} "
                             f"apply (text cells in a legacy font), or leave it as utf-8")
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
