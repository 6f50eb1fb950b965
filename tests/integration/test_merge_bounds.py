"""A silver MERGE bounded to its batch's key ranges: the same rows as an unbounded one, without reading the rest.

Each key type the bounds cover (string, bigint, date, timestamp) is a key here, with values Spark's parser must
read back exactly (a backslash, a quote, Vietnamese letters, a timestamp's microseconds). The proof that the
bounded MERGE does not read files outside the batch's ranges: one such file is deleted from S3 under the
table, and only the unbounded MERGE then fails.
"""

from __future__ import annotations

import datetime
import uuid

import pytest

SCHEMA = "site string, seq bigint, day date, reading_at timestamp, pm25 double, _row_hash string"
UTC = datetime.timezone.utc


def readings(spark, hour: int, sites: list[str], pm25: float):
    """One row per site for the given hour of 2026-12-01 (UTC), as a batch a stream would bring."""
    at = datetime.datetime(2026, 12, 1, hour, 0, 0, 123456, tzinfo=UTC)
    rows = [(site, hour * 100 + i, at.date(), at, pm25, f"{site}|{pm25}") for i, site in enumerate(sites)]
    return spark.createDataFrame(rows, SCHEMA)


def bounds_of(frame) -> dict:
    """What ``transforms.key_bounds`` gives for this batch (every key bounded; a timestamp in microseconds)."""
    from pyspark.sql import functions as F
    row = frame.agg(F.min("site"), F.max("site"), F.min("seq"), F.max("seq"), F.min("day"), F.max("day"),
                    F.min(F.unix_micros("reading_at")), F.max(F.unix_micros("reading_at"))).collect()[0]
    return {"site": (row[0], row[1], "string"), "seq": (row[2], row[3], "bigint"),
            "day": (row[4], row[5], "date"), "reading_at": (row[6], row[7], "timestamp")}


KEYS = ["site", "seq", "day", "reading_at"]
SITES = ["Hà Nội\\01", "Đà Nẵng's", "HCM-3"]


def test_a_bounded_merge_writes_what_an_unbounded_one_does_and_reads_no_file_outside_the_batch(stack):
    from lakehouse.io import delta_io, storage
    from lakehouse.io.spark import get_spark

    spark = get_spark("merge bounds", stack)
    zone = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "Asia/Ho_Chi_Minh")  # bounds are UTC whatever the session says
    tag = uuid.uuid4().hex[:8]
    bounded, plain = (stack.table_uri("ops", f"bounds_{which}_{tag}") for which in ("bounded", "plain"))
    try:
        for uri in (bounded, plain):  # three hours, one commit (one file) each
            for hour in (1, 2, 3):
                readings(spark, hour, SITES, 10.0).write.format("delta").mode("append").save(uri)
        # hour 3 again: three sites' readings corrected, one site new
        batch = readings(spark, 3, SITES, 55.5).union(readings(spark, 3, ["Huế"], 1.0)).localCheckpoint()
        got = delta_io.merge(spark, batch, bounded, KEYS, bounds=bounds_of(batch))
        want = delta_io.merge(spark, batch, plain, KEYS)
        assert (got["inserted"], got["updated"]) == (want["inserted"], want["updated"]) == (1, 3)

        def rows(uri):
            return sorted(tuple(r) for r in spark.read.format("delta").load(uri).collect())
        assert rows(bounded) == rows(plain) and len(rows(bounded)) == 10

        # hour 1's files (its commit held only hour 1) lie outside every later batch's range: gone, a bounded
        # MERGE never notices
        files = {r[0] for r in spark.read.format("delta").load(bounded).where("hour(reading_at) = 8")
                 .select("_metadata.file_path").collect()}  # 01:00 UTC is 08:00 in the session's zone
        assert files
        for path in files:
            storage.client(stack).remove_object(stack.bucket, path.split(f"s3a://{stack.bucket}/", 1)[1])
        later = readings(spark, 3, SITES[:1], 99.0).localCheckpoint()
        assert delta_io.merge(spark, later, bounded, KEYS, bounds=bounds_of(later))["updated"] == 1
        with pytest.raises(Exception, match="(?i)not.?found|does not exist|FileNotFound|FAILED_READ_FILE"):
            delta_io.merge(spark, later.withColumn("pm25", later.pm25 + 1), bounded, KEYS)
    finally:
        spark.conf.set("spark.sql.session.timeZone", zone)
        for uri in (bounded, plain):
            storage.delete_prefix(uri.split(f"s3a://{stack.bucket}/", 1)[1] + "/", stack)
