"""The pure parts of bench/tpch.py: the 1 % increment, the result arithmetic and its JSON shape.

No services, no Spark; the increment tests use a small `orders` CSV made by
`tpchgen-cli` at scale factor 0.01 when it is installed, else a synthetic one.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_tpch", ROOT / "bench" / "tpch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tpch = _load_bench()

HEADER = ["o_orderkey", "o_custkey", "o_orderstatus", "o_totalprice", "o_orderdate", "o_orderpriority",
          "o_clerk", "o_shippriority", "o_comment"]


@pytest.fixture(scope="module")
def orders_csv(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tpch")
    tpchgen = tpch.TPCHGEN if tpch.TPCHGEN.exists() else shutil.which("tpchgen-cli")
    if tpchgen:
        subprocess.run([str(tpchgen), "-s", "0.01", "-T", "orders", "-f", "csv", "-o", str(out)], check=True,
                       capture_output=True)
        return out / "orders.csv"
    path = out / "orders.csv"  # the same shape as tpchgen's: sparse keys, a quoted comment with commas
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        for i in range(15_000):
            key = (i // 8) * 32 + i % 8 + 1
            w.writerow([key, i % 1000 + 1, "OFP"[i % 3], f"{1000 + i * 1.37:.2f}", "1996-01-02", "5-LOW",
                        f"Clerk#{i % 1000:09d}", 0, f"comment, number {i} "])
    return path


def _rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_increment_is_deterministic(orders_csv, tmp_path):
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    meta_a = tpch.make_increment(orders_csv, a, seed=7)
    meta_b = tpch.make_increment(orders_csv, b, seed=7)
    tpch.make_increment(orders_csv, c, seed=8)
    assert a.read_bytes() == b.read_bytes()
    assert meta_a == meta_b
    assert a.read_bytes() != c.read_bytes()


def test_increment_is_one_percent_half_updates_half_inserts(orders_csv, tmp_path):
    out = tmp_path / "inc.csv"
    meta = tpch.make_increment(orders_csv, out, fraction=0.01, seed=1)
    base = {r["o_orderkey"]: r for r in _rows(orders_csv)}
    inc = _rows(out)
    assert meta["base_rows"] == len(base) == 15_000
    assert meta["rows"] == len(inc) == 150
    assert (meta["updates"], meta["inserts"]) == (75, 75)
    with open(out, encoding="utf-8") as fh:
        assert fh.readline().rstrip("\n").split(",") == HEADER  # the same header as the source
    keys = [r["o_orderkey"] for r in inc]
    assert len(set(keys)) == len(keys)
    updates = [r for r in inc if r["o_orderkey"] in base]
    inserts = [r for r in inc if r["o_orderkey"] not in base]
    assert len(updates) == 75 and len(inserts) == 75
    max_key = max(int(k) for k in base)
    assert meta["max_existing_key"] == max_key
    assert sorted(int(r["o_orderkey"]) for r in inserts) == list(range(max_key + 1, max_key + 76))
    for r in updates:
        old = base[r["o_orderkey"]]
        assert r["o_orderstatus"] != old["o_orderstatus"]
        assert r["o_totalprice"] != old["o_totalprice"]
        assert r["o_comment"] != old["o_comment"]
        assert r["o_custkey"] == old["o_custkey"] and r["o_orderdate"] == old["o_orderdate"]


def test_count_rows_handles_a_missing_final_newline(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n3,4")
    assert tpch.count_rows(p) == 2
    p.write_text("a,b\n1,2\n3,4\n")
    assert tpch.count_rows(p) == 2
    p.write_text("a,b\n")
    assert tpch.count_rows(p) == 0


def test_expected_rows():
    assert tpch.expected_rows("lineitem", 1) == 6_001_215
    assert tpch.expected_rows("orders", 1) == 1_500_000
    assert tpch.expected_rows("orders", 0.01) == 15_000
    assert tpch.expected_rows("lineitem", 0.01) is None  # not a multiple: verified against the manifest


def test_specs_declare_the_types_the_references_use():
    cols = dict(tpch.spec_columns("lineitem"))
    assert cols["l_extendedprice"] == "decimal(15,2)" and cols["l_shipdate"] == "date"
    assert tpch.spec_keys("lineitem") == ["l_orderkey", "l_linenumber"]
    assert tpch.spec_keys("orders") == ["o_orderkey"]
    assert "FROM lineitem" in tpch.gold_sql()


def test_layer_and_increment_arithmetic():
    parts = [{"seconds": 2.0, "rows": 600, "peak_rss_mb": 100.0}, {"seconds": 1.0, "rows": 150, "peak_rss_mb": 300.0}]
    assert tpch.layer_summary(parts) == {"seconds": 3.0, "rows": 750, "rows_per_second": 250, "peak_rss_mb": 300.0}
    assert tpch.rows_per_second(10, 0) is None
    inc = tpch.increment_summary(15, 2.0, 40.0, updated=7, inserted=8)
    assert inc == {"rows": 15, "seconds": 2.0, "full_load_seconds": 40.0, "ratio": 0.05, "updated": 7, "inserted": 8}


def _engine(bronze: float, silver: float, gold: float) -> dict:
    layer = lambda s: {"seconds": s, "rows": 100, "rows_per_second": tpch.rows_per_second(100, s),  # noqa: E731
                       "peak_rss_mb": 1.0}
    return {"layers": {"bronze": layer(bronze), "silver": layer(silver), "gold": layer(gold)},
            "increment": tpch.increment_summary(1, 1.0, 10.0)}


def test_ratio_to_the_fastest_reference_per_layer():
    engines = {"pyarrow": _engine(5.0, 4.0, 1.0), "duckdb": _engine(4.0, 8.0, 0.5), "lake": _engine(10.0, 20.0, 2.0)}
    ratios = tpch.ratios_to_fastest(engines)
    assert ratios["bronze"] == {"lake_seconds": 10.0, "fastest_reference": "duckdb", "reference_seconds": 4.0,
                                "ratio": 2.5, "within_target": True}
    assert ratios["silver"]["fastest_reference"] == "pyarrow" and ratios["silver"]["ratio"] == 5.0
    assert ratios["silver"]["within_target"] is False
    assert ratios["gold"]["ratio"] == 4.0
    assert tpch.ratios_to_fastest({"pyarrow": _engine(1, 1, 1)}) == {}  # no lake figures: no ratios


def test_result_json_shape():
    engines = {"pyarrow": _engine(5.0, 4.0, 1.0), "duckdb": _engine(4.0, 8.0, 0.5), "lake": _engine(10.0, 20.0, 2.0)}
    res = tpch.build_results("python bench/tpch.py --scale 0.01", 0.01, {"orders": {"rows": 15000}}, engines,
                             {"lake_up_seconds": 1.0}, tpch.machine_info(), "2026-01-01T00:00:00")
    json.dumps(res)  # serialisable as is
    assert res["command"] == "python bench/tpch.py --scale 0.01"
    assert {"cpus", "ram_gb"} <= set(res["machine"])
    assert set(res["engines"]) == {"pyarrow", "duckdb", "lake"}
    for engine in res["engines"].values():
        for layer in ("bronze", "silver", "gold"):
            assert set(engine["layers"][layer]) == {"seconds", "rows", "rows_per_second", "peak_rss_mb"}
    assert set(res["ratio_to_fastest_reference"]) == {"bronze", "silver", "gold"}
    assert set(res["increment"]["lake"]) >= {"rows", "seconds", "full_load_seconds", "ratio"}
    table = tpch.table_text(res)
    assert "bronze" in table and "orders 1%" in table


def test_q1_rows_compare_across_number_types():
    from decimal import Decimal

    spark_like = [{"l_returnflag": "A", "l_linestatus": "F", "sum_qty": Decimal("10.00"),
                   "avg_qty": Decimal("25.575200"), "count_order": 3}]
    duck_like = [{"l_returnflag": "A", "l_linestatus": "F", "sum_qty": Decimal("10.0000"),
                  "avg_qty": 25.57519999999, "count_order": 3}]
    assert tpch._q1_rows(spark_like) == tpch._q1_rows(duck_like)


def test_help_runs():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "tpch.py"), "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "--scale" in out and "--skip-lake" in out and "--keep" in out


def test_validation_overhead_is_the_audits_share_of_each_silver_job():
    per = {"silver/orders": {"job_seconds": 100.0, "merge": {"quality_seconds": 20.0}},
           "silver/lineitem": {"job_seconds": 200.0, "merge": {"quality_seconds": 60.0}},
           "bronze/orders": {"job_seconds": 50.0}}
    inc = {"job_seconds": {"silver": 40.0}, "merge": {"quality_seconds": 4.0}}
    got = tpch.validation_overhead(per, inc)
    assert set(got) == {"orders", "lineitem", "orders (1% increment)"}
    assert (got["orders"]["share"], got["orders"]["met"]) == (0.2, True)
    assert (got["lineitem"]["share"], got["lineitem"]["met"]) == (0.3, False)
    assert got["orders (1% increment)"]["share"] == 0.1
