"""The pure parts of bench/tpch.py: the 1 % increment, the result arithmetic, CPU, load and Spark-job
accounting, and the result's JSON shape.

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
    got = tpch.layer_summary(parts)
    assert {k: got[k] for k in ("seconds", "rows", "rows_per_second", "peak_rss_mb")} == \
        {"seconds": 3.0, "rows": 750, "rows_per_second": 250, "peak_rss_mb": 300.0}
    # steps measured without CPU, load or Spark jobs say so instead of inventing them
    assert got["client_cpu_seconds"] is None and got["server_cpu_seconds"] is None and got["quiet"] is None
    assert got["spark_jobs"] is None and got["spark_jobs_reason"] == "not recorded"
    assert tpch.rows_per_second(10, 0) is None
    inc = tpch.increment_summary(15, 2.0, 40.0, updated=7, inserted=8)
    assert inc == {"rows": 15, "seconds": 2.0, "full_load_seconds": 40.0, "ratio": 0.05, "updated": 7, "inserted": 8}


def _engine(bronze: float, silver: float, gold: float) -> dict:
    layer = lambda s: {"seconds": s, "rows": 100, "rows_per_second": tpch.rows_per_second(100, s),  # noqa: E731
                       "peak_rss_mb": 1.0}
    return {"layers": {"bronze": layer(bronze), "silver": layer(silver), "gold": layer(gold)},
            "increment": tpch.increment_summary(1, 1.0, 10.0)}


def _step(seconds, client, server, load_start, load_end, jobs=None, reason=None):
    return {"seconds": seconds, "rows": 10, "peak_rss_mb": 1.0, "client_cpu_seconds": client,
            "server_cpu_seconds": server, "load_1m_start": load_start, "load_1m_end": load_end,
            "spark_jobs": jobs, "spark_jobs_reason": reason}


def test_layer_resources_add_up_and_the_load_is_taken_at_the_layer_edges():
    jobs_a = {"count": 2, "seconds": 1.5, "jobs": [{"id": 1, "seconds": 1.0, "stages": 1, "name": "a"},
                                                   {"id": 2, "seconds": 0.5, "stages": 2, "name": "b"}]}
    jobs_b = {"count": 1, "seconds": 0.25, "jobs": [{"id": 3, "seconds": 0.25, "stages": 1, "name": "c"}]}
    got = tpch.layer_summary([_step(2.0, 0.5, 3.0, 1.2, 1.9, jobs_a), _step(1.0, 0.25, 1.5, 1.9, 2.4, jobs_b)])
    assert (got["client_cpu_seconds"], got["server_cpu_seconds"]) == (0.75, 4.5)
    assert (got["load_1m_start"], got["load_1m_end"], got["quiet"]) == (1.2, 2.4, True)  # quiet at its start
    assert got["spark_jobs"]["count"] == 3 and got["spark_jobs"]["seconds"] == 1.75
    assert [j["id"] for j in got["spark_jobs"]["jobs"]] == [1, 2, 3]
    assert got["spark_jobs_reason"] is None
    # one step without Spark jobs: the layer has none, with that step's reason
    mixed = tpch.layer_summary([_step(1.0, 0.1, None, 2.0, 2.0, jobs_a), _step(1.0, 0.1, None, 2.0, 2.0, None, "no log")])
    assert mixed["spark_jobs"] is None and mixed["spark_jobs_reason"] == "no log"
    assert mixed["server_cpu_seconds"] is None and mixed["quiet"] is False


def test_quiet_flag():
    assert tpch.QUIET_LOAD == 1.5
    assert tpch.is_quiet(0.3) is True
    assert tpch.is_quiet(1.5) is True
    assert tpch.is_quiet(1.51) is False
    assert tpch.is_quiet(None) is None


def test_a_layer_waits_for_the_load_to_fall_but_never_past_its_limit(monkeypatch, capsys):
    """settle() polls the 1-minute load until it is quiet (the wait is reported), stops at the limit when it stays
    high, waits nothing when it is quiet already, and reads the limit the parent passed in the environment."""
    clock = {"t": 0.0}

    def fake(loads):
        seq = iter(loads)
        return (lambda: (next(seq, loads[-1]), 0.0, 0.0)), (lambda s: clock.update(t=clock["t"] + s)), \
            (lambda: clock["t"])

    load, sleep, now = fake([2.6, 2.1, 1.7, 1.4])
    assert tpch.settle("lake silver", 90, load, sleep, now) == 6  # three polls of 2 s
    assert "lake silver: waited 6 s for the 1-minute load to fall to 1.5" in capsys.readouterr().out
    clock["t"] = 0.0
    load, sleep, now = fake([3.0])
    assert tpch.settle("lake gold", 10, load, sleep, now) == 10  # still high: the layer starts unquiet
    assert "lake gold: waited 10 s" in capsys.readouterr().out
    clock["t"] = 0.0
    load, sleep, now = fake([0.4])
    assert tpch.settle("lake land", 90, load, sleep, now) == 0 and "waited" not in capsys.readouterr().out
    clock["t"] = 0.0
    monkeypatch.setenv(tpch.SETTLE_ENV, "4")
    load, sleep, now = fake([3.0])
    assert tpch.settle("plain_spark bronze", load=load, sleep=sleep, clock=now) == 4


STAT_JVM = ("4242 (java) S 1 4242 4242 0 -1 4194560 9000 0 12 0 1500 250 30 20 20 0 60 0 1234 "
            "5000000000 300000 18446744073709551615 1 1 0 0 0 0 0 4096 16898 0 0 0 17 1 0 0 0 0 0")


def test_proc_stat_parsing_counts_fields_after_the_command_name():
    assert tpch.parse_proc_stat(STAT_JVM) == {"pid": 4242, "ppid": 1, "utime": 1500, "stime": 250,
                                              "cutime": 30, "cstime": 20}
    # a command name with spaces and parentheses does not shift the fields
    odd = STAT_JVM.replace("(java)", "(my (odd) name)")
    assert tpch.parse_proc_stat(odd)["utime"] == 1500 and tpch.parse_proc_stat(odd)["ppid"] == 1


def test_cpu_of_a_process_tree_from_stat_texts():
    def stat(pid, ppid, utime, stime, cutime=0, cstime=0):
        return f"{pid} (p{pid}) S {ppid} 0 0 0 -1 0 0 0 0 0 {utime} {stime} {cutime} {cstime} 20 0 1 0 1 1 1"

    stats = {10: stat(10, 1, 100, 50, 7, 3),     # the JVM, with reaped children's time
             11: stat(11, 10, 20, 10),           # its Python daemon
             12: stat(12, 11, 5, 5),             # a Python worker
             20: stat(20, 1, 999, 999),          # someone else's process
             13: "13 (broken"}                   # unreadable: ignored
    assert tpch.tree_cpu_seconds_from(stats, 10, 100) == pytest.approx((100 + 50 + 7 + 3 + 20 + 10 + 5 + 5) / 100)
    assert tpch.tree_cpu_seconds_from(stats, 12, 100) == pytest.approx(0.1)
    assert tpch.tree_cpu_seconds_from(stats, 99, 100) is None  # gone
    assert tpch.cpu_delta(1.0, 3.456) == 2.46 and tpch.cpu_delta(None, 2.0) is None
    assert tpch.tree_cpu_seconds(None) is None


def test_cpu_of_this_process_is_read_from_proc():
    import os

    mine = tpch.tree_cpu_seconds(os.getpid())
    assert mine is not None and mine >= 0
    parent = tpch.tree_cpu_seconds(os.getppid())
    both = tpch.tree_cpu_seconds([os.getpid(), os.getppid()])  # a cluster's Spark: several process trees
    assert both is not None and both >= mine + parent - 0.05
    assert tpch.tree_cpu_seconds([os.getpid(), 2 ** 22 + 1]) is None  # one member gone: no figure, not a part


def test_on_a_cluster_a_step_keeps_each_spark_members_memory_and_a_group_runs_when_all_its_members_do():
    sampled = {"spark_master": 300.0, "spark_worker_1": 1500.0, "spark_worker_2": 1400.0, "spark_server": 900.0,
               "client": 200.0}
    step = tpch.step_peaks(sampled)
    assert step == {"peak_rss_mb": 900.0, "client_peak_rss_mb": 200.0, "spark_members_peak_rss_mb": {
        "spark_master": 300.0, "spark_worker_1": 1500.0, "spark_worker_2": 1400.0}}
    assert tpch.step_peaks({"spark_server": 900.0, "client": 200.0}) == {"peak_rss_mb": 900.0,
                                                                         "client_peak_rss_mb": 200.0}
    other = {**step, "spark_members_peak_rss_mb": {"spark_master": 310.0, "spark_worker_1": 1000.0,
                                                   "spark_worker_2": 1900.0}}
    layer = tpch.layer_summary([{"seconds": 1.0, "rows": 1, **step}, {"seconds": 1.0, "rows": 1, **other}])
    assert layer["spark_members_peak_rss_mb"] == {"spark_master": 310.0, "spark_worker_1": 1500.0,
                                                  "spark_worker_2": 1900.0}
    status = ("service | state | pid\n--------+-------+----\n"
              "s3-master | up | 1\ns3-volume-1 | up | 2\ns3-volume-2 | stopped |\ns3 | up | 3\n"
              "postgres | up | 4\nspark-master | up | 5\nspark-worker-1 | up | 6\nspark | up | 7\n"
              "trino | up | 8\n")
    assert tpch.running_groups(status) == {"s3": False, "postgres": True, "spark": True}
    shape = tpch.spark_shape("bench-cluster")  # what a result says Spark ran on
    assert shape["master"] == "standalone" and shape["services"]["workers"] == 2
    assert tpch.spark_shape("bench")["master"] == "local[2]"


def test_the_bench_cluster_is_the_cluster_as_shipped_but_for_its_ports():
    import yaml

    def sizes(path):
        doc = yaml.safe_load(path.read_text())
        services = {name: {k: v for k, v in svc.items() if not k.endswith("port")}
                    for name, svc in doc["services"].items()}
        return {k: v for k, v in doc["spark"].items() if k != "interpreted_projections"}, services
    bench_spark, bench_services = sizes(ROOT / "bench" / "tpch_config" / "environments" / "bench-cluster.yaml")
    spark, services = sizes(ROOT / "lake_config" / "environments" / "cluster.yaml")
    assert bench_spark == spark
    for name in ("s3", "spark", "trino", "postgres", "metastore"):
        assert bench_services[name] == services[name], name


def test_step_measures_wall_cpu_load_and_its_window():
    with tpch.Step(server_pid=None) as st:
        sum(i * i for i in range(200_000))
    assert st.seconds > 0
    assert st.resources["client_cpu_seconds"] >= 0 and st.resources["server_cpu_seconds"] is None
    start, end = st.resources["window_ms"]
    assert start <= end
    assert st.resources["load_1m_start"] >= 0


EVENTS = [
    '{"Event":"SparkListenerApplicationStart","App Name":"lake-connect","Timestamp":1000}',
    '{"Event":"SparkListenerJobStart","Job ID":0,"Submission Time":2000,"Stage Infos":[{"Stage ID":0,'
    '"Stage Name":"save at NativeMethodAccessorImpl.java:0"}],"Stage IDs":[0],"Properties":{}}',
    '{"Event":"SparkListenerTaskEnd","Stage ID":0}',
    '{"Event":"SparkListenerJobEnd","Job ID":0,"Completion Time":3500,"Job Result":{"Result":"JobSucceeded"}}',
    '{"Event":"SparkListenerJobStart","Job ID":1,"Submission Time":5000,"Stage Infos":[],"Stage IDs":[1,2],'
    '"Properties":{"spark.job.description":"MERGE INTO silver"}}',
    '{"Event":"SparkListenerJobEnd","Job ID":1,"Completion Time":5250,"Job Result":{"Result":"JobSucceeded"}}',
    '{"Event":"SparkListenerJobStart","Job ID":2,"Submission Time":9000,"Stage Infos":[],"Stage IDs":[3]}',
]


def test_spark_jobs_from_the_event_log_and_per_step_windows():
    jobs = tpch.spark_jobs_from_events(EVENTS)
    assert [(j["id"], j["seconds"], j["stages"], j["result"]) for j in jobs] == [
        (0, 1.5, 1, "JobSucceeded"), (1, 0.25, 2, "JobSucceeded"), (2, None, 1, None)]
    assert jobs[0]["name"].startswith("save at") and jobs[1]["name"] == "MERGE INTO silver"
    step = tpch.jobs_summary(jobs, [1900, 6000])
    assert step["count"] == 2 and step["seconds"] == 1.75
    assert step["jobs"][1] == {"id": 1, "seconds": 0.25, "stages": 2, "name": "MERGE INTO silver"}
    assert tpch.jobs_summary(jobs, [6000, 8000]) == {"count": 0, "seconds": 0, "jobs": []}
    records = {"bronze/x": {"window_ms": [1900, 4000]}, "land/x": {"seconds": 1.0}}
    tpch.attach_spark_jobs(records, jobs, None)
    assert records["bronze/x"]["spark_jobs"]["count"] == 1 and "spark_jobs" not in records["land/x"]
    tpch.attach_spark_jobs(records, None, "no event log")
    assert records["bronze/x"]["spark_jobs"] is None and records["bronze/x"]["spark_jobs_reason"] == "no event log"


def test_spark_connect_jobs_are_named_by_their_plan():
    plan = ('session_id: "abc"\nplan {\n  root {\n    common {\n      plan_id: 41\n    }\n    read {\n'
            '      data_source {\n        format: "delta"\n        paths: "s3a://lake/silver/orders"\n')
    desc = ('Delta: Delta: Spark Connect - session_id: "abc"\nplan {\n  root {\n    common {\n      plan_id: 41\n'
            '    }\n    read {\n      data...: Filtering files for query: Compute snapshot for version: 0')
    assert tpch.spark_job_name({"spark.job.description": desc, "callSite.long": plan}) == \
        "read | s3a://lake/silver/orders | Filtering files for query: Compute snapshot for version: 0"
    sql = 'session_id: "abc"\nplan {\n  command {\n    sql_command {\n      sql: "x"\n      query: "MERGE INTO t"\n'
    assert tpch.spark_job_name({"callSite.long": sql}) == "sql_command | MERGE INTO t"
    assert tpch.spark_job_name({}, "count at Main.scala:1") == "count at Main.scala:1"  # not Spark Connect


def test_event_log_conf_and_reading_it_back(tmp_path):
    import time

    conf = tpch.write_spark_event_conf(tmp_path / "conf", tmp_path / "events")
    text = (conf / "spark-defaults.conf").read_text()
    assert "spark.eventLog.enabled true" in text and "spark.eventLog.compress false" in text
    assert f"spark.eventLog.dir file://{tmp_path / 'events'}" in text
    since = int(time.time() * 1000) - 1000
    jobs, reason = tpch.read_event_log(since, tmp_path / "events")
    assert jobs is None and "already running" in reason  # no log written: say why
    (tmp_path / "events" / "local-1.inprogress").write_text("\n".join(EVENTS) + "\n")
    jobs, reason = tpch.read_event_log(since, tmp_path / "events")
    assert reason is None and [j["id"] for j in jobs] == [0, 1, 2]
    # Spark 4's rolling layout: a folder per application, numbered files, an empty status file
    rolling = tmp_path / "rolling" / "eventlog_v2_local-2"
    rolling.mkdir(parents=True)
    (rolling / "appstatus_local-2.inprogress").write_text("")
    (rolling / "events_2_local-2").write_text(EVENTS[6] + "\n")
    (rolling / "events_1_local-2").write_text("\n".join(EVENTS[:6]) + "\n")
    jobs, reason = tpch.read_event_log(since, tmp_path / "rolling")
    assert reason is None and [j["id"] for j in jobs] == [0, 1, 2]
    assert "spark.eventLog.rolling.enabled false" in text


def test_deltalake_storage_options_point_at_the_lake_s3():
    from types import SimpleNamespace

    settings = SimpleNamespace(s3_endpoint="http://127.0.0.1:8533", s3_access_key="ak", s3_secret_key="sk",
                               env=SimpleNamespace(storage=SimpleNamespace(region="us-east-1")))
    opts = tpch.delta_storage_options(settings)
    assert opts["AWS_ENDPOINT_URL"] == "http://127.0.0.1:8533" and opts["AWS_ALLOW_HTTP"] == "true"
    assert (opts["AWS_ACCESS_KEY_ID"], opts["AWS_SECRET_ACCESS_KEY"], opts["AWS_REGION"]) == ("ak", "sk", "us-east-1")
    assert opts["AWS_S3_ALLOW_UNSAFE_RENAME"] == "true" and opts["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] == "false"
    assert tpch.stack_key("plain_spark", "silver", "orders") == "plain_spark/silver/orders"


def test_engine_selection():
    assert tpch.selected_engines("all") == tpch.ENGINES
    assert tpch.selected_engines("plain_spark,lake") == ("lake", "plain_spark")
    assert tpch.selected_engines("all", skip_lake=True) == tpch.REFERENCES
    assert tpch.selected_engines("all", skip_references=True) == ("lake",)
    with pytest.raises(SystemExit):
        tpch.selected_engines("spark")


def test_reference_steps_and_their_increment_against_the_same_full_steps():
    assert tpch.reference_steps("duckdb")[-1] == ("increment", "orders")
    assert tpch.reference_steps("pyarrow_delta")[:2] == [("land", "lineitem"), ("land", "orders")]
    local = {k: _step(s, 0.1, None, 0.5, 0.5) for k, s in (("bronze/lineitem", 4.0), ("bronze/orders", 1.0),
                                                           ("silver/lineitem", 6.0), ("silver/orders", 2.0),
                                                           ("gold/tpch_q1", 0.5), ("increment/orders", 0.3))}
    local["increment/orders"].update(updated=5, inserted=5, how="rewrite")
    got = tpch.summarize_engine(local)
    assert got["layers"]["bronze"]["seconds"] == 5.0 and "land" not in got["layers"]
    assert got["increment"]["full_load_seconds"] == 3.0 and got["increment"]["ratio"] == 0.1
    stack = {**{k: dict(v) for k, v in local.items() if k != "increment/orders"},
             "land/lineitem": _step(1.0, 0.1, 0.2, 0.5, 0.5), "land/orders": _step(0.5, 0.1, 0.2, 0.5, 0.5),
             "increment-land/orders": _step(0.1, 0.1, 0.2, 0.5, 0.5),
             "increment-bronze/orders": _step(0.4, 0.1, 0.2, 0.5, 0.5),
             "increment-silver/orders": _step(0.5, 0.1, 0.2, 0.5, 0.5)}
    got = tpch.summarize_engine(stack)
    assert got["increment"]["full_load_seconds"] == 3.5  # land + bronze + silver of orders
    assert got["increment"]["seconds"] == 1.0
    assert got["increment"]["by_step"] == {"land_seconds": 0.1, "bronze_seconds": 0.4, "silver_seconds": 0.5}
    assert got["increment"]["client_cpu_seconds"] == 0.3


def test_ratio_to_the_fastest_reference_per_layer():
    engines = {"pyarrow": _engine(5.0, 4.0, 1.0), "duckdb": _engine(4.0, 8.0, 0.5), "lake": _engine(10.0, 20.0, 2.0)}
    ratios = tpch.ratios_to_fastest(engines)
    assert ratios["bronze"] == {"lake_seconds": 10.0, "fastest_reference": "duckdb", "reference_seconds": 4.0,
                                "ratio": 2.5, "within_target": True}
    assert ratios["silver"]["fastest_reference"] == "pyarrow" and ratios["silver"]["ratio"] == 5.0
    assert ratios["silver"]["within_target"] is False
    assert ratios["gold"]["ratio"] == 4.0
    assert tpch.ratios_to_fastest({"pyarrow": _engine(1, 1, 1)}) == {}  # no lake figures: no ratios


def test_ratios_block_against_plain_spark_and_the_fastest_reference():
    lake = _engine(10.0, 20.0, 2.0)
    lake["datasets"] = {"silver/orders": {"seconds": 8.0}}
    lake["increment"]["by_step"] = {"land_seconds": 0.1, "bronze_seconds": 1.0, "silver_seconds": 2.0}
    engines = {"lake": lake, "pyarrow": _engine(5.0, 4.0, 1.0), "duckdb": _engine(4.0, 8.0, 0.5),
               "plain_spark": _engine(8.0, 10.0, 4.0), "pyarrow_delta": _engine(2.5, 5.0, 1.0)}
    got = tpch.ratios(engines)
    assert list(got) == ["bronze_vs_plain_spark", "silver_vs_plain_spark", "gold_vs_plain_spark",
                         "bronze_vs_fastest", "silver_vs_fastest", "gold_vs_fastest", "increment_vs_full"]
    assert (got["bronze_vs_plain_spark"], got["silver_vs_plain_spark"], got["gold_vs_plain_spark"]) == (1.25, 2.0, 0.5)
    assert got["bronze_vs_fastest"] == 4.0    # pyarrow_delta, 2.5 s
    assert got["silver_vs_fastest"] == 5.0    # pyarrow, 4 s
    assert got["gold_vs_fastest"] == 4.0      # DuckDB, 0.5 s
    assert got["increment_vs_full"] == 0.25   # the lake's silver MERGE of the increment / its full silver orders
    assert tpch.fastest_reference(engines, "bronze") == "pyarrow_delta"
    # a run without plain_spark or the lake: those ratios are None, not made up
    partial = tpch.ratios({"lake": lake, "duckdb": _engine(4.0, 8.0, 0.5)})
    assert partial["bronze_vs_plain_spark"] is None and partial["bronze_vs_fastest"] == 2.5
    assert set(tpch.ratios({"pyarrow": _engine(1, 1, 1)}).values()) == {None}


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
    assert set(res["ratios"]) == {"bronze_vs_plain_spark", "silver_vs_plain_spark", "gold_vs_plain_spark",
                                  "bronze_vs_fastest", "silver_vs_fastest", "gold_vs_fastest", "increment_vs_full"}
    assert res["fastest_reference"] == {"bronze": "duckdb", "silver": "pyarrow", "gold": "duckdb"}
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
    assert "--scale" in out and "--skip-lake" in out and "--keep" in out and "--engines" in out
    assert "--env" in out and "bench-cluster" in out


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


def test_table_storage_reads_each_tables_detail_and_reports_a_failure_instead_of_raising():
    class Session:
        def sql(self, query):
            class Frame:
                def collect(_):
                    if "missing" in query:
                        raise RuntimeError("DELTA_MISSING_DELTA_TABLE")
                    return [{"sizeInBytes": 123_456, "numFiles": 3}]
            return Frame()

    got = tpch.table_storage(Session(), {"silver/orders": "s3a://lake/silver/orders", "x": "s3a://lake/missing"})
    assert got == {"silver/orders": {"bytes": 123_456, "files": 3},
                   "x": {"error": "RuntimeError: DELTA_MISSING_DELTA_TABLE"}}
