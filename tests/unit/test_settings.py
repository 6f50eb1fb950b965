"""Environment files: ports, overrides and errors."""

import pytest

from lakehouse import settings as settings_mod
from lakehouse.errors import ConfigError
from lakehouse.settings import Settings, load_environment


def test_local_environment_binds_every_service_to_loopback():
    env = load_environment("local")
    assert env.services.host == "127.0.0.1"
    ports = [env.services.s3.port, env.services.spark.port, env.services.trino.port, env.services.airflow.port]
    assert len(set(ports)) == len(ports)
    assert env.services.airflow.port != env.services.trino.port


def test_port_override_from_the_shell(monkeypatch):
    monkeypatch.setenv("LAKE_TRINO_PORT", "9999")
    assert load_environment("local").services.trino.port == 9999
    monkeypatch.setenv("LAKE_TRINO_PORT", "eighty")
    with pytest.raises(ConfigError, match="LAKE_TRINO_PORT='eighty' is not a port number"):
        load_environment("local")


def test_unknown_environment_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"no such environment file \(known: .*local"):
        load_environment("nowhere")


def test_bad_environment_field_names_file_and_field(tmp_path, monkeypatch):
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "x.yaml").write_text("name: x\nservices:\n  trino:\n    port: high\n")
    monkeypatch.setattr(settings_mod, "CONFIG_DIR", tmp_path)
    with pytest.raises(ConfigError, match=r"x.yaml: field 'services.trino.port'"):
        load_environment("x")


def test_secrets_are_generated_once_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    first = Settings(load_environment("local")).secrets
    again = Settings(load_environment("local")).secrets
    assert first == again
    assert len(first["s3_secret_key"]) >= 30
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0


def test_table_uris_follow_the_layer_layout():
    s = Settings(load_environment("local"))
    assert s.table_uri("silver", "communes") == "s3a://lake/silver/communes"
    assert s.table_uri("gold", "x", scheme="s3") == "s3://lake/gold/x"
    with pytest.raises(ValueError):
        s.table_uri("platinum", "x")
