"""The callable of every job task: ``jobs.<job>.run(dataset, date)`` in the Airflow task's own process.

Each task is still a process of its own (Airflow forks one per try, so a crash, a kill or an
out-of-memory end stays inside its try), but a warm one: forked from a scheduler that imported
the jobs' libraries first (`orchestration/preload.py`), it does not pay PySpark's and Great
Expectations' imports again, as a `python -m jobs.<job>` command did.  Under `airflow dags
test` (`lake run --airflow`) the tasks run in that one process, one after the other.

A task process holds the code the scheduler imported when it started.  When a file of ours has
changed since (a deployment, an edit), the task runs the job as a new process instead, with the
code on disk, and says that restarting the scheduler makes the tasks warm again.

While it runs, the process is titled as the command that runs the same job by hand, so `ps`
shows which job a task process is running.
"""

from __future__ import annotations

import importlib
import logging
import os
import subprocess
import sys
import time

from lakehouse.core.settings import REPO_ROOT


def command(job: str, dataset: str, date: str) -> str:
    """The command that runs the same job by hand."""
    return f"python -m jobs.{job} --dataset {dataset} --date {date}"


def run(job: str, dataset: str, date: str) -> None:
    """Run ``jobs.<job>`` for ``dataset`` and ``date``; its error, if any, fails the task (and is logged)."""
    changed = stale_modules()
    if changed:
        print(f"[lake] {len(changed)} file(s) changed since the scheduler imported them ({', '.join(changed[:3])}"
              f"{', ...' if len(changed) > 3 else ''}): running `{command(job, dataset, date)}` as a new process; "
              "restart the scheduler (`lake down airflow-scheduler && lake up airflow-scheduler`) to start "
              "tasks warm again", flush=True)
        args = [sys.executable, "-m", f"jobs.{job}", "--dataset", dataset, "--date", date]
        code = subprocess.run(args, cwd=REPO_ROOT).returncode
        if code:
            raise RuntimeError(f"`{command(job, dataset, date)}` failed with exit code {code}")
        return
    from setproctitle import getproctitle, setproctitle  # Airflow's own dependency

    _quiet_spark_connect_log()
    title = getproctitle()
    setproctitle(f"lake job: {command(job, dataset, date)}")
    started = time.monotonic()
    try:
        importlib.import_module(f"jobs.{job}").run(dataset, date)
    finally:
        setproctitle(title)
    print(f"done in {time.monotonic() - started:.1f}s", flush=True)


def stale_modules() -> list[str]:
    """Files of ours (under the repository) that changed after the scheduler this process was forked
    from imported them (`orchestration/preload.py`); none when it was not forked from one."""
    from lakehouse.orchestration import preload

    if preload.AT is None:
        return []
    root, changed = str(REPO_ROOT) + os.sep, []
    for name in preload.HELD:
        path = getattr(sys.modules.get(name), "__file__", None) or ""
        if path.startswith(root) and os.sep + "site-packages" + os.sep not in path:
            try:
                stale = os.stat(path).st_mtime > preload.AT
            except OSError:  # removed or moved since
                stale = True
            if stale:
                changed.append(os.path.relpath(path, REPO_ROOT))
    return sorted(changed)


def _quiet_spark_connect_log() -> None:
    """Keep PySpark's Spark Connect log off, as PySpark leaves it unless ``SPARK_CONNECT_LOG_LEVEL`` is set.

    Airflow's logging set-up enables every logger that exists when it runs, and in a task forked from
    the preloaded scheduler PySpark's exists: each expected error (a table not created yet) would then
    show in the task log as an ERROR with its gRPC stack.
    """
    if "SPARK_CONNECT_LOG_LEVEL" not in os.environ:
        logging.getLogger("pyspark.sql.connect.logging").disabled = True
