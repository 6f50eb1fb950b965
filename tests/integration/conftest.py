"""The real stack for integration tests: S3 (SeaweedFS), PostgreSQL, the Hive Metastore, Spark Connect,
the query-events receiver and Trino.

Started through the same code as `lake up`, in the `test` environment (its own
ports and state folder); what the fixture started, it stops.
"""

import pytest


# Modules that kill and restart a server of the shared stack run after every other test: a restarted
# JVM (Spark Connect, Trino) compiles its hot code again, which made the tests after a drill slower.
RESTARTS_SERVERS = ("test_fault_drills.py",)


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
    items.sort(key=lambda item: item.path.name in RESTARTS_SERVERS)  # stable: the rest keep their order


@pytest.fixture(scope="session")
def stack():
    from lakehouse import services
    from lakehouse.core.settings import get_settings
    from lakehouse.io.install import install_all

    settings = get_settings()
    assert settings.env.name == "test", "integration tests must run in the `test` environment"
    install_all(settings)
    names = ["s3", "postgres", "metastore", "spark", "events", "trino"]
    wanted = services.select(names, settings)
    already = {s.name for s in wanted if s.pid() is not None}
    services.up(names, settings)
    yield settings
    from lakehouse.io.spark import stop_sessions
    stop_sessions()  # a client left open retries its stopped server for minutes at exit
    ours = [s.name for s in wanted if s.name not in already]
    if ours:  # down([]) would mean every service, also those someone else started
        services.down(ours, settings)
