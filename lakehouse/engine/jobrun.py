"""What every job entry point shares: arguments, batch ids, row accounting."""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import os
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Iterator, TypeVar

from lakehouse.config.spec import load_specs
from lakehouse.core.errors import LakeError
from lakehouse.core.settings import Settings

T = TypeVar("T")


@dataclass
class Accounting:
    """Rows in = rows written + rows quarantined + duplicates collapsed."""

    dataset: str
    layer: str
    batch_id: str
    rows_in: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    duplicates_collapsed: int = 0
    rows_skipped: int = 0  # already ingested (a file landed twice)
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)
    status: str = "running"
    error: str | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: str = field(default_factory=lambda: now_iso())
    finished_at: str | None = None
    spark: Any = field(default=None, repr=False, compare=False)  # the session, when the job opened one
    # operational rows (quality results, scores) to commit with the run-log row: [(DataFrame, uri)]
    pending: list = field(default_factory=list, repr=False, compare=False)

    @property
    def balanced(self) -> bool:
        return self.rows_in == self.rows_written + self.rows_quarantined + self.duplicates_collapsed

    def check(self) -> None:
        if not self.balanced:
            raise LakeError(
                f"{self.layer} {self.dataset}: row accounting does not balance for batch {self.batch_id}: "
                f"in {self.rows_in} != written {self.rows_written} + quarantined {self.rows_quarantined} "
                f"+ duplicates {self.duplicates_collapsed}")

    def report(self) -> None:
        print(f"[{self.layer}] {self.dataset}: in={self.rows_in} written={self.rows_written} "
              f"quarantined={self.rows_quarantined} duplicates={self.duplicates_collapsed} "
              f"({self.seconds:.1f}s, batch {self.batch_id})", flush=True)
        print("ACCOUNTING " + json.dumps(self.as_dict(), default=str), flush=True)

    def as_dict(self) -> dict:
        # not dataclasses.asdict: it deep-copies every field, and a local SparkSession refuses to be copied
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("spark", "pending")}


_held: set[str] = set()  # datasets whose run lock this process holds


@contextmanager
def exclusive(dataset: str, doing: str, settings: Settings) -> Iterator[None]:
    """One job of ``dataset`` at a time on this machine: a second one waits, and says for which run.

    Two `lake ingest` runs, or a `lake run` beside a scheduled task, would otherwise race their
    MERGEs into one table (one fails) or read a half-done batch.  The lock is a file under
    ``<state>/locks/`` held with flock, so it is released when the process ends, even killed.
    Re-entrant within a process.  (Airflow's per-dataset pools serialise its own tasks on any
    number of machines; this lock covers one machine.)
    """
    if dataset in _held:
        yield
        return
    folder = settings.state_dir / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{dataset}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    with os.fdopen(fd, "r+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = lock.read().strip() or "another run"
            print(f"[lake] {dataset}: waiting for {holder} to finish", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        lock.truncate()
        lock.write(f"{doing} (pid {os.getpid()}, since {now_iso()})")
        lock.flush()
        _held.add(dataset)
        try:
            yield
        finally:
            _held.discard(dataset)
            lock.seek(0)
            lock.truncate()


@contextmanager
def logged(acc: Accounting, settings: Settings) -> Iterator[Accounting]:
    """Time a job, then write its accounting to the run log (``ops/run_log``), failed or not.

    The job holds its dataset's run lock (:func:`exclusive`) throughout.
    """
    with exclusive(acc.dataset, f"{acc.layer} {acc.batch_id}", settings):
        with _logged(acc, settings):
            yield acc


@contextmanager
def _logged(acc: Accounting, settings: Settings) -> Iterator[Accounting]:
    started = time.monotonic()
    try:
        yield acc
        acc.status = "success"
    except BaseException as exc:
        acc.status = "failed"
        acc.error = f"{exc.__class__.__name__}: {exc}"
        raise
    finally:
        acc.seconds = time.monotonic() - started
        acc.finished_at = now_iso()
        from lakehouse.engine import runlog
        quality_rows = bool(acc.pending)
        try:
            runlog.record(acc, settings)
        except Exception as exc:  # the job's own outcome matters more than its log line
            if quality_rows and acc.status == "success":  # but its quality results must not be lost
                raise LakeError(f"{acc.layer} {acc.dataset}: the batch was written but its quality results "
                                f"and run-log row were not: {exc.__class__.__name__}: {exc}") from exc
            print(f"[runlog] warning: could not write the run log: {exc.__class__.__name__}: {exc}",
                  file=sys.stderr, flush=True)
        if acc.status == "success":
            acc.report()


def dataset_spec(name: str, kind: type[T], why: str) -> T:
    """The spec of ``name``, which must be of ``kind`` (source or gold) for this job."""
    spec = load_specs()[name]
    if not isinstance(spec, kind):
        raise LakeError(f"{name} is a {spec.layer} dataset: {why}")
    return spec


def batch_id(dataset: str, date: str) -> str:
    """The batch of a dataset for one logical date: re-running the date reuses it."""
    return f"{dataset}@{date}"


def now_iso() -> str:
    return iso(dt.datetime.now(dt.timezone.utc))


def iso(moment: dt.datetime) -> str:
    """An aware time as the run log writes it: UTC, microseconds, ``Z``."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _date(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def main(description: str, run: Callable[[str, str], object]) -> None:
    """Parse ``--dataset NAME --date YYYY-MM-DD`` and run; print errors without a traceback."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dataset", required=True, help="dataset name from lake_config/datasets")
    parser.add_argument("--date", type=_date, default=dt.date.today().isoformat(),
                        help="logical date of the batch (default: today)")
    args = parser.parse_args()
    started = time.monotonic()
    try:
        run(args.dataset, args.date)
    except LakeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    print(f"done in {time.monotonic() - started:.1f}s", flush=True)
