"""Start-up errors a user can act on (no service is started here)."""

import socket

import pytest

from lakehouse import install, services
from lakehouse.errors import MissingToolError, ServiceError
from lakehouse.settings import Settings, load_environment


def test_a_taken_port_is_named_with_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setenv("LAKE_TRINO_PORT", str(port))
        settings = Settings(load_environment("local"))
        trino = services.select(["trino"], settings)[0]
        with pytest.raises(ServiceError) as err:
            trino.start()
    message = str(err.value)
    assert f"port {port}" in message and "already in use" in message
    assert "LAKE_TRINO_PORT" in message and "environments/local.yaml" in message
    assert not trino.pid_file.exists()


def test_a_missing_jdk_says_what_to_install():
    with pytest.raises(MissingToolError, match=r"no JDK 99\+ found .* LAKE_TRINO_JAVA_HOME"):
        install.find_java(99)


def test_the_machine_jdks_are_found():
    assert install._java_major(install.spark_java_home()) in (17, 21)
    assert install._java_major(install.trino_java_home()) >= 24


def test_unknown_service_lists_the_known_ones():
    with pytest.raises(ServiceError, match="unknown service hdfs; choose from .*airflow.*s3.*spark.*trino"):
        services.select(["hdfs"])


def test_status_of_a_stopped_stack(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    rows = services.status(Settings(load_environment("local")))
    assert [r["service"] for r in rows][:3] == ["s3", "spark", "trino"]
    assert all(r["state"] == "stopped" for r in rows)
