"""Start-up errors a user can act on (no service is started here)."""

import os
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest

from lakehouse import services
from lakehouse.core import settings as settings_module
from lakehouse.core.errors import ConfigError, MissingToolError, ServiceError
from lakehouse.core.settings import Settings, load_environment
from lakehouse.io import install

ROOT = Path(__file__).resolve().parents[2]


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
    with pytest.raises(ServiceError, match="unknown service hdfs; choose from .*airflow.*metastore.*postgres.*s3.*spark.*trino"):
        services.select(["hdfs"], Settings(load_environment("local")))


def test_status_of_a_stopped_stack(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    rows = services.status(Settings(load_environment("local")))
    assert [r["service"] for r in rows][:6] == ["s3", "postgres", "metastore", "spark", "events", "trino"]
    assert all(r["state"] == "stopped" for r in rows)


# ---- PostgreSQL -------------------------------------------------------------------------

def test_postgres_binaries_are_found():
    bindir = install.find_postgres(install=False)
    assert bindir.parent.parent == install.POSTGRES_ROOT and bindir.parent.name.isdigit()
    assert all((bindir / tool).exists() for tool in ("postgres", "initdb", "pg_ctl"))


def test_postgres_picks_the_newest_major_and_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(install, "POSTGRES_ROOT", tmp_path)
    for major, tools in (("13", ("postgres", "initdb", "pg_ctl")), ("16", ("postgres", "initdb", "pg_ctl")),
                         ("17", ("psql",))):  # a client-only install does not count
        (tmp_path / major / "bin").mkdir(parents=True)
        for tool in tools:
            (tmp_path / major / "bin" / tool).touch()
    assert install.find_postgres() == tmp_path / "16" / "bin"
    monkeypatch.setattr(install, "POSTGRES_ROOT", tmp_path / "none")
    monkeypatch.setattr(install.os, "geteuid", lambda: 1000)
    with pytest.raises(MissingToolError, match="apt-get install .*postgresql"):
        install.find_postgres()


def test_the_postgres_service_runs_our_own_cluster(tmp_path, monkeypatch):
    import signal

    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    settings = Settings(load_environment("test"))
    pg = services.select(["postgres"], settings)[0]
    cmd = pg.command()
    # pytest's tmp_path is under /tmp/pytest-of-root (drwx------) when we are root: out of the server's reach
    home = tmp_path / "postgres" if services.postgres_closed_folder(tmp_path) is None \
        else services.postgres_elsewhere(tmp_path)
    assert services.postgres_home(settings) == home and services.postgres_socket_dir(settings) == home / "run"
    data = home / "data"
    assert cmd[cmd.index("-D") + 1] == str(data) and cmd[cmd.index("-p") + 1] == "5542"
    assert "listen_addresses=127.0.0.1" in cmd
    assert f"unix_socket_directories={home / 'run'}" in cmd
    if os.geteuid() == 0:  # postgres refuses root; setpriv execs, so the recorded pid is the server's
        assert cmd[0] == "setpriv" and "--reuid=postgres" in cmd
    assert pg.marker in " ".join(cmd) and str(data) in pg.marker
    assert (pg.stop_signal, pg.stop_group) == (signal.SIGINT, False)  # fast shutdown, postmaster only
    assert pg.ports == [5542] and not pg.healthy() and pg.pid() is None


def test_a_stopped_source_database_says_to_start_it(tmp_path, monkeypatch):
    from lakehouse.io import sourcedb

    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setenv("LAKE_POSTGRES_PORT", str(port))
    settings = Settings(load_environment("local"))
    with pytest.raises(ServiceError, match=rf"127.0.0.1:{port}: nothing is listening. Start it with `lake up postgres`"):
        sourcedb.load_rows("ministry_db", "t", "id int PRIMARY KEY", [{"id": 1}], ["id"], settings=settings)


# ---- Hive Metastore -------------------------------------------------------------------------

def _local_settings(tmp_path, monkeypatch, **metastore) -> Settings:
    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    env = load_environment("local")
    for key, value in metastore.items():
        setattr(env.services.metastore, key, value)
    return Settings(env)


def test_the_metastore_listens_on_the_stack_host_and_keeps_its_tables_in_postgres(tmp_path, monkeypatch):
    import xml.etree.ElementTree as ET

    settings = _local_settings(tmp_path, monkeypatch)
    props = {p.findtext("name"): p.findtext("value")
             for p in ET.fromstring(services.metastore_site(settings)).iter("property")}
    assert props["metastore.thrift.bind.host"] == "127.0.0.1"  # never every interface
    assert props["metastore.thrift.port"] == "9083"
    assert props["javax.jdo.option.ConnectionURL"] == "jdbc:postgresql://127.0.0.1:5442/metastore"
    assert props["javax.jdo.option.ConnectionPassword"] == settings.secrets["metastore_db_password"]
    assert props["fs.s3a.secret.key"] == settings.s3_secret_key
    assert props["fs.s3.impl"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"  # Trino registers s3:// locations
    assert props["metastore.schema.verification"] == "true"


def test_spark_and_trino_use_the_same_metastore(tmp_path, monkeypatch):
    from lakehouse.io.spark import spark_conf
    from lakehouse.io.trino import catalog_properties

    settings = _local_settings(tmp_path, monkeypatch)
    monkeypatch.setattr(install, "spark_jars", lambda s=None: [])
    client_jars = [str(tmp_path / "hive-metastore-4.0.1.jar"), str(tmp_path / "hive-exec-4.0.1.jar")]
    monkeypatch.setattr(install, "metastore_classpath", lambda s=None, client=False: client_jars if client else [])
    conf = spark_conf(settings)
    catalog = dict(line.split("=", 1) for line in catalog_properties(settings).splitlines() if line)
    assert conf["spark.hadoop.hive.metastore.uris"] == "thrift://127.0.0.1:9083" == catalog["hive.metastore.uri"]
    assert catalog["hive.metastore"] == "thrift"
    assert conf["spark.sql.catalogImplementation"] == "hive"
    assert conf["spark.sql.hive.metastore.version"] == install.METASTORE_VERSION
    assert conf["spark.sql.hive.metastore.jars.path"].split(",") == [f"file://{j}" for j in client_jars]


def test_projections_are_interpreted_only_where_the_environment_says(tmp_path, monkeypatch):
    from lakehouse.io.spark import spark_conf

    monkeypatch.setattr(install, "spark_jars", lambda s=None: [])
    monkeypatch.setattr(install, "metastore_classpath", lambda s=None, client=False: [])
    settings = _local_settings(tmp_path, monkeypatch)
    assert settings.env.spark.interpreted_projections  # the demo's batches: thousands of rows
    assert spark_conf(settings)["spark.sql.codegen.factoryMode"] == "NO_CODEGEN"
    settings.env.spark.interpreted_projections = False  # the default: Spark compiles them
    assert "spark.sql.codegen.factoryMode" not in spark_conf(settings)


def test_an_external_metastore_is_used_and_not_started(tmp_path, monkeypatch):
    from lakehouse.io.trino import catalog_properties

    settings = _local_settings(tmp_path, monkeypatch, uri="thrift://hms.bo.gov.vn:9083")
    assert "metastore" not in {s.name for s in services.all_services(settings)}
    assert "hive.metastore.uri=thrift://hms.bo.gov.vn:9083" in catalog_properties(settings)


def test_deleted_metastore_jars_send_you_to_lake_install(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKE_CACHE", str(tmp_path / "cache"))
    settings = _local_settings(tmp_path, monkeypatch)
    with pytest.raises(MissingToolError, match="Hive Metastore is not installed.*lake install"):
        install.metastore_classpath(settings)
    folder = install.metastore_dir(settings)
    folder.mkdir(parents=True)
    (folder / "classpath.txt").write_text(f"{tmp_path / 'gone.jar'}")
    with pytest.raises(MissingToolError, match="gone from the Maven cache.*gone.jar.*lake install"):
        install.metastore_classpath(settings)


def test_a_service_starts_after_what_it_needs(tmp_path, monkeypatch):
    # the metastore's schema lives in PostgreSQL: PostgreSQL must answer before the metastore starts,
    # and `lake up metastore` alone starts it too
    settings = _local_settings(tmp_path, monkeypatch)
    names = [s.name for s in services.with_needs(services.select(["metastore"], settings), settings)]
    assert names == ["postgres", "metastore"]
    names = [s.name for s in services.with_needs(services.select(["airflow"], settings), settings)]
    assert names[0] == "postgres" and "airflow-api-server" in names
    order = [s.name for s in services.all_services(settings)]
    assert all(order.index(need) < order.index(s.name) for s in services.all_services(settings) for need in s.needs)


# ---- where PostgreSQL keeps its files (root runs the server as the `postgres` OS user) --------------

PG_UID, PG_GID, SSL_CERT = 101, 104, 103  # the postgres user, its group, a group it is also in


def _chain(*folders):
    return [(Path(path), stat_mode, owner, group) for path, stat_mode, owner, group in folders]


def test_a_private_home_keeps_the_postgres_user_out():
    chain = _chain(("/", 0o40755, 0, 0), ("/root", 0o40700, 0, 0), ("/root/lake", 0o40755, 0, 0))
    assert services.first_closed_folder(chain, PG_UID, {PG_GID, SSL_CERT}) == Path("/root")
    assert services.first_closed_folder(chain, 0, {0}) is None  # root enters anything


@pytest.mark.parametrize("mode, owner, group, reachable", [
    (0o40711, 1000, 1000, True),       # others may enter (not list)
    (0o40750, 1000, 1000, False),      # a developer's home, group-only
    (0o40750, 1000, SSL_CERT, True),   # ... whose group the postgres user is in
    (0o40705, 1000, PG_GID, False),    # the group's bits apply to members, not the others' bits
    (0o40700, PG_UID, PG_GID, True),   # its own folder
    (0o40070, PG_UID, PG_GID, False),  # the owner's bits apply to the owner
])
def test_the_mode_bits_that_let_the_postgres_user_in(mode, owner, group, reachable):
    chain = _chain(("/", 0o40755, 0, 0), ("/home", 0o40755, 0, 0), ("/home/dev", mode, owner, group))
    closed = services.first_closed_folder(chain, PG_UID, {PG_GID, SSL_CERT})
    assert closed == (None if reachable else Path("/home/dev"))


def test_postgres_files_move_out_of_a_folder_the_server_cannot_enter(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKE_HOME", str(tmp_path / "lake"))
    settings = Settings(load_environment("local"))
    state = settings.state_dir.resolve()
    # replaced where postgres_home looks it up (the package's name is a re-export)
    monkeypatch.setattr("lakehouse.services.postgres.postgres_closed_folder", lambda folder: None)
    assert services.postgres_home(settings) == state / "postgres"  # in place

    monkeypatch.setattr("lakehouse.services.postgres.postgres_closed_folder", lambda folder: Path("/root"))
    elsewhere = services.postgres_home(settings)
    assert elsewhere == services.postgres_elsewhere(state) and elsewhere.parent == services.POSTGRES_ELSEWHERE
    assert elsewhere.name.startswith("postgres-") and elsewhere != services.postgres_elsewhere(tmp_path)
    pg = services.select(["postgres"], settings)[0]  # status and down look for the server there
    assert pg.marker == f"postgres -D {elsewhere / 'data'}"

    (state / "postgres" / "data").mkdir(parents=True)  # a cluster already in place stays there
    (state / "postgres" / "data" / "PG_VERSION").write_text("15\n")
    assert services.postgres_home(settings) == state / "postgres"

    shutil.rmtree(state / "postgres")  # once moved, the symlink says where, whatever the folders' modes
    (state / "postgres").symlink_to(tmp_path / "moved")
    monkeypatch.setattr("lakehouse.services.postgres.postgres_closed_folder", lambda folder: None)
    assert services.postgres_home(settings) == tmp_path / "moved"
    assert services.postgres_socket_dir(settings) == tmp_path / "moved" / "run"


# ---- set-up on every `up`, and stopping ------------------------------------------------------

SLEEPER = "import time; time.sleep(60)"


def _started(service: services.Service) -> int:
    """Start ``service``; its pid once its command line shows (right after a fork it may still be empty)."""
    service.start()
    for _ in range(100):
        if service.pid():
            return service.pid()
        time.sleep(0.05)
    raise AssertionError(f"{service.name} did not start: {service.log_file.read_text()}")


def test_up_sets_up_a_service_it_finds_running(tmp_path, monkeypatch, capsys):
    # a failed `up` can leave a service running but not set up (S3 without its bucket): the next `up` sets it up
    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    settings = Settings(load_environment("local"))
    calls = []
    holder = []
    fake = services.Service("fake", [], lambda: [sys.executable, "-c", SLEEPER, "lake-test-fake"],
                            healthy=lambda: holder[0].pid() is not None, set_up=lambda: calls.append("set_up"),
                            marker="lake-test-fake", start_timeout=10, settings=settings)
    holder.append(fake)
    monkeypatch.setattr("lakehouse.services.stack.all_services", lambda s=None: [fake])  # where `up` finds it
    try:
        services.up(["fake"], settings)
        assert calls == ["set_up"]  # started, then set up
        services.up(["fake"], settings)
        assert calls == ["set_up", "set_up"]  # found running, set up again
        assert "fake: already running" in capsys.readouterr().out
    finally:
        fake.stop()
    assert fake.pid() is None


def test_up_refuses_a_port_someone_else_answers_on_but_restarts_a_portless_service_whose_state_is_stale(
        tmp_path, monkeypatch):
    """An Edge worker has no port: Airflow reports it working for a while after it crashed, and `up` must start it
    again (its own start waits for Airflow to count the old one lost) instead of blaming a stranger."""
    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    settings = Settings(load_environment("local"))
    answering = services.Service("fake-server", [59999], lambda: [sys.executable, "-c", SLEEPER, "lake-test-srv"],
                                 healthy=lambda: True, marker="lake-test-srv", start_timeout=10, settings=settings)
    worker = services.Service("fake-worker", [], lambda: [sys.executable, "-c", SLEEPER, "lake-test-worker"],
                              healthy=lambda: True, marker="lake-test-worker", start_timeout=10, settings=settings)
    monkeypatch.setattr("lakehouse.services.stack.all_services", lambda s=None: [answering, worker])
    with pytest.raises(ServiceError, match="fake-server: something not started by lake already answers"):
        services.up(["fake-server"], settings)
    assert answering.pid() is None  # nothing was started beside the stranger
    try:
        services.up(["fake-worker"], settings)
        deadline = time.monotonic() + 10  # started: its command line shows the marker once the exec is done
        while worker.pid() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.pid() is not None, worker.log_file.read_text()
    finally:
        worker.stop()


def _logged_pid(service, word: str) -> int | None:
    """The pid a test service printed after ``word`` in its log (waiting up to 10 s), or None."""
    for _ in range(100):
        words = service.log_file.read_text().split()
        if word in words:
            return int(words[words.index(word) + 1])
        time.sleep(0.1)
    return None


def test_down_kills_the_process_group_of_a_service_that_ignores_its_stop_signal(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    settings = Settings(load_environment("local"))
    child = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
             "time.sleep(60)")
    parent = ("import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              f"c = subprocess.Popen([sys.executable, '-c', {child!r}], stdout=subprocess.PIPE); "
              "c.stdout.readline(); print('child', c.pid, flush=True); time.sleep(60)")
    stubborn = services.Service("stubborn", [], lambda: [sys.executable, "-c", parent, "lake-test-stubborn"],
                                healthy=lambda: True, marker="lake-test-stubborn", stop_timeout=1,
                                stop_note="as this test wants", settings=settings)
    pid = _started(stubborn)
    child_pid = _logged_pid(stubborn, "child")
    assert pid and child_pid, stubborn.log_file.read_text()
    try:
        assert stubborn.stop()
        out = capsys.readouterr().out
        assert (f"stubborn: still running 1s after SIGTERM; sending SIGKILL to its process group {pid} "
                "(as this test wants)") in out
        assert not services._process_alive(pid)
        for _ in range(50):  # the child got the same SIGKILL; its exit is not waited for
            if not services._process_alive(child_pid):
                break
            time.sleep(0.1)
        assert not services._process_alive(child_pid)
        assert stubborn.pid() is None and not stubborn.pid_file.exists()
    finally:
        for p in (pid, child_pid):  # only if the test failed: ours alone, by pid
            if services._process_alive(p):
                os.kill(p, 9)


def test_down_stops_what_a_service_started_in_a_session_of_its_own(tmp_path, monkeypatch, capsys):
    # an Airflow Edge worker runs each task in a session of its own: the worker's process group misses it
    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    settings = Settings(load_environment("local"))
    task = "import time; print('ready', flush=True); time.sleep(60)"
    worker = ("import subprocess, sys, time; "
              f"c = subprocess.Popen([sys.executable, '-c', {task!r}], stdout=subprocess.PIPE, "
              "start_new_session=True); "
              "c.stdout.readline(); print('task', c.pid, flush=True); time.sleep(60)")
    service = services.Service("worker", [], lambda: [sys.executable, "-c", worker, "lake-test-worker"],
                               healthy=lambda: True, marker="lake-test-worker", settings=settings)
    pid = _started(service)
    task_pid = _logged_pid(service, "task")
    assert pid and task_pid, service.log_file.read_text()
    try:
        assert os.getsid(task_pid) != os.getsid(pid)
        assert service.stop()
        assert f"worker: stopping 1 process(es) it started that outlived it: [{task_pid}]" in capsys.readouterr().out
        for _ in range(50):
            if not services._process_alive(task_pid):
                break
            time.sleep(0.1)
        assert not services._process_alive(task_pid)
    finally:
        for p in (pid, task_pid):  # only if the test failed
            if p and services._process_alive(p):
                os.kill(p, 9)


def test_down_kills_at_once_when_the_service_says_its_stop_is_done(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    settings = Settings(load_environment("local"))
    stubborn = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
                "time.sleep(60)")
    asked: list[float] = []
    service = services.Service("done-early", [], lambda: [sys.executable, "-c", stubborn, "lake-test-done-early"],
                               healthy=lambda: "ready" in service.log_file.read_text(),
                               marker="lake-test-done-early", stop_timeout=30,
                               stop_done=lambda: bool(asked.append(time.monotonic())) or len(asked) >= 3,
                               stop_note="its work is done", settings=settings)
    pid = _started(service)
    try:
        service.wait_healthy(quiet=True)  # SIGTERM is ignored from here on
        started = time.monotonic()
        assert service.stop()
        assert time.monotonic() - started < 10  # not the 30 s timeout
        assert len(asked) == 3  # asked after each wait, and killed on the first yes
        assert "sending SIGKILL to its process group" in capsys.readouterr().out
        assert not services._process_alive(pid)
    finally:
        if services._process_alive(pid):
            os.kill(pid, 9)


def test_the_s3_volume_server_is_closed_half_a_second_after_its_ports_close(monkeypatch):
    from lakehouse.services import s3

    port = 18080
    listening = {port: True, port + 10000: True}  # its HTTP and gRPC ports
    monkeypatch.setattr(s3, "port_open", lambda host, p: listening[p])
    done = s3.volume_closed(Settings(load_environment("local")), port)
    assert not done()
    listening[port] = False
    assert not done()  # its gRPC port still answers
    listening[port + 10000] = False
    assert not done()  # closed just now: its files are being closed
    time.sleep(s3.VOLUME_CLOSE_SECONDS + 0.1)
    assert done()


def test_down_stops_a_polite_service_without_sigkill(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    settings = Settings(load_environment("local"))
    polite = services.Service("polite", [], lambda: [sys.executable, "-c", SLEEPER, "lake-test-polite"],
                              healthy=lambda: True, marker="lake-test-polite", stop_timeout=30, settings=settings)
    pid = _started(polite)
    started = time.monotonic()
    assert polite.stop() and not services._process_alive(pid)
    assert time.monotonic() - started < 25  # it went on SIGTERM, not on the timeout's SIGKILL
    assert "SIGKILL" not in capsys.readouterr().out
    assert not polite.stop()  # stopping a stopped service: nothing to do


def test_the_s3_server_stops_without_its_ten_second_pre_stop_wait(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    monkeypatch.setattr(install, "weed_binary", lambda settings=None: Path("/opt/weed"))
    settings = Settings(load_environment("local"))
    s3 = services.select(["s3"], settings)[0]
    assert "-volume.preStopSeconds=0" in s3.command()
    assert s3.stop_timeout == services.S3_STOP_TIMEOUT < 30 and s3.stop_note
    cfg = settings.env.services.s3
    # every port weed listens on, the S3 API's gRPC port (+10000) included
    assert sorted(s3.ports) == sorted(p + d for p in (cfg.port, cfg.master_port, cfg.volume_port, cfg.filer_port)
                                      for d in (0, 10000))


def test_a_trino_nobody_runs_is_named_with_what_to_do(tmp_path, monkeypatch):
    from lakehouse.io import trino

    settings = _local_settings(tmp_path, monkeypatch)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.env.services.trino.port = port
    settings.trino_cert.parent.mkdir(parents=True)
    settings.trino_cert.write_text("not read: the connection is refused before TLS")
    monkeypatch.setattr(Settings, "secrets", {"trino_password": "x"})
    with pytest.raises(ServiceError, match=rf"cannot reach Trino at https://127.0.0.1:{port} \(Connection refused\).*lake up trino"):
        trino.query("SELECT 1", settings)


def test_a_refused_s3_write_names_the_object_and_the_server_log(tmp_path, monkeypatch):
    from minio.error import S3Error

    from lakehouse.core.errors import StorageError
    from lakehouse.io import storage

    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    settings = Settings(load_environment("local"))
    settings.s3_data_dir.mkdir()  # the stack's own S3 server, on a disk with room: its log is where to look
    with pytest.raises(StorageError) as err:
        with storage._storing("landing/citizens/2026-11-20/a.csv", settings):
            raise S3Error(None, "InternalError", "We encountered an internal error, please try again.",
                          "/lake/landing/citizens/2026-11-20/a.csv", "r1", None)
    message = str(err.value)
    assert f"did not store s3://{settings.bucket}/landing/citizens/2026-11-20/a.csv: InternalError" in message
    assert "nothing of it was stored" in message and str(tmp_path / "logs" / "s3.log") in message
    assert "disk is full" not in message  # the drill in test_fault_drills fills a real disk


def test_an_s3_write_to_a_stopped_server_says_to_start_it(tmp_path, monkeypatch):
    import urllib3

    from lakehouse.core.errors import StorageError
    from lakehouse.io import storage

    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    settings = Settings(load_environment("local"))
    refused = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: [Errno 111]")
    with pytest.raises(StorageError) as err:
        with storage._storing("landing/x/2026-11-20/a.csv", settings):
            raise urllib3.exceptions.MaxRetryError(None, "/lake/landing/x/2026-11-20/a.csv", refused)
    message = str(err.value)
    assert "nothing answers there (connection refused)" in message and "`lake up s3`" in message


def test_a_metastore_trino_cannot_reach_is_named_with_what_to_do(monkeypatch):
    """Trino answers, but its catalog's metastore does not (seen when `lake up` started only some services)."""
    from trino.exceptions import TrinoExternalError

    from lakehouse.io import trino

    error = {"errorName": "HIVE_METASTORE_ERROR", "errorType": "EXTERNAL", "errorCode": 16777216,
             "message": "Error listing tables for catalog lake: Failed connecting to Hive metastore: [127.0.0.1:9183]"}

    def refused(*_):
        raise TrinoExternalError(error, "20261203_064811_00001_uxzms")

    monkeypatch.setattr(trino, "_query_once", refused)
    with pytest.raises(ServiceError, match=r"cannot reach the Hive metastore \(.*127.0.0.1:9183\]\).*lake up metastore"):
        trino.query("SELECT 1", None)


# ---- the `cluster` environment: each engine as separate processes ----------------------------------------

def _cluster_settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setattr(install, "spark_jars", lambda s=None: ["/cache/jars/delta.jar", "/cache/jars/aws.jar"])
    monkeypatch.setattr(install, "metastore_classpath", lambda s=None, client=False: [])
    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    return Settings(load_environment("cluster"))


def test_the_cluster_runs_each_engine_as_members_beside_the_other_stacks(tmp_path, monkeypatch):
    settings = _cluster_settings(tmp_path, monkeypatch)
    members = services.all_services(settings)
    names = [s.name for s in members]
    assert names == [
        "s3-master", "s3-volume-1", "s3-volume-2", "s3-volume-3", "s3-filer", "s3", "postgres", "metastore",
        "spark-master", "spark-worker-1", "spark-worker-2", "spark", "events", "trino-worker-1", "trino",
        "airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "airflow-worker-1",
        "airflow-worker-2", "sharing", "portal"]
    assert all(names.index(need) < names.index(s.name) for s in members for need in s.needs)
    # `lake up spark` starts the master and both workers with the Connect server
    assert [s.name for s in services.select(["spark"], settings)] == names[8:12]
    ports = [p for s in members for p in s.ports]
    assert len(ports) == len(set(ports))  # every member its own ports, as on hosts of their own
    others = {p for env in ("local", "test") for s in services.all_services(Settings(load_environment(env)))
              for p in s.ports}
    assert not set(ports) & others  # the three stacks can run side by side
    monkeypatch.setattr(settings_module, "CONFIG_DIR", ROOT / "bench" / "tpch_config")
    bench = [p for env in ("bench", "bench-cluster") for s in services.all_services(Settings(load_environment(env)))
             for p in s.ports]
    assert len(bench) == len(set(bench)) and not set(bench) & (set(ports) | others)  # and the TPC-H benchmark's two


def test_seaweedfs_members_keep_their_own_folders_and_replicate(tmp_path, monkeypatch):
    settings = _cluster_settings(tmp_path, monkeypatch)
    by_name = {s.name: s for s in services.select(["s3"], settings)}
    master, filer = by_name["s3-master"].command(), by_name["s3-filer"].command()
    assert "-defaultReplication=001" in master and "-defaultReplicaPlacement=001" in filer
    volumes = [by_name[f"s3-volume-{n}"].command() for n in (1, 2, 3)]
    assert [c[1] for c in volumes] == ["volume"] * 3
    assert len({next(a for a in c if a.startswith("-dir=")) for c in volumes}) == 3
    assert all(f"-mserver=127.0.0.1:{settings.env.services.s3.master_port}" in c for c in volumes)
    gateway = by_name["s3"].command()
    assert gateway[1] == "s3" and f"-filer=127.0.0.1:{settings.env.services.s3.filer_port}" in gateway
    # one volume server (local, test): the single `weed server` of old
    assert [s.name for s in services.select(["s3"], Settings(load_environment("local")))] == ["s3"]


def test_spark_executors_run_on_the_workers_with_the_jars_on_their_class_path(tmp_path, monkeypatch):
    from lakehouse.io.spark import spark_conf

    settings = _cluster_settings(tmp_path, monkeypatch)
    conf = spark_conf(settings)
    assert conf["spark.master"] == "spark://127.0.0.1:7277"
    # no spark.jars: Spark would copy the 640 MB AWS bundle to every executor of every application
    assert "spark.jars" not in conf
    assert conf["spark.executor.extraClassPath"] == conf["spark.driver.extraClassPath"] == \
        "/cache/jars/delta.jar:/cache/jars/aws.jar"
    assert (conf["spark.executor.cores"], conf["spark.executor.memory"]) == ("1", "1g")
    assert (conf["spark.ui.enabled"], conf["spark.ui.port"]) == ("true", "4240")  # its REST API names the workers
    worker = services.select(["spark-worker-2"], settings)[0].command()
    assert worker[-1] == "spark://127.0.0.1:7277" and worker[worker.index("--port") + 1] == "7279"
    local = spark_conf(_local_settings(tmp_path, monkeypatch))
    assert local["spark.ui.enabled"] == "false" and not any(k.startswith("spark.executor.") for k in local)


def test_a_trino_worker_finds_the_coordinator_which_only_schedules(tmp_path, monkeypatch):
    from lakehouse.services import trino_server

    settings = _cluster_settings(tmp_path, monkeypatch)
    monkeypatch.setitem(settings.secrets, "trino_shared_secret", "s3cr3t")

    def props(text):
        return dict(line.split("=", 1) for line in text.splitlines() if line)

    coordinator = props(trino_server._config_properties(settings))
    worker = props(trino_server._worker_config_properties(settings, 8681))
    assert coordinator["node-scheduler.include-coordinator"] == "false"
    assert (worker["coordinator"], worker["http-server.https.port"]) == ("false", "8681")
    assert worker["discovery.uri"] == coordinator["discovery.uri"] == "https://127.0.0.1:8680"
    assert worker["internal-communication.shared-secret"] == coordinator["internal-communication.shared-secret"]
    assert "http-server.authentication.type" not in worker  # clients never call a worker
    assert coordinator["query.max-memory"] == "1024MB"  # one worker's share of a 2G heap
    single = props(trino_server._config_properties(_local_settings(tmp_path, monkeypatch)))
    assert single["node-scheduler.include-coordinator"] == "true"


def test_edge_workers_reach_only_the_api_server(tmp_path, monkeypatch):
    from lakehouse.orchestration import airflow_env

    settings = _cluster_settings(tmp_path, monkeypatch)
    central = airflow_env.environment(settings)
    assert central["AIRFLOW__CORE__EXECUTOR"] == "airflow.providers.edge3.executors.EdgeExecutor"
    assert central["AIRFLOW__EDGE__API_ENABLED"] == "True"
    assert central["AIRFLOW__EDGE__API_URL"] == "http://127.0.0.1:8690/edge_worker/v1/rpcapi"
    worker = airflow_env.worker_environment(settings, "airflow-worker-2")
    assert not any(key.startswith("AIRFLOW__DATABASE__") for key in worker)  # no metadata database
    assert worker["AIRFLOW__API_AUTH__JWT_SECRET"] == central["AIRFLOW__API_AUTH__JWT_SECRET"]  # signs its calls
    assert worker["AIRFLOW_HOME"] == central["AIRFLOW_HOME"] + "/airflow-worker-2"  # a home of its own
    command = services.select(["airflow-worker-2"], settings)[0].command()
    assert command[command.index("--edge-hostname") + 1] == "airflow-worker-2"
    assert command[command.index("--concurrency") + 1] == "1"
    local = airflow_env.environment(_local_settings(tmp_path, monkeypatch))
    assert local["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor" and "AIRFLOW__EDGE__API_ENABLED" not in local
    assert not any(s.name.startswith("airflow-worker") for s in services.all_services(_local_settings(tmp_path,
                                                                                                      monkeypatch)))


def test_a_lost_task_is_failed_after_the_time_the_shell_gives_and_a_bad_value_is_refused(tmp_path, monkeypatch):
    from lakehouse.orchestration import airflow_env

    settings = _cluster_settings(tmp_path, monkeypatch)
    monkeypatch.delenv("LAKE_AIRFLOW_LOST_TASK_SECONDS", raising=False)
    assert airflow_env.environment(settings)["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"] == "60"
    monkeypatch.setenv("LAKE_AIRFLOW_LOST_TASK_SECONDS", "20")
    assert airflow_env.environment(settings)["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"] == "20"
    for bad in ("10", "1m"):  # under a task's heartbeat margin, not a number
        monkeypatch.setenv("LAKE_AIRFLOW_LOST_TASK_SECONDS", bad)
        with pytest.raises(ConfigError, match="LAKE_AIRFLOW_LOST_TASK_SECONDS"):
            airflow_env.environment(settings)
    # `lake up airflow` refuses it before it starts anything (PostgreSQL, which Airflow needs, came first)
    monkeypatch.setattr(services.Service, "start", lambda self: pytest.fail(f"{self.name} was started"))
    with pytest.raises(ConfigError, match="LAKE_AIRFLOW_LOST_TASK_SECONDS='1m'"):
        services.up(["airflow"], settings)

