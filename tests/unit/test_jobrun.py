"""One job per dataset at a time: the second waits for the first and says for which run."""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOLDER = """
import sys, time
from lakehouse.core.settings import get_settings
from lakehouse.engine import jobrun
with jobrun.exclusive("citizens", sys.argv[1], get_settings()):
    open(sys.argv[2], "a").write(f"start {sys.argv[1]}\\n")
    time.sleep(float(sys.argv[3]))
    open(sys.argv[2], "a").write(f"end {sys.argv[1]}\\n")
"""


def job(tmp_path, name: str, hold: float) -> subprocess.Popen:
    env = {**os.environ, "LAKE_HOME": str(tmp_path / "state")}
    return subprocess.Popen([sys.executable, "-c", HOLDER, name, str(tmp_path / "order.txt"), str(hold)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_second_run_of_a_dataset_waits_for_the_first_and_names_it(tmp_path):
    first = job(tmp_path, "silver citizens@2026-03-01", 3.0)
    order = tmp_path / "order.txt"
    while not order.exists():  # the first holds the lock
        assert first.poll() is None, first.communicate()[0]
        time.sleep(0.05)
    second = job(tmp_path, "bronze citizens@2026-03-02", 0.0)
    out_second = second.communicate(timeout=60)[0]
    first.communicate(timeout=60)
    assert (first.returncode, second.returncode) == (0, 0), out_second
    assert order.read_text().split("\n")[:4] == ["start silver citizens@2026-03-01", "end silver citizens@2026-03-01",
                                                 "start bronze citizens@2026-03-02", "end bronze citizens@2026-03-02"]
    assert "citizens: waiting for silver citizens@2026-03-01 (pid" in out_second


def test_the_lock_is_reentrant_and_per_dataset(tmp_path, monkeypatch):
    from lakehouse.core import settings
    from lakehouse.engine import jobrun

    monkeypatch.setenv("LAKE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(settings, "_settings", None)  # the process-wide settings, restored after the test
    ours = settings.get_settings()
    with jobrun.exclusive("citizens", "silver", ours):
        with jobrun.exclusive("citizens", "publish", ours):  # the same process: no deadlock
            with jobrun.exclusive("enterprises", "bronze", ours):
                assert jobrun._held == {"citizens", "enterprises"}
    assert jobrun._held == set()
