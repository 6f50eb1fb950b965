"""Vietnamese text written by Spark to Delta on S3 reads back through Trino as the same NFC strings."""

import unicodedata

from pyspark.sql import functions as F

from lakehouse.engine.transforms import nfc
from lakehouse.io import delta_io, trino
from lakehouse.io.spark import get_spark

WORDS = ["Thành phố Hồ Chí Minh", "Phường Hoàn Kiếm", "Đặc khu Phú Quốc", "Xã Thuận Hoà", "Ước Lễ", "ỹ ẵ ự ộ"]


def test_nfd_input_is_stored_and_served_as_nfc(stack):
    spark = get_spark("test vietnamese text", stack)
    nfd = [(i, unicodedata.normalize("NFD", w)) for i, w in enumerate(WORDS)]
    assert all(not unicodedata.is_normalized("NFC", t) for _, t in nfd)  # the input really is decomposed
    location = f"s3a://{stack.bucket}/tests/vietnamese_text"
    df = spark.createDataFrame(nfd, "id int, raw string").select("id", nfc(F.col("raw")).alias("name"))
    delta_io.overwrite(df, location)
    trino.register_location("tests", "vietnamese_text", location.replace("s3a://", "s3://"), stack)

    got = dict(trino.query("SELECT id, name FROM lake.tests.vietnamese_text", stack)[1])
    expected = {i: unicodedata.normalize("NFC", w) for i, w in enumerate(WORDS)}
    assert got == expected
    assert all(got[i].encode("utf-8") == expected[i].encode("utf-8") for i in expected)
    # Trino sees characters, not bytes: "Đặc khu Phú Quốc" is 16 code points in NFC
    assert trino.query("SELECT length(name) FROM lake.tests.vietnamese_text WHERE id = 2", stack)[1] == [(16,)]
