"""A stack a failed `lake up` left half set up is completed by the next `lake up`.

The S3 server runs on its own state folder and ports, through `lake` in a subprocess,
so the session's `stack` fixture (environment `test`) is neither used nor disturbed.
"""

import os
import socket
import subprocess
import sys
import time

import pytest

from lakehouse import services
from lakehouse.core.settings import REPO_ROOT, Settings, load_environment
from lakehouse.io import storage

S3_VARS = ("LAKE_S3_PORT", "LAKE_S3_MASTER_PORT", "LAKE_S3_VOLUME_PORT", "LAKE_S3_FILER_PORT")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _s3_ports() -> dict[str, str]:
    """S3, master, volume and filer ports (and each +10000 for gRPC) that nothing listens on."""
    for base in range(21400, 22000, 10):
        ports = [base, base + 1, base + 2, base + 3]
        if all(_free(p) and _free(p + 10000) for p in ports):
            return dict(zip(S3_VARS, map(str, ports)))
    pytest.skip("no free ports for a second S3 server in 21400-22000")


def test_up_creates_the_bucket_of_an_s3_server_it_finds_running(tmp_path, monkeypatch):
    env = {**os.environ, "LAKE_ENV": "test", "LAKE_HOME": str(tmp_path / "lake"), **_s3_ports()}

    def lake(*args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "lakehouse.cli", *args], cwd=REPO_ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    for name in ("LAKE_ENV", "LAKE_HOME", *S3_VARS):  # the same settings in this process, to reach that S3
        monkeypatch.setenv(name, env[name])
    settings = Settings(load_environment("test"))
    s3_service = services.select(["s3"], settings)[0]
    try:
        lake("up", "--no-install", "s3")
        s3 = storage.client(settings)
        assert s3.bucket_exists(settings.bucket)
        s3.remove_bucket(settings.bucket)  # what a start that failed before its set-up leaves
        assert not s3.bucket_exists(settings.bucket)

        out = lake("up", "--no-install", "s3")
        assert "s3: already running" in out and f"s3: created bucket {settings.bucket}" in out
        assert s3.bucket_exists(settings.bucket)
    finally:
        pid = s3_service.pid()
        started = time.monotonic()
        out = lake("down", "s3")
        print(f"lake down s3: {time.monotonic() - started:.1f}s\n{out}")
        if pid and s3_service._still_ours(pid):  # only if `down` failed: the server this test started
            os.killpg(pid, 9)
    assert s3_service.pid() is None
