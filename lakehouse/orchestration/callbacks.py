"""Airflow task callbacks: record a failed try in the run log, and a test-only fail-once hook.

Imported by the DAG file, so it imports nothing heavy at module level.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path

# task id prefix (the job) → the run log's layer for that job
LAYERS = {"land": "land", "bronze": "bronze", "silver": "silver", "gold": "gold", "publish": "publish",
          "maintain": "maintenance", "freshness": "freshness"}


def task_dataset(task_id: str) -> tuple[str, str] | None:
    """``silver__communes`` → ``("silver", "communes")``; None for a task that is not a job (pure)."""
    job, sep, dataset = task_id.partition("__")
    return (LAYERS[job], dataset) if sep and job in LAYERS and dataset else None


def failure_row(context, log_folder: str | None = None) -> "object | None":
    """The run-log accounting for a failed try: status failed, error naming the task, try and cause.

    Its ``started_at`` is the try's own start (from the task instance, or else the first line of the
    try's log): the callback of a lost try runs in the dag-processor, often after the next try has
    already succeeded, and the run log is read in the order the tries started.
    """
    from lakehouse.engine import jobrun

    ti = context["ti"]
    parsed = task_dataset(ti.task_id)
    if parsed is None:
        return None
    layer, dataset = parsed
    run = context["dag_run"]
    day = (run.logical_date or run.run_after).date().isoformat()
    exc = context.get("exception")
    records = [] if exc is not None and getattr(ti, "start_date", None) else try_log(ti, log_folder)
    cause = f"{exc.__class__.__name__}: {exc}" if exc is not None else ended_without_error(records)
    acc = jobrun.Accounting(dataset, layer, jobrun.batch_id(dataset, day), status="failed",
                            error=f"airflow task {ti.dag_id}.{ti.task_id} try {ti.try_number} failed: {cause}"[:2000],
                            extra={"dag_id": ti.dag_id, "task_id": ti.task_id, "try_number": ti.try_number,
                                   "run_id": run.run_id, "recorded_by": "airflow callback"})
    started = try_started(ti, records)
    if started is not None:
        acc.started_at = jobrun.iso(started)
    acc.finished_at = jobrun.now_iso()
    return acc


def try_log(ti, log_folder: str | None = None) -> list[dict]:
    """The records of the try's log (``[logging] base_log_folder``, Airflow's default file names); [] if unread."""
    folder = log_folder or os.environ.get("AIRFLOW__LOGGING__BASE_LOG_FOLDER", "")
    path = (Path(folder) / f"dag_id={ti.dag_id}" / f"run_id={getattr(ti, 'run_id', '')}"
            / f"task_id={ti.task_id}" / f"attempt={ti.try_number}.log")
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


TRY_STARTS = "::group::Pre Execute"  # the first record the task runner writes for a try


def try_started(ti, records: list[dict]) -> "dt.datetime | None":
    """When the try started: the task instance's start, else the last start record in its log (a run id used
    again, as after a database reset, appends to the same file); None if neither says."""
    start = getattr(ti, "start_date", None)
    if start is not None:
        return start
    stamp = next((r.get("timestamp") for r in reversed(records) if r.get("event") == TRY_STARTS), None)
    try:
        return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) if isinstance(stamp, str) else None
    except ValueError:
        return None


def ended_without_error(records: list[dict]) -> str:
    """Why a try failed that raised nothing: the task process ended (a kill, out of memory, lost).

    Airflow runs this callback in another process then, with no exception; the task's supervisor
    wrote how the process ended into the try's log (``Process terminated by signal``).
    """
    for record in reversed(records[-50:]):
        if record.get("signal_name"):
            return (f"the task process was killed by {record['signal_name']} (exit code {record.get('signal')}; "
                    "SIGKILL is often the out-of-memory killer)")
    return "the task process ended without raising an error (killed, out of memory or lost); see the try's log"


def record_failure(context) -> None:
    """on_retry/on_failure callback: append a failed row to ``ops/run_log`` (never raises)."""
    try:
        acc = failure_row(context)
        if acc is None:
            return
        from lakehouse.core.settings import get_settings
        from lakehouse.engine import runlog
        runlog.record(acc, get_settings())  # a callback is an entry point: Airflow calls it
        print(f"[runlog] recorded failure: {acc.error}", flush=True)
    except Exception as exc:  # a callback must not hide the task's own failure
        print(f"[runlog] warning: could not record the failure: {exc.__class__.__name__}: {exc}",
              file=sys.stderr, flush=True)
    finally:
        try:
            from lakehouse.io.spark import stop_sessions
            stop_sessions()
        except Exception:
            pass


def inputs_exist(context) -> None:
    """pre_execute of a gold task: skip (not fail) while one of its inputs has never been loaded.

    A gold DAG runs when any input changes; on the first load of a domain the
    other inputs may not exist yet, and their own first load triggers it again.
    """
    from airflow.sdk.exceptions import AirflowSkipException

    from lakehouse.config.spec import load_specs

    fail_once_for_tests(context)
    parsed = task_dataset(context["ti"].task_id)
    if parsed is None:
        return
    specs = load_specs()
    missing = [d for d in specs[parsed[1]].depends_on if not _table_exists(f"{specs[d].layer}/{d}")]
    if missing:
        raise AirflowSkipException(f"{', '.join(missing)} not loaded yet; this gold table is built once it is")


def _table_exists(prefix: str) -> bool:
    """A Delta table is at ``prefix`` (its log has an object); reads one page of the listing at most."""
    from lakehouse.core.settings import get_settings
    from lakehouse.io import storage

    settings = get_settings()
    listing = storage.client(settings).list_objects(settings.bucket, prefix=f"{prefix}/_delta_log/")
    return next(iter(listing), None) is not None


def fail_once_for_tests(context) -> None:
    """Test hook: with ``LAKE_TEST_FAIL_ONCE_DIR`` set, a marker file ``<dag_id>.<task_id>`` there makes
    that task's next try fail (the marker is removed), so a test can watch a retry. Unset: nothing."""
    folder = os.environ.get("LAKE_TEST_FAIL_ONCE_DIR")
    if not folder:
        return
    ti = context["ti"]
    marker = Path(folder) / f"{ti.dag_id}.{ti.task_id}"
    if marker.exists():
        marker.unlink()
        raise RuntimeError(f"test hook: {marker} asked this try to fail")
