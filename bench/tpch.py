"""TPC-H through the lake (landing → bronze → silver → gold) against four references.

Data: `lineitem` and `orders` from the `tpchgen-cli` PyPI package as CSV, cached in
``~/.cache/lakehouse/tpch/sf<scale>/``, plus a deterministic 1 % increment of
`orders` (half updates of existing orders, half new orders).

The lake path runs the platform's own job entry points (``jobs.bronze.run``,
``jobs.silver.run``, ``jobs.gold.run``) on its own stack: environment `bench`
from ``bench/tpch_config`` (S3 and Spark Connect on their own ports, state in
``~/.cache/lakehouse/tpch/lake-home``).  The references do the same work on the
same CSV files:

* pyarrow: CSV → Parquet of strings (bronze); typed, trimmed, NFC, de-duplicated
  Parquet (silver); TPC-H Q1 (gold); the increment as a rewrite of silver `orders`.
* DuckDB: CSV → Parquet of strings (bronze); a typed, trimmed, NFC, de-duplicated
  table in a DuckDB file (silver); Q1 as a table (gold); the increment as
  ``MERGE INTO`` the silver table (an in-place upsert).
* plain_spark: one plain Spark job per layer on the lake's own Spark Connect
  server, reading the CSV landed in the same bucket and writing Delta tables under
  ``plain_spark/``: bronze (strings + the lake's ingest metadata columns), silver
  (typed, trimmed, NFC, ``dropDuplicates`` on the keys), gold (Q1), and the
  increment as bronze append + ``MERGE INTO`` silver `orders`.
* pyarrow_delta: pyarrow's compute (the fastest local reference for bronze and
  silver) reading and writing the same S3 bucket, Delta tables written with the
  ``deltalake`` package under ``pyarrow_delta/``; the increment as a Delta MERGE.

pyarrow, DuckDB and every pyarrow_delta step run in a process of their own, so
their peak memory comes from ``wait4`` (their CPU from ``getrusage`` around the
work, after the imports); the lake and plain_spark each run in one client
process, measured per step.  Per step: wall seconds, CPU seconds
of the client and of the Spark Connect server (its process tree, from
``/proc/<pid>/stat``), the Spark jobs it ran (from the event log the benchmark
turns on for the `bench` server it starts), and the 1-minute load average at its
start and end (``quiet`` is false above 1.5 at the start).  Before each layer it waits
up to ``--settle`` seconds (90) for that load to fall to 1.5: a layer of a minute on 2
cores leaves it near 2.5, and the next layer would otherwise always start unquiet.

    .venv/bin/python bench/tpch.py                      # scale factor 1, everything
    .venv/bin/python bench/tpch.py --scale 0.1 --skip-lake
    .venv/bin/python bench/tpch.py --scale 0.01 --engines lake,plain_spark
Results: bench/results/tpch-sf<scale>-<timestamp>.json (with the command that made them).
A benchmark, never a timed test.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import json
import os
import platform
import random
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_CONFIG = ROOT / "bench" / "tpch_config"
DATASETS_DIR = BENCH_CONFIG / "datasets" / "tpch"
RESULTS_DIR = ROOT / "bench" / "results"
CACHE_ROOT = Path(os.environ.get("LAKE_TPCH_CACHE", Path.home() / ".cache" / "lakehouse" / "tpch"))
# the bench stack's environment in bench/tpch_config/environments: `bench` (every engine one process, as
# `local`) or `bench-cluster` (as `cluster`: SeaweedFS, Spark standalone and Trino as members); --env sets it
BENCH_ENVS = ("bench", "bench-cluster")
BENCH_ENV = os.environ.get("LAKE_TPCH_ENV", "bench")
LAKE_HOME = CACHE_ROOT / ("lake-home" if BENCH_ENV == "bench" else f"lake-home-{BENCH_ENV}")
TPCHGEN = ROOT / ".venv" / "bin" / "tpchgen-cli"
PYTHON = sys.executable

TABLES = ("lineitem", "orders")
SF1_ROWS = {"lineitem": 6_001_215, "orders": 1_500_000}
GOLD = "tpch_q1"
LAYERS = ("land", "bronze", "silver", "gold")
LOCAL_REFERENCES = ("pyarrow", "duckdb")             # local files, no services
STACK_REFERENCES = ("plain_spark", "pyarrow_delta")  # the lake's S3 (and Spark) of the bench stack
REFERENCES = LOCAL_REFERENCES + STACK_REFERENCES
ENGINES = ("lake",) + REFERENCES
SPARK_ENGINES = ("lake", "plain_spark")
QUIET_LOAD = 1.5  # a layer that starts above this 1-minute load average is not "quiet"
SETTLE_ENV = "LAKE_TPCH_SETTLE"  # --settle, for the step processes: how long a layer waits for a quiet machine
# the bench Spark Connect server's event log (the only way to see its jobs: spark.ui.enabled is false)
SPARK_CONF_DIR = CACHE_ROOT / "spark-conf"
EVENT_LOG_DIR = LAKE_HOME / "spark-events"
INCREMENT_FRACTION = 0.01
INCREMENT_SEED = 20261127
FULL_DATE = "2026-01-01"       # logical date of the full load
INCREMENT_DATE = "2026-01-02"  # and of the increment
Q1_CUTOFF = "1998-09-02"       # DATE '1998-12-01' - INTERVAL 90 DAYS


def say(msg: str) -> None:
    print(f"[tpch] {msg}", flush=True)


def scale_label(scale: float) -> str:
    return f"{scale:g}"


# ---- the dataset specs (one source of truth for the column types) --------------------

@functools.lru_cache(maxsize=None)
def spec_columns(table: str) -> list[tuple[str, str]]:
    """(name, declared type) of a table, read from bench/tpch_config/datasets/tpch/<table>.yaml."""
    import yaml

    raw = yaml.safe_load((DATASETS_DIR / f"{table}.yaml").read_text(encoding="utf-8"))
    return [(c["name"], c["type"].strip().lower()) for c in raw["columns"]]


@functools.lru_cache(maxsize=None)
def spec_keys(table: str) -> list[str]:
    import yaml

    return list(yaml.safe_load((DATASETS_DIR / f"{table}.yaml").read_text(encoding="utf-8"))["keys"])


@functools.lru_cache(maxsize=None)
def gold_sql() -> str:
    import yaml

    return yaml.safe_load((DATASETS_DIR / f"{GOLD}.yaml").read_text(encoding="utf-8"))["sql"]


def _load_specs() -> None:
    """Read the spec files and import what a step uses before its clock starts (imports are not data work)."""
    import pandas  # noqa: F401  (pyarrow imports it lazily on the first Parquet write: seconds here)
    import pyarrow.compute  # noqa: F401
    import pyarrow.csv  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import yaml  # noqa: F401

    for table in TABLES:
        spec_columns(table)
        spec_keys(table)
    gold_sql()


# ---- data: tpchgen-cli CSV and the increment ---------------------------------------------

def count_rows(path: Path) -> int:
    """Data rows of a CSV file with a header (TPC-H text holds no line breaks)."""
    lines, last = 0, b"\n"
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 24):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
    return max(lines - 1, 0)


def expected_rows(table: str, scale: float) -> int | None:
    """Known row counts: orders is exactly 1.5 M per scale factor; lineitem is known at SF1."""
    if table == "orders":
        return round(1_500_000 * scale)
    return SF1_ROWS[table] if scale == 1 else None


def generate(scale: float, out_dir: Path, tpchgen: Path = TPCHGEN) -> dict:
    """`tpchgen-cli` CSV for each table into ``out_dir``; skipped when present and its rows verified."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for table in TABLES:
        path = out_dir / f"{table}.csv"
        known = manifest.get(table, {})
        if path.exists() and known.get("bytes") == path.stat().st_size:
            rows = count_rows(path)
            want = expected_rows(table, scale)
            if rows == known.get("rows") and (want is None or rows == want):
                say(f"data: {path} present, {rows:,} rows verified")
                continue
        say(f"data: generating {table} at scale factor {scale_label(scale)} with tpchgen-cli ...")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
            subprocess.run([str(tpchgen), "-s", scale_label(scale), "-T", table, "-f", "csv", "-o", tmp],
                           check=True)
            os.replace(Path(tmp) / f"{table}.csv", path)
        rows = count_rows(path)
        want = expected_rows(table, scale)
        if want is not None and rows != want:
            raise SystemExit(f"{path}: {rows:,} rows, expected {want:,}")
        manifest[table] = {"rows": rows, "bytes": path.stat().st_size,
                           "generate_seconds": round(time.monotonic() - started, 1),
                           "generator": "tpchgen-cli " + tpchgen_version(tpchgen)}
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
        say(f"data: {table}: {rows:,} rows, {path.stat().st_size / 1e6:,.0f} MB "
            f"({manifest[table]['generate_seconds']} s)")
    return manifest


def tpchgen_version(tpchgen: Path = TPCHGEN) -> str:
    try:
        out = subprocess.run([str(tpchgen), "--version"], capture_output=True, text=True, check=True).stdout
        return out.strip().split()[-1]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"


def make_increment(orders_csv: Path, out_csv: Path, fraction: float = INCREMENT_FRACTION,
                   seed: int = INCREMENT_SEED) -> dict:
    """A deterministic change set of ``fraction`` of `orders`, as CSV with the same header.

    Half of it updates existing orders (a different ``o_orderstatus``, a changed
    ``o_totalprice`` and ``o_comment``); the other half inserts new orders whose keys
    follow the largest existing one.  The same input and seed give the same bytes.
    """
    rng = random.Random(seed)
    n, max_key = 0, 0
    with open(orders_csv, encoding="utf-8", newline="") as fh:
        header = next(csv.reader([fh.readline()]))
        for line in fh:
            n += 1
            max_key = max(max_key, int(line.split(",", 1)[0]))
    total = round(n * fraction)
    n_updates = total // 2
    n_inserts = total - n_updates
    picked = rng.sample(range(n), n_updates + n_inserts)
    update_at = set(picked[:n_updates])
    template_at = {idx: i for i, idx in enumerate(picked[n_updates:])}
    col = {name: i for i, name in enumerate(header)}
    updates: list[list[str]] = []
    inserts: list[list[str] | None] = [None] * n_inserts
    with open(orders_csv, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        for idx, row in enumerate(reader):
            if idx in update_at:
                updates.append(row)
            elif idx in template_at:
                inserts[template_at[idx]] = row
    statuses = ("F", "O", "P")
    out_rows = []
    for row in updates:  # file order, then shuffled below: deterministic either way
        row = list(row)
        old = row[col["o_orderstatus"]]
        row[col["o_orderstatus"]] = rng.choice([s for s in statuses if s != old])
        price = float(row[col["o_totalprice"]])
        row[col["o_totalprice"]] = f"{round(price * rng.uniform(1.01, 1.10), 2):.2f}"
        row[col["o_comment"]] = (row[col["o_comment"]].strip() + " revised").strip()
        out_rows.append(row)
    for i, row in enumerate(inserts):
        row = list(row)  # type: ignore[arg-type]
        row[col["o_orderkey"]] = str(max_key + 1 + i)
        row[col["o_comment"]] = f"new order {i + 1} of the increment"
        out_rows.append(row)
    rng.shuffle(out_rows)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_csv.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(out_rows)
    os.replace(tmp, out_csv)
    return {"base_rows": n, "rows": len(out_rows), "updates": n_updates, "inserts": n_inserts,
            "fraction": fraction, "seed": seed, "max_existing_key": max_key}


def prepare_data(scale: float) -> tuple[Path, dict]:
    data_dir = CACHE_ROOT / f"sf{scale_label(scale)}"
    manifest = generate(scale, data_dir)
    inc_path = data_dir / "orders_increment.csv"
    inc_meta_path = data_dir / "orders_increment.json"
    meta = json.loads(inc_meta_path.read_text()) if inc_meta_path.exists() else {}
    fresh = (inc_path.exists() and meta.get("seed") == INCREMENT_SEED and meta.get("fraction") == INCREMENT_FRACTION
             and meta.get("base_rows") == manifest["orders"]["rows"] and count_rows(inc_path) == meta.get("rows"))
    if fresh:
        say(f"data: {inc_path} present, {meta['rows']:,} rows verified")
    else:
        say("data: making the 1 % increment of orders ...")
        meta = make_increment(data_dir / "orders.csv", inc_path)
        inc_meta_path.write_text(json.dumps(meta, indent=2) + "\n")
        say(f"data: increment {meta['rows']:,} rows ({meta['updates']:,} updates, {meta['inserts']:,} inserts)")
    manifest = {**manifest, "orders_increment": meta}
    return data_dir, manifest


# ---- memory ------------------------------------------------------------------------------

def rss_tree_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB (0 when it is gone)."""
    from lakehouse.services import rss_tree_mb as tree_mb
    return tree_mb(pid)


def step_peaks(sampled: dict[str, float]) -> dict:
    """A step's peak memory: the Spark Connect server's (``peak_rss_mb``), the client's, and on a cluster each
    other Spark member's (its master; each worker with its executor)."""
    members = {name: mb for name, mb in sampled.items() if name.startswith("spark_") and name != "spark_server"}
    return {"peak_rss_mb": sampled.get("spark_server"), "client_peak_rss_mb": sampled.get("client"),
            **({"spark_members_peak_rss_mb": members} if members else {})}


class PeakSampler:
    """Samples the RSS of some processes every ``interval`` s; peaks are kept per phase."""

    def __init__(self, pids: dict[str, int], interval: float = 0.5):
        self.pids, self.interval = pids, interval
        self.phase = "setup"
        self.peaks: dict[str, dict[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        peaks = self.peaks.setdefault(self.phase, {})
        for name, pid in self.pids.items():
            peaks[name] = max(peaks.get(name, 0.0), round(rss_tree_mb(pid), 1))

    def start(self) -> "PeakSampler":
        self._thread.start()
        return self

    def enter(self, phase: str) -> None:
        self.sample()
        self.phase = phase
        self.sample()

    def stop(self) -> None:
        self.sample()
        self._stop.set()
        self._thread.join()


def run_child(cmd: list[str], env: dict | None = None) -> tuple[int, float, float, str, float]:
    """Run a process; returns (exit code, peak RSS in MB from wait4, wall seconds, its stdout, its CPU seconds)."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, text=True)
    out_lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        out_lines.append(line)
        if not line.startswith("RESULT "):
            print(line, end="", flush=True)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return (proc.returncode, round(usage.ru_maxrss / 1024, 1), round(time.monotonic() - started, 2),
            "".join(out_lines), round(usage.ru_utime + usage.ru_stime, 2))


def child_result(stdout: str) -> dict:
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError("the step printed no RESULT line")


# ---- CPU, load and Spark jobs per step ------------------------------------------------------

def parse_proc_stat(text: str) -> dict:
    """``/proc/<pid>/stat`` → pid, ppid and the CPU clock ticks (own and of waited-for children).

    The command name sits in parentheses and may itself hold spaces and ``)``, so
    the fields are counted from the last ``)``: state is field 3, ppid 4, utime 14,
    stime 15, cutime 16, cstime 17 (proc(5)).
    """
    head, rest = text.rsplit(")", 1)
    fields = rest.split()
    return {"pid": int(head.split("(", 1)[0]), "ppid": int(fields[1]), "utime": int(fields[11]),
            "stime": int(fields[12]), "cutime": int(fields[13]), "cstime": int(fields[14])}


def tree_cpu_seconds_from(stats: dict[int, str], root: int, clock_ticks: int) -> float | None:
    """CPU seconds of ``root`` and its live descendants, from their stat texts (None when root is gone).

    Each process counts its own time and that of children it has reaped (cutime,
    cstime), so a Python worker that has exited is still counted, once.
    """
    parsed = {}
    for pid, text in stats.items():
        try:
            parsed[pid] = parse_proc_stat(text)
        except (ValueError, IndexError):
            continue
    if root not in parsed:
        return None
    children: dict[int, list[int]] = {}
    for pid, p in parsed.items():
        children.setdefault(p["ppid"], []).append(pid)
    ticks, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        p = parsed[pid]
        ticks += p["utime"] + p["stime"] + p["cutime"] + p["cstime"]
        todo.extend(children.get(pid, []))
    return ticks / clock_ticks


def tree_cpu_seconds(pids: int | list[int] | None) -> float | None:
    """CPU seconds so far of processes and their descendants (the Spark Connect JVM and its Python workers;
    on a cluster also the master and each worker with its executor); None when one of them is gone."""
    roots = [pids] if isinstance(pids, int) else list(pids or [])
    if not roots:
        return None
    stats = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stats[int(proc.name)] = (proc / "stat").read_text()
            except OSError:
                pass
    seconds = [tree_cpu_seconds_from(stats, root, os.sysconf("SC_CLK_TCK")) for root in roots]
    return None if None in seconds else sum(seconds)


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_1m() -> float:
    return round(os.getloadavg()[0], 2)


def is_quiet(load_at_start: float | None, threshold: float = QUIET_LOAD) -> bool | None:
    """A layer is measured quietly when the 1-minute load at its start is at most ``threshold``."""
    return None if load_at_start is None else load_at_start <= threshold


def settle(layer: str, limit: float | None = None, load=os.getloadavg, sleep=time.sleep,
           clock=time.monotonic) -> float:
    """Wait up to ``limit`` seconds (``--settle``; the step processes read it from ``LAKE_TPCH_SETTLE``) for the
    1-minute load to fall to ``QUIET_LOAD``, so a layer starts on a quiet machine instead of in the wake of the
    layer before it (on 2 cores, a layer of a minute leaves the load near 2.5); the seconds waited."""
    limit = float(os.environ.get(SETTLE_ENV, "0")) if limit is None else limit
    started = clock()
    while load()[0] > QUIET_LOAD and clock() - started < limit:
        sleep(2)
    waited = clock() - started
    if waited >= 1:
        say(f"{layer}: waited {waited:.0f} s for the 1-minute load to fall to {QUIET_LOAD} (it is {load()[0]:.2f})")
    return waited


def cpu_delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else round(max(after - before, 0.0), 2)


class Step:
    """One measured step of a client process: wall seconds, its own CPU, the Spark server's CPU, the load.

    ``window_ms`` (epoch milliseconds, the Spark event log's clock) tells which Spark
    jobs the step ran.
    """

    def __init__(self, server_pid: int | list[int] | None = None):
        self.server_pid = server_pid
        self.seconds = 0.0
        self.resources: dict = {}

    def __enter__(self) -> "Step":
        self._load = load_1m()
        self._epoch_ms = int(time.time() * 1000)
        self._client = self_cpu_seconds()
        self._server = tree_cpu_seconds(self.server_pid)
        self._t = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.monotonic() - self._t
        self.resources = {"client_cpu_seconds": cpu_delta(self._client, self_cpu_seconds()),
                          "server_cpu_seconds": cpu_delta(self._server, tree_cpu_seconds(self.server_pid)),
                          "load_1m_start": self._load, "load_1m_end": load_1m(),
                          "window_ms": [self._epoch_ms, int(time.time() * 1000)]}


def spark_job_name(props: dict, stage_name: str | None = None) -> str:
    """A short label for a job: under Spark Connect its description is a truncated plan dump, so the label is
    the plan's first operation (``sql``, ``write_operation``, ``read`` …), the SQL text or path it names, and
    what Delta said it was doing (``Filtering files for query``, ``Compute snapshot …``)."""
    desc = props.get("spark.job.description") or ""
    plan = props.get("callSite.long") or desc
    op = re.search(r"plan \{\s*(?:root|command) \{\s*(?:common \{[^}]*\}\s*)?(\w+)", plan)
    if not op:
        return (desc or stage_name or "")[:120]
    parts = [op.group(1)]
    named = re.search(r'(?:query|paths?): "((?:[^"\\]|\\.){1,80})', plan)
    if named:
        parts.append(named.group(1).replace("\\n", " "))
    delta = re.search(r"\.\.\.: (.+)$", desc, re.S)
    if delta:
        parts.append(delta.group(1).strip())
    return " | ".join(parts)[:160]


def spark_jobs_from_events(lines) -> list[dict]:
    """Spark jobs from an event log (JSON lines): id, submitted/completed (epoch ms), seconds, stages, name.

    Only job start/end lines are parsed (the log is mostly task events).  A job
    without an end (still running) has no ``seconds``.
    """
    started: dict[int, dict] = {}
    ended: dict[int, dict] = {}
    for line in lines:
        if '"SparkListenerJobStart"' in line:
            ev = json.loads(line)
            started[ev["Job ID"]] = ev
        elif '"SparkListenerJobEnd"' in line:
            ev = json.loads(line)
            ended[ev["Job ID"]] = ev
    jobs = []
    for job_id, ev in sorted(started.items()):
        end = ended.get(job_id)
        stages = ev.get("Stage Infos") or []
        name = spark_job_name(ev.get("Properties") or {}, stages[0].get("Stage Name") if stages else None)
        submitted = ev.get("Submission Time")
        completed = end.get("Completion Time") if end else None
        jobs.append({"id": job_id, "submitted_ms": submitted, "completed_ms": completed,
                     "seconds": round((completed - submitted) / 1000, 3) if completed and submitted else None,
                     "stages": len(ev.get("Stage IDs") or stages),
                     "result": (end.get("Job Result") or {}).get("Result") if end else None,
                     "name": name})
    return jobs


def jobs_summary(jobs: list[dict], window_ms: list[int] | None) -> dict:
    """The jobs submitted inside a step's window: how many, their seconds added up, and each one."""
    start, end = window_ms or (0, 0)
    inside = [j for j in jobs if j["submitted_ms"] is not None and start <= j["submitted_ms"] <= end]
    return {"count": len(inside), "seconds": round(sum(j["seconds"] or 0 for j in inside), 3),
            "jobs": [{k: j[k] for k in ("id", "seconds", "stages", "name")} for j in inside]}


def read_event_log(since_ms: int, directory: Path = EVENT_LOG_DIR) -> tuple[list[dict] | None, str | None]:
    """The bench Spark server's jobs from its event log written since ``since_ms``; else None and why."""
    # one file per application (<app id>[.inprogress]), or with rolling logs (Spark 4's default)
    # eventlog_v2_<app id>/events_<n>_<app id> beside an empty appstatus file
    files = [p for p in directory.rglob("*") if p.is_file() and not p.name.startswith((".", "appstatus"))] \
        if directory.is_dir() else []
    fresh = [p for p in files if p.stat().st_mtime * 1000 >= since_ms]
    if not fresh:
        return None, (f"no Spark event log written during this run in {directory}: the bench Spark Connect "
                      "server was already running, started without the benchmark's SPARK_CONF_DIR "
                      "(spark.ui.enabled is false for every environment, so its jobs cannot be listed)")
    jobs: list[dict] = []
    def order(p: Path) -> tuple:
        n = re.match(r"events_(\d+)_", p.name)
        return (p.parent.stat().st_mtime if n else p.stat().st_mtime, int(n.group(1)) if n else 0)

    for path in sorted(fresh, key=order):
        with open(path, encoding="utf-8", errors="replace") as fh:
            jobs.extend(spark_jobs_from_events(fh))
    return jobs, None


def attach_spark_jobs(records: dict, jobs: list[dict] | None, reason: str | None) -> None:
    """Give every step record with a ``window_ms`` its Spark jobs (or None and the reason there are none)."""
    for rec in records.values():
        if "window_ms" not in rec:
            continue
        if jobs is None:
            rec["spark_jobs"], rec["spark_jobs_reason"] = None, reason
        else:
            rec["spark_jobs"], rec["spark_jobs_reason"] = jobs_summary(jobs, rec["window_ms"]), None


def write_spark_event_conf(conf_dir: Path = SPARK_CONF_DIR, log_dir: Path = EVENT_LOG_DIR) -> Path:
    """A ``spark-defaults.conf`` that turns on the event log, for the bench server only (via SPARK_CONF_DIR).

    ``lakehouse.io.spark`` passes every setting it makes as ``--conf``, which wins over
    this file; the event log is not among them, and pyspark ships no conf/ of its own.
    """
    conf_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    (conf_dir / "spark-defaults.conf").write_text(
        "# written by bench/tpch.py: the bench Spark Connect server's jobs, per step\n"
        "spark.eventLog.enabled true\n"
        f"spark.eventLog.dir {log_dir.as_uri()}\n"
        "spark.eventLog.compress false\n"
        "spark.eventLog.rolling.enabled false\n")
    return conf_dir


# ---- references: one step per process --------------------------------------------------------

def _arrow_type(declared: str):
    import pyarrow as pa

    if declared.startswith("decimal"):
        p, s = declared[len("decimal("):-1].split(",")
        return pa.decimal128(int(p), int(s))
    return {"string": pa.string(), "int": pa.int32(), "bigint": pa.int64(), "double": pa.float64(),
            "boolean": pa.bool_(), "date": pa.date32(), "timestamp": pa.timestamp("us")}[declared]


def _arrow_read_strings(path: Path):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, encoding="utf-8", newline="") as fh:
        names = next(csv.reader([fh.readline()]))
    return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names}, strings_can_be_null=False))


def _arrow_refine(table, name: str, keep: tuple[str, ...] = ()):
    """Typed, trimmed, NFC, de-duplicated on the keys (the first row of a key wins); ``keep`` columns as they are."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cols = {}
    for col, declared in spec_columns(name):
        text = pc.utf8_trim_whitespace(table[col])
        if declared == "string":
            text = pc.utf8_normalize(text, "NFC")
            cols[col] = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        else:
            cols[col] = pc.cast(text, _arrow_type(declared))
    for col in keep:
        cols[col] = table[col]
    typed = pa.table(cols)
    keys = spec_keys(name)
    typed = typed.append_column("_i", pa.array(range(typed.num_rows), pa.int64()))
    first = typed.group_by(keys, use_threads=False).aggregate([("_i", "min")])["_i_min"]
    deduped = typed.take(pc.sort_indices(first)).drop_columns(["_i"])
    return deduped


def _arrow_q1(lineitem):
    import pyarrow as pa
    import pyarrow.compute as pc

    t = lineitem.filter(pc.less_equal(lineitem["l_shipdate"], pa.scalar(dt.date.fromisoformat(Q1_CUTOFF))))
    one = pa.scalar(1, pa.decimal128(15, 2))
    # (15,2) x (16,2) x (16,2) would need precision 49; the values need far less (Spark narrows the same way)
    disc_price = pc.multiply(t["l_extendedprice"], pc.subtract(one, t["l_discount"]))
    charge = pc.multiply(pc.cast(disc_price, pa.decimal128(20, 4)), pc.cast(pc.add(one, t["l_tax"]),
                                                                             pa.decimal128(6, 2)))
    t = pa.table({"l_returnflag": t["l_returnflag"], "l_linestatus": t["l_linestatus"],
                  "l_quantity": t["l_quantity"], "l_extendedprice": t["l_extendedprice"],
                  "disc_price": disc_price, "charge": charge,
                  # averages in double: a decimal mean keeps the input's 2 places
                  "q": pc.cast(t["l_quantity"], pa.float64()), "p": pc.cast(t["l_extendedprice"], pa.float64()),
                  "d": pc.cast(t["l_discount"], pa.float64())})
    g = t.group_by(["l_returnflag", "l_linestatus"]).aggregate([
        ("l_quantity", "sum"), ("l_extendedprice", "sum"), ("disc_price", "sum"), ("charge", "sum"),
        ("q", "mean"), ("p", "mean"), ("d", "mean"), ("q", "count")])
    names = {"l_quantity_sum": "sum_qty", "l_extendedprice_sum": "sum_base_price", "disc_price_sum": "sum_disc_price",
             "charge_sum": "sum_charge", "q_mean": "avg_qty", "p_mean": "avg_price", "d_mean": "avg_disc",
             "q_count": "count_order"}
    g = g.rename_columns([names.get(c, c) for c in g.column_names])
    g = g.select(["l_returnflag", "l_linestatus", *names.values()])
    return g.sort_by([("l_returnflag", "ascending"), ("l_linestatus", "ascending")])


def reference_pyarrow(layer: str, dataset: str, data_dir: Path, work: Path) -> dict:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    work.mkdir(parents=True, exist_ok=True)
    _load_specs()
    started = time.monotonic()
    if layer == "bronze":
        t = _arrow_read_strings(data_dir / f"{dataset}.csv")
        pq.write_table(t, work / f"bronze_{dataset}.parquet")
        rows_in = rows_out = t.num_rows
    elif layer == "silver":
        t = pq.read_table(work / f"bronze_{dataset}.parquet")
        out = _arrow_refine(t, dataset)
        pq.write_table(out, work / f"silver_{dataset}.parquet")
        rows_in, rows_out = t.num_rows, out.num_rows
    elif layer == "gold":
        t = pq.read_table(work / "silver_lineitem.parquet",
                          columns=["l_returnflag", "l_linestatus", "l_quantity", "l_extendedprice",
                                   "l_discount", "l_tax", "l_shipdate"])
        out = _arrow_q1(t)
        pq.write_table(out, work / f"gold_{GOLD}.parquet")
        rows_in, rows_out = t.num_rows, out.num_rows
        seconds = time.monotonic() - started
        return {"seconds": round(seconds, 3), "rows": rows_in, "rows_out": rows_out,
                "result": _q1_rows(out.to_pylist())}
    elif layer == "increment":
        inc = _arrow_refine(_arrow_read_strings(data_dir / "orders_increment.csv"), "orders")
        silver = pq.read_table(work / "silver_orders.parquet")
        present = pc.is_in(silver["o_orderkey"], value_set=inc["o_orderkey"])
        updated = pc.sum(present).as_py() or 0
        merged = pa.concat_tables([silver.filter(pc.invert(present)), inc.cast(silver.schema)])
        pq.write_table(merged, work / "silver_orders.parquet")  # a rewrite of the whole table
        rows_in, rows_out = inc.num_rows, merged.num_rows
        seconds = time.monotonic() - started
        return {"seconds": round(seconds, 3), "rows": rows_in, "rows_out": rows_out,
                "updated": updated, "inserted": inc.num_rows - updated, "how": "rewrite of the Parquet file"}
    else:
        raise ValueError(layer)
    return {"seconds": round(time.monotonic() - started, 3), "rows": rows_in, "rows_out": rows_out}


SILVER_META = ("_source_file", "_batch_id", "_ingested_at")  # what the lake's silver carries from bronze


def batch_of(dataset: str, date: str) -> str:
    return f"{dataset}@{date}"  # as lakehouse.engine.jobrun.batch_id


def delta_storage_options(settings) -> dict[str, str]:
    """``deltalake`` options for the lake's S3 (SeaweedFS): path-style, the bench credentials, no lock.

    delta-rs refuses S3 commits without a locking provider unless unsafe renames are
    allowed; the benchmark is the only writer of its tables, as Spark is of the lake's.
    """
    return {"AWS_ENDPOINT_URL": settings.s3_endpoint, "AWS_ACCESS_KEY_ID": settings.s3_access_key,
            "AWS_SECRET_ACCESS_KEY": settings.s3_secret_key, "AWS_REGION": settings.env.storage.region,
            "AWS_ALLOW_HTTP": str(settings.s3_endpoint.startswith("http://")).lower(),
            "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false", "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}


def stack_key(engine: str, *parts: str) -> str:
    """Where a stack reference keeps its objects: ``<engine>/<layer>/<name>`` in the lake's bucket."""
    return "/".join((engine, *parts))


def landing_key(engine: str, dataset: str, date: str, path: Path) -> str:
    return stack_key(engine, "landing", dataset, date, path.name)


def reference_pyarrow_delta(layer: str, dataset: str, data_dir: Path, work: Path) -> dict:
    """pyarrow's compute on the lake's storage: CSV landed in S3 in, Delta tables (``deltalake``) out."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.fs as pafs
    from deltalake import DeltaTable, write_deltalake

    from lakehouse.core.settings import get_settings
    from lakehouse.io import storage

    _load_specs()
    settings = get_settings()
    engine = "pyarrow_delta"
    opts = delta_storage_options(settings)
    uri = lambda lyr, name: f"s3://{settings.bucket}/{stack_key(engine, lyr, name)}"  # noqa: E731
    increment = layer.startswith("increment-")
    step = layer.removeprefix("increment-")
    date = INCREMENT_DATE if increment else FULL_DATE
    csv_path = data_dir / ("orders_increment.csv" if increment else f"{dataset}.csv")
    if layer == "wipe":
        return {"seconds": 0, "rows": storage.delete_prefix(engine + "/", settings)}
    started = time.monotonic()
    if step == "land":
        storage.put_file(landing_key(engine, dataset, date, csv_path), csv_path, settings)
        rows_in = rows_out = None
    elif step == "bronze":
        key = landing_key(engine, dataset, date, csv_path)
        etag = storage.list_objects(key.rsplit("/", 1)[0] + "/", settings)[key]
        endpoint = settings.s3_endpoint
        fs = pafs.S3FileSystem(access_key=settings.s3_access_key, secret_key=settings.s3_secret_key,
                               region=settings.env.storage.region, scheme=endpoint.split("://", 1)[0],
                               endpoint_override=endpoint.split("://", 1)[1])
        with fs.open_input_stream(f"{settings.bucket}/{key}") as fh:
            t = pacsv.read_csv(fh, convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c, _ in spec_columns(dataset)}, strings_can_be_null=False))
        n = t.num_rows
        at = dt.datetime.now(dt.timezone.utc)
        for name, value in (("_source_file", pa.repeat(f"s3a://{settings.bucket}/{key}", n)),
                            ("_source_hash", pa.repeat(etag, n)),
                            ("_landing_date", pa.repeat(pa.scalar(dt.date.fromisoformat(date), pa.date32()), n)),
                            ("_batch_id", pa.repeat(batch_of(dataset, date), n)),
                            ("_ingested_at", pa.repeat(pa.scalar(at, pa.timestamp("us", tz="UTC")), n)),
                            ("_rescued_data", pa.nulls(n, pa.string()))):
            t = t.append_column(name, value)
        write_deltalake(uri("bronze", dataset), t, mode="append", storage_options=opts)
        rows_in = rows_out = n
    elif step == "silver":
        bronze = DeltaTable(uri("bronze", dataset), storage_options=opts).to_pyarrow_table(
            filters=[("_batch_id", "=", batch_of(dataset, date))])
        out = _arrow_refine(bronze, dataset, keep=SILVER_META)
        rows_in, rows_out = bronze.num_rows, out.num_rows
        if not increment:
            write_deltalake(uri("silver", dataset), out, mode="overwrite", storage_options=opts)
        else:
            keys = spec_keys(dataset)
            metrics = (DeltaTable(uri("silver", dataset), storage_options=opts)
                       .merge(out, " AND ".join(f"t.{k} = s.{k}" for k in keys), source_alias="s", target_alias="t")
                       .when_matched_update_all().when_not_matched_insert_all().execute())
            seconds = time.monotonic() - started
            return {"seconds": round(seconds, 3), "rows": rows_in, "rows_out": rows_out,
                    "updated": metrics.get("num_target_rows_updated"),
                    "inserted": metrics.get("num_target_rows_inserted"),
                    "how": "deltalake MERGE into the silver Delta table in S3"}
    elif step == "gold":
        t = DeltaTable(uri("silver", "lineitem"), storage_options=opts).to_pyarrow_table(
            columns=["l_returnflag", "l_linestatus", "l_quantity", "l_extendedprice", "l_discount", "l_tax",
                     "l_shipdate"])
        out = _arrow_q1(t)
        write_deltalake(uri("gold", GOLD), out, mode="overwrite", storage_options=opts)
        seconds = time.monotonic() - started
        return {"seconds": round(seconds, 3), "rows": t.num_rows, "rows_out": out.num_rows,
                "result": _q1_rows(out.to_pylist())}
    else:
        raise ValueError(layer)
    seconds = time.monotonic() - started
    if rows_in is None:
        rows_in = rows_out = count_rows(csv_path)  # land: the file's rows, counted after the clock
    return {"seconds": round(seconds, 3), "rows": rows_in, "rows_out": rows_out}


def _duck_typed_select(dataset: str, source: str) -> str:
    parts = []
    for col, declared in spec_columns(dataset):
        if declared == "string":
            parts.append(f"nullif(nfc_normalize(trim({col})), '') AS {col}")
        else:
            parts.append(f"CAST(trim({col}) AS {declared.upper()}) AS {col}")
    keys = ", ".join(spec_keys(dataset))
    return (f"SELECT {', '.join(parts)} FROM {source} "
            f"QUALIFY row_number() OVER (PARTITION BY {keys}) = 1")


def reference_duckdb(layer: str, dataset: str, data_dir: Path, work: Path) -> dict:
    import duckdb

    work.mkdir(parents=True, exist_ok=True)
    _load_specs()
    started = time.monotonic()
    con = duckdb.connect(str(work / "lake.duckdb"))
    con.execute("SET threads = 2")
    con.execute("SET preserve_insertion_order = false")
    csv_opts = "header = true, all_varchar = true, quote = '\"', delim = ','"
    if layer == "bronze":
        src = data_dir / f"{dataset}.csv"
        con.execute(f"COPY (SELECT * FROM read_csv('{src}', {csv_opts})) "
                    f"TO '{work / f'bronze_{dataset}.parquet'}' (FORMAT parquet)")
        rows_in = rows_out = con.execute(f"SELECT count(*) FROM '{work / f'bronze_{dataset}.parquet'}'").fetchone()[0]
    elif layer == "silver":
        bronze = f"read_parquet('{work / f'bronze_{dataset}.parquet'}')"
        con.execute(f"CREATE OR REPLACE TABLE silver_{dataset} AS {_duck_typed_select(dataset, bronze)}")
        rows_in = con.execute(f"SELECT count(*) FROM {bronze}").fetchone()[0]
        rows_out = con.execute(f"SELECT count(*) FROM silver_{dataset}").fetchone()[0]
    elif layer == "gold":
        sql = gold_sql().replace("INTERVAL 90 DAYS", "INTERVAL 90 DAY").replace("FROM lineitem", "FROM silver_lineitem")
        con.execute(f"CREATE OR REPLACE TABLE gold_{GOLD} AS {sql}")
        rows_in = con.execute("SELECT count(*) FROM silver_lineitem").fetchone()[0]
        rows = con.execute(f"SELECT * FROM gold_{GOLD} ORDER BY 1, 2").fetchall()
        names = [d[0] for d in con.description]
        seconds = time.monotonic() - started
        return {"seconds": round(seconds, 3), "rows": rows_in, "rows_out": len(rows),
                "result": _q1_rows([dict(zip(names, r)) for r in rows])}
    elif layer == "increment":
        src = data_dir / "orders_increment.csv"
        con.execute(f"CREATE OR REPLACE TEMP TABLE inc AS "
                    f"{_duck_typed_select('orders', f'read_csv({chr(39)}{src}{chr(39)}, {csv_opts})')}")
        rows_in = con.execute("SELECT count(*) FROM inc").fetchone()[0]
        updated = con.execute("SELECT count(*) FROM inc JOIN silver_orders USING (o_orderkey)").fetchone()[0]
        cols = [c for c, _ in spec_columns("orders")]
        con.execute(f"""
            MERGE INTO silver_orders t USING inc s ON t.o_orderkey = s.o_orderkey
            WHEN MATCHED THEN UPDATE SET {', '.join(f'{c} = s.{c}' for c in cols if c != 'o_orderkey')}
            WHEN NOT MATCHED THEN INSERT ({', '.join(cols)}) VALUES ({', '.join('s.' + c for c in cols)})""")
        con.execute("CHECKPOINT")
        rows_out = con.execute("SELECT count(*) FROM silver_orders").fetchone()[0]
        seconds = time.monotonic() - started
        con.close()
        return {"seconds": round(seconds, 3), "rows": rows_in, "rows_out": rows_out,
                "updated": updated, "inserted": rows_in - updated,
                "how": "MERGE INTO the silver table of a DuckDB file (in-place upsert)"}
    else:
        raise ValueError(layer)
    con.execute("CHECKPOINT")
    con.close()
    return {"seconds": round(time.monotonic() - started, 3), "rows": rows_in, "rows_out": rows_out}


def _q1_rows(rows: list[dict]) -> list[dict]:
    """Q1 rows in a comparable form: sums to the cent, averages to 4 places, counts exact."""
    from decimal import ROUND_HALF_EVEN, Decimal

    def fmt(key: str, value) -> str | int:
        if key.startswith("l_"):
            return str(value)
        if key == "count_order":
            return int(value)
        places = Decimal("0.0001") if key.startswith("avg") else Decimal("0.01")
        return str(Decimal(str(value)).quantize(places, rounding=ROUND_HALF_EVEN))

    out = [{k: fmt(k, v) for k, v in r.items()} for r in rows]
    return sorted(out, key=lambda r: (r["l_returnflag"], r["l_linestatus"]))


def reference_steps(engine: str) -> list[tuple[str, str]]:
    """The steps of a reference, in order: (layer, dataset); a stack reference lands its files first."""
    core = [("bronze", t) for t in TABLES] + [("silver", t) for t in TABLES] + [("gold", GOLD)]
    if engine in STACK_REFERENCES:
        return ([("land", t) for t in TABLES] + core
                + [("increment-land", "orders"), ("increment-bronze", "orders"), ("increment-silver", "orders")])
    return core + [("increment", "orders")]


REFERENCE_FUNCTIONS = {"pyarrow": "reference_pyarrow", "duckdb": "reference_duckdb",
                       "pyarrow_delta": "reference_pyarrow_delta"}


def reference_step(engine: str, layer: str, dataset: str, data_dir: Path, work: Path) -> dict:
    """One step in this process; its CPU is this process's, from after the imports to the end of the work."""
    fn = globals()[REFERENCE_FUNCTIONS[engine]]
    _load_specs()
    __import__({"pyarrow": "pyarrow", "duckdb": "duckdb", "pyarrow_delta": "deltalake"}[engine])
    cpu = self_cpu_seconds()
    res = fn(layer, dataset, data_dir, work)
    res["client_cpu_seconds"] = cpu_delta(cpu, self_cpu_seconds())
    return res


def run_reference(engine: str, data_dir: Path, scale: float, env: dict | None = None, keep: bool = False) -> dict:
    """Each step of one reference in its own process; the per-step records, by ``<layer>/<dataset>``."""
    work = CACHE_ROOT / "work" / f"sf{scale_label(scale)}" / engine
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    def child(layer: str, dataset: str) -> tuple[int, float, float, str, float]:
        return run_child([PYTHON, __file__, "--reference-step", engine, layer, dataset,
                          "--data-dir", str(data_dir), "--work-dir", str(work)], env)

    if engine in STACK_REFERENCES and child("wipe", "all")[0] != 0:
        raise SystemExit(f"{engine}: could not clear its prefix in the bucket")
    datasets: dict = {}
    previous = None
    for layer, dataset in reference_steps(engine):
        if layer != previous:
            settle(f"{engine} {layer}")
            previous = layer
        say(f"{engine}: {layer} {dataset} ...")
        load_start = load_1m()
        code, peak, wall, out, cpu = child(layer, dataset)
        if code != 0:
            raise SystemExit(f"{engine} {layer} {dataset} failed (exit {code})")
        res = child_result(out)
        res.update(peak_rss_mb=peak, process_seconds=wall, process_cpu_seconds=cpu, server_cpu_seconds=None,
                   load_1m_start=load_start, load_1m_end=load_1m(), spark_jobs=None,
                   spark_jobs_reason=f"no Spark: {engine} computes in its own process")
        datasets[f"{layer}/{dataset}"] = res
        say(f"{engine}: {layer} {dataset}: {res['seconds']:.2f} s, {res['rows']:,} rows, peak {peak:,.0f} MB, "
            f"cpu {res['client_cpu_seconds']} s")
    if engine in STACK_REFERENCES and not keep:
        child("wipe", "all")
    shutil.rmtree(work, ignore_errors=True)
    return datasets


def summarize_engine(datasets: dict) -> dict:
    """Per-step records → per-layer sums, the increment against the full load of `orders`, the Q1 rows.

    The increment's steps are ``increment/orders`` or ``increment-<step>/orders``; the
    full load they compare with is `orders` through the same steps on the first date.
    """
    out: dict = {"layers": {}, "datasets": datasets}
    for layer in LAYERS:
        parts = [v for k, v in datasets.items() if k.startswith(layer + "/")]
        if parts:
            out["layers"][layer] = layer_summary(parts)
    inc_keys = [k for k in datasets if k.startswith("increment")]
    inc_parts = [datasets[k] for k in inc_keys]
    if inc_parts:
        # one step doing bronze + silver (pyarrow, DuckDB), or land, bronze, silver as steps of their own
        same = ("bronze", "silver") if inc_keys == ["increment/orders"] else \
            [k.split("/", 1)[0].removeprefix("increment-") for k in inc_keys]
        full = [datasets[f"{layer}/orders"] for layer in same if f"{layer}/orders" in datasets]
        last = inc_parts[-1]
        out["increment"] = increment_summary(
            last["rows"], sum(p["seconds"] for p in inc_parts), sum(p["seconds"] for p in full),
            updated=last.get("updated"), inserted=last.get("inserted"), how=last.get("how"),
            peak_rss_mb=max((p["peak_rss_mb"] for p in inc_parts if p.get("peak_rss_mb") is not None), default=None),
            **({"by_step": {k.split("/", 1)[0].removeprefix("increment-") + "_seconds": datasets[k]["seconds"]
                            for k in inc_keys}} if len(inc_keys) > 1 else {}),
            **{k: last[k] for k in ("merge_operation_metrics", "silver_rows_after") if k in last},
            **resource_summary(inc_parts))
    gold = datasets.get(f"gold/{GOLD}", {})
    if "result" in gold:
        out["gold_result"] = gold.pop("result")
    return out


def run_references(data_dir: Path, manifest: dict, scale: float,
                   engines: tuple[str, ...] = LOCAL_REFERENCES) -> dict:
    """The local references (pyarrow, DuckDB): each step in its own process."""
    return {engine: summarize_engine(run_reference(engine, data_dir, scale))
            for engine in engines if engine in LOCAL_REFERENCES}


# ---- result arithmetic (pure) -----------------------------------------------------------------

def rows_per_second(rows: int, seconds: float) -> float | None:
    return round(rows / seconds) if seconds and seconds > 0 else None


def merge_spark_jobs(parts: list[dict]) -> tuple[dict | None, str | None]:
    """The Spark jobs of several steps together; None (and the first reason) when a step has none recorded."""
    for p in parts:
        if p.get("spark_jobs") is None:
            return None, p.get("spark_jobs_reason") or "not recorded"
    jobs = [j for p in parts for j in p["spark_jobs"]["jobs"]]
    return {"count": sum(p["spark_jobs"]["count"] for p in parts),
            "seconds": round(sum(p["spark_jobs"]["seconds"] for p in parts), 3), "jobs": jobs}, None


def resource_summary(parts: list[dict]) -> dict:
    """CPU seconds (client, Spark server) add up over the steps; the load is the first step's start and the
    last step's end; ``quiet`` follows the load at the start."""
    def total(key: str) -> float | None:
        values = [p.get(key) for p in parts]
        return round(sum(values), 2) if values and all(v is not None for v in values) else None

    load_start = parts[0].get("load_1m_start") if parts else None
    jobs, reason = merge_spark_jobs(parts)
    return {"client_cpu_seconds": total("client_cpu_seconds"), "server_cpu_seconds": total("server_cpu_seconds"),
            "spark_jobs": jobs, "spark_jobs_reason": reason,
            "load_1m_start": load_start, "load_1m_end": parts[-1].get("load_1m_end") if parts else None,
            "quiet": is_quiet(load_start)}


def layer_summary(parts: list[dict]) -> dict:
    """Datasets of one layer together: seconds, rows and CPU add up, the memory peak is the largest."""
    seconds = round(sum(p["seconds"] for p in parts), 3)
    rows = sum(p["rows"] for p in parts)
    peaks = [p["peak_rss_mb"] for p in parts if p.get("peak_rss_mb") is not None]
    members: dict[str, float] = {}
    for part in parts:
        for name, mb in part.get("spark_members_peak_rss_mb", {}).items():
            members[name] = max(members.get(name, 0.0), mb)
    return {"seconds": seconds, "rows": rows, "rows_per_second": rows_per_second(rows, seconds),
            "peak_rss_mb": max(peaks) if peaks else None, **resource_summary(parts),
            **({"spark_members_peak_rss_mb": members} if members else {})}


def increment_summary(rows: int, seconds: float, full_load_seconds: float, **extra) -> dict:
    ratio = round(seconds / full_load_seconds, 3) if full_load_seconds else None
    return {"rows": rows, "seconds": round(seconds, 3), "full_load_seconds": round(full_load_seconds, 3),
            "ratio": ratio, **extra}


def _layer_seconds(engines: dict, engine: str, layer: str) -> float | None:
    return engines.get(engine, {}).get("layers", {}).get(layer, {}).get("seconds")


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def fastest_reference(engines: dict, layer: str) -> str | None:
    """The reference engine (any but the lake) with the fewest seconds for ``layer`` in this run."""
    refs = {e: _layer_seconds(engines, e, layer) for e in engines if e != "lake"}
    refs = {e: v for e, v in refs.items() if v}
    return min(refs, key=refs.get) if refs else None


def ratios_to_fastest(engines: dict, target: float = 3.0) -> dict:
    """Per layer: lake seconds / the fastest reference's seconds, and whether it is within ``target``."""
    out = {}
    for layer in ("bronze", "silver", "gold"):
        fastest = fastest_reference(engines, layer)
        lake = _layer_seconds(engines, "lake", layer)
        if fastest is None or lake is None:
            continue
        ref = _layer_seconds(engines, fastest, layer)
        ratio = _ratio(lake, ref)
        out[layer] = {"lake_seconds": lake, "fastest_reference": fastest, "reference_seconds": ref,
                      "ratio": ratio, "within_target": ratio is not None and ratio <= target}
    return out


def ratios(engines: dict) -> dict:
    """Lake seconds over a reference's, per layer, and the lake's increment against its full load.

    ``<layer>_vs_plain_spark``: against one plain Spark job on the same server and bucket;
    ``<layer>_vs_fastest``: against the fastest reference of this run for that layer;
    ``increment_vs_full``: the lake's silver step for the 1 % increment of `orders` (the
    MERGE) over its silver step for the full load of `orders`.  None when a side is missing.
    """
    out = {}
    for layer in ("bronze", "silver", "gold"):
        out[f"{layer}_vs_plain_spark"] = _ratio(_layer_seconds(engines, "lake", layer),
                                                _layer_seconds(engines, "plain_spark", layer))
    for layer in ("bronze", "silver", "gold"):
        fastest = fastest_reference(engines, layer)
        out[f"{layer}_vs_fastest"] = _ratio(_layer_seconds(engines, "lake", layer),
                                            _layer_seconds(engines, fastest, layer) if fastest else None)
    lake = engines.get("lake", {})
    out["increment_vs_full"] = _ratio((lake.get("increment") or {}).get("by_step", {}).get("silver_seconds"),
                                      (lake.get("datasets") or {}).get("silver/orders", {}).get("seconds"))
    return out


def machine_info() -> dict:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
        cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                    if l.startswith("model name")), platform.processor())
    except OSError:
        cpu = platform.processor()
    return {"cpus": os.cpu_count(), "ram_gb": round(mem_kb / 1024 / 1024, 1), "cpu_model": cpu,
            "python": platform.python_version(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def code_state() -> dict:
    """The commit the platform code came from, and whether jobs/ or lakehouse/ had uncommitted edits."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "jobs", "lakehouse").splitlines() if line]
    return {"head": git("rev-parse", "--short", "HEAD").strip(), "uncommitted_platform_files": dirty}


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"tpchgen-cli": tpchgen_version()}
    for pkg in ("pyarrow", "duckdb", "pyspark", "delta-spark", "deltalake"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def build_results(command: str, scale: float, manifest: dict, engines: dict, lake_extra: dict | None,
                  machine: dict, when: str) -> dict:
    increment = {e: engines[e]["increment"] for e in engines if "increment" in engines[e]}
    return {
        "benchmark": "tpch",
        "command": command,
        "when": when,
        "scale_factor": scale,
        "machine": machine,
        "data": manifest,
        "engines": {e: {"layers": v["layers"], "datasets": v.get("datasets", {}),
                        **({"fixed_costs": v["fixed_costs"]} if "fixed_costs" in v else {})}
                    for e, v in engines.items()},
        "ratios": ratios(engines),
        "fastest_reference": {layer: fastest_reference(engines, layer) for layer in ("bronze", "silver", "gold")},
        "quiet_load_threshold": QUIET_LOAD,
        "ratio_to_fastest_reference": ratios_to_fastest(engines),
        "increment": increment,
        "lake": lake_extra,
    }


# ---- the lake path ------------------------------------------------------------------------------------

def lake_env() -> dict[str, str]:
    return {"LAKE_CONFIG_DIR": str(BENCH_CONFIG), "LAKE_ENV": BENCH_ENV, "LAKE_HOME": str(LAKE_HOME),
            "LAKE_TPCH_ENV": BENCH_ENV}


def spark_processes(services, settings) -> dict[str, int]:
    """The Spark processes whose CPU and memory a step counts: the Connect server (``spark_server``, the
    driver) and, on a cluster, the master and each worker (``spark_worker_1`` …; a worker's process tree
    holds its executor)."""
    members = services.select(["spark"], settings)
    pids = {("spark_server" if m.name == "spark" else m.name.replace("-", "_")): m.pid() for m in members}
    missing = [name for name, pid in pids.items() if pid is None]
    if missing:
        raise SystemExit(f"Spark is not running ({', '.join(missing)}); `lake up spark` with {lake_env()}")
    return pids


def lake_child(data_dir: Path, out_path: Path, keep: bool) -> None:
    """Runs inside its own process with lake_env() set: land, bronze, silver, gold, increment."""
    started_all = time.monotonic()
    code = code_state()  # the job modules are imported now: this is the code the lake path runs
    t0 = time.monotonic()
    import great_expectations  # noqa: F401  (every silver task process pays this once; timed apart)
    ge_import = time.monotonic() - t0
    from jobs import bronze, gold, silver
    from lakehouse import services
    from lakehouse.core.settings import get_settings
    from lakehouse.io import delta_io, storage
    from lakehouse.io.spark import get_spark

    settings = get_settings()
    spark = spark_processes(services, settings)
    spark_pid = list(spark.values())
    sampler = PeakSampler({**spark, "client": os.getpid()}).start()

    def wipe() -> None:
        for prefix in [f"landing/{t}/" for t in TABLES] + [f"{layer}/{t}/" for t in TABLES
                                                           for layer in ("bronze", "silver", "staging")] + \
                      [f"quarantine/{t}__quarantine/" for t in TABLES] + [f"gold/{GOLD}/"]:
            storage.delete_prefix(prefix, settings)

    say("lake: clearing the benchmark's tables and landing folders ...")
    wipe()
    t0 = time.monotonic()
    spark = get_spark("tpch bench", settings)
    spark.sql("SELECT 1").collect()
    connect_seconds = time.monotonic() - t0
    per: dict[str, dict] = {}

    def peaks(phase: str) -> dict:
        return step_peaks(sampler.peaks.get(phase, {}))

    def record(layer: str, dataset: str, step: Step, rows: int, **extra) -> None:
        key = f"{layer}/{dataset}"
        per[key] = {"seconds": round(step.seconds, 3), "rows": rows, **extra, **step.resources, **peaks(key)}
        say(f"lake: {layer} {dataset}: {step.seconds:.1f} s, {rows:,} rows")

    def land(dataset: str, date: str, path: Path) -> Step:
        key = settings.landing_key(dataset, date, path.name)
        with Step(spark_pid) as st:
            storage.put_file(key, path, settings)  # streamed multipart upload
        return st

    settle("lake land")
    for table in TABLES:
        sampler.enter(f"land/{table}")
        st = land(table, FULL_DATE, data_dir / f"{table}.csv")
        record("land", table, st, count_rows(data_dir / f"{table}.csv"))
    settle("lake bronze")
    for table in TABLES:
        sampler.enter(f"bronze/{table}")
        with Step(spark_pid) as st:
            acc = bronze.run(table, FULL_DATE)
        record("bronze", table, st, acc.rows_in, rows_out=acc.rows_written,
               job_seconds=round(acc.seconds, 3), quarantined=acc.rows_quarantined)
    settle("lake silver")
    for table in TABLES:
        sampler.enter(f"silver/{table}")
        with Step(spark_pid) as st:
            acc = silver.run(table, FULL_DATE)
        record("silver", table, st, acc.rows_in, rows_out=acc.rows_written,
               job_seconds=round(acc.seconds, 3), quarantined=acc.rows_quarantined,
               duplicates=acc.duplicates_collapsed, merge=acc.extra)
    settle("lake gold")
    sampler.enter(f"gold/{GOLD}")
    with Step(spark_pid) as st:
        acc = gold.run(GOLD, FULL_DATE)  # an Accounting (an int of rows before the medallion engine)
    record("gold", GOLD, st, per["silver/lineitem"]["rows_out"],
           rows_out=acc if isinstance(acc, int) else acc.rows_written,
           job_seconds=None if isinstance(acc, int) else round(acc.seconds, 3))
    sampler.enter("check")
    gold_rows = [r.asDict() for r in delta_io.read(spark, settings.table_uri("gold", GOLD)).collect()]
    table_bytes = table_storage(spark, {f"{layer}/{t}": settings.table_uri(layer, t)
                                    for layer in ("bronze", "silver") for t in TABLES})

    # the increment: 1 % of orders landed under the next date, then bronze + silver for that date
    inc_path = data_dir / "orders_increment.csv"
    inc: dict = {"steps": {}}
    settle("lake increment")
    sampler.enter("increment/land")
    st = land("orders", INCREMENT_DATE, inc_path)
    inc["land_seconds"], inc["steps"]["land"] = st.seconds, st.resources
    sampler.enter("increment/bronze")
    with Step(spark_pid) as st:
        acc_b = bronze.run("orders", INCREMENT_DATE)
    inc["bronze_seconds"], inc["steps"]["bronze"] = st.seconds, st.resources
    sampler.enter("increment/silver")
    with Step(spark_pid) as st:
        acc_s = silver.run("orders", INCREMENT_DATE)
    inc["silver_seconds"], inc["steps"]["silver"] = st.seconds, st.resources
    inc["job_seconds"] = {"bronze": round(acc_b.seconds, 3), "silver": round(acc_s.seconds, 3)}
    sampler.enter("check")
    inc["rows"] = acc_b.rows_in
    inc["merge"] = acc_s.extra
    hist = spark.sql(f"DESCRIBE HISTORY delta.`{settings.table_uri('silver', 'orders')}`") \
        .where("operation = 'MERGE'").orderBy("version", ascending=False).limit(1).collect()
    inc["merge_operation_metrics"] = dict(hist[0]["operationMetrics"]) if hist else {}
    inc["silver_rows_after"] = delta_io.read(spark, settings.table_uri("silver", "orders")).count()
    inc["peaks"] = {p: sampler.peaks.get(f"increment/{p}", {}) for p in ("land", "bronze", "silver")}

    sampler.stop()
    if not keep:
        say("lake: clearing the benchmark's tables (use --keep to keep them) ...")
        wipe()
    out_path.write_text(json.dumps({
        "datasets": per, "increment": inc, "gold_result": _q1_rows(gold_rows),
        "code": code, "storage": table_bytes,
        "fixed_costs": {"great_expectations_import_seconds": round(ge_import, 3),
                        "spark_connect_session_seconds": round(connect_seconds, 3)},
        "peaks_by_phase": sampler.peaks, "total_seconds": round(time.monotonic() - started_all, 1),
    }, indent=2, default=str))


def table_storage(spark, tables: dict[str, str]) -> dict:
    """Bytes and files of each Delta table's current version (``DESCRIBE DETAIL``), for storage sizing; one
    object copy (the S3 server's replication comes on top). Outside every timed step; a failure is reported."""
    out = {}
    for key, uri in tables.items():
        try:
            row = spark.sql(f"DESCRIBE DETAIL delta.`{uri}`").collect()[0]
            out[key] = {"bytes": int(row["sizeInBytes"]), "files": int(row["numFiles"])}
        except Exception as exc:  # a benchmark's side figure must not lose the timed ones
            out[key] = {"error": f"{exc.__class__.__name__}: {str(exc)[:200]}"}
    return out


# ---- plain_spark: one straightforward Spark job per layer, same server, same bucket ---------------------

def _plain_nfc(text):
    """NFC the way a Spark 4 job can: ICU4J (shipped with Spark) through ``reflect``, only for non-ASCII values."""
    from pyspark.sql import functions as F

    composed = F.call_function("reflect", F.lit("com.ibm.icu.text.Normalizer"), F.lit("compose"), text, F.lit(False))
    return F.when(~text.rlike("[^\\x00-\\x7F]"), text).otherwise(composed)


def plain_spark_columns(dataset: str) -> list:
    """Silver columns: each declared column trimmed and cast to its type (text: NFC, empty → NULL), then the
    ingest columns the lake's silver carries."""
    from pyspark.sql import functions as F

    cols = []
    for col, declared in spec_columns(dataset):
        text = F.trim(F.col(col))
        if declared == "string":
            cols.append(F.nullif(_plain_nfc(text), F.lit("")).alias(col))
        else:
            cols.append(text.cast(declared).alias(col))
    return cols + [F.col(c) for c in SILVER_META]


def plain_spark_child(data_dir: Path, out_path: Path, keep: bool) -> None:
    """Runs inside its own process with lake_env() set: land, bronze, silver, gold, increment, plainly."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    from lakehouse import services
    from lakehouse.core.settings import get_settings
    from lakehouse.io import storage
    from lakehouse.io.spark import get_spark

    engine = "plain_spark"
    started_all = time.monotonic()
    _load_specs()
    settings = get_settings()
    spark = spark_processes(services, settings)
    server_pid = list(spark.values())
    sampler = PeakSampler({**spark, "client": os.getpid()}).start()
    uri = lambda layer, name: f"s3a://{settings.bucket}/{stack_key(engine, layer, name)}"  # noqa: E731
    say(f"{engine}: clearing s3://{settings.bucket}/{engine}/ ...")
    storage.delete_prefix(engine + "/", settings)
    t0 = time.monotonic()
    spark = get_spark("tpch plain spark", settings)
    spark.sql("SELECT 1").collect()
    connect_seconds = time.monotonic() - t0

    # warm-up, not timed: this engine is the first to use a freshly started server, and the JVM's first
    # CSV read, Delta write and MERGE load classes and compile code the later steps (and the lake) reuse
    t0 = time.monotonic()
    warm = uri("warmup", "t")
    spark.range(100).selectExpr("id", "CAST(id AS STRING) AS s").write.format("delta").mode("overwrite").save(warm)
    spark.range(50, 150).selectExpr("id", "CAST(id AS STRING) AS s").createOrReplaceTempView("_plain_warm")
    spark.sql(f"MERGE INTO delta.`{warm}` t USING _plain_warm s ON t.id = s.id "
              "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *").collect()
    spark.read.format("delta").load(warm).count()
    storage.delete_prefix(stack_key(engine, "warmup") + "/", settings)
    warm_up_seconds = time.monotonic() - t0

    per: dict[str, dict] = {}
    headers = {}
    for t in TABLES:  # the CSV's own column order, as the lake reads it from the header
        with open(data_dir / f"{t}.csv", encoding="utf-8", newline="") as fh:
            headers[t] = next(csv.reader([fh.readline()]))

    def peaks(phase: str) -> dict:
        return step_peaks(sampler.peaks.get(phase, {}))

    def record(key: str, step: Step, rows: int, **extra) -> None:
        per[key] = {"seconds": round(step.seconds, 3), "rows": rows, **extra, **step.resources, **peaks(key)}
        say(f"{engine}: {key}: {step.seconds:.1f} s, {rows:,} rows")

    def last_metrics(table_uri: str) -> dict:
        row = spark.sql(f"DESCRIBE HISTORY delta.`{table_uri}` LIMIT 1").collect()[0]
        return dict(row["operationMetrics"] or {})

    def bronze(table: str, date: str, path: Path) -> None:
        """CSV → strings + ingest metadata, appended to a Delta table."""
        key = landing_key(engine, table, date, path)
        folder = key.rsplit("/", 1)[0] + "/"
        etag = storage.list_objects(folder, settings)[key]
        schema = StructType([StructField(h, StringType()) for h in headers[table]])
        at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        (spark.read.schema(schema).option("header", True).csv(f"s3a://{settings.bucket}/{folder}")
         .withColumns({"_source_file": F.col("_metadata.file_path"), "_source_hash": F.lit(etag),
                       "_landing_date": F.lit(date).cast("date"), "_batch_id": F.lit(batch_of(table, date)),
                       "_ingested_at": F.to_timestamp(F.lit(at)),
                       "_rescued_data": F.lit(None).cast("string")})
         .write.format("delta").mode("append").save(uri("bronze", table)))

    def silver_batch(table: str, date: str):
        """The date's bronze rows typed, trimmed, NFC, one row per key."""
        return (spark.read.format("delta").load(uri("bronze", table))
                .where(F.col("_batch_id") == batch_of(table, date))
                .select(*plain_spark_columns(table)).dropDuplicates(spec_keys(table)))

    def land(key: str, table: str, date: str, path: Path) -> None:
        sampler.enter(key)
        with Step(server_pid) as st:
            storage.put_file(landing_key(engine, table, date, path), path, settings)
        record(key, st, count_rows(path))

    settle(f"{engine} land")
    for table in TABLES:
        land(f"land/{table}", table, FULL_DATE, data_dir / f"{table}.csv")
    settle(f"{engine} bronze")
    for table in TABLES:
        sampler.enter(f"bronze/{table}")
        with Step(server_pid) as st:
            bronze(table, FULL_DATE, data_dir / f"{table}.csv")
        sampler.enter("check")
        rows = int(last_metrics(uri("bronze", table)).get("numOutputRows", 0))
        record(f"bronze/{table}", st, rows, rows_out=rows)
    settle(f"{engine} silver")
    for table in TABLES:
        sampler.enter(f"silver/{table}")
        with Step(server_pid) as st:
            silver_batch(table, FULL_DATE).write.format("delta").mode("overwrite").save(uri("silver", table))
        sampler.enter("check")
        rows_out = int(last_metrics(uri("silver", table)).get("numOutputRows", 0))
        rows_in = per[f"bronze/{table}"]["rows_out"]
        record(f"silver/{table}", st, rows_in, rows_out=rows_out)
    settle(f"{engine} gold")
    sampler.enter(f"gold/{GOLD}")
    with Step(server_pid) as st:
        spark.read.format("delta").load(uri("silver", "lineitem")).createOrReplaceTempView("lineitem")
        spark.sql(gold_sql()).write.format("delta").mode("overwrite").save(uri("gold", GOLD))
    sampler.enter("check")
    gold_rows = [r.asDict() for r in spark.read.format("delta").load(uri("gold", GOLD)).collect()]
    record(f"gold/{GOLD}", st, per["silver/lineitem"]["rows_out"], rows_out=len(gold_rows))

    # the increment: landed under the next date, appended to bronze, merged into silver orders
    inc_path = data_dir / "orders_increment.csv"
    settle(f"{engine} increment")
    land("increment-land/orders", "orders", INCREMENT_DATE, inc_path)
    sampler.enter("increment-bronze/orders")
    with Step(server_pid) as st:
        bronze("orders", INCREMENT_DATE, inc_path)
    sampler.enter("check")
    rows = int(last_metrics(uri("bronze", "orders")).get("numOutputRows", 0))
    record("increment-bronze/orders", st, rows, rows_out=rows)
    sampler.enter("increment-silver/orders")
    with Step(server_pid) as st:
        silver_batch("orders", INCREMENT_DATE).createOrReplaceTempView("_plain_increment")
        on = " AND ".join(f"t.{k} = s.{k}" for k in spec_keys("orders"))
        answer = spark.sql(f"MERGE INTO delta.`{uri('silver', 'orders')}` t USING _plain_increment s ON {on} "
                           "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *").collect()[0].asDict()
    sampler.enter("check")
    merge_metrics = last_metrics(uri("silver", "orders"))
    record("increment-silver/orders", st, rows, rows_out=int(answer.get("num_affected_rows") or 0),
           updated=int(answer.get("num_updated_rows") or 0), inserted=int(answer.get("num_inserted_rows") or 0),
           how="bronze append + MERGE INTO the silver Delta table (on o_orderkey)", merge_operation_metrics=merge_metrics,
           silver_rows_after=spark.read.format("delta").load(uri("silver", "orders")).count())

    sampler.stop()
    if not keep:
        say(f"{engine}: clearing its tables (use --keep to keep them) ...")
        storage.delete_prefix(engine + "/", settings)
    out_path.write_text(json.dumps({
        "datasets": per, "gold_result": _q1_rows(gold_rows),
        "fixed_costs": {"spark_connect_session_seconds": round(connect_seconds, 3),
                        "warm_up_seconds": round(warm_up_seconds, 3)},
        "peaks_by_phase": sampler.peaks, "total_seconds": round(time.monotonic() - started_all, 1),
    }, indent=2, default=str))


# Spark's catalog is the Hive Metastore (on PostgreSQL), even for tables read by path
BENCH_SERVICES = ("s3", "postgres", "metastore", "spark")


def services_running(env: dict) -> dict[str, bool]:
    """Which of BENCH_SERVICES run (on a cluster: every member of the group, `s3-volume-2` of `s3` …)."""
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "lake"), "status"], cwd=ROOT, env={**os.environ, **env},
                         capture_output=True, text=True, check=True).stdout
    return running_groups(out)


def spark_shape(env_name: str | None = None) -> dict:
    """What Spark ran on, from the bench environment's file: its `spark` settings and `services.spark`."""
    import yaml

    doc = yaml.safe_load((BENCH_CONFIG / "environments" / f"{env_name or BENCH_ENV}.yaml").read_text())
    return {**doc.get("spark", {}), "services": doc.get("services", {}).get("spark", {})}


def running_groups(status: str) -> dict[str, bool]:
    """`lake status`'s table → {group: every member of it up}."""
    state: dict[str, bool] = {}
    for line in status.splitlines()[2:]:
        cells = [c.strip() for c in line.split("|")]
        group = cells[0].split("-")[0] if cells else ""
        if len(cells) >= 2 and group in BENCH_SERVICES:
            state[group] = state.get(group, True) and cells[1] == "up"
    return state


def summarize_lake(child: dict, jobs: list[dict] | None, reason: str | None) -> dict:
    """The lake child's records → layers (with its Spark jobs), the increment, and what is reported apart."""
    per = child["datasets"]
    attach_spark_jobs(per, jobs, reason)
    inc = child["increment"]
    attach_spark_jobs(inc["steps"], jobs, reason)
    layers = {}
    for layer in LAYERS:
        parts = [v for k, v in per.items() if k.startswith(layer + "/")]
        layers[layer] = layer_summary(parts)
        client_peaks = [p["client_peak_rss_mb"] for p in parts if p.get("client_peak_rss_mb") is not None]
        layers[layer]["client_peak_rss_mb"] = max(client_peaks) if client_peaks else None
    steps = ("land", "bronze", "silver")
    inc_parts = [{"seconds": inc[f"{s}_seconds"], **inc["steps"][s]} for s in steps]
    inc_seconds = sum(inc[f"{s}_seconds"] for s in steps)
    full_orders = sum(per[f"{layer}/orders"]["seconds"] for layer in steps)
    increment = increment_summary(inc["rows"], inc_seconds, full_orders,
                                  updated=inc["merge"].get("updated"), inserted=inc["merge"].get("inserted"),
                                  how="land + jobs.bronze + jobs.silver (Delta MERGE on o_orderkey) for the next date",
                                  by_step={f"{s}_seconds": round(inc[f"{s}_seconds"], 3) for s in steps},
                                  peak_rss_mb=max((p.get("spark_server", 0) for p in inc["peaks"].values()),
                                                  default=None),
                                  merge_operation_metrics=inc["merge_operation_metrics"],
                                  silver_rows_after=inc["silver_rows_after"], **resource_summary(inc_parts))
    extra = {"fixed_costs": child["fixed_costs"], "code": child.get("code"), "storage": child.get("storage"),
             "peaks_by_phase": child["peaks_by_phase"],
             "gold_result": child["gold_result"], "validation": validation_overhead(per, inc)}
    return {"layers": layers, "datasets": per, "increment": increment, "extra": extra}


def run_stack(data_dir: Path, scale: float, keep: bool, engines: tuple[str, ...]) -> tuple[dict, dict]:
    """The engines that need the bench stack: plain_spark, then the lake, then pyarrow_delta.

    Starts what of s3, postgres, metastore and spark is not running (the Spark Connect
    server with the event log on, through SPARK_CONF_DIR) and stops only that, unless
    ``keep``.  Returns the engines' results and what the stack itself cost.
    """
    env = lake_env()
    lake = str(ROOT / ".venv" / "bin" / "lake")
    before = services_running(env)
    started_by_us = [s for s in BENCH_SERVICES if not before.get(s)]
    if "spark" in started_by_us:  # a fresh server: a fresh event log, in our own folder
        shutil.rmtree(EVENT_LOG_DIR, ignore_errors=True)
        write_spark_event_conf()
    since_ms = int(time.time() * 1000)
    t = time.monotonic()
    if started_by_us:
        say(f"stack: starting {', '.join(started_by_us)} (environment {BENCH_ENV}, state in {LAKE_HOME}) ...")
        subprocess.run([lake, "up", "--no-install", *started_by_us], cwd=ROOT,
                       env={**os.environ, **env, "SPARK_CONF_DIR": str(SPARK_CONF_DIR)}, check=True)
    up_seconds = time.monotonic() - t
    raw: dict = {}
    try:
        for engine, flag in (("plain_spark", "--plain-spark-step"), ("lake", "--lake-step")):
            if engine not in engines:
                continue
            out_path = CACHE_ROOT / f"{engine}-result.json"
            out_path.unlink(missing_ok=True)
            code, client_peak, wall, _, cpu = run_child(
                [PYTHON, __file__, flag, "--data-dir", str(data_dir), "--out", str(out_path)]
                + (["--keep"] if keep else []), env)
            if code != 0:
                raise SystemExit(f"{engine} failed (exit {code}); see the output above")
            raw[engine] = {"child": json.loads(out_path.read_text()), "client_peak": client_peak, "wall": wall,
                           "cpu": cpu}
        if "pyarrow_delta" in engines:
            raw["pyarrow_delta"] = run_reference("pyarrow_delta", data_dir, scale, env, keep)
        jobs, reason = read_event_log(since_ms) if raw.keys() & set(SPARK_ENGINES) else (None, None)
    finally:
        if started_by_us and not keep:
            say(f"stack: stopping {', '.join(started_by_us)} (started by this run)")
            subprocess.run([lake, "down", *started_by_us], cwd=ROOT, env={**os.environ, **env}, check=False)
    results: dict = {}
    stack = {"services_started_by_this_run": started_by_us, "lake_up_seconds": round(up_seconds, 1),
             "environment": env, "spark_shape": spark_shape(), "spark_event_log": str(EVENT_LOG_DIR) if jobs is not None else None,
             "spark_jobs_reason": reason}
    if "plain_spark" in raw:
        child = raw["plain_spark"]["child"]
        attach_spark_jobs(child["datasets"], jobs, reason)
        res = summarize_engine(child["datasets"])
        res["gold_result"] = child["gold_result"]
        res["fixed_costs"] = {**child["fixed_costs"], "client_process_peak_rss_mb": raw["plain_spark"]["client_peak"],
                              "child_wall_seconds": raw["plain_spark"]["wall"],
                              "child_cpu_seconds": raw["plain_spark"]["cpu"]}
        results["plain_spark"] = res
    if "lake" in raw:
        res = summarize_lake(raw["lake"]["child"], jobs, reason)
        res["extra"].update(client_process_peak_rss_mb=raw["lake"]["client_peak"],
                            lake_child_wall_seconds=raw["lake"]["wall"], lake_child_cpu_seconds=raw["lake"]["cpu"])
        results["lake"] = res
    if "pyarrow_delta" in raw:
        results["pyarrow_delta"] = summarize_engine(raw["pyarrow_delta"])
    return results, stack


VALIDATION_TARGET = 0.25  # issue: validation at most 25 % of the silver job's time


def validation_overhead(per: dict, inc: dict) -> dict:
    """How much of each silver job the audit took (Great Expectations suite + per-rule failure counts).

    ``quality_seconds`` is timed inside the job around the audit; the job's own
    seconds (same run, same process) are the reference it is compared to.
    """
    runs = {k.split("/", 1)[1]: v for k, v in per.items() if k.startswith("silver/")}
    runs["orders (1% increment)"] = {"job_seconds": inc["job_seconds"]["silver"], "merge": inc["merge"]}
    out = {}
    for name, run in runs.items():
        quality = (run.get("merge") or {}).get("quality_seconds")
        job = run.get("job_seconds")
        share = round(quality / job, 3) if quality is not None and job else None
        out[name] = {"quality_seconds": quality, "job_seconds": job, "share": share,
                     "target": VALIDATION_TARGET, "met": share is not None and share <= VALIDATION_TARGET}
    return out


# ---- report -----------------------------------------------------------------------------------

def table_text(results: dict) -> str:
    lines = [f"{'layer':<8}{'engine':<15}{'seconds':>9}{'rows/s':>11}{'peak MB':>9}{'cpu cl':>8}{'cpu srv':>9}"
             f"{'jobs':>6}{'load':>11}  quiet"]
    for layer in LAYERS:
        for engine, res in results["engines"].items():
            cell = res["layers"].get(layer)
            if not cell:
                continue
            rps = f"{cell['rows_per_second']:,}" if cell["rows_per_second"] else "-"
            peak = f"{cell['peak_rss_mb']:,.0f}" if cell["peak_rss_mb"] is not None else "-"
            num = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
            jobs = cell.get("spark_jobs")
            load = f"{num(cell.get('load_1m_start'))}-{num(cell.get('load_1m_end'))}"
            quiet = {True: "yes", False: "no"}.get(cell.get("quiet"), "-")
            lines.append(f"{layer:<8}{engine:<15}{cell['seconds']:>9.2f}{rps:>11}{peak:>9}"
                         f"{num(cell.get('client_cpu_seconds')):>8}{num(cell.get('server_cpu_seconds')):>9}"
                         f"{jobs['count'] if jobs else '-':>6}{load:>11}  {quiet}")
    lines.append("")
    lines.append(f"{'increment':<10}{'engine':<15}{'rows':>9}{'seconds':>9}{'full load':>11}{'ratio':>8}")
    for engine, inc in results["increment"].items():
        lines.append(f"{'orders 1%':<10}{engine:<15}{inc['rows']:>9,}{inc['seconds']:>9.2f}"
                     f"{inc['full_load_seconds']:>11.2f}{inc['ratio']:>8}")
    ratio_block = results.get("ratios") or {}
    if any(v is not None for v in ratio_block.values()):
        lines.append("")
        fastest = results.get("fastest_reference") or {}
        for key, value in ratio_block.items():
            layer = key.split("_vs_", 1)[0]
            note = f" ({fastest.get(layer)})" if key.endswith("_vs_fastest") and fastest.get(layer) else ""
            lines.append(f"lake {key:<22}{'-' if value is None else f'{value}x':>9}{note}")
    validation = (results.get("lake") or {}).get("validation")
    if validation:
        lines.append("")
        lines.append(f"{'silver job (lake)':<24}{'audit s':>9}{'job s':>9}{'share':>8}  target")
        for name, v in validation.items():
            share = f"{v['share']:.0%}" if v["share"] is not None else "-"
            lines.append(f"{name:<24}{v['quality_seconds'] or 0:>9.1f}{v['job_seconds'] or 0:>9.1f}{share:>8}  "
                         f"<= {v['target']:.0%} {'met' if v['met'] else 'NOT met'}")
    return "\n".join(lines)


def selected_engines(spec: str, skip_lake: bool = False, skip_references: bool = False) -> tuple[str, ...]:
    """``--engines`` (comma-separated, or ``all``) less what ``--skip-lake`` / ``--skip-references`` leave out."""
    wanted = ENGINES if spec.strip() == "all" else tuple(e.strip() for e in spec.split(",") if e.strip())
    unknown = [e for e in wanted if e not in ENGINES]
    if unknown:
        raise SystemExit(f"unknown engine {', '.join(unknown)}; choose from {', '.join(ENGINES)}")
    return tuple(e for e in ENGINES if e in wanted and not (skip_lake and e == "lake")
                 and not (skip_references and e in REFERENCES))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="TPC-H scale factor (default 1; 0.01 works)")
    parser.add_argument("--engines", default="all",
                        help=f"comma-separated, of {', '.join(ENGINES)} (default all)")
    parser.add_argument("--env", choices=BENCH_ENVS, default=BENCH_ENV,
                        help="the bench stack: `bench` (each engine one process, as `local`; the default) or "
                             "`bench-cluster` (as `cluster`: Spark standalone with two workers, SeaweedFS members)")
    parser.add_argument("--skip-lake", action="store_true", help="leave the lake path out")
    parser.add_argument("--skip-references", action="store_true", help="run only the lake path")
    parser.add_argument("--keep", action="store_true",
                        help="keep the benchmark's lake tables and leave the services it started running")
    parser.add_argument("--data-only", action="store_true", help="generate (or verify) the data and stop")
    parser.add_argument("--settle", type=float, default=90, metavar="SECONDS",
                        help="before each layer, wait up to SECONDS for the 1-minute load to fall to "
                             f"{QUIET_LOAD}, so no layer starts in the wake of the one before (default 90; 0: never)")
    parser.add_argument("--reference-step", nargs=3, metavar=("ENGINE", "LAYER", "DATASET"), help=argparse.SUPPRESS)
    parser.add_argument("--lake-step", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--plain-spark-step", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.env != BENCH_ENV:  # the stack's paths are set at import: run again with it chosen
        os.environ["LAKE_TPCH_ENV"] = args.env
        os.execv(PYTHON, [PYTHON, __file__, *(sys.argv[1:] if argv is None else argv)])

    if args.reference_step or args.lake_step or args.plain_spark_step:
        sys.path.insert(0, str(ROOT))  # the platform's code from this checkout
    if args.reference_step:
        engine, layer, dataset = args.reference_step
        res = reference_step(engine, layer, dataset, args.data_dir, args.work_dir)
        print("RESULT " + json.dumps(res, default=str), flush=True)
        return
    if args.lake_step:
        lake_child(args.data_dir, args.out, args.keep)
        return
    if args.plain_spark_step:
        plain_spark_child(args.data_dir, args.out, args.keep)
        return

    os.environ[SETTLE_ENV] = str(args.settle)  # the step processes inherit it
    wanted = selected_engines(args.engines, args.skip_lake, args.skip_references)
    command = "python " + " ".join(shlex.quote(a) for a in
                                   [os.path.relpath(__file__, ROOT), *(sys.argv[1:] if argv is None else argv)])
    when = dt.datetime.now()
    machine = machine_info()
    say(f"scale factor {scale_label(args.scale)}; {machine['cpus']} cpus, {machine['ram_gb']} GB; "
        f"load average {machine['load_average_at_start']}; engines {', '.join(wanted)}")
    data_dir, manifest = prepare_data(args.scale)
    if args.data_only:
        return
    engines: dict = {}
    engines.update(run_references(data_dir, manifest, args.scale, wanted))
    lake_extra = stack = None
    if any(e in wanted for e in ("lake",) + STACK_REFERENCES):
        on_stack, stack = run_stack(data_dir, args.scale, args.keep, wanted)
        engines.update(on_stack)
        if "lake" in engines:
            lake_extra = engines["lake"].pop("extra")
    engines = {e: engines[e] for e in ENGINES if e in engines}  # the lake first, then the references
    gold_results = {e: (lake_extra["gold_result"] if e == "lake" else v.get("gold_result"))
                    for e, v in engines.items()}
    results = build_results(command, args.scale, manifest, engines, lake_extra, machine,
                            when.isoformat(timespec="seconds"))
    results["stack"] = stack
    results["versions"] = versions()
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["settle_seconds"] = args.settle  # how long each layer could wait for a quiet machine (--settle)
    results["gold_results_agree"] = len({json.dumps(v, sort_keys=True) for v in gold_results.values()}) <= 1
    if not results["gold_results_agree"]:
        results["gold_results"] = gold_results
    results["gold_result"] = next(iter(gold_results.values()), None)
    if lake_extra:
        lake_extra.pop("gold_result", None)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    label = "" if BENCH_ENV == "bench" else "cluster-"
    out = RESULTS_DIR / f"tpch-{label}sf{scale_label(args.scale)}-{when:%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print()
    print(table_text(results))
    if not results["gold_results_agree"]:
        say("WARNING: the engines' Q1 results differ; see gold_results in the JSON")
    say(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
