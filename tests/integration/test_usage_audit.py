"""Usage statistics and audit on the real stack: Trino's HTTP event listener → the events service's
spool → the loader (``jobs/usage.py``) → ``lake.ops.query_log``, ``table_reads``, ``sharing_log`` →
`lake usage`, `lake audit`.

The specs are in tests/integration/datasets/usage: use_firms (silver) and use_firms_by_region (gold, granted to
bo_tai_chinh, so it is shared as files).  The fixture starts from empty usage tables and an empty spool, so
every count below is exactly the queries this module ran.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import delta_sharing
import pytest

from jobs import usage as loader
from lakehouse import cli, services
from lakehouse.io import storage, trino
from lakehouse.serving import events, sharing, trino_security, usage
from lakehelp import ingest, reset, use_datasets

HERE = Path(__file__).resolve().parent
SPECS = HERE / "datasets" / "usage"
DATASETS = ["use_firms", "use_firms_by_region"]
FIRMS = [(1, "Công ty Một", 1), (2, "Công ty Hai", 1), (3, "Công ty Ba", 79)]
READ = "SELECT region_code, count(*) FROM lake.silver.use_firms GROUP BY region_code"
# (user, query): what each user runs; the partner's is refused
QUERIES = [("analyst", READ), ("analyst", "SELECT max(firm_name) FROM lake.silver.use_firms"),
           ("engineer", "SELECT firm_id FROM lake.silver.use_firms WHERE region_code = 79")]
REFUSED = ("hn_officer", "SELECT firm_name FROM lake.silver.use_firms")
SERVICE_QUERY = "SELECT count(*) FROM lake.silver.use_firms"


def passwords(settings) -> dict[str, str]:
    return {r["user"]: r["password"] for r in trino_security.users(settings)}


def forget_usage(settings) -> None:
    """Empty usage tables (unregistered from Trino, deleted from S3), an empty spool, no offsets."""
    for table in usage.TABLES:
        try:
            trino.query(f"CALL {settings.trino_catalog}.system.unregister_table(schema_name => 'ops', "
                        f"table_name => '{table}')", settings)
        except Exception:  # not registered
            pass
        storage.delete_prefix(f"ops/{table}/", settings)
    for path in events.spool_dir(settings).glob("*.jsonl"):
        path.unlink()
    for name in ("loaded.json", "rejected.jsonl"):
        (loader.usage_dir(settings) / name).unlink(missing_ok=True)


def spooled(settings) -> list[dict]:
    return [json.loads(line) for path in sorted(events.spool_dir(settings).glob("*.jsonl"))
            for line in path.read_text().splitlines() if line.strip()]


def wait_for_events(settings, wanted: list[tuple[str, str]]) -> None:
    """Trino sends each event after the query completes, asynchronously: wait until all are spooled."""
    deadline = time.monotonic() + 60
    while True:
        have = [(r["user"], r["query"]) for r in spooled(settings)]
        if all(w in have for w in wanted):
            return
        assert time.monotonic() < deadline, f"Trino did not send the events of {wanted} (spool: {have})"
        time.sleep(1)


@pytest.fixture(scope="module")
def used(stack, tmp_path_factory):
    source = tmp_path_factory.mktemp("usage") / "firms.jsonl"
    source.write_text("".join(json.dumps(dict(zip(["firm_id", "firm_name", "region_code"], f)), ensure_ascii=False)
                              + "\n" for f in FIRMS), encoding="utf-8")
    server = services.select(["sharing"], stack)[0]
    started = server.pid() is None
    with use_datasets(SPECS):  # the loader maps tables to these specs; the sharing server shares from them
        reset(DATASETS, stack)
        ingest("use_firms", [source], "2026-11-20")
        if started:
            services.up(["sharing"], stack)
        forget_usage(stack)
        secrets = passwords(stack)
        for user, sql in QUERIES:
            trino.query(sql, stack, user=user, password=secrets[user])
        trino.query(SERVICE_QUERY, stack)
        with pytest.raises(Exception, match="Access Denied"):
            trino.query(REFUSED[1], stack, user=REFUSED[0], password=secrets[REFUSED[0]])
        profile = sharing.issue_token("bo_tai_chinh", stack, tmp_path_factory.mktemp("p") / "btc.share")[2]
        frame = delta_sharing.load_as_pandas(f"{profile}#bo_tai_chinh.usage_test.use_firms_by_region")
        assert sorted(frame["region_code"].tolist()) == [1, 79]
        wait_for_events(stack, [*QUERIES, (stack.env.trino.user, SERVICE_QUERY), REFUSED])
        first = loader.run("2026-11-27", stack)
        yield stack, first
        if started:
            services.down(["sharing"], stack)
        reset(DATASETS, stack)


def report(sql: str, settings) -> list[dict]:
    columns, rows = trino.query(sql, settings)
    return [dict(zip(columns, r)) for r in rows]


def test_usage_per_dataset_counts_exactly_the_queries_and_users(used):
    settings, _ = used
    rows = {r["dataset"]: r for r in report(usage.usage_sql(settings.trino_catalog), settings)}
    firms = rows["use_firms"]
    assert (firms["queries"], firms["users"]) == (3, 2)  # analyst twice, engineer once; not the refused one
    assert firms["bytes_read"] > 0
    with_service = {r["dataset"]: r for r in report(usage.usage_sql(settings.trino_catalog, include_service=True),
                                                    settings)}["use_firms"]
    assert (with_service["queries"], with_service["users"]) == (4, 3)
    reads = report("SELECT user, is_service, layer, columns, physical_input_bytes FROM lake.ops.table_reads "
                   "WHERE dataset = 'use_firms' ORDER BY user", settings)
    assert [(r["user"], r["is_service"], r["layer"]) for r in reads] == [
        ("analyst", False, "silver"), ("analyst", False, "silver"), ("engineer", False, "silver"),
        ("lake", True, "silver")]
    assert all(r["physical_input_bytes"] > 0 for r in reads[:3])
    assert sorted(reads[2]["columns"]) == ["firm_id", "region_code"]
    # count(*) reads no column: Trino answers it from the Parquet footers, 0 bytes read
    assert (reads[3]["columns"], reads[3]["physical_input_bytes"]) == ([], 0)


def test_the_service_users_queries_are_kept_and_flagged(used):
    settings, _ = used
    rows = report("SELECT user, is_service, state FROM lake.ops.query_log WHERE query = "
                  f"'{SERVICE_QUERY}'", settings)
    assert rows == [{"user": settings.env.trino.user, "is_service": True, "state": "FINISHED"}]
    assert report("SELECT count(*) AS n FROM lake.ops.query_log WHERE user <> "
                  f"'{settings.env.trino.user}' AND is_service", settings) == [{"n": 0}]


def test_a_refused_query_is_in_the_audit_as_failed_with_its_user(used, capsys):
    settings, _ = used
    cli.main(["audit", "--user", "hn_officer", "--dataset", "use_firms", "--no-load", "--format", "json"])
    rows = json.loads(capsys.readouterr().out)
    assert [(r["who"], r["via"], r["outcome"], r["error"]) for r in rows] == \
        [("hn_officer", "trino", "FAILED", "PERMISSION_DENIED")]
    assert rows[0]["what"] == REFUSED[1]
    audit = report(usage.audit_sql(settings.trino_catalog, dataset="use_firms"), settings)
    assert sorted((r["who"], r["outcome"]) for r in audit if r["via"] == "trino") == [
        ("analyst", "FINISHED"), ("analyst", "FINISHED"), ("engineer", "FINISHED"), ("hn_officer", "FAILED")]
    assert [r["at"] for r in audit] == sorted((r["at"] for r in audit), reverse=True)  # newest first


def test_a_delta_sharing_read_is_in_the_sharing_log_and_the_usage(used):
    settings, _ = used
    served = [e for e in sharing.audit_log(settings).entries()  # every read of this table in the audit file
              if e.get("table") == "use_firms_by_region" and e["path"].endswith("/query") and e.get("status") == 200]
    assert served
    rows = report("SELECT partner, action, status, files, bytes FROM lake.ops.sharing_log "
                  "WHERE \"table\" = 'use_firms_by_region' AND action = 'query'", settings)
    assert len(rows) == len(served)
    assert {(r["partner"], r["status"]) for r in rows} == {("bo_tai_chinh", 200)} and all(r["bytes"] > 0 for r in rows)
    gold = {r["dataset"]: r for r in report(usage.usage_sql(settings.trino_catalog), settings)}["use_firms_by_region"]
    assert (gold["queries"], gold["sharing_reads"], gold["partners"]) == (0, len(served), 1)
    audit = report(usage.audit_sql(settings.trino_catalog, user="bo_tai_chinh", dataset="use_firms_by_region"),
                   settings)
    assert audit and {r["via"] for r in audit} == {"delta_sharing"}


COUNTS = ("SELECT (SELECT count(*) FROM lake.ops.query_log) AS q, (SELECT count(DISTINCT query_id) FROM "
          "lake.ops.query_log) AS q_keys, (SELECT count(*) FROM lake.ops.query_log WHERE NOT is_service) AS q_people, "
          "(SELECT count(*) FROM lake.ops.table_reads) AS t, (SELECT count(*) FROM (SELECT DISTINCT query_id, "
          "catalog, schema, \"table\" FROM lake.ops.table_reads)) AS t_keys, "
          "(SELECT count(*) FROM lake.ops.sharing_log) AS s, (SELECT count(DISTINCT entry_id) FROM "
          "lake.ops.sharing_log) AS s_keys")


def test_loading_again_adds_nothing(used):
    settings, first = used
    assert first.rows_written > 0 and first.rows_quarantined == 0
    before = report(COUNTS, settings)[0]
    usage_before = report(usage.usage_sql(settings.trino_catalog, include_service=False), settings)
    # forget what was loaded: every line is read again, and none is inserted twice
    (loader.usage_dir(settings) / "loaded.json").unlink()
    again = loader.run("2026-11-27", settings)
    assert again.duplicates_collapsed >= first.rows_written
    after = report(COUNTS, settings)[0]
    assert (after["q"], after["t"], after["s"]) == (after["q_keys"], after["t_keys"], after["s_keys"])
    # only the service user's own queries since the first load (this test's reports, the loader's
    # registration checks) are new; nobody else's query and no sharing request was added
    assert (after["q_people"], after["s"]) == (before["q_people"], before["s"])
    assert again.rows_written == after["q"] - before["q"]
    assert report(usage.usage_sql(settings.trino_catalog), settings) == usage_before


def test_the_audit_tables_are_hidden_from_groups_that_see_personal_data_masked(used):
    # last in the file: these queries are not loaded by the tests above
    settings, _ = used
    secrets = passwords(settings)
    for table in usage.TABLES:
        with pytest.raises(Exception, match="Access Denied"):
            trino.query(f"SELECT count(*) FROM lake.ops.{table}", settings, user="analyst", password=secrets["analyst"])
    assert trino.query("SELECT count(*) FROM lake.ops.run_log", settings, user="analyst",
                       password=secrets["analyst"])[1][0][0] > 0  # the rest of ops is still theirs
    assert trino.query("SELECT count(*) FROM lake.ops.query_log", settings, user="engineer",
                       password=secrets["engineer"])[1][0][0] > 0
