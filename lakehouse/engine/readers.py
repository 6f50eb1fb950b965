"""Landed files → rows for bronze: one reader per source format.

Every reader returns the same *parsed* shape, which bronze then splits:

* one string column per declared source field (NULL when a file lacks it),
* ``_rescued_data``: a JSON object of the fields the spec does not declare,
* ``_parse_error``: why a record could not be read (NULL when it could),
* ``_raw``: the record as read, kept for quarantine,
* ``_source_file``: the landed object the record came from.

Readers take the files as ``s3a://`` URIs and a ``fetch(uri, length)`` function
for the few bytes a reader must see itself (a CSV header, an Excel workbook), so
they never build clients or look at the environment.

Spark has no codec for the legacy Vietnamese encodings (TCVN3, VNI, VIQR), so a CSV
in one of them (or one ``encoding: auto`` found in anything but UTF-8) is read from
a UTF-8 copy bronze writes beside landing (``copies``: landed URI → copy URI); its
rows still name the landed file.  Excel cells in a legacy font are decoded here.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from lakehouse.config.spec import DOCUMENT_FIELDS, SourceDataset
from lakehouse.core.errors import LakeError
from lakehouse.engine.filecheck import HEADER_LIMIT, csv_header, sheet_header
from lakehouse.engine.filecheck.encodings import cell_decoder, row_values
from lakehouse.engine.transforms import parse_json_lines

Fetch = Callable[[str, int | None], bytes]
# Python codec → Java charset, for Spark's CSV reader
JAVA_CHARSET = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "windows-1258": "windows-1258"}
HEADER_BYTES = HEADER_LIMIT  # what file checks accept as a header line


def source_fields(spec: SourceDataset) -> list[str]:
    return sorted({c.source_field for c in spec.columns})


def _source_path() -> F.Column:
    # _metadata.file_path is URL-encoded; decode it so it matches the key we listed
    return F.url_decode(F.col("_metadata.file_path"))


def shape(df: DataFrame, fields: list[str], present: list[str]) -> DataFrame:
    """Declared fields as strings (NULL when absent), the rest as ``_rescued_data`` JSON."""
    extras = [c for c in present if c not in fields]
    if extras:
        pairs = F.map_filter(F.create_map(*[x for c in extras for x in (F.lit(c), F.col(f"`{c}`").cast("string"))]),
                             lambda k, v: v.isNotNull())
        rescued = F.when(F.size(pairs) > 0, F.to_json(pairs))
    else:
        rescued = F.lit(None).cast("string")
    keep = [c for c in ("_parse_error", "_raw", "_source_file", "_row_number") if c in df.columns]
    return df.select(
        *[(F.col(f"`{f}`").cast("string") if f in present else F.lit(None).cast("string")).alias(f) for f in fields],
        rescued.alias("_rescued_data"),
        *[F.col(c) for c in keep],
    )


# ---- CSV ------------------------------------------------------------------------

def spark_encoding(encoding: str) -> str:
    """The encoding Spark reads a spec's CSV files in: the legacy ones and ``auto`` reach it as UTF-8 (a copy
    when the file is not UTF-8 already)."""
    return encoding if encoding in JAVA_CHARSET else "utf-8"


def read_csv(spark: SparkSession, spec: SourceDataset, files: list[str], fetch: Fetch,
             copies: dict[str, str] | None = None) -> DataFrame:
    """CSV files with a header line, in the spec's encoding and delimiter.

    Files are grouped by header, so a file with new or reordered columns is read by
    name; a line whose field count does not match its header is a parse error.
    ``copies``: the UTF-8 copy Spark reads instead of a landed file (``_source_file``
    still names the landed one).
    """
    src = spec.source
    copies = copies or {}
    encoding = spark_encoding(src.encoding)
    groups: dict[tuple[str, ...], list[str]] = {}
    for uri in files:
        read = copies.get(uri, uri)
        try:
            header = csv_header(fetch(read, HEADER_BYTES), "utf-8" if read != uri else encoding, src.delimiter)
        except LakeError as exc:
            raise LakeError(f"{uri}: {exc}") from None
        groups.setdefault(tuple(header), []).append(uri)
    fields = source_fields(spec)
    landed = {copy: uri for uri, copy in copies.items() if uri in files}
    copied_from = F.create_map(*[F.lit(x) for pair in landed.items() for x in pair])
    source_file = F.coalesce(copied_from[_source_path()], _source_path()) if landed else _source_path()
    if encoding == "windows-1258":  # Spark 4 allows only Unicode and Latin-1 unless told otherwise
        spark.conf.set("spark.sql.legacy.javaCharsets", "true")
    # parse every field of every line, whichever columns a query uses, so a short or long line is
    # a parse error for a count as much as for a write
    spark.conf.set("spark.sql.csv.parser.columnPruning.enabled", "false")
    frames = []
    for header, uris in groups.items():
        schema = StructType([StructField(h, StringType()) for h in header]
                            + [StructField("_corrupt_record", StringType())])
        df = (spark.read.schema(schema)
              .option("header", True).option("enforceSchema", True)
              .option("sep", src.delimiter).option("encoding", JAVA_CHARSET[encoding])
              .option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", "_corrupt_record")
              .option("ignoreLeadingWhiteSpace", False).option("ignoreTrailingWhiteSpace", False)
              .csv([copies.get(uri, uri) for uri in uris])
              .withColumn("_source_file", source_file))
        # Spark refuses a query that reads only the corrupt-record column of a CSV file (a count of
        # parse errors would be one); tying the message to the first column keeps a data column read
        anchor = F.substring(F.coalesce(F.col(f"`{header[0]}`"), F.lit("")), 0, 0)
        df = (df.withColumn("_parse_error", F.when(
                  F.col("_corrupt_record").isNotNull(),
                  F.concat(F.lit(f"line does not have the header's {len(header)} fields separated by "
                                 f"{src.delimiter!r}"), anchor)))
              .withColumn("_raw", F.col("_corrupt_record")))
        frames.append(shape(df, fields, list(header)))
    return _union(frames)


# ---- JSON Lines, Parquet ----------------------------------------------------------

def read_jsonl(spark: SparkSession, spec: SourceDataset, files: list[str], fetch: Fetch) -> DataFrame:
    lines = spark.read.text(files).select("value", _source_path().alias("_source_file"))
    return parse_json_lines(lines, source_fields(spec))


def read_parquet(spark: SparkSession, spec: SourceDataset, files: list[str], fetch: Fetch) -> DataFrame:
    """Parquet files: typed columns become their text, which silver casts to the declared types."""
    df = spark.read.option("mergeSchema", "true").parquet(*files)
    present = list(df.columns)
    df = df.withColumn("_source_file", _source_path()).withColumn("_parse_error", F.lit(None).cast("string"))
    df = df.withColumn("_raw", F.lit(None).cast("string"))
    return shape(df, source_fields(spec), present)


# ---- Excel report forms -------------------------------------------------------------

def _cell_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def xlsx_rows(body: bytes, header_row: int, sheet: str | None,
              encoding: str = "utf-8") -> tuple[list[str], list[list[str | None]]]:
    """The header and the data rows of one sheet (blank rows skipped), every cell as text.

    ``encoding`` (the spec's): ``tcvn3``, ``vni`` or ``auto`` decode text cells whose font is in that
    encoding (``.Vn*``: TCVN3, ``VNI-*``: VNI; ``auto``: both) to NFC; ``utf-8`` leaves every cell as it is.
    """
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(body), read_only=True, data_only=True)
    try:
        ws = book[sheet] if sheet else book.worksheets[0]
    except KeyError:
        raise LakeError(f"no sheet {sheet!r}; sheets: {book.sheetnames}") from None
    if encoding == "utf-8":
        rows = list(ws.iter_rows(min_row=header_row, values_only=True))
    else:  # the file checks refused a workbook with a cell its font's encoding cannot read
        decode_cell = cell_decoder(encoding)
        rows = [row_values(cells, decode_cell) for cells in ws.iter_rows(min_row=header_row)]
    book.close()
    if not rows:
        raise LakeError(f"no header at row {header_row}")
    header = sheet_header(rows[0])
    width = len(header)
    if not header or "" in header:
        raise LakeError(f"row {header_row} is not a header: {list(rows[0])!r}")
    data = []
    for values in rows[1:]:
        cells = [_cell_text(v) for v in list(values[:width]) + [None] * (width - len(values))]
        if any(c not in (None, "") for c in cells):
            data.append(cells)
    return header, data


def read_xlsx(spark: SparkSession, spec: SourceDataset, files: list[str], fetch: Fetch) -> DataFrame:
    """Excel report forms: the header sits at ``header_row``; title rows above it are skipped."""
    fields = source_fields(spec)
    frames = []
    for uri in files:
        try:
            header, data = xlsx_rows(fetch(uri, None), spec.source.header_row, spec.source.sheet,
                                     spec.source.encoding)
        except LakeError as exc:
            raise LakeError(f"{uri}: {exc}") from None
        except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
            raise LakeError(f"{uri}: not a readable .xlsx workbook ({exc.__class__.__name__}: {exc})") from None
        names = [f"c{i}" for i in range(len(header))]
        schema = StructType([StructField(n, StringType()) for n in names])
        df = spark.createDataFrame(data, schema) if data else spark.createDataFrame([], schema)
        df = (df.toDF(*header)
              .withColumn("_source_file", F.lit(uri))
              .withColumn("_parse_error", F.lit(None).cast("string"))
              .withColumn("_raw", F.lit(None).cast("string")))
        frames.append(shape(df, fields, header))
    return _union(frames)


# ---- documents ----------------------------------------------------------------------

MAGIC = [  # first bytes (hex) → media type
    ("25504446", "application/pdf"),
    ("89504E47", "image/png"),
    ("FFD8FF", "image/jpeg"),
    ("49492A00", "image/tiff"),
    ("4D4D002A", "image/tiff"),
    ("504B0304", "application/zip"),
]


def media_type(head_hex: F.Column) -> F.Column:
    """The media type from a file's first bytes, not from its name."""
    out = F.lit("application/octet-stream")
    for magic, kind in reversed(MAGIC):
        out = F.when(head_hex.startswith(magic), F.lit(kind)).otherwise(out)
    return out


def read_documents(spark: SparkSession, spec: SourceDataset, files: list[str], fetch: Fetch,
                   base: str = "") -> DataFrame:
    """Binary documents → one metadata row each; the bytes stay in landing."""
    df = spark.read.format("binaryFile").load(files)
    path = F.url_decode(F.col("path"))
    relative = F.regexp_replace(path, "^" + _regex_escape(base), "") if base else path
    pattern = spec.source.dossier_id_pattern
    out = df.select(
        relative.alias("document_path"),
        F.col("length").cast("string").alias("size_bytes"),
        F.sha2(F.col("content"), 256).alias("sha256"),
        media_type(F.hex(F.substring(F.col("content"), 1, 8))).alias("media_type"),
        (F.nullif(F.regexp_extract(path, pattern, 1), F.lit("")) if pattern
         else F.lit(None).cast("string")).alias("dossier_id"),
        path.alias("_source_file"),
        F.lit(None).cast("string").alias("_parse_error"),
        F.lit(None).cast("string").alias("_raw"),
    )
    return shape(out, source_fields(spec), list(DOCUMENT_FIELDS))


def _regex_escape(text: str) -> str:
    import re
    return re.escape(text)


# ---- dispatch -------------------------------------------------------------------------

READERS = {"csv": read_csv, "jsonl": read_jsonl, "parquet": read_parquet, "xlsx": read_xlsx}


def read_landed(spark: SparkSession, spec: SourceDataset, files: list[str], fetch: Fetch,
                base: str = "", copies: dict[str, str] | None = None) -> DataFrame:
    """Read landed files of ``spec`` into the parsed shape (see module docstring); ``copies``: the UTF-8 copies
    of CSV files Spark cannot read in their own encoding."""
    if spec.source.kind == "documents":
        return read_documents(spark, spec, files, fetch, base)
    if spec.source.kind == "jdbc":  # extracts are landed as Parquet
        return read_parquet(spark, spec, files, fetch)
    if spec.source.format == "csv":
        return read_csv(spark, spec, files, fetch, copies)
    return READERS[spec.source.format](spark, spec, files, fetch)


def _union(frames: list[DataFrame]) -> DataFrame:
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out
