"""The one place that builds a SparkSession: Delta, S3A and local tuning.

Jars come from the project cache that `lake install` fills, so a session never
resolves anything from the network when it starts.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lakehouse.core.errors import ServiceError
from lakehouse.core.settings import Settings
from lakehouse.io import install

DELTA_CHECKPOINT_INTERVAL = 50  # commits between checkpoints of a new table (Delta's default: 10)


def driver_memory(setting: str, machine_bytes: int | None = None) -> str:
    """The Spark driver's heap: as set, or for ``auto`` a quarter of the machine's memory, 2–16 GB.

    In local mode the driver is the whole engine; a fixed 3 GB was too little on a large
    machine and too much on a small one.
    """
    if setting != "auto":
        return setting
    if machine_bytes is None:
        machine_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{min(16, max(2, machine_bytes // 4 // 2**30))}g"


def spark_conf(settings: Settings) -> dict[str, str]:
    """Spark settings for this environment (pure: no session is created)."""
    env = settings.env
    # A class path, not spark.jars: Spark would copy every jar (the AWS SDK bundle alone is 640 MB) to each
    # executor of each application. In local mode the executors live in the driver JVM; on a standalone
    # cluster every Spark host has `lake install`'s jar cache at the same path.
    classpath = ":".join(install.spark_jars(settings))
    cluster = {} if settings.spark_master.startswith("local") else cluster_conf(settings, classpath)
    # Spark generates such a projection's source again in every task (the compiled class is cached),
    # and most of that is a regular expression over the source: a fifth of the server's CPU in a
    # profiled demo day. Interpreting costs more per row: for environments of small batches.
    codegen = {"spark.sql.codegen.factoryMode": "NO_CODEGEN"} if env.spark.interpreted_projections else {}
    return {
        "spark.driver.extraClassPath": classpath,
        **codegen,
        "spark.master": settings.spark_master,
        "spark.driver.memory": driver_memory(env.spark.driver_memory),
        "spark.driver.bindAddress": settings.host,
        "spark.driver.host": settings.host,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(env.spark.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        # Table names live in the Hive Metastore Trino uses too: `silver.provinces` here is
        # `lake.silver.provinces` there.  Spark's built-in Hive 2.3 client cannot call a
        # Hive 4 metastore (it lost `get_table`), so Spark loads a Hive 4.0.1 client.
        "spark.sql.catalogImplementation": "hive",
        "spark.hadoop.hive.metastore.uris": settings.metastore_uri,
        "spark.sql.warehouse.dir": f"s3a://{settings.bucket}/warehouse",
        "spark.sql.hive.metastore.version": install.METASTORE_VERSION,
        "spark.sql.hive.metastore.jars": "path",
        "spark.sql.hive.metastore.jars.path": ",".join(
            Path(j).as_uri() for j in install.metastore_classpath(settings, client=True)),
        # Small tables: Delta's default of 50 snapshot partitions costs seconds per read.
        "spark.databricks.delta.snapshotPartitions": "4",
        # VACUUM lists a table's files in this many tasks (Spark's default, 10,000, made VACUUM of a
        # one-file table take 22-53 s on 2 cores; 8 tasks: 3 s)
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": "8",
        # Auto compaction (tables created by append) runs once 50 small files were added since the
        # server started.  In its default mode it also compacts a table's first append after a start
        # and, as compacting a table it has counted fewer files of drops its count, every append
        # after that too: +1.2 s per append of the run log, the bronze and quarantine tables.
        "spark.databricks.delta.autoCompact.modifiedPartitionsOnly.enabled": "false",
        # Every commit also wrote a checksum (.crc) file, and every 10th commit of a table a checkpoint
        # (≈ 1.2 s): a one-row append averaged 0.35 s, 0.14–0.17 s without both, reads unchanged (no reader
        # of ours needs the checksum; bench/commit_floor.py).  New tables checkpoint every 50 commits: a
        # reader replays at most 49 small JSON commits after the checkpoint.
        "spark.databricks.delta.writeChecksumFile.enabled": "false",
        "spark.databricks.delta.properties.defaults.checkpointInterval": str(DELTA_CHECKPOINT_INTERVAL),
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.enabled": "true",
        # a file scan of more than 32 MB is cut into about 8 splits, not one per core: on 2 cores, TPC-H's 225 MB
        # bronze lineitem was read in 3 uneven partitions (silver wrote 3 files), which silver holds and reads in
        # each later job; with 8, silver lineitem took 67.7 s against 77.7 s (bench/README.md)
        "spark.sql.files.minPartitionNum": "8",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        # Spark 4 reads only Unicode and Latin-1 CSV unless Java's charsets are allowed: Windows-1258
        "spark.sql.legacy.javaCharsets": "true",
        "spark.hadoop.fs.s3a.endpoint": settings.s3_endpoint,
        "spark.hadoop.fs.s3a.endpoint.region": env.storage.region,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(settings.s3_endpoint.startswith("https")).lower(),
        "spark.hadoop.fs.s3a.access.key": settings.s3_access_key,
        "spark.hadoop.fs.s3a.secret.key": settings.s3_secret_key,
        "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",  # tables registered by Trino say s3://
        "spark.hadoop.fs.s3a.change.detection.mode": "none",
        # Delta on S3: one writer per table at a time (writers are serialised by the scheduler).
        "spark.delta.logStore.s3a.impl": "io.delta.storage.S3SingleDriverLogStore",
        "spark.delta.logStore.s3.impl": "io.delta.storage.S3SingleDriverLogStore",
        **cluster,
    }


def cluster_conf(settings: Settings, classpath: str) -> dict[str, str]:
    """What executors on a standalone master's workers need: the jars, a size, Python, and the driver's UI,
    whose REST API (/api/v1) tells which executor ran which tasks."""
    from lakehouse.core.settings import REPO_ROOT

    cfg = settings.env.services.spark
    log_config = REPO_ROOT / "infra" / "spark" / "log4j2.properties"
    return {
        "spark.executor.extraClassPath": classpath,
        "spark.executor.extraJavaOptions": f"-Dlog4j2.configurationFile={log_config.as_uri()}",
        "spark.executor.cores": str(cfg.worker_cores),
        "spark.executor.memory": settings.env.spark.executor_memory,
        "spark.executorEnv.PYTHONPATH": str(REPO_ROOT),
        "spark.pyspark.python": sys.executable,
        "spark.ui.enabled": "true",
        "spark.ui.port": str(cfg.ui_port),
        "spark.port.maxRetries": "0",  # the UI on its configured port or not at all, never the next free one
    }


def spark_home() -> str:
    """pyspark's own folder, which is a complete SPARK_HOME (bin/, jars/)."""
    import pyspark

    return os.path.dirname(pyspark.__file__)


def connect_server_command(settings: Settings) -> list[str]:
    """spark-submit for the Spark Connect server that `lake up` runs (no shell script needed)."""
    cmd = [os.path.join(spark_home(), "bin", "spark-submit"),
           "--class", "org.apache.spark.sql.connect.service.SparkConnectServer", "--name", "lake-connect"]
    from lakehouse.core.settings import REPO_ROOT

    log_config = REPO_ROOT / "infra" / "spark" / "log4j2.properties"  # warnings, not every job's plan
    conf = {
        **spark_conf(settings),
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={log_config.as_uri()}",
        "spark.connect.grpc.binding.address": settings.host,
        "spark.connect.grpc.binding.port": str(settings.env.services.spark.port),
    }
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    return cmd + ["spark-internal"]


def connect_server_env(settings: Settings) -> dict[str, str]:
    java_home = install.spark_java_home()
    from lakehouse.core.settings import REPO_ROOT

    # PYTHONPATH: streaming `foreachBatch` functions run in Python workers of the server.
    # SPARK_LOCAL_IP: Spark's web UIs (on with a standalone master) and its block managers listen on the
    # stack's host, not on every interface
    return {"JAVA_HOME": str(java_home), "SPARK_HOME": spark_home(), "PYSPARK_PYTHON": sys.executable,
            "PYTHONPATH": str(REPO_ROOT), "SPARK_LOCAL_IP": settings.host,
            "PATH": f"{java_home / 'bin'}:{os.environ.get('PATH', '')}"}


_opened: list = []  # sessions this process opened, for stop_sessions()


def stop_sessions() -> None:
    """Close this process's Spark sessions (before the server they talk to goes away)."""
    while _opened:
        session = _opened.pop()
        try:
            session.stop()
        except Exception:  # already gone: nothing to close
            pass


def get_spark(app_name: str, settings: Settings):
    """A SparkSession for the current environment.

    In `connect` mode it is a thin client of the shared Spark Connect server
    (started by `lake up`), so a job pays no JVM start-up; in `local` mode the
    job starts its own Spark with the same configuration.
    """
    from pyspark.sql import SparkSession

    if settings.env.spark.mode == "connect":
        url = settings.spark_connect_url
        try:
            session = SparkSession.builder.remote(url).appName(app_name).getOrCreate()
        except Exception as exc:  # grpc errors surface as several types
            raise ServiceError(f"cannot reach the Spark Connect server at {url} ({exc.__class__.__name__}); "
                               "start it with `lake up spark`, or set spark.mode: local") from exc
        if session not in _opened:
            _opened.append(session)
        return session
    for key, value in connect_server_env(settings).items():
        if key != "PATH":
            os.environ.setdefault(key, value)
    builder = SparkSession.builder.appName(app_name)
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
