"""Environment files: ports, overrides and errors."""

import pytest

from lakehouse.core import settings as settings_mod
from lakehouse.core.errors import ConfigError
from lakehouse.core.settings import Settings, load_environment


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


def test_every_seaweedfs_port_moves_from_the_shell(monkeypatch):
    # LAKE_S3_PORT alone would leave the master, volume and filer on the default ports of a running stack
    for name, value in (("LAKE_S3_PORT", "21333"), ("LAKE_S3_MASTER_PORT", "21334"),
                        ("LAKE_S3_VOLUME_PORT", "21335"), ("LAKE_S3_FILER_PORT", "21336")):
        monkeypatch.setenv(name, value)
    s3 = load_environment("local").services.s3
    assert (s3.port, s3.master_port, s3.volume_port, s3.filer_port) == (21333, 21334, 21335, 21336)
    monkeypatch.setenv("LAKE_S3_FILER_PORT", "filer")
    with pytest.raises(ConfigError, match="LAKE_S3_FILER_PORT='filer' is not a port number"):
        load_environment("local")


def test_jobs_airflow_starts_get_every_port_variable():
    from lakehouse.orchestration.dags import PASS_THROUGH_ENV

    assert set(settings_mod.port_variables()) <= set(PASS_THROUGH_ENV)
    assert {"LAKE_S3_MASTER_PORT", "LAKE_METASTORE_PORT", "LAKE_EVENTS_PORT"} <= set(settings_mod.port_variables())


def test_unknown_environment_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"no such environment file \(known: .*local"):
        load_environment("nowhere")


def test_bad_environment_field_names_file_and_field(tmp_path, monkeypatch):
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "x.yaml").write_text("name: x\nservices:\n  trino:\n    port: high\n")
    monkeypatch.setattr(settings_mod, "CONFIG_DIR", tmp_path)
    with pytest.raises(ConfigError, match=r"x.yaml: field 'services.trino.port'"):
        load_environment("x")


def test_an_environment_file_giving_a_key_twice_is_refused(tmp_path, monkeypatch):
    """Read as the specs are: YAML alone would keep the second port and say nothing."""
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "x.yaml").write_text("name: x\nservices:\n  trino:\n    port: 8080\n"
                                                      "    port: 8081\n")
    monkeypatch.setattr(settings_mod, "CONFIG_DIR", tmp_path)
    with pytest.raises(ConfigError, match=r"x.yaml: .*key 'port' is given twice \(lines 4 and 5\)"):
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


# ---- source database connections -------------------------------------------------

def test_a_connection_gives_spark_jdbc_options_and_a_libpq_dsn(tmp_path, monkeypatch):
    from psycopg.conninfo import conninfo_to_dict

    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    s = Settings(load_environment("test"))
    password = s.secrets["postgres_password"]
    assert len(password) >= 24
    assert s.jdbc("ministry_db") == {"url": "jdbc:postgresql://127.0.0.1:5542/ministry", "user": "lake",
                                     "password": password, "driver": "org.postgresql.Driver"}
    dsn = conninfo_to_dict(s.pg_dsn("ministry_db"))
    assert {k: dsn[k] for k in ("host", "port", "dbname", "user", "password")} == {
        "host": "127.0.0.1", "port": "5542", "dbname": "ministry", "user": "lake", "password": password}
    assert load_environment("local").services.postgres.port == 5442


def test_postgres_port_override_from_the_shell_reaches_the_connection(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    monkeypatch.setenv("LAKE_POSTGRES_PORT", "6543")
    s = Settings(load_environment("local"))
    assert s.env.services.postgres.port == 6543
    assert s.jdbc("ministry_db")["url"] == "jdbc:postgresql://127.0.0.1:6543/ministry"
    assert "port=6543" in s.pg_dsn("ministry_db")
    monkeypatch.setenv("LAKE_POSTGRES_PORT", "pg")
    with pytest.raises(ConfigError, match="LAKE_POSTGRES_PORT='pg' is not a port number"):
        load_environment("local")


def test_a_password_with_spaces_and_quotes_survives_the_dsn(tmp_path, monkeypatch):
    from psycopg.conninfo import conninfo_to_dict

    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    monkeypatch.setenv("LAKE_POSTGRES_PASSWORD", "it's a \\ secret")
    s = Settings(load_environment("local"))
    assert conninfo_to_dict(s.pg_dsn("ministry_db"))["password"] == "it's a \\ secret"
    assert s.jdbc("ministry_db")["password"] == "it's a \\ secret"


def test_an_unknown_connection_names_the_environment_file_and_field(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    s = Settings(load_environment("local"))
    with pytest.raises(ConfigError, match=r"environments/local.yaml: field 'connections': "
                                          r"no connection named 'dossiers' \(known: ministry_db\)"):
        s.jdbc("dossiers")
    with pytest.raises(ConfigError, match="field 'connections'"):
        s.pg_dsn("dossiers")


def test_a_bad_connection_entry_names_file_and_field(tmp_path, monkeypatch):
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "x.yaml").write_text(
        "name: x\nconnections:\n  ministry_db:\n    service: postgres\n    database: m\n    user: u\n"
        "    passwd: hunter2\n")
    monkeypatch.setattr(settings_mod, "CONFIG_DIR", tmp_path)
    with pytest.raises(ConfigError, match=r"x.yaml: field 'connections.ministry_db.passwd': unknown field"):
        load_environment("x")
    (tmp_path / "environments" / "x.yaml").write_text(
        "name: x\nconnections:\n  ministry_db:\n    service: oracle\n    database: m\n    user: u\n")
    with pytest.raises(ConfigError, match=r"x.yaml: field 'connections.ministry_db.service'"):
        load_environment("x")


def test_spark_memory_auto_is_a_quarter_of_the_machine_within_bounds():
    from lakehouse.io.spark import driver_memory
    gib = 2**30
    assert driver_memory("auto", 24 * gib) == "6g"
    assert driver_memory("auto", 4 * gib) == "2g"      # never below 2 GB
    assert driver_memory("auto", 256 * gib) == "16g"   # nor above 16 GB
    assert driver_memory("5g", 24 * gib) == "5g"       # a set value is kept


def test_each_environment_keeps_its_state_apart_unless_lake_home_says(tmp_path, monkeypatch):
    monkeypatch.delenv("LAKE_HOME", raising=False)
    monkeypatch.setattr(settings_mod, "REPO_ROOT", tmp_path)
    assert Settings(load_environment("local")).state_dir == tmp_path / ".lake"
    assert Settings(load_environment("cluster")).state_dir == tmp_path / ".lake-cluster"
    monkeypatch.setenv("LAKE_HOME", str(tmp_path / "elsewhere"))
    assert Settings(load_environment("cluster")).state_dir == tmp_path / "elsewhere"
    assert Settings(load_environment("cluster"), home=tmp_path / "given").state_dir == tmp_path / "given"
