"""`lake deploy render`: units derived from `lake up`'s own recipes, peers on their hosts, no secret in a unit,
and unit files systemd accepts (nothing is started here)."""

import re
import shlex
import shutil
import stat
import subprocess

import pytest

from lakehouse.core.errors import ConfigError
from lakehouse.core.settings import Settings, load_environment
from lakehouse.services import deploy
from lakehouse.services.stack import all_services


@pytest.fixture
def settings(tmp_path):
    return Settings(load_environment("cluster"), home=tmp_path / "state")


def read_env_file(text: str) -> dict[str, str]:
    """An EnvironmentFile as systemd reads what `deploy` writes: KEY='literal' or KEY="with \\ escapes"."""
    env = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, value = line.split("=", 1)
        env[key] = value[1:-1] if value.startswith("'") else re.sub(r"\\(.)", r"\1", value[1:-1])
    return env


def exec_start(unit: str, env: dict[str, str]) -> list[str]:
    """ExecStart's argv as systemd builds it: continuation lines joined, words split and unquoted, then
    ``%%`` → ``%``, ``$$`` → ``$`` and ``${VAR}`` from the EnvironmentFile."""
    joined = unit.replace("\\\n", " ")
    line = next(ln for ln in joined.splitlines() if ln.startswith("ExecStart="))
    words = shlex.split(line.removeprefix("ExecStart="))

    def expand(m: re.Match) -> str:
        return {"%%": "%", "$$": "$"}.get(m.group(0)) or env[m.group(1)]

    return [re.sub(r"%%|\$\$|\$\{(\w+)\}", expand, w) for w in words]


def unit_key(unit: str, key: str) -> str:
    return next(ln.split("=", 1)[1] for ln in unit.splitlines() if ln.startswith(key + "="))


def test_on_the_build_host_the_unit_runs_the_recipes_own_command(settings):
    """Every member on 127.0.0.1 and no path moved: ExecStart is `Service.command()`, word for word (secrets
    expanded from the env file). The one difference: `lake up` as root wraps PostgreSQL in `setpriv` to
    drop to its OS user, where the unit says `User=postgres`."""
    services = all_services(settings)
    result = deploy.plan(settings, deploy.assign_hosts(services, {"default": "127.0.0.1"}), paths=[])
    for service in services:
        unit = result.files[f"127.0.0.1/systemd/lake-{service.name}.service"][0]
        env = read_env_file(result.files[f"127.0.0.1/etc/lake/{service.name}.env"][0])
        command = service.command()
        if command[0] == "setpriv":
            command = command[command.index("--") + 1:]
        assert exec_start(unit, env) == command, service.name
        assert unit_key(unit, "User") == ("postgres" if service.name == "postgres" else "lake")


def test_every_peer_address_names_the_host_of_its_owner(settings, tmp_path):
    services = all_services(settings)
    hosts = deploy.assign_hosts(services, {"s3": "stor-a", "s3-volume-2": "stor-b", "spark-master": "sp-m",
                                           "postgres": "db1", "trino-worker-1": "tw1", "default": "app1"})
    result = deploy.plan(settings, hosts)
    assert hosts["s3-master"] == hosts["s3-filer"] == "stor-a" and hosts["spark"] == "app1"
    text = {rel: t for rel, (t, _) in result.files.items()}
    for rel, body in text.items():
        # the environment file keeps services.host: no client reads it once services.hosts names every service
        assert "127.0.0.1" not in body or rel == "environment/cluster.yaml", rel
        assert str(settings.state_dir) not in body and str(settings.cache_dir) not in body, rel
    volume = text["stor-b/systemd/lake-s3-volume-2.service"]
    assert "-mserver=stor-a:9533" in volume and "-ip=stor-b" in volume and "-dir=/var/lib/lake/s3/volume-2" in volume
    assert "-filer=stor-a:9088" in text["stor-a/systemd/lake-s3.service"]
    connect = text["app1/systemd/lake-spark.service"]
    assert "spark.master=spark://sp-m:7277" in connect and "hive.metastore.uris=thrift://app1:9283" in connect
    assert "spark://sp-m:7277" in text["app1/systemd/lake-spark-worker-1.service"]
    assert "discovery.uri=https://app1:8680" in text["tw1/etc/lake/trino-worker-1/config.properties"]
    assert "node.bind-ip=tw1" in text["tw1/etc/lake/trino-worker-1/node.properties"]
    assert "jdbc:postgresql://db1:5642/metastore" in text["app1/etc/lake/metastore/metastore-site.xml"]
    assert "http://stor-a:8533" in text["app1/etc/lake/trino/catalog/lake.properties"]
    assert "@db1:5642/airflow" in text["app1/etc/lake/airflow-scheduler.env"]
    assert "listen_addresses=db1" in text["db1/systemd/lake-postgres.service"]
    assert "After=network-online.target lake-s3-master.service" in text["stor-a/systemd/lake-s3-filer.service"]
    assert "s3-master on stor-a" in volume and "After=network-online.target\n" in volume  # not ordered across
    assert "| s3-volume-2 | s3 | stor-b | 8581, 18581 | s3-master |" in text["hosts.md"]
    assert "| 5642 | postgres | airflow-api-server (app1)" in text["db1/README.md"]
    # deterministic, and a re-render replaces its own files
    out = tmp_path / "out"
    deploy.write(result, out)
    (out / "stor-b" / "mine.txt").write_text("the operator's")
    again = deploy.plan(settings, deploy.assign_hosts(services, {"default": "one"}))
    deploy.write(again, out)
    assert not (out / "app1").exists() and (out / "stor-b" / "mine.txt").exists()
    assert not (out / "stor-b" / "systemd").exists()
    same = deploy.plan(settings, deploy.assign_hosts(services, {"default": "one"}))
    assert deploy.digest(again) == deploy.digest(same) and again.files == same.files


def test_the_deployed_environment_file_sends_every_client_to_its_services_host(settings, tmp_path):
    """What the jobs, Airflow's tasks, events, sharing and the portal read at run time: every address a client
    builds from the rendered environment file names the host its service's client-facing member is on."""
    from lakehouse import services as stack
    from lakehouse.core.errors import ServiceError
    from lakehouse.core.settings import Environment
    from lakehouse.core.yamlfile import read_mapping, validated
    from lakehouse.orchestration import airflow_env
    from lakehouse.serving import events

    services = all_services(settings)
    hosts = deploy.assign_hosts(services, {"s3": "stor-a", "s3-volume-2": "stor-b", "postgres": "db1",
                                           "trino-worker-1": "tw1", "spark-worker-1": "sp1", "default": "app1",
                                           "airflow": "af1", "events": "ev1"})
    result = deploy.plan(settings, hosts)
    path = tmp_path / "cluster.yaml"
    path.write_text(result.files["environment/cluster.yaml"][0])
    deployed = Settings(validated(Environment, read_mapping(path), path), home=tmp_path / "state")
    deployed.secrets = settings.secrets  # type: ignore[misc]
    assert deployed.env.services.hosts == {"s3": "stor-a", "postgres": "db1", "metastore": "app1", "spark": "app1",
                                           "events": "ev1", "trino": "app1", "airflow": "af1", "sharing": "app1",
                                           "portal": "app1"}
    assert deployed.s3_endpoint == "http://stor-a:8533" and deployed.spark_connect_url == "sc://app1:15202"
    assert deployed.trino_url == "https://app1:8680" and deployed.metastore_uri == "thrift://app1:9283"
    assert deployed.jdbc("ministry_db")["url"] == "jdbc:postgresql://db1:5642/ministry"
    assert "host=db1 " in deployed.pg_dsn("ministry_db")
    assert airflow_env.api_url(deployed) == "http://af1:8690" and "@db1:5642/airflow" in airflow_env.metadata_url(
        deployed)
    assert events.ingest_uri(deployed) == f"http://ev1:8310{events.PATH}"
    # the rest of the file is the build host's, unchanged
    source = read_mapping(settings.environment_file)
    assert {k: v for k, v in read_mapping(path).items() if k != "services"} == {
        k: v for k, v in source.items() if k != "services"}
    with pytest.raises(ServiceError, match="services.hosts puts airflow on af1.*`lake up` starts processes on "
                                           "this machine only"):
        stack.up(["s3"], deployed)


def test_an_unknown_service_in_services_hosts_is_named(tmp_path):
    from lakehouse.core.settings import Environment
    from lakehouse.core.yamlfile import validated

    with pytest.raises(ConfigError, match=r"services\.hosts.*trinno: no such service"):
        validated(Environment, {"name": "x", "services": {"hosts": {"trinno": "h"}}}, tmp_path / "x.yaml")


def test_default_hosts_follow_the_groups(settings):
    hosts = deploy.assign_hosts(all_services(settings))
    assert hosts["s3-volume-2"] == "s3-volume-2" and hosts["s3-master"] == hosts["s3"] == "s3"
    assert hosts["airflow-scheduler"] == "airflow" and hosts["airflow-worker-1"] == "airflow-worker-1"
    assert hosts["spark"] == hosts["spark-master"] == "spark" and hosts["trino-worker-1"] == "trino-worker-1"


def test_an_unknown_key_in_the_hosts_file_is_named(settings, tmp_path):
    path = tmp_path / "hosts.yaml"
    path.write_text("default: app1\nspark-wroker-1: sp1\n")
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}: key 'spark-wroker-1' names no member"):
        deploy.assign_hosts(all_services(settings), deploy.read_hosts(path), str(path))
    with pytest.raises(ConfigError, match="no such hosts file"):
        deploy.read_hosts(tmp_path / "missing.yaml")
    path.write_text("trino: 'not a host'\n")
    with pytest.raises(ConfigError, match="key 'trino': 'not a host' is not a host name"):
        deploy.read_hosts(path)


def test_an_address_no_member_owns_is_refused(settings):
    settings.env.storage.endpoint = "http://127.0.0.1:9999"  # an S3 nobody in the environment serves
    with pytest.raises(ConfigError, match=r"127\.0\.0\.1:9999, and no member of the cluster environment listens "
                                          r"on port 9999; render refuses"):
        deploy.plan(settings, deploy.assign_hosts(all_services(settings)))


def test_no_secret_in_a_unit_and_env_files_are_private(settings, tmp_path):
    result = deploy.plan(settings, deploy.assign_hosts(all_services(settings)))
    deploy.write(result, tmp_path / "out")
    secrets = [v for v in settings.secrets.values() if isinstance(v, str)]
    units = list((tmp_path / "out").glob("*/systemd/*.service"))
    assert len(units) == len(all_services(settings))
    for unit in units:
        body = unit.read_text()
        assert not [s for s in secrets if s in body], unit
    connect = (tmp_path / "out" / "spark" / "systemd" / "lake-spark.service").read_text()
    assert "spark.hadoop.fs.s3a.secret.key=${LAKE_S3_SECRET_KEY}" in connect
    for env_file in (tmp_path / "out").glob("*/etc/lake/*.env"):
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600, env_file
    for config in (tmp_path / "out").glob("*/etc/lake/*/**/*"):
        if config.is_file():
            assert stat.S_IMODE(config.stat().st_mode) == 0o600, config


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze on this machine")
def test_systemd_accepts_the_units(settings, tmp_path):
    """`systemd-analyze verify` on every rendered unit. The binaries live under /opt/lake on the target hosts,
    not here, so its "Command … is not executable: No such file or directory" lines are the one class of
    complaint skipped; any other line (an unknown key, bad quoting, a bad signal or value) fails the test."""
    result = deploy.plan(settings, deploy.assign_hosts(all_services(settings)))
    deploy.write(result, tmp_path / "out")
    units = sorted(str(p) for p in (tmp_path / "out").glob("*/systemd/*.service"))
    run = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True)
    missing = re.compile(r"^lake-[\w-]+\.service: Command /\S+ is not executable: No such file or directory$")
    other = [ln for ln in (run.stdout + run.stderr).splitlines() if ln.strip() and not missing.match(ln)]
    assert other == []
