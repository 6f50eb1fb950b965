"""Delta Sharing on the real stack, read with the official `delta-sharing` client from PyPI.

The specs are in tests/integration/datasets/sharing: shr_firms (silver, with a personal
column) and three gold tables built from it: shr_firms_by_region (partitioned by region,
granted to bo_tai_chinh, and to so_ha_noi with a row filter), shr_region_list (granted to
so_ha_noi) and shr_firm_contacts (granted to bo_tai_chinh, keeping the owner's phone,
which is masked for it).  The server is the one `lake up sharing` starts.  Besides reads, the
refusals: another partner's share, paths that try to leave the share, a burst of wrong tokens, a
token replayed after rotation, a revoked and an expired token.  The tests run in file order: the
last three rotate and revoke the partners' tokens.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import delta_sharing
import pytest
from requests.exceptions import HTTPError

from lakehouse import services
from lakehouse.io import trino
from lakehouse.serving import sharing, trino_security
from lakehelp import ingest, reset, use_datasets

HERE = Path(__file__).resolve().parent
SPECS = HERE / "datasets" / "sharing"
DATASETS = ["shr_firms", "shr_firms_by_region", "shr_region_list", "shr_firm_contacts"]
FIRMS = [  # firm_id, firm_name, region_code, capital, owner_phone
    (1, "Công ty Hà Nội Xanh", 1, 1_500_000_000.0, "0912345678"),
    (2, "Công ty Sông Hồng", 1, 250_000_000.5, None),
    (3, "Công ty Sài Gòn Mới", 79, 3_000_000_000.0, "0983111222"),
    (4, "Hợp tác xã Đà Nẵng", 48, None, "0905000111"),
]
TABLE = "bo_tai_chinh.sharing_test.shr_firms_by_region"


def rows_of(frame) -> list[tuple]:
    return sorted((tuple(None if v != v else v for v in row)  # NaN (a NULL double) → None
                   for row in frame.itertuples(index=False, name=None)), key=repr)


def token_of(profile: str) -> str:
    return json.loads(Path(profile).read_text())["bearerToken"]


def raw_request(settings, method: str, path: str, token: str | None, body: str | None = None):
    """One request to the sharing server with ``path`` sent byte for byte (no client normalises ``..`` or
    decodes ``%2F``): (status, body text)."""
    import http.client
    from urllib.parse import urlparse

    url = urlparse(sharing.endpoint(settings))
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, url.path + path, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read().decode("utf-8", "replace")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def shared(stack, tmp_path_factory):
    source = tmp_path_factory.mktemp("sharing") / "firms.jsonl"
    source.write_text("".join(json.dumps(dict(zip(
        ["firm_id", "firm_name", "region_code", "capital", "owner_phone"], f)), ensure_ascii=False) + "\n"
        for f in FIRMS), encoding="utf-8")
    server = services.select(["sharing"], stack)[0]
    started = server.pid() is None
    with use_datasets(SPECS):  # the server started here reads these specs too
        reset(DATASETS, stack)
        ingest("shr_firms", [source], "2026-11-20")
        if started:
            services.up(["sharing"], stack)
        profiles = {}
        for partner in ("bo_tai_chinh", "so_ha_noi"):
            profiles[partner] = str(sharing.issue_token(partner, stack,
                                                        tmp_path_factory.mktemp("p") / f"{partner}.share")[2])
        yield stack, profiles
        if started:
            services.down(["sharing"], stack)
        reset(DATASETS, stack)


def test_the_client_reads_exactly_the_rows_trino_returns(shared):
    settings, profiles = shared
    frame = delta_sharing.load_as_pandas(f"{profiles['bo_tai_chinh']}#{TABLE}")
    columns = ["region_code", "firm_count", "capital_total", "last_firm_name"]
    assert sorted(frame.columns) == sorted(columns)
    # what the partner's own Trino user reads (the publish step wrote its rules; Trino re-reads them in 5 s)
    password = {r["user"]: r["password"] for r in trino_security.users(settings)}["btc_analyst"]
    sql = f"SELECT {', '.join(columns)} FROM lake.gold.shr_firms_by_region"
    deadline = time.monotonic() + 30
    while True:
        try:
            from_trino = trino.query(sql, settings, user="btc_analyst", password=password)[1]
            break
        except Exception:
            assert time.monotonic() < deadline, "Trino did not pick up the test specs' access rules"
            time.sleep(1)
    assert len(from_trino) == 3
    assert rows_of(frame[columns]) == sorted(from_trino, key=repr)
    assert sorted(frame["region_code"].tolist()) == [1, 48, 79]  # partition values, typed by the schema
    # the audit line: who, which table, how many files (one per region partition)
    served = [e for e in sharing.audit_log(settings).entries()
              if e["path"].endswith("/query") and e["table"] == "shr_firms_by_region"]
    assert served[-1]["partner"] == "bo_tai_chinh" and served[-1]["status"] == 200
    assert served[-1]["files"] == 3 and served[-1]["bytes"] > 0


def test_each_partner_lists_only_its_own_share_and_the_refused_grants_are_named(shared):
    settings, profiles = shared
    btc = delta_sharing.SharingClient(profiles["bo_tai_chinh"])
    assert [s.name for s in btc.list_shares()] == ["bo_tai_chinh"]
    # shr_firm_contacts keeps the owner's phone, masked for this partner: not shared as files
    assert [(t.schema, t.name) for t in btc.list_all_tables()] == [("sharing_test", "shr_firms_by_region")]
    hn = delta_sharing.SharingClient(profiles["so_ha_noi"])
    assert [s.name for s in hn.list_shares()] == ["so_ha_noi"]
    # its grant of shr_firms_by_region has a row filter: Trino only
    assert [t.name for t in hn.list_all_tables()] == ["shr_region_list"]
    assert sorted(delta_sharing.load_as_pandas(f"{profiles['so_ha_noi']}#so_ha_noi.sharing_test.shr_region_list")
                  ["region_code"].tolist()) == [1, 48, 79]
    with use_datasets(SPECS):
        rows, refused = sharing.status_rows(settings)
    reasons = {(r.partner, r.dataset): r.reason for r in refused}
    assert "row filter" in reasons[("so_ha_noi", "shr_firms_by_region")]
    assert "owner_phone are masked" in reasons[("bo_tai_chinh", "shr_firm_contacts")]
    assert {r["partner"]: r["tables"] for r in rows} == {
        "bo_tai_chinh": "bo_tai_chinh.sharing_test.shr_firms_by_region",
        "so_ha_noi": "so_ha_noi.sharing_test.shr_region_list"}


def test_a_partner_cannot_list_or_read_another_partners_share(shared):
    _, profiles = shared
    hn = delta_sharing.SharingClient(profiles["so_ha_noi"])
    with pytest.raises(HTTPError) as info:
        hn.list_schemas(delta_sharing.Share("bo_tai_chinh"))
    assert info.value.response.status_code == 404
    with pytest.raises(HTTPError) as info:
        delta_sharing.load_as_pandas(f"{profiles['so_ha_noi']}#{TABLE}")
    assert info.value.response.status_code == 404
    with pytest.raises(HTTPError) as info:  # nor the refused (masked) table of its own partner
        delta_sharing.load_as_pandas(f"{profiles['bo_tai_chinh']}#bo_tai_chinh.sharing_test.shr_firm_contacts")
    assert info.value.response.status_code == 404


# share, schema and table path segments exactly as sent: dot segments, encoded slashes and dots, a doubly
# encoded slash, backslashes, a NUL, another partner's share behind a "..", a lake table outside the share
ESCAPES = [
    ("so_ha_noi", "sharing_test", ".."),
    ("so_ha_noi", "sharing_test", "%2e%2e"),
    ("so_ha_noi", "sharing_test", "..%2F..%2Fsilver%2Fshr_firms"),
    ("so_ha_noi", "sharing_test", "%2e%2e%2f%2e%2e%2fgold%2fshr_firms_by_region"),
    ("so_ha_noi", "sharing_test", "shr_region_list%2F..%2F..%2F..%2Fsilver%2Fshr_firms"),
    ("so_ha_noi", "sharing_test", "..%252F..%252Fsilver%252Fshr_firms"),
    ("so_ha_noi", "sharing_test", "..%5C..%5Csilver%5Cshr_firms"),
    ("so_ha_noi", "sharing_test", "shr_region_list%00"),
    ("so_ha_noi", "sharing_test", "../../../../silver/shr_firms"),
    ("so_ha_noi", "sharing_test%2F..%2F..", "shr_region_list"),
    ("so_ha_noi", "..", "shr_firms_by_region"),
    ("so_ha_noi", "%2e%2e", "shr_region_list"),
    ("so_ha_noi%2F..%2Fbo_tai_chinh", "sharing_test", "shr_firms_by_region"),
    ("..%2Fbo_tai_chinh", "sharing_test", "shr_firms_by_region"),
    ("so_ha_noi", "sharing_test", "shr_firms"),             # a silver table of the lake, in no share
    ("so_ha_noi", "sharing_test", "SHR_FIRMS_BY_REGION"),   # granted with a row filter: Trino only
]


def test_a_path_that_escapes_the_share_is_refused_and_serves_no_file(shared):
    settings, profiles = shared
    token = token_of(profiles["so_ha_noi"])
    base = "/shares/{}/schemas/{}/tables/{}"
    # the same raw requests with the share's own table serve its files, and only its files
    status, body = raw_request(settings, "POST", base.format("so_ha_noi", "sharing_test", "shr_region_list") + "/query",
                               token, "{}")
    assert status == 200
    urls = [json.loads(line)["file"]["url"] for line in body.splitlines() if '"file"' in line]
    assert urls and all(f"/{settings.bucket}/gold/shr_region_list/" in url for url in urls)
    before = len(sharing.audit_log(settings).entries())
    served, sent = [], 0
    for share, schema, table in ESCAPES:
        for method, suffix, payload in (("POST", "/query", "{}"), ("GET", "/metadata", None),
                                        ("GET", "/version", None), ("HEAD", "", None)):
            path = base.format(share, schema, table) + suffix
            status, body = raw_request(settings, method, path, token, payload)
            sent += 1
            if not (400 <= status < 500) or '"file"' in body or "X-Amz-" in body or '"metaData"' in body:
                served.append((method, path, status, body[:200]))
    assert not served, "\n".join(map(str, served))
    # and every probe is in the audit, with the partner whose token tried it
    lines = sharing.audit_log(settings).entries()[before:]
    assert len(lines) == sent
    assert all(e["partner"] == "so_ha_noi" and 400 <= e["status"] < 500 and not e.get("files") for e in lines)


def test_a_burst_of_wrong_tokens_is_refused_every_time_and_audited(shared):
    """Fifty requests with wrong tokens: each one refused, each one an audit line (which does not keep the
    token).  The server has no rate limit or lockout: the partner's own token still works right after."""
    import secrets as random_tokens

    settings, profiles = shared
    tag = f"burst-{random_tokens.token_hex(4)}"
    wrong = [random_tokens.token_urlsafe(32) for _ in range(50)]
    answers = [raw_request(settings, "GET", f"/shares/{tag}-{i}/schemas", token) for i, token in enumerate(wrong)]
    assert [status for status, _ in answers] == [401] * 50
    assert all(json.loads(body)["errorCode"] == "UNAUTHENTICATED" for _, body in answers)
    lines = [e for e in sharing.audit_log(settings).entries() if str(e.get("share", "")).startswith(tag)]
    assert sorted(e["share"] for e in lines) == sorted(f"{tag}-{i}" for i in range(50))  # one line per request
    assert {(e["status"], e["error"], e["partner"]) for e in lines} == {(401, "UNAUTHENTICATED", None)}
    text = sharing.audit_log(settings).path.read_text(encoding="utf-8")
    assert not any(token in text for token in wrong)
    status, _ = raw_request(settings, "GET", "/shares", token_of(profiles["so_ha_noi"]))
    assert status == 200


def test_a_changed_source_is_read_anew_and_deletion_vectors_are_refused(shared, tmp_path):
    settings, profiles = shared
    changed = tmp_path / "firms.jsonl"
    firm = dict(zip(["firm_id", "firm_name", "region_code", "capital", "owner_phone"], FIRMS[1]))
    changed.write_text(json.dumps({**firm, "firm_name": "Công ty Sông Hồng Mới", "capital": 7.5},
                                  ensure_ascii=False) + "\n", encoding="utf-8")
    with use_datasets(SPECS):
        ingest("shr_firms", [changed], "2026-11-21")
    store = sharing.S3Storage(settings)
    # silver turns deletion vectors on: its MERGE marked the old row deleted instead of rewriting the file,
    # so the files alone would still hold it; such a table is refused, with the fix
    silver = sharing.snapshot(store, "silver/shr_firms")
    assert any(f.get("deletionVector") for f in silver.files)
    with pytest.raises(sharing.NotShareable, match=r"deletion vectors.*APPLY \(PURGE\)"):
        sharing.check_shareable(silver, "silver/shr_firms")
    gold = sharing.snapshot(store, "gold/shr_firms_by_region")  # rebuilt whole: no deletion vectors
    sharing.check_shareable(gold, "gold/shr_firms_by_region")
    assert gold.version > 0
    frame = delta_sharing.load_as_pandas(f"{profiles['bo_tai_chinh']}#{TABLE}")
    region_1 = frame[frame["region_code"] == 1].iloc[0]
    assert (region_1["last_firm_name"], region_1["capital_total"]) == ("Công ty Sông Hồng Mới", 1_500_000_007.5)
    from_trino = trino.query("SELECT region_code, firm_count, capital_total, last_firm_name "
                             "FROM lake.gold.shr_firms_by_region", settings)[1]
    assert rows_of(frame[["region_code", "firm_count", "capital_total", "last_firm_name"]]) == \
        sorted(from_trino, key=repr)


def test_a_token_replayed_after_rotation_is_refused(shared, tmp_path):
    """Issuing a partner a new token (`lake sharing token PARTNER`) revokes its old one: a copy of the old
    profile kept somewhere no longer reads."""
    settings, profiles = shared
    old = profiles["so_ha_noi"]
    url = "#so_ha_noi.sharing_test.shr_region_list"
    assert len(delta_sharing.load_as_pandas(old + url)) == 3
    new = str(sharing.issue_token("so_ha_noi", settings, tmp_path / "hn-rotated.share")[2])
    profiles["so_ha_noi"] = new  # later tests read with the partner's current profile
    with pytest.raises(HTTPError) as info:
        delta_sharing.load_as_pandas(old + url)
    assert info.value.response.status_code == 403
    assert info.value.response.json()["errorCode"] == "TOKEN_REVOKED"
    assert "rotated" in info.value.response.json()["message"]
    status, _ = raw_request(settings, "GET", "/shares", token_of(old))
    assert status == 403
    last = sharing.audit_log(settings).entries()[-1]
    assert (last["partner"], last["error"], last["status"]) == ("so_ha_noi", "TOKEN_REVOKED", 403)
    assert len(delta_sharing.load_as_pandas(new + url)) == 3
    # the other partner's token is not touched by this partner's rotation
    assert [s.name for s in delta_sharing.SharingClient(profiles["bo_tai_chinh"]).list_shares()] == ["bo_tai_chinh"]


def test_a_revoked_token_is_refused(shared, tmp_path):
    settings, _ = shared
    _, _, profile = sharing.issue_token("so_ha_noi", settings, tmp_path / "hn.share")
    url = f"{profile}#so_ha_noi.sharing_test.shr_region_list"
    assert len(delta_sharing.load_as_pandas(url)) == 3
    assert sharing.token_store(settings).revoke("so_ha_noi") == 1
    with pytest.raises(HTTPError) as info:
        delta_sharing.load_as_pandas(url)
    assert info.value.response.status_code == 403
    assert info.value.response.json()["errorCode"] == "TOKEN_REVOKED"
    last = sharing.audit_log(settings).entries()[-1]
    assert (last["partner"], last["error"], last["status"]) == ("so_ha_noi", "TOKEN_REVOKED", 403)


def test_an_expired_token_is_refused(shared, tmp_path):
    settings, _ = shared
    past = sharing.utcnow() - dt.timedelta(hours=2)
    token, _ = sharing.token_store(settings).issue("bo_tai_chinh", dt.timedelta(hours=1), now=past)
    # no expirationTime in this profile, so the client cannot refuse it itself: the server must
    profile = tmp_path / "expired.share"
    profile.write_text(json.dumps({"shareCredentialsVersion": 1, "endpoint": sharing.endpoint(settings),
                                   "bearerToken": token}))
    with pytest.raises(HTTPError) as info:
        delta_sharing.load_as_pandas(f"{profile}#{TABLE}")
    assert info.value.response.status_code == 403
    assert info.value.response.json()["errorCode"] == "TOKEN_EXPIRED"
    with pytest.raises(HTTPError) as info:
        delta_sharing.SharingClient(str(profile)).list_shares()
    assert info.value.response.status_code == 403
