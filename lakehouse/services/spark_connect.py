"""The Spark Connect server of the stack (its command and environment come from :mod:`lakehouse.io.spark`)."""

from __future__ import annotations

from lakehouse.core.settings import Settings
from lakehouse.services.supervisor import Service, port_open


def _spark_service(settings: Settings) -> Service:
    from lakehouse.io import spark

    port = settings.env.services.spark.port
    return Service("spark", [port], lambda: spark.connect_server_command(settings),
                   lambda: port_open(settings.host, port), url=f"sc://{settings.host}:{port}",
                   env=spark.connect_server_env, start_timeout=180, marker="SparkConnectServer",
                   group="spark", settings=settings)
