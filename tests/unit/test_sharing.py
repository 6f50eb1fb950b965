"""Delta Sharing without services: tokens, shares from the specs, refusals, the Delta log, the REST answers."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from lakehouse.config.access import load_access
from lakehouse.config.spec import load_specs
from lakehouse.core.settings import Environment, Settings
from lakehouse.serving import sharing

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)

ACCESS = """\
partners:
  so_ha_noi: {name: {vi: "Sở Hà Nội", en: "Ha Noi office"}, users: [hn_officer], token_ttl: 30d}
  bo_tai_chinh: {name: {vi: "Bộ Tài chính", en: "Ministry of Finance"}, users: [btc_analyst]}
groups:
  analysts: {users: [analyst], reads: [silver, gold, ops]}
"""

PEOPLE = """\
name: people
domain: demo
description: People.
grain: one row per person
source: {kind: files, format: csv}
columns:
  - {name: person_id, type: int}
  - {name: full_name, type: string, personal: true}
  - {name: province_code, type: int}
keys: [person_id]
"""

GOLD = """\
name: {name}
layer: gold
domain: demo
description: A gold table.
grain: one row per province
depends_on: [people]
sql: {sql}
grants:
{grants}
"""


def config(tmp_path: Path) -> Path:
    folder = tmp_path / "datasets" / "demo"
    folder.mkdir(parents=True)
    (tmp_path / "access.yaml").write_text(ACCESS, encoding="utf-8")
    (folder / "people.yaml").write_text(PEOPLE + "grants:\n  - to: analysts\n", encoding="utf-8")
    counts = "SELECT province_code, count(*) AS people FROM people GROUP BY province_code"
    names = "SELECT province_code, max(full_name) AS full_name FROM people GROUP BY province_code"
    golds = {
        "counts": (counts, "  - to: bo_tai_chinh\n  - to: so_ha_noi\n    rows: \"province_code = 1\"\n  - to: analysts"),
        "names_masked": (names, "  - to: bo_tai_chinh"),
        "names_clear": (names, "  - to: so_ha_noi\n    clear: [full_name]"),
    }
    for name, (sql, grants) in golds.items():
        (folder / f"{name}.yaml").write_text(GOLD.format(name=name, sql=json.dumps(sql), grants=grants),
                                             encoding="utf-8")
    return tmp_path


def settings_in(tmp_path: Path, monkeypatch) -> Settings:
    monkeypatch.setenv("LAKE_HOME", str(tmp_path / "state"))
    return Settings(Environment(name="unit"))


# ---- tokens ---------------------------------------------------------------------------------

def test_a_token_is_stored_hashed_and_accepted_until_it_expires(tmp_path):
    store = sharing.TokenStore(tmp_path / "tokens.json")
    token, record = store.issue("so_ha_noi", dt.timedelta(days=30), now=NOW)
    on_disk = (tmp_path / "tokens.json").read_text()
    assert token not in on_disk
    assert json.loads(on_disk)["tokens"][0]["sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert record["expires_at"] == "2026-12-27T12:00:00.000Z"
    assert store.authenticate(f"Bearer {token}", NOW + dt.timedelta(days=29))["partner"] == "so_ha_noi"
    with pytest.raises(sharing.TokenError) as info:
        store.authenticate(f"Bearer {token}", NOW + dt.timedelta(days=30))
    assert (info.value.status, info.value.code) == (403, "TOKEN_EXPIRED")


def test_unknown_missing_revoked_and_rotated_tokens_are_refused(tmp_path):
    store = sharing.TokenStore(tmp_path / "tokens.json")
    first, _ = store.issue("so_ha_noi", dt.timedelta(days=1), now=NOW)
    second, _ = store.issue("so_ha_noi", dt.timedelta(days=1), now=NOW)
    other, _ = store.issue("bo_tai_chinh", dt.timedelta(days=1), now=NOW)
    for header, status, code in [(None, 401, "UNAUTHENTICATED"), ("Bearer ", 401, "UNAUTHENTICATED"),
                                 ("Bearer not-a-token", 401, "UNAUTHENTICATED"),
                                 (f"Bearer {first}", 403, "TOKEN_REVOKED")]:  # rotated away by the second
        with pytest.raises(sharing.TokenError) as info:
            store.authenticate(header, NOW)
        assert (info.value.status, info.value.code) == (status, code)
    assert store.authenticate(f"Bearer {second}", NOW)["partner"] == "so_ha_noi"
    assert store.revoke("so_ha_noi", now=NOW) == 1
    with pytest.raises(sharing.TokenError, match="revoked"):
        store.authenticate(f"Bearer {second}", NOW)
    assert store.authenticate(f"Bearer {other}", NOW)["partner"] == "bo_tai_chinh"  # another partner's stays


def test_the_profile_file_is_the_standard_one(tmp_path, monkeypatch):
    root = config(tmp_path)
    monkeypatch.setattr("lakehouse.core.settings.CONFIG_DIR", root)
    settings = settings_in(tmp_path, monkeypatch)
    token, record, path = sharing.issue_token("so_ha_noi", settings)
    assert path == settings.state_dir / "sharing" / "profiles" / "so_ha_noi.share"
    assert json.loads(path.read_text()) == {
        "shareCredentialsVersion": 1, "endpoint": "http://127.0.0.1:8100/delta-sharing",
        "bearerToken": token, "expirationTime": record["expires_at"]}
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(Exception, match="no partner 'analysts'.*known: bo_tai_chinh, so_ha_noi"):
        sharing.issue_token("analysts", settings)


# ---- shares from the specs ------------------------------------------------------------------------

def test_one_share_per_partner_with_its_unfiltered_unmasked_gold_tables(tmp_path):
    root = config(tmp_path)
    shares, refused = sharing.build_shares(load_specs(root).datasets, load_access(root))
    assert set(shares) == {"bo_tai_chinh", "so_ha_noi"}          # groups get no share
    # full_name is personal in `people`, so it would be masked for bo_tai_chinh in any gold table having it
    assert [(t.schema, t.name, t.masked) for t in shares["bo_tai_chinh"].tables] == [
        ("demo", "counts", ("full_name",)), ("demo", "names_masked", ("full_name",))]
    assert [(t.name, t.masked) for t in shares["so_ha_noi"].tables] == [("names_clear", ())]
    assert shares["so_ha_noi"].schemas == ["demo"]
    assert [(r.partner, r.dataset) for r in refused] == [("so_ha_noi", "counts")]
    # the Delta schemas decide: `counts` has no full_name column, `names_masked` has one
    lake = tmp_path / "bucket"
    commit(lake, "gold/counts", 0, *base_actions(), add("a.parquet", 1))
    commit(lake, "gold/names_masked", 0, *base_actions(columns=("province_code", "full_name")), add("a.parquet", 1))
    shares, refused = sharing.effective_shares(shares, refused, DirStorage(lake))
    assert [t.name for t in shares["bo_tai_chinh"].tables] == ["counts"]
    reasons = {(r.partner, r.dataset): r.reason for r in refused}
    assert set(reasons) == {("so_ha_noi", "counts"), ("bo_tai_chinh", "names_masked")}
    assert "row filter (rows: 'province_code = 1')" in reasons[("so_ha_noi", "counts")]
    assert "Trino" in reasons[("so_ha_noi", "counts")]
    assert "full_name are masked" in reasons[("bo_tai_chinh", "names_masked")]


def test_the_shipped_specs_share_what_can_be_shared():
    from lakehouse.core.settings import CONFIG_DIR
    shares, refused = sharing.build_shares(load_specs(CONFIG_DIR).datasets, load_access(CONFIG_DIR))
    assert [t.name for t in shares["bo_tai_chinh"].tables] == ["enterprises_by_province"]
    assert shares["so_ha_noi"].tables == []  # every grant of Ha Noi's office has a row filter
    assert {r.dataset for r in refused if r.partner == "so_ha_noi"} >= {"enterprises_by_province"}


# ---- the Delta log ----------------------------------------------------------------------------------

class DirStorage:
    """The lake bucket as a local folder; presigned URLs are file paths."""

    def __init__(self, root: Path):
        self.root = root

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file()) if base.exists() else []

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def presign(self, key: str, expires: dt.timedelta) -> str:
        return f"https://s3.example/{key}?expires={int(expires.total_seconds())}"


SCHEMA = json.dumps({"type": "struct", "fields": [
    {"name": "province_code", "type": "integer", "nullable": True, "metadata": {}},
    {"name": "people", "type": "long", "nullable": True, "metadata": {}}]})


def commit(root: Path, table: str, version: int, *actions: dict) -> None:
    log = root / table / "_delta_log"
    log.mkdir(parents=True, exist_ok=True)
    (log / f"{version:020d}.json").write_text("".join(json.dumps(a) + "\n" for a in actions))


def add(path: str, rows: int, province: str | None = None, dv: dict | None = None) -> dict:
    out = {"path": path, "size": 100 + rows, "partitionValues": {"province_code": province} if province else {},
           "modificationTime": 1, "dataChange": True, "stats": json.dumps({"numRecords": rows})}
    if dv:
        out["deletionVector"] = dv
    return {"add": out}


def base_actions(partitioned: bool = False, columns: tuple[str, ...] | None = None) -> list[dict]:
    schema = SCHEMA if columns is None else json.dumps({"type": "struct", "fields": [
        {"name": c, "type": "string", "nullable": True, "metadata": {}} for c in columns]})
    return [{"commitInfo": {"timestamp": 1764000000000, "operation": "WRITE"}},
            {"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
            {"metaData": {"id": "tbl-1", "format": {"provider": "parquet", "options": {}}, "schemaString": schema,
                          "partitionColumns": ["province_code"] if partitioned else [], "configuration": {}}}]


def test_the_log_replay_keeps_the_live_files(tmp_path):
    commit(tmp_path, "gold/t", 0, *base_actions(True), add("province_code=1/a.parquet", 2, "1"),
           add("province_code=79/b%20c.parquet", 3, "79"))
    commit(tmp_path, "gold/t", 1, {"remove": {"path": "province_code=1/a.parquet", "dataChange": True}},
           add("province_code=1/d.parquet", 5, "1"))
    snap = sharing.snapshot(DirStorage(tmp_path), "gold/t")
    assert snap.version == 1
    assert sorted(f["path"] for f in snap.files) == ["province_code=1/d.parquet", "province_code=79/b%20c.parquet"]
    lines = sharing.file_lines(DirStorage(tmp_path), snap, "gold/t", None)
    urls = sorted(line["file"]["url"].split("?")[0] for line in lines)
    assert urls == ["https://s3.example/gold/t/province_code=1/d.parquet",
                    "https://s3.example/gold/t/province_code=79/b c.parquet"]  # the log's paths are URL-encoded
    assert {line["file"]["partitionValues"]["province_code"] for line in lines} == {"1", "79"}
    assert len(sharing.file_lines(DirStorage(tmp_path), snap, "gold/t", 4)) == 1  # limitHint: enough rows
    with pytest.raises(sharing.NoTable):
        sharing.snapshot(DirStorage(tmp_path), "gold/missing")


def test_a_checkpoint_is_read_and_later_commits_replayed(tmp_path):
    commit(tmp_path, "gold/t", 9, {"add": add("z.parquet", 1)["add"]})  # before the checkpoint: ignored
    file_type = pa.struct([("path", pa.string()), ("partitionValues", pa.map_(pa.string(), pa.string())),
                           ("size", pa.int64()), ("stats", pa.string())])
    meta_type = pa.struct([("id", pa.string()), ("schemaString", pa.string()),
                           ("partitionColumns", pa.list_(pa.string())),
                           ("configuration", pa.map_(pa.string(), pa.string()))])
    proto_type = pa.struct([("minReaderVersion", pa.int32()), ("minWriterVersion", pa.int32())])
    rows = {"add": [None, None, {"path": "a.parquet", "partitionValues": [], "size": 10, "stats": "{}"},
                    {"path": "b.parquet", "partitionValues": [], "size": 20, "stats": None}],
            "metaData": [{"id": "tbl-1", "schemaString": SCHEMA, "partitionColumns": [],
                          "configuration": [("delta.enableChangeDataFeed", "true")]}, None, None, None],
            "protocol": [None, {"minReaderVersion": 1, "minWriterVersion": 2}, None, None]}
    table = pa.table({"add": pa.array(rows["add"], file_type), "metaData": pa.array(rows["metaData"], meta_type),
                      "protocol": pa.array(rows["protocol"], proto_type)})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    (tmp_path / "gold/t/_delta_log/00000000000000000010.checkpoint.parquet").write_bytes(buf.getvalue())
    commit(tmp_path, "gold/t", 10, {"add": add("z.parquet", 1)["add"]})  # covered by the checkpoint
    commit(tmp_path, "gold/t", 11, {"remove": {"path": "a.parquet"}}, add("c.parquet", 4))
    snap = sharing.snapshot(DirStorage(tmp_path), "gold/t")
    assert snap.version == 11
    assert sorted(f["path"] for f in snap.files) == ["b.parquet", "c.parquet"]
    assert snap.metadata["configuration"] == {"delta.enableChangeDataFeed": "true"}
    # a newer multi-part checkpoint missing a part is skipped; a complete one is read
    log = tmp_path / "gold/t/_delta_log"
    (log / "00000000000000000011.checkpoint.0000000001.0000000002.parquet").write_bytes(buf.getvalue())
    assert sorted(f["path"] for f in sharing.snapshot(DirStorage(tmp_path), "gold/t").files) == \
        ["b.parquet", "c.parquet"]
    (log / "00000000000000000011.checkpoint.0000000002.0000000002.parquet").write_bytes(buf.getvalue())
    assert sorted(f["path"] for f in sharing.snapshot(DirStorage(tmp_path), "gold/t").files) == \
        ["a.parquet", "b.parquet"]  # the two parts (here the same rows) are the state at version 11


def test_deletion_vectors_and_column_mapping_are_refused_with_the_fix(tmp_path):
    dv = {"storageType": "u", "pathOrInlineDv": "ab^-aqEH.-t@S}K{vb[*k^", "offset": 1, "sizeInBytes": 36,
          "cardinality": 2}
    actions = base_actions()
    actions[1] = {"protocol": {"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": ["deletionVectors"],
                               "writerFeatures": ["deletionVectors"]}}
    commit(tmp_path, "gold/dv", 0, *actions, add("a.parquet", 3))
    sharing.check_shareable(sharing.snapshot(DirStorage(tmp_path), "gold/dv"), "gold/dv")  # the feature alone is fine
    commit(tmp_path, "gold/dv", 1, {"remove": {"path": "a.parquet"}}, add("a.parquet", 3, dv=dv))
    with pytest.raises(sharing.NotShareable, match=r"deletion vectors.*REORG TABLE .* APPLY \(PURGE\)"):
        sharing.check_shareable(sharing.snapshot(DirStorage(tmp_path), "gold/dv"), "gold/dv")
    mapped = base_actions()
    mapped[2]["metaData"]["configuration"] = {"delta.columnMapping.mode": "name"}
    commit(tmp_path, "gold/cm", 0, *mapped, add("a.parquet", 1))
    with pytest.raises(sharing.NotShareable, match="column mapping"):
        sharing.check_shareable(sharing.snapshot(DirStorage(tmp_path), "gold/cm"), "gold/cm")


# ---- the REST answers -----------------------------------------------------------------------------------

@pytest.fixture
def server(tmp_path, monkeypatch):
    root = config(tmp_path)
    settings = settings_in(tmp_path, monkeypatch)
    lake = tmp_path / "bucket"
    commit(lake, "gold/counts", 0, *base_actions(True), add("province_code=1/a.parquet", 2, "1"))
    commit(lake, "gold/names_clear", 0, *base_actions(columns=("province_code", "full_name")), add("a.parquet", 1))
    commit(lake, "gold/names_masked", 0, *base_actions(columns=("province_code", "full_name")), add("a.parquet", 1))
    loader = lambda: (*sharing.effective_shares(*sharing.build_shares(  # noqa: E731
        load_specs(root).datasets, load_access(root)), DirStorage(lake)), None)
    app = sharing.create_app(settings, store=DirStorage(lake), shares_loader=loader)
    store = sharing.token_store(settings)
    tokens = {p: store.issue(p, dt.timedelta(days=1))[0] for p in ("bo_tai_chinh", "so_ha_noi")}
    return TestClient(app), tokens, settings


def get(client, path, token, **kw):
    return client.get(sharing.PREFIX + path, headers={"Authorization": f"Bearer {token}"}, **kw)


def test_a_partner_lists_and_reads_its_share_only(server):
    client, tokens, settings = server
    btc = tokens["bo_tai_chinh"]
    assert get(client, "/shares", btc).json() == {"items": [{"name": "bo_tai_chinh",
                                                             "id": sharing.Share("bo_tai_chinh").id}]}
    assert get(client, "/shares/bo_tai_chinh/schemas", btc).json()["items"] == [{"name": "demo",
                                                                                 "share": "bo_tai_chinh"}]
    tables = get(client, "/shares/bo_tai_chinh/schemas/demo/tables", btc).json()["items"]
    assert [t["name"] for t in tables] == ["counts"]
    head = client.head(sharing.PREFIX + "/shares/bo_tai_chinh/schemas/demo/tables/counts",
                       headers={"Authorization": f"Bearer {btc}"})
    assert head.status_code == 200 and head.headers["delta-table-version"] == "0"
    meta = get(client, "/shares/bo_tai_chinh/schemas/demo/tables/counts/metadata", btc)
    lines = [json.loads(x) for x in meta.text.splitlines()]
    assert lines[0] == {"protocol": {"minReaderVersion": 1}}
    assert lines[1]["metaData"]["partitionColumns"] == ["province_code"]
    query = client.post(sharing.PREFIX + "/shares/bo_tai_chinh/schemas/demo/tables/counts/query",
                        headers={"Authorization": f"Bearer {btc}"}, json={"predicateHints": ["province_code = 1"]})
    assert query.headers["content-type"].startswith("application/x-ndjson")
    files = [json.loads(x)["file"] for x in query.text.splitlines()[2:]]
    assert [(f["partitionValues"], f["size"]) for f in files] == [({"province_code": "1"}, 102)]
    # another partner's share, and a table refused to this partner, answer like missing ones
    for path in ("/shares/so_ha_noi", "/shares/so_ha_noi/schemas", "/shares/so_ha_noi/schemas/demo/tables",
                 "/shares/so_ha_noi/schemas/demo/tables/names_clear/metadata",
                 "/shares/bo_tai_chinh/schemas/demo/tables/names_masked/metadata"):
        answer = get(client, path, btc)
        assert answer.status_code == 404, path
        assert answer.json()["errorCode"] == "RESOURCE_DOES_NOT_EXIST"
    audit = sharing.audit_log(settings).entries()
    served = [e for e in audit if e["path"].endswith("/query")]
    assert served[-1]["partner"] == "bo_tai_chinh" and served[-1]["files"] == 1 and served[-1]["bytes"] == 102
    assert served[-1]["table"] == "counts" and served[-1]["status"] == 200
    assert any(e["status"] == 404 and e["share"] == "so_ha_noi" for e in audit)


def test_refused_tokens_get_a_protocol_error_and_are_audited(server):
    client, tokens, settings = server
    sharing.token_store(settings).revoke("so_ha_noi")
    answer = get(client, "/shares", tokens["so_ha_noi"])
    assert answer.status_code == 403 and answer.json()["errorCode"] == "TOKEN_REVOKED"
    answer = client.get(sharing.PREFIX + "/shares")
    assert answer.status_code == 401 and set(answer.json()) == {"errorCode", "message"}
    audit = sharing.audit_log(settings).entries()
    assert [(e["error"], e["partner"]) for e in audit] == [("TOKEN_REVOKED", "so_ha_noi"), ("UNAUTHENTICATED", None)]


def test_a_path_no_endpoint_matches_is_refused_in_the_protocol_format_and_audited(server):
    """An encoded "/" in a name, or an endpoint the server does not have, matches no route: still one audit
    line and the protocol's error body (the framework's bare 404 or 405 would leave no trace of the probe)."""
    client, tokens, settings = server
    btc = tokens["bo_tai_chinh"]
    paths = ["/shares/bo_tai_chinh/schemas/demo/tables/..%2F..%2Fsilver%2Fpeople/metadata",
             "/shares/so_ha_noi%2F..%2Fbo_tai_chinh/schemas", "/shares/bo_tai_chinh/schemas/demo/tables/counts"]
    answers = [get(client, path, btc) for path in paths]
    answers.append(client.get(sharing.PREFIX + "/no/such/endpoint"))  # no token: refused before anything
    assert [a.status_code for a in answers] == [404, 404, 404, 401]
    assert [a.json()["errorCode"] for a in answers] == ["RESOURCE_DOES_NOT_EXIST"] * 3 + ["UNAUTHENTICATED"]
    audit = sharing.audit_log(settings).entries()
    assert [(e["partner"], e["status"]) for e in audit] == [("bo_tai_chinh", 404)] * 3 + [(None, 401)]
    assert audit[1]["path"] == sharing.PREFIX + "/shares/so_ha_noi/../bo_tai_chinh/schemas"


def test_list_pages_follow_the_next_page_token(tmp_path, monkeypatch):
    page = sharing._page([{"name": str(i)} for i in range(5)], 2, None)
    seen = [i["name"] for i in page["items"]]
    while "nextPageToken" in page:
        page = sharing._page([{"name": str(i)} for i in range(5)], 2, page["nextPageToken"])
        seen += [i["name"] for i in page["items"]]
    assert seen == ["0", "1", "2", "3", "4"]
    assert sharing._page([{"name": "a"}], 0, None) == {"items": [], "nextPageToken": "MA=="}
    with pytest.raises(sharing.ProtocolError):
        sharing._page([], 1, "%%%")


def test_an_unreachable_object_store_is_a_protocol_error_not_a_traceback(server, monkeypatch):
    import urllib3

    client, tokens, settings = server

    def down(*args, **kwargs):
        raise urllib3.exceptions.MaxRetryError(None, "/lake", "Connection refused")

    # where the shares and the server look it up (the package's re-export is a copy of the name)
    monkeypatch.setattr("lakehouse.serving.sharing.deltalog.snapshot", down)
    answer = get(client, "/shares/bo_tai_chinh/schemas/demo/tables/counts/metadata", tokens["bo_tai_chinh"])
    assert answer.status_code == 503 and answer.json()["errorCode"] == "TEMPORARILY_UNAVAILABLE"
    assert "Connection refused" not in answer.text  # details go to the audit log, not to the partner
    assert "Connection refused" in sharing.audit_log(settings).entries()[-1]["message"]


def test_the_cli_names_the_partner_it_needs(capsys):
    from lakehouse.cli import main

    with pytest.raises(SystemExit) as info:
        main(["sharing", "revoke"])
    assert info.value.code == 2
    assert "sharing revoke: name the partner (see `lake sharing list`)" in capsys.readouterr().err


def test_importing_the_package_loads_no_web_framework():
    """A Spark job imports lakehouse.serving.sharing (the audit log); FastAPI and uvicorn load with the server only."""
    import subprocess
    import sys

    probe = ("import sys, lakehouse.serving.sharing as s; "
             "web = lambda: sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'starlette', 'uvicorn'}); "
             "print(web()); s.create_app; print(web())")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.splitlines() == ["[]", "['fastapi', 'starlette']"]  # the probe sees the server load it
