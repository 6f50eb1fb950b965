"""Usage statistics and audit, without services: Trino's query events flattened to rows, the spool and
what the loader picks from it, the sharing audit rows, the receiver's answers, and the CLI's arguments."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from lakehouse import cli
from lakehouse.serving import events, usage

# The shape Trino 476's HTTP event listener POSTs for a finished query (observed on our stack; the plan,
# payload and most statistics trimmed): durations are seconds as numbers, instants ISO-8601 UTC.
FINISHED = {
    "metadata": {
        "queryId": "20261127_182642_00009_9swd2", "transactionId": "7b9612fc-e1bb-4d86-a7b7-fcf86f67f049",
        "query": "SELECT region_code, count(*) FROM lake.silver.use_people GROUP BY 1",
        "queryState": "FINISHED",
        "tables": [{"catalog": "lake", "schema": "silver", "table": "use_people", "authorization": "lake",
                    "filters": [], "columns": [{"column": "region_code"}], "directlyReferenced": True,
                    "referenceChain": []}],
        "routines": [], "uri": "https://127.0.0.1:8260/v1/query/20261127_182642_00009_9swd2", "payload": "{}",
    },
    "statistics": {"cpuTime": 0.016, "failedCpuTime": 0.0, "wallTime": 0.441, "queuedTime": 0.009,
                   "physicalInputBytes": 1874, "physicalInputRows": 3, "processedInputBytes": 52,
                   "outputBytes": 52, "outputRows": 2, "writtenBytes": 0, "writtenRows": 0, "complete": True},
    "context": {"user": "analyst", "originalUser": "analyst", "principal": "analyst", "groups": ["analysts"],
                "remoteClientAddress": "127.0.0.1", "userAgent": "Trino Python Client/0.340.0", "source": "lake",
                "catalog": "lake", "serverVersion": "476", "environment": "lake_local", "queryType": "SELECT"},
    "ioMetadata": {"inputs": [{"connectorName": "delta_lake", "catalogName": "lake", "catalogVersion": "default",
                               "schema": "silver", "table": "use_people",
                               "columns": [{"name": "region_code", "type": "integer"}], "connectorMetrics": {},
                               "physicalInputBytes": 1874, "physicalInputRows": 3}]},
    "warnings": [],
    "createTime": "2026-11-27T18:26:42.336Z", "executionStartTime": "2026-11-27T18:26:42.400Z",
    "endTime": "2026-11-27T18:26:42.776Z",
}

DENIED = {
    "metadata": {"queryId": "20261127_182643_00010_9swd2", "query": "SELECT * FROM lake.silver.use_people",
                 "queryState": "FAILED", "tables": [], "routines": [], "uri": "https://127.0.0.1:8260/v1/query/x"},
    "statistics": {"cpuTime": 0.0, "wallTime": 0.0, "physicalInputBytes": 0, "physicalInputRows": 0,
                   "outputRows": 0},
    "context": {"user": "hn_officer", "source": "lake", "remoteClientAddress": "127.0.0.1"},
    "ioMetadata": {"inputs": []},
    "failureInfo": {"errorCode": {"code": 4, "name": "PERMISSION_DENIED", "type": "USER_ERROR", "fatal": True},
                    "failureType": "io.trino.spi.security.AccessDeniedException",
                    "failureMessage": "Access Denied: Cannot select from table lake.silver.use_people"},
    "warnings": [], "createTime": "2026-11-27T18:26:43.001Z", "endTime": "2026-11-27T18:26:43.010Z",
}


# ---- flattening ---------------------------------------------------------------------------------

def test_a_finished_query_becomes_one_compact_record_with_its_table_reads():
    rec = usage.compact(FINISHED)
    assert rec["query_id"] == "20261127_182642_00009_9swd2" and rec["user"] == "analyst"
    assert rec["state"] == "FINISHED" and rec["source"] == "lake"
    assert (rec["wall_ms"], rec["cpu_ms"]) == (441, 16)
    assert (rec["input_bytes"], rec["input_rows"], rec["output_rows"]) == (1874, 3, 2)
    assert rec["created_at"] == "2026-11-27T18:26:42.336Z" and rec["ended_at"] == "2026-11-27T18:26:42.776Z"
    assert rec["inputs"] == [{"catalog": "lake", "schema": "silver", "table": "use_people",
                              "columns": ["region_code"], "bytes": 1874, "rows": 3}]
    assert rec["error_code"] is None and "payload" not in json.dumps(rec)  # the plan is not kept

    row = usage.query_row(rec, service_user="lake")
    assert row["is_service"] is False and row["query_date"] == dt.date(2026, 11, 27)
    assert row["ended_at"] == dt.datetime(2026, 11, 27, 18, 26, 42, 776000, tzinfo=dt.timezone.utc)
    reads = usage.table_read_rows(rec, "lake", "lake", known={"use_people"})
    assert [(r["dataset"], r["layer"], r["columns"], r["physical_input_bytes"]) for r in reads] == \
        [("use_people", "silver", ["region_code"], 1874)]


def test_a_refused_query_keeps_who_and_why_and_reads_no_table():
    rec = usage.compact(DENIED)
    assert (rec["user"], rec["state"], rec["error_code"], rec["error_type"]) == \
        ("hn_officer", "FAILED", "PERMISSION_DENIED", "USER_ERROR")
    assert rec["error_message"].startswith("Access Denied") and rec["inputs"] == []
    assert usage.table_read_rows(rec, "lake", "lake") == []


def test_the_service_users_queries_are_flagged_not_dropped():
    event = copy.deepcopy(FINISHED)
    event["context"]["user"] = "lake"
    rec = usage.compact(event)
    assert usage.query_row(rec, "lake")["is_service"] is True
    assert all(r["is_service"] for r in usage.table_read_rows(rec, "lake", "lake"))


def test_a_long_query_text_is_cut_and_flagged():
    event = copy.deepcopy(FINISHED)
    event["metadata"]["query"] = "SELECT " + "x, " * 5000 + "1"
    rec = usage.compact(event)
    assert len(rec["query"]) == usage.QUERY_TEXT_LIMIT and rec["truncated"] is True
    assert usage.query_row(rec, "lake")["is_query_truncated"] is True


def test_tables_map_to_datasets_by_layer_and_name():
    assert usage.dataset_of("silver", "communes", {"communes"}) == "communes"
    assert usage.dataset_of("quarantine", "communes__quarantine", {"communes"}) == "communes"
    assert usage.dataset_of("gold", "gone", {"communes"}) is None  # no spec by that name
    assert usage.dataset_of("ops", "run_log") is None and usage.dataset_of("information_schema", "tables") is None
    rec = {"query_id": "q", "user": "u", "state": "FINISHED", "ended_at": "2026-01-02T00:00:00Z", "inputs": [
        {"catalog": "lake", "schema": "gold", "table": "g", "columns": ["a"], "bytes": 10, "rows": 1},
        {"catalog": "lake", "schema": "gold", "table": "g", "columns": ["b"], "bytes": 5, "rows": 2},  # self-join
        {"catalog": "system", "schema": "runtime", "table": "nodes", "columns": [], "bytes": 1, "rows": 1}]}
    rows = usage.table_read_rows(rec, "lake", "lake", {"g"})
    assert [(r["catalog"], r["dataset"], r["columns"], r["physical_input_bytes"], r["physical_input_rows"])
            for r in rows] == [("lake", "g", ["a", "b"], 15, 3), ("system", None, [], 1, 1)]


@pytest.mark.parametrize("value, ms", [(0.441, 441), (2, 2000), ("PT1.5S", 1500), ("PT2M0.25S", 120250),
                                       ("1.50s", 1500), ("12.34ms", 12), ("3.00m", 180000), (None, None)])
def test_durations_in_every_form_trino_writes(value, ms):
    assert usage.duration_ms(value) == ms


def test_only_completed_events_are_spooled():
    assert usage.is_completed_event(FINISHED) and usage.is_completed_event(DENIED)
    created = {"metadata": FINISHED["metadata"], "context": FINISHED["context"], "createTime": "2026-11-27T00:00:00Z"}
    assert not usage.is_completed_event(created) and not usage.is_completed_event([FINISHED])


# ---- the spool and what the loader picks --------------------------------------------------------

def test_a_half_written_line_is_rejected_with_its_reason_and_the_good_lines_are_kept(tmp_path):
    path = usage.spool_file(tmp_path, dt.datetime(2026, 11, 27, 23, 59, tzinfo=dt.timezone.utc))
    assert path.name == "events-2026-11-27.jsonl"
    usage.append_line(path, usage.compact(FINISHED))
    with open(path, "ab") as fh:  # the receiver died in the middle of a line
        fh.write(b'{"query_id":"half')
    assert usage.repair_tail(path) and not usage.repair_tail(path)  # the next start ends it, once
    usage.append_line(path, usage.compact(DENIED))
    chunks = usage.read_chunks({"spool/" + path.name: path}, {})
    parsed = usage.parse(chunks, required=("query_id",))
    assert [r["query_id"] for _, r in parsed.records] == ["20261127_182642_00009_9swd2",
                                                           "20261127_182643_00010_9swd2"]
    assert len(parsed.rejected) == 1
    bad = parsed.rejected[0]
    assert bad["file"] == "spool/events-2026-11-27.jsonl" and bad["reason"].startswith("not JSON")
    assert bad["offset"] == path.read_bytes().index(b'{"query_id":"half')


def test_lines_without_a_key_or_not_objects_are_rejected_by_name():
    chunk = usage.split_lines("f", b'{"user": "a"}\n[1, 2]\n{"query_id": "q"}\n', 0)
    parsed = usage.parse([chunk], required=("query_id",))
    assert [r["reason"] for r in parsed.rejected] == ["no query_id", "not a JSON object but list"]
    assert [r for _, r in parsed.records] == [{"query_id": "q"}]


def test_loading_resumes_after_what_was_loaded_and_waits_for_an_unfinished_line(tmp_path):
    path = tmp_path / "events-2026-11-27.jsonl"
    path.write_bytes(b'{"query_id": "a"}\n{"query_id": "b"}\n{"query_id": "c"')  # c is still being written
    files = {"spool/x": path}
    first = usage.read_chunks(files, {})
    assert [line for _, line in first[0].lines] == ['{"query_id": "a"}', '{"query_id": "b"}']
    loaded = {"spool/x": first[0].end}
    assert usage.read_chunks(files, loaded) == []  # nothing new: a re-run loads nothing
    with open(path, "ab") as fh:
        fh.write(b'}\n{"query_id": "d"}\n')
    second = usage.read_chunks(files, loaded)
    assert [line for _, line in second[0].lines] == ['{"query_id": "c"}', '{"query_id": "d"}']
    assert second[0].start == first[0].end and second[0].end == path.stat().st_size


def test_a_file_that_shrank_is_read_again_from_its_start():
    assert usage.pending({"a": 100, "b": 50, "c": 10}, {"a": 100, "b": 80}) == {"b": 0, "c": 0}


# ---- Delta Sharing audit ------------------------------------------------------------------------

def test_a_sharing_audit_line_becomes_a_row_with_a_stable_id():
    entry = {"at": "2026-11-27T10:00:00.123Z", "partner": "bo_tai_chinh", "token_id": "t1", "method": "POST",
             "path": "/delta-sharing/shares/bo_tai_chinh/schemas/enterprises/tables/shr_firms/query",
             "share": "bo_tai_chinh", "schema": "enterprises", "table": "shr_firms", "client": "127.0.0.1",
             "status": 200, "version": 3, "files": 2, "bytes": 4096, "ms": 12}
    line = json.dumps(entry)
    row = usage.sharing_row(line, entry)
    assert (row["action"], row["partner"], row["table"], row["status"], row["files"], row["bytes"]) == \
        ("query", "bo_tai_chinh", "shr_firms", 200, 2, 4096)
    assert row["table_version"] == 3 and row["access_date"] == dt.date(2026, 11, 27)
    assert row["entry_id"] == usage.sharing_row(line, entry)["entry_id"]
    assert usage.sharing_action("GET", "/delta-sharing/shares") == "list_shares"
    assert usage.sharing_action("GET", "/delta-sharing/shares/p/all-tables") == "list_all_tables"
    assert usage.sharing_action("GET", "/delta-sharing/shares/p/schemas/s/tables/t/metadata") == "metadata"


# ---- the receiver -------------------------------------------------------------------------------

def test_the_receiver_spools_completed_events_and_refuses_strangers(tmp_path):
    from fastapi.testclient import TestClient

    clock = lambda: dt.datetime(2026, 11, 27, 12, tzinfo=dt.timezone.utc)  # noqa: E731
    client = TestClient(events.create_app(tmp_path, "secret", clock))
    assert client.post(events.PATH, json=FINISHED).status_code == 403
    assert client.post(events.PATH, json=FINISHED, headers={events.TOKEN_HEADER: "wrong"}).status_code == 403
    ok = {events.TOKEN_HEADER: "secret"}
    assert client.post(events.PATH, json=FINISHED, headers=ok).status_code == 200
    assert client.post(events.PATH, json={"metadata": {}, "createTime": "x"}, headers=ok).status_code == 202
    assert client.post(events.PATH, content=b"{not json", headers=ok).status_code == 400
    lines = (tmp_path / "events-2026-11-27.jsonl").read_text().splitlines()
    assert [json.loads(line)["query_id"] for line in lines] == ["20261127_182642_00009_9swd2"]


def test_trino_is_told_to_send_completed_queries_with_the_token_and_to_retry(tmp_path):
    from lakehouse.core.settings import Settings, load_environment

    settings = Settings(load_environment("test"), home=tmp_path)
    settings.env.services.events.port = 8290
    props = dict(line.split("=", 1) for line in events.listener_properties(settings).splitlines())
    assert props["event-listener.name"] == "http" and props["http-event-listener.log-completed"] == "true"
    assert props["http-event-listener.connect-ingest-uri"] == "http://127.0.0.1:8290" + events.PATH
    settings.env.services.hosts = {"events": "events.lake.internal"}  # on a stack spread over hosts
    props = dict(line.split("=", 1) for line in events.listener_properties(settings).splitlines())
    assert props["http-event-listener.connect-ingest-uri"] == "http://events.lake.internal:8290" + events.PATH
    assert props["http-event-listener.connect-http-headers"] == \
        f"{events.TOKEN_HEADER}:{events.events_token(settings)}"
    assert int(props["http-event-listener.connect-retry-count"]) > 0


# ---- the reports and the CLI --------------------------------------------------------------------

def test_usage_and_audit_arguments():
    args = cli.build_parser().parse_args(["usage", "--year", "2026", "--dataset", "communes", "--format", "json"])
    assert (args.year, args.since, args.dataset, args.include_service, args.no_load, args.format) == \
        (2026, None, "communes", False, False, "json")
    assert args.func is cli.cmd_usage
    args = cli.build_parser().parse_args(["audit", "--user", "analyst", "--since", "2026-11-01", "--limit", "5"])
    assert (args.user, args.since, args.limit, args.dataset, args.func) == \
        ("analyst", "2026-11-01", 5, None, cli.cmd_audit)
    assert cli.build_parser().parse_args(["audit"]).limit == 100


@pytest.mark.parametrize("argv", [["usage", "--year", "2026", "--since", "2026-01-01"],
                                  ["usage", "--since", "27/11/2026"], ["audit", "--since", "yesterday"]])
def test_usage_and_audit_refuse_bad_periods(argv, capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(argv)
    assert "error" in capsys.readouterr().err


def test_the_usage_report_counts_a_year_without_the_service_user_unless_asked():
    start, end = usage.period(year=2026)
    assert (start, end) == ("2026-01-01", "2027-01-01") and usage.period(since="2026-05-01") == ("2026-05-01", None)
    sql = usage.usage_sql("lake", start, end, dataset="it's")
    assert "NOT t.is_service" in sql and "t.read_at >= TIMESTAMP '2026-01-01 00:00:00 UTC'" in sql
    assert "t.read_at < TIMESTAMP '2027-01-01 00:00:00 UTC'" in sql and "t.dataset = 'it''s'" in sql
    assert "NOT t.is_service" not in usage.usage_sql("lake", include_service=True)
    audit = usage.audit_sql("lake", user="hn_officer", dataset="use_people", limit=7)
    assert "q.user = 'hn_officer'" in audit and "s.partner = 'hn_officer'" in audit
    assert "regexp_like" in audit and audit.endswith("LIMIT 7")
