import logging
import os
import sys
import time

import pytest


@pytest.fixture(scope="module")
def spark():
    """A small classic local Spark for pure transforms: no S3, no Delta, no jars.

    Module-scoped, so it is stopped before any test in another module opens a
    Spark Connect session in this process (pyspark flips a process-wide switch for that).
    """
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # Python workers need this venv (pandas, pyarrow)
    os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)  # left by an earlier Spark Connect session
    os.environ.pop("SPARK_REMOTE", None)
    session = (SparkSession.builder.master("local[1]").appName("lake-unit")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "1").config("spark.sql.session.timeZone", "UTC")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # its exit-time "closing" notes hit closed streams
    yield session
    session.stop()


@pytest.fixture
def hanoi_time(monkeypatch):
    """The Python process runs on Hà Nội time (UTC+7), as a ministry server may; Spark's session stays in UTC.

    What reads a naive datetime in the local time zone (``F.lit`` of a datetime, a collected timestamp) shows.
    """
    monkeypatch.setenv("TZ", "Asia/Ho_Chi_Minh")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
