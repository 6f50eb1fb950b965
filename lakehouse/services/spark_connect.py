"""Spark in the stack: the Spark Connect server every job talks to (its command and environment come from
:mod:`lakehouse.io.spark`) and, with ``spark.master: standalone``, the standalone master and workers its
executors run on."""

from __future__ import annotations

import os

from lakehouse.core.settings import REPO_ROOT, Settings
from lakehouse.services.supervisor import Service, http_json, port_open

DAEMON_MEMORY = "512m"  # the master's and each worker's own heap (executors are sized by spark.executor.memory)


def _spark_services(settings: Settings) -> list[Service]:
    """The Connect server; on a standalone master the master and its workers first."""
    from lakehouse.io import spark

    port = settings.env.services.spark.port
    connect = Service("spark", [port], lambda: spark.connect_server_command(settings),
                      lambda: port_open(settings.host, port), url=f"sc://{settings.host}:{port}",
                      env=lambda: spark.connect_server_env(settings), start_timeout=180, marker="SparkConnectServer",
                      group="spark", settings=settings)
    if not settings.spark_standalone:
        return [connect]
    connect.needs = ("spark-master",)
    return [_master(settings), *(_worker(settings, n) for n in range(1, settings.env.services.spark.workers + 1)),
            connect]


def _daemon_env(settings: Settings) -> dict[str, str]:
    from lakehouse.io import spark

    log_config = REPO_ROOT / "infra" / "spark" / "log4j2.properties"
    return {**spark.connect_server_env(settings), "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
            "SPARK_DAEMON_JAVA_OPTS": f"-Dlog4j2.configurationFile={log_config.as_uri()}",
            "SPARK_LOG_DIR": str(settings.state_dir / "logs")}


def _spark_class(main: str) -> list[str]:
    from lakehouse.io import spark

    return [os.path.join(spark.spark_home(), "bin", "spark-class"), f"org.apache.spark.deploy.{main}"]


def master_status(settings: Settings) -> dict | None:
    """The standalone master's JSON status (workers, applications), or None when it does not answer."""
    return http_json(f"http://{settings.host}:{settings.env.services.spark.master_ui_port}/json/")


def _master(settings: Settings) -> Service:
    cfg = settings.env.services.spark

    def command() -> list[str]:
        return _spark_class("master.Master") + ["--host", settings.host, "--port", str(cfg.master_port),
                                                "--webui-port", str(cfg.master_ui_port)]

    def healthy() -> bool:
        return (master_status(settings) or {}).get("status") == "ALIVE"

    return Service("spark-master", [cfg.master_port, cfg.master_ui_port], command, healthy,
                   url=f"http://{settings.host}:{cfg.master_ui_port}", env=lambda: _daemon_env(settings),
                   start_timeout=120, marker="deploy.master.Master", group="spark", settings=settings)


def _worker(settings: Settings, n: int) -> Service:
    """Worker ``n`` (1-based): its own ports, cores, memory and work folder, as on a host of its own."""
    cfg = settings.env.services.spark
    port, ui_port = cfg.worker_port + n - 1, cfg.worker_ui_port + n - 1
    work_dir = settings.state_dir / "spark" / f"worker-{n}"

    def command() -> list[str]:
        work_dir.mkdir(parents=True, exist_ok=True)
        return _spark_class("worker.Worker") + [
            "--host", settings.host, "--port", str(port), "--webui-port", str(ui_port),
            "--cores", str(cfg.worker_cores), "--memory", cfg.worker_memory, "--work-dir", str(work_dir),
            settings.spark_master]

    def healthy() -> bool:  # registered with the master, not only listening
        workers = (master_status(settings) or {}).get("workers", [])
        return any(w.get("port") == port and w.get("state") == "ALIVE" for w in workers)

    def env() -> dict[str, str]:
        # the folders of finished applications (their executors' logs and copies) go after a day
        return {**_daemon_env(settings), "SPARK_WORKER_OPTS": "-Dspark.worker.cleanup.enabled=true "
                "-Dspark.worker.cleanup.appDataTtl=86400"}

    return Service(f"spark-worker-{n}", [port, ui_port], command, healthy,
                   url=f"http://{settings.host}:{ui_port}", env=env, start_timeout=120,
                   marker="deploy.worker.Worker", group="spark", needs=("spark-master",), settings=settings)
