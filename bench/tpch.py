"""TPC-H through the lake (landing → bronze → silver → gold) against pyarrow and DuckDB.

Data: `lineitem` and `orders` from the `tpchgen-cli` PyPI package as CSV, cached in
``~/.cache/lakehouse/tpch/sf<scale>/``, plus a deterministic 1 % increment of
`orders` (half updates of existing orders, half new orders).

The lake path runs the platform's own job entry points (``jobs.bronze.run``,
``jobs.silver.run``, ``jobs.gold.run``) on its own stack: environment `bench`
from ``bench/tpch_config`` (S3 and Spark Connect on their own ports, state in
``~/.cache/lakehouse/tpch/lake-home``).  The references do the same work on the
same CSV files, each step in its own process so its peak memory is measured:

* pyarrow: CSV → Parquet of strings (bronze); typed, trimmed, NFC, de-duplicated
  Parquet (silver); TPC-H Q1 (gold); the increment as a rewrite of silver `orders`.
* DuckDB: CSV → Parquet of strings (bronze); a typed, trimmed, NFC, de-duplicated
  table in a DuckDB file (silver); Q1 as a table (gold); the increment as
  ``MERGE INTO`` the silver table (an in-place upsert).

    .venv/bin/python bench/tpch.py                      # scale factor 1, everything
    .venv/bin/python bench/tpch.py --scale 0.1 --skip-lake
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
LAKE_HOME = CACHE_ROOT / "lake-home"
TPCHGEN = ROOT / ".venv" / "bin" / "tpchgen-cli"
PYTHON = sys.executable

TABLES = ("lineitem", "orders")
SF1_ROWS = {"lineitem": 6_001_215, "orders": 1_500_000}
GOLD = "tpch_q1"
LAYERS = ("land", "bronze", "silver", "gold")
ENGINES = ("lake", "pyarrow", "duckdb")
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


def run_child(cmd: list[str], env: dict | None = None) -> tuple[int, float, float, str]:
    """Run a process; returns (exit code, peak RSS in MB from wait4, wall seconds, its stdout)."""
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
    return proc.returncode, round(usage.ru_maxrss / 1024, 1), round(time.monotonic() - started, 2), "".join(out_lines)


def child_result(stdout: str) -> dict:
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError("the step printed no RESULT line")


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


def _arrow_refine(table, name: str):
    """Typed, trimmed, NFC, de-duplicated on the keys (the first row of a key wins)."""
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


def run_references(data_dir: Path, manifest: dict, scale: float) -> dict:
    """Each engine, each step in its own process; per layer the seconds add up and the peaks are the max."""
    results: dict = {}
    for engine in ("pyarrow", "duckdb"):
        work = CACHE_ROOT / "work" / f"sf{scale_label(scale)}" / engine
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        steps = [("bronze", t) for t in TABLES] + [("silver", t) for t in TABLES] + [("gold", GOLD)] + \
                [("increment", "orders")]
        engine_res: dict = {"layers": {}, "datasets": {}}
        for layer, dataset in steps:
            say(f"{engine}: {layer} {dataset} ...")
            code, peak, wall, out = run_child(
                [PYTHON, __file__, "--reference-step", engine, layer, dataset,
                 "--data-dir", str(data_dir), "--work-dir", str(work)])
            if code != 0:
                raise SystemExit(f"{engine} {layer} {dataset} failed (exit {code})")
            res = child_result(out)
            res.update(peak_rss_mb=peak, process_seconds=wall)
            engine_res["datasets"][f"{layer}/{dataset}"] = res
            say(f"{engine}: {layer} {dataset}: {res['seconds']:.2f} s, {res['rows']:,} rows, peak {peak:,.0f} MB")
        for layer in ("bronze", "silver", "gold"):
            parts = [v for k, v in engine_res["datasets"].items() if k.startswith(layer + "/")]
            engine_res["layers"][layer] = layer_summary(parts)
        inc = engine_res["datasets"]["increment/orders"]
        full_orders = (engine_res["datasets"]["bronze/orders"]["seconds"]
                       + engine_res["datasets"]["silver/orders"]["seconds"])
        engine_res["increment"] = increment_summary(inc["rows"], inc["seconds"], full_orders,
                                                    updated=inc["updated"], inserted=inc["inserted"],
                                                    how=inc["how"], peak_rss_mb=inc["peak_rss_mb"])
        engine_res["gold_result"] = engine_res["datasets"][f"gold/{GOLD}"].pop("result")
        results[engine] = engine_res
        shutil.rmtree(work, ignore_errors=True)
    return results


# ---- result arithmetic (pure) -----------------------------------------------------------------

def rows_per_second(rows: int, seconds: float) -> float | None:
    return round(rows / seconds) if seconds and seconds > 0 else None


def layer_summary(parts: list[dict]) -> dict:
    """Datasets of one layer together: seconds and rows add up, the memory peak is the largest."""
    seconds = round(sum(p["seconds"] for p in parts), 3)
    rows = sum(p["rows"] for p in parts)
    peaks = [p["peak_rss_mb"] for p in parts if p.get("peak_rss_mb") is not None]
    return {"seconds": seconds, "rows": rows, "rows_per_second": rows_per_second(rows, seconds),
            "peak_rss_mb": max(peaks) if peaks else None}


def increment_summary(rows: int, seconds: float, full_load_seconds: float, **extra) -> dict:
    ratio = round(seconds / full_load_seconds, 3) if full_load_seconds else None
    return {"rows": rows, "seconds": round(seconds, 3), "full_load_seconds": round(full_load_seconds, 3),
            "ratio": ratio, **extra}


def ratios_to_fastest(engines: dict, target: float = 3.0) -> dict:
    """Per layer: lake seconds / the fastest reference's seconds, and whether it is within ``target``."""
    out = {}
    for layer in ("bronze", "silver", "gold"):
        refs = {e: engines[e]["layers"][layer]["seconds"] for e in ("pyarrow", "duckdb")
                if e in engines and layer in engines[e].get("layers", {})}
        lake = engines.get("lake", {}).get("layers", {}).get(layer, {}).get("seconds")
        if not refs or lake is None:
            continue
        fastest = min(refs, key=refs.get)
        ratio = round(lake / refs[fastest], 2) if refs[fastest] else None
        out[layer] = {"lake_seconds": lake, "fastest_reference": fastest, "reference_seconds": refs[fastest],
                      "ratio": ratio, "within_target": ratio is not None and ratio <= target}
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
    for pkg in ("pyarrow", "duckdb", "pyspark", "delta-spark"):
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
        "engines": {e: {"layers": v["layers"], "datasets": v.get("datasets", {})} for e, v in engines.items()},
        "ratio_to_fastest_reference": ratios_to_fastest(engines),
        "increment": increment,
        "lake": lake_extra,
    }


# ---- the lake path ------------------------------------------------------------------------------------

def lake_env() -> dict[str, str]:
    return {"LAKE_CONFIG_DIR": str(BENCH_CONFIG), "LAKE_ENV": "bench", "LAKE_HOME": str(LAKE_HOME)}


def lake_child(data_dir: Path, out_path: Path, keep: bool) -> None:
    """Runs inside its own process with lake_env() set: land, bronze, silver, gold, increment."""
    started_all = time.monotonic()
    code = code_state()  # the job modules are imported now: this is the code the lake path runs
    t0 = time.monotonic()
    import great_expectations  # noqa: F401  (every silver task process pays this once; timed apart)
    ge_import = time.monotonic() - t0
    from jobs import bronze, gold, silver
    from lakehouse import delta_io, storage
    from lakehouse.settings import get_settings
    from lakehouse.spark import get_spark

    settings = get_settings()
    spark_pid = int((settings.state_dir / "run" / "spark.pid").read_text().strip())
    sampler = PeakSampler({"spark_server": spark_pid, "client": os.getpid()}).start()

    def wipe() -> None:
        for prefix in [f"landing/{t}/" for t in TABLES] + [f"{layer}/{t}/" for t in TABLES
                                                           for layer in ("bronze", "silver", "staging")] + \
                      [f"quarantine/{t}__quarantine/" for t in TABLES] + [f"gold/{GOLD}/"]:
            storage.delete_prefix(prefix, settings)

    say("lake: clearing the benchmark's tables and landing folders ...")
    wipe()
    t0 = time.monotonic()
    spark = get_spark("tpch bench")
    spark.sql("SELECT 1").collect()
    connect_seconds = time.monotonic() - t0
    per: dict[str, dict] = {}

    def record(layer: str, dataset: str, seconds: float, rows: int, **extra) -> None:
        per[f"{layer}/{dataset}"] = {"seconds": round(seconds, 3), "rows": rows, **extra}
        say(f"lake: {layer} {dataset}: {seconds:.1f} s, {rows:,} rows")

    def land(dataset: str, date: str, path: Path) -> tuple[float, str]:
        key = settings.landing_key(dataset, date, path.name)
        t = time.monotonic()
        storage.put_file(key, path, settings)  # streamed multipart upload
        return time.monotonic() - t, key

    def peaks(phase: str) -> dict:
        p = sampler.peaks.get(phase, {})
        return {"peak_rss_mb": p.get("spark_server"), "client_peak_rss_mb": p.get("client")}

    for table in TABLES:
        sampler.enter(f"land/{table}")
        seconds, _ = land(table, FULL_DATE, data_dir / f"{table}.csv")
        record("land", table, seconds, count_rows(data_dir / f"{table}.csv"), **peaks(f"land/{table}"))
    for table in TABLES:
        sampler.enter(f"bronze/{table}")
        t = time.monotonic()
        acc = bronze.run(table, FULL_DATE)
        record("bronze", table, time.monotonic() - t, acc.rows_in, rows_out=acc.rows_written,
               job_seconds=round(acc.seconds, 3), quarantined=acc.rows_quarantined,
               **peaks(f"bronze/{table}"))
    for table in TABLES:
        sampler.enter(f"silver/{table}")
        t = time.monotonic()
        acc = silver.run(table, FULL_DATE)
        record("silver", table, time.monotonic() - t, acc.rows_in, rows_out=acc.rows_written,
               job_seconds=round(acc.seconds, 3), quarantined=acc.rows_quarantined,
               duplicates=acc.duplicates_collapsed, merge=acc.extra, **peaks(f"silver/{table}"))
    sampler.enter(f"gold/{GOLD}")
    t = time.monotonic()
    acc = gold.run(GOLD, FULL_DATE)  # an Accounting (an int of rows before the medallion engine)
    seconds = time.monotonic() - t
    record("gold", GOLD, seconds, per["silver/lineitem"]["rows_out"],
           rows_out=acc if isinstance(acc, int) else acc.rows_written,
           job_seconds=None if isinstance(acc, int) else round(acc.seconds, 3), **peaks(f"gold/{GOLD}"))
    sampler.enter("check")
    gold_rows = [r.asDict() for r in delta_io.read(spark, settings.table_uri("gold", GOLD)).collect()]

    # the increment: 1 % of orders landed under the next date, then bronze + silver for that date
    inc_path = data_dir / "orders_increment.csv"
    inc: dict = {}
    sampler.enter("increment/land")
    inc["land_seconds"], _ = land("orders", INCREMENT_DATE, inc_path)
    sampler.enter("increment/bronze")
    t = time.monotonic()
    acc_b = bronze.run("orders", INCREMENT_DATE)
    inc["bronze_seconds"] = time.monotonic() - t
    sampler.enter("increment/silver")
    t = time.monotonic()
    acc_s = silver.run("orders", INCREMENT_DATE)
    inc["silver_seconds"] = time.monotonic() - t
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
        "code": code,
        "fixed_costs": {"great_expectations_import_seconds": round(ge_import, 3),
                        "spark_connect_session_seconds": round(connect_seconds, 3)},
        "peaks_by_phase": sampler.peaks, "total_seconds": round(time.monotonic() - started_all, 1),
    }, indent=2, default=str))


# Spark's catalog is the Hive Metastore (on PostgreSQL), even for tables read by path
BENCH_SERVICES = ("s3", "postgres", "metastore", "spark")


def services_running(env: dict) -> dict[str, bool]:
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "lake"), "status"], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=True).stdout
    state = {}
    for line in out.splitlines()[2:]:
        cells = [c.strip() for c in line.split("|")]
        if len(cells) >= 2 and cells[0] in BENCH_SERVICES:
            state[cells[0]] = cells[1] == "up"
    return state


def run_lake(data_dir: Path, manifest: dict, scale: float, keep: bool) -> dict:
    env = lake_env()
    lake = str(ROOT / ".venv" / "bin" / "lake")
    before = services_running(env)
    started_by_us = [s for s in BENCH_SERVICES if not before.get(s)]
    t = time.monotonic()
    if started_by_us:
        say(f"lake: starting {', '.join(started_by_us)} (environment bench, state in {LAKE_HOME}) ...")
        subprocess.run([lake, "up", "--no-install", *started_by_us], cwd=ROOT, env={**os.environ, **env}, check=True)
    up_seconds = time.monotonic() - t
    out_path = CACHE_ROOT / "lake-result.json"
    out_path.unlink(missing_ok=True)
    try:
        code, client_peak, wall, _ = run_child(
            [PYTHON, __file__, "--lake-step", "--data-dir", str(data_dir), "--out", str(out_path)]
            + (["--keep"] if keep else []), env)
        if code != 0:
            raise SystemExit(f"the lake path failed (exit {code}); see the output above")
    finally:
        if started_by_us and not keep:
            say(f"lake: stopping {', '.join(started_by_us)} (started by this run)")
            subprocess.run([lake, "down", *started_by_us], cwd=ROOT, env={**os.environ, **env}, check=False)
    child = json.loads(out_path.read_text())
    per = child["datasets"]
    layers = {}
    for layer in LAYERS:
        parts = [{**v, "peak_rss_mb": v.get("peak_rss_mb")} for k, v in per.items() if k.startswith(layer + "/")]
        layers[layer] = layer_summary(parts)
        client_peaks = [p["client_peak_rss_mb"] for p in parts if p.get("client_peak_rss_mb") is not None]
        layers[layer]["client_peak_rss_mb"] = max(client_peaks) if client_peaks else None
    inc = child["increment"]
    inc_seconds = inc["land_seconds"] + inc["bronze_seconds"] + inc["silver_seconds"]
    full_orders = sum(per[f"{layer}/orders"]["seconds"] for layer in ("land", "bronze", "silver"))
    increment = increment_summary(inc["rows"], inc_seconds, full_orders,
                                  updated=inc["merge"].get("updated"), inserted=inc["merge"].get("inserted"),
                                  how="land + jobs.bronze + jobs.silver (Delta MERGE on o_orderkey) for the next date",
                                  by_step={k: round(inc[k], 3) for k in ("land_seconds", "bronze_seconds",
                                                                          "silver_seconds")},
                                  peak_rss_mb=max((p.get("spark_server", 0) for p in inc["peaks"].values()),
                                                  default=None),
                                  merge_operation_metrics=inc["merge_operation_metrics"],
                                  silver_rows_after=inc["silver_rows_after"])
    extra = {"services_started_by_this_run": started_by_us, "lake_up_seconds": round(up_seconds, 1),
             "client_process_peak_rss_mb": client_peak, "lake_child_wall_seconds": wall,
             "fixed_costs": child["fixed_costs"], "code": child.get("code"), "peaks_by_phase": child["peaks_by_phase"],
             "environment": env, "gold_result": child["gold_result"]}
    extra["validation"] = validation_overhead(per, inc)
    return {"layers": layers, "datasets": per, "increment": increment, "extra": extra}


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
    lines = [f"{'layer':<10}{'engine':<9}{'seconds':>9}{'rows/s':>12}{'peak MB':>10}  {'lake/fastest'}"]
    for layer in LAYERS:
        for engine, res in results["engines"].items():
            cell = res["layers"].get(layer)
            if not cell:
                continue
            ratio = ""
            if engine == "lake" and layer in results["ratio_to_fastest_reference"]:
                r = results["ratio_to_fastest_reference"][layer]
                ratio = f"{r['ratio']}x {r['fastest_reference']}"
            rps = f"{cell['rows_per_second']:,}" if cell["rows_per_second"] else "-"
            peak = f"{cell['peak_rss_mb']:,.0f}" if cell["peak_rss_mb"] is not None else "-"
            lines.append(f"{layer:<10}{engine:<9}{cell['seconds']:>9.2f}{rps:>12}{peak:>10}  {ratio}".rstrip())
    lines.append("")
    lines.append(f"{'increment':<10}{'engine':<9}{'rows':>9}{'seconds':>9}{'full load':>11}{'ratio':>8}")
    for engine, inc in results["increment"].items():
        lines.append(f"{'orders 1%':<10}{engine:<9}{inc['rows']:>9,}{inc['seconds']:>9.2f}"
                     f"{inc['full_load_seconds']:>11.2f}{inc['ratio']:>8}")
    validation = (results.get("lake") or {}).get("validation")
    if validation:
        lines.append("")
        lines.append(f"{'silver job (lake)':<24}{'audit s':>9}{'job s':>9}{'share':>8}  target")
        for name, v in validation.items():
            share = f"{v['share']:.0%}" if v["share"] is not None else "-"
            lines.append(f"{name:<24}{v['quality_seconds'] or 0:>9.1f}{v['job_seconds'] or 0:>9.1f}{share:>8}  "
                         f"<= {v['target']:.0%} {'met' if v['met'] else 'NOT met'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="TPC-H scale factor (default 1; 0.01 works)")
    parser.add_argument("--skip-lake", action="store_true", help="run only the pyarrow and DuckDB references")
    parser.add_argument("--skip-references", action="store_true", help="run only the lake path")
    parser.add_argument("--keep", action="store_true",
                        help="keep the benchmark's lake tables and leave the services it started running")
    parser.add_argument("--data-only", action="store_true", help="generate (or verify) the data and stop")
    parser.add_argument("--reference-step", nargs=3, metavar=("ENGINE", "LAYER", "DATASET"), help=argparse.SUPPRESS)
    parser.add_argument("--lake-step", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.reference_step:
        engine, layer, dataset = args.reference_step
        fn = {"pyarrow": reference_pyarrow, "duckdb": reference_duckdb}[engine]
        print("RESULT " + json.dumps(fn(layer, dataset, args.data_dir, args.work_dir), default=str), flush=True)
        return
    if args.lake_step:
        sys.path.insert(0, str(ROOT))
        lake_child(args.data_dir, args.out, args.keep)
        return

    command = "python " + " ".join(shlex.quote(a) for a in
                                   [os.path.relpath(__file__, ROOT), *(sys.argv[1:] if argv is None else argv)])
    when = dt.datetime.now()
    machine = machine_info()
    say(f"scale factor {scale_label(args.scale)}; {machine['cpus']} cpus, {machine['ram_gb']} GB; "
        f"load average {machine['load_average_at_start']}")
    data_dir, manifest = prepare_data(args.scale)
    if args.data_only:
        return
    engines: dict = {}
    if not args.skip_references:
        engines.update(run_references(data_dir, manifest, args.scale))
    lake_extra = None
    if not args.skip_lake:
        lake = run_lake(data_dir, manifest, args.scale, args.keep)
        lake_extra = lake.pop("extra")
        engines["lake"] = lake
    gold_results = {e: (lake_extra["gold_result"] if e == "lake" else v.get("gold_result"))
                    for e, v in engines.items()}
    results = build_results(command, args.scale, manifest, engines, lake_extra, machine,
                            when.isoformat(timespec="seconds"))
    results["versions"] = versions()
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["gold_results_agree"] = len({json.dumps(v, sort_keys=True) for v in gold_results.values()}) <= 1
    results["gold_result"] = next(iter(gold_results.values()), None)
    if lake_extra:
        lake_extra.pop("gold_result", None)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"tpch-sf{scale_label(args.scale)}-{when:%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print()
    print(table_text(results))
    if not results["gold_results_agree"]:
        say("WARNING: the engines' Q1 results differ; see gold_result in the JSON")
    say(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
