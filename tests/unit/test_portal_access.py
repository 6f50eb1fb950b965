"""Shared data on request, without a stack: a partner asks on the portal, a steward decides, the grant lands in
the spec; sessions, CSRF and another partner's request refused.  The specs are a copy of the shipped ones
(``LAKE_DATASETS_DIR``), so an approval edits the copy; with no local Trino the rules are not written here
(test_open_data_catalog's browser test checks the grant in Trino and Delta Sharing)."""

from __future__ import annotations

import re
import shutil

import pytest

from lakehouse.config.grant_file import GrantEditError, add_grant
from lakehouse.core.settings import CONFIG_DIR
from lakehouse.serving.portal.auth import Signer

SHARED_GOLD = "citizens_by_province"  # shipped: gold, shared, granted to so_ha_noi only


@pytest.fixture()
def portal(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from lakehouse.core.settings import Settings
    from lakehouse.serving.portal.app import create_app

    shutil.copytree(CONFIG_DIR / "datasets", tmp_path / "datasets")
    monkeypatch.setenv("LAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LAKE_DATASETS_DIR", str(tmp_path / "datasets"))
    settings = Settings()
    app = create_app(settings)
    passwords = settings.trino_passwords(["btc_analyst", "hn_officer", "engineer", "analyst"])

    def browser(user: str | None = None) -> TestClient:
        client = TestClient(app, follow_redirects=False)
        if user:
            answer = client.post("/signin", data={"user": user, "password": passwords[user], "next": "/requests",
                                                  "csrf": csrf(client, "/signin")})
            assert answer.status_code == 303 and answer.headers["location"] == "/requests", answer.text
        return client

    return browser, tmp_path / "datasets", settings


def csrf(client, path: str) -> str:
    page = client.get(path)
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def ask(client, name: str = SHARED_GOLD, **fields):
    data = {"purpose": "Dự báo thu ngân sách theo dân số tỉnh", "legal_basis": "Nghị định 47/2024/NĐ-CP, Điều 12",
            "csrf": csrf(client, f"/dataset/{name}"), **fields}
    return client.post(f"/dataset/{name}/request", data=data)


def test_a_partner_asks_a_steward_approves_and_the_grant_is_written_into_the_spec(portal):
    from lakehouse.config.spec import load_specs

    browser, specs_dir, settings = portal
    partner = browser("btc_analyst")
    assert 'id="ask"' in partner.get(f"/dataset/{SHARED_GOLD}").text
    sent = ask(partner)
    assert sent.status_code == 303
    request_id = sent.headers["location"].rsplit("/", 1)[1]
    assert "Chờ duyệt" in partner.get(f"/requests/{request_id}").text
    assert ask(partner).status_code == 409  # one pending request per dataset and partner
    assert 'id="decide"' not in partner.get(f"/requests/{request_id}").text  # a partner does not decide

    steward = browser("engineer")
    assert request_id in steward.get("/requests").text
    page = f"/requests/{request_id}"
    decided = steward.post(f"{page}/decision", data={"decision": "approve", "note": "", "csrf": csrf(steward, page)})
    assert decided.status_code == 303
    spec_file = load_specs().files[SHARED_GOLD]
    assert str(spec_file).startswith(str(specs_dir))
    assert [g.to for g in load_specs().datasets[SHARED_GOLD].grants] == ["so_ha_noi", "bo_tai_chinh"]
    assert f"request {request_id} approved by engineer" in spec_file.read_text(encoding="utf-8")
    shown = partner.get(f"/dataset/{SHARED_GOLD}?lang=en").text
    assert 'id="granted"' in shown and f"bo_tai_chinh.share#bo_tai_chinh.citizens.{SHARED_GOLD}" in shown
    again = steward.post(f"{page}/decision", data={"decision": "reject", "note": "too late now", "csrf": csrf(steward, page)})
    assert again.status_code == 409  # decided once
    lines = (settings.state_dir / "access" / "requests.jsonl").read_text(encoding="utf-8").splitlines()
    assert [re.search(r'"event": "(\w+)"', line).group(1) for line in lines] == ["requested", "approved"]
    assert '"by": "engineer"' in lines[1] and '"user": "btc_analyst"' in lines[0]


def test_a_rejection_needs_its_reason_and_the_partner_reads_it(portal):
    browser, _, _ = portal
    partner, steward = browser("hn_officer"), browser("engineer")
    sent = ask(partner, name="dossier_status_by_procedure")  # shared gold, granted to no one
    assert sent.status_code == 303, sent.text
    page = sent.headers["location"]
    bare = steward.post(f"{page}/decision", data={"decision": "reject", "note": "", "csrf": csrf(steward, page)})
    assert bare.status_code == 400
    steward.post(f"{page}/decision", data={"decision": "reject", "note": "Chưa nêu rõ phạm vi dữ liệu cần dùng",
                                           "csrf": csrf(steward, page)})
    text = partner.get(page).text
    assert "Từ chối" in text and "Chưa nêu rõ phạm vi dữ liệu cần dùng" in text


def test_another_partners_request_and_every_forged_or_missing_credential_is_refused(portal):
    browser, specs_dir, _ = portal
    asker = browser("btc_analyst")
    page = ask(asker).headers["location"]
    other = browser("hn_officer")
    assert other.get(page).status_code == 404  # another partner's request does not exist for it
    assert request_id_absent(other.get("/requests").text, page)
    assert other.post(f"{page}/decision", data={"decision": "approve", "csrf": csrf(other, "/requests")}
                      ).status_code == 404
    analyst = browser("analyst")  # the ministry's own, not a steward
    assert analyst.get("/requests").status_code == 403
    assert analyst.post(f"{page}/decision", data={"decision": "approve", "csrf": csrf(analyst, "/")}
                        ).status_code == 404  # nor for the ministry's own who are not stewards
    steward = browser("engineer")
    assert steward.post(f"{page}/decision", data={"decision": "approve"}).status_code == 403  # no CSRF token
    assert steward.post(f"{page}/decision", data={"decision": "approve", "csrf": "x" * 64}).status_code == 403
    assert steward.post(f"{page}/decision", json={"decision": "approve"}).status_code == 415
    anonymous = browser()
    assert anonymous.get("/requests").status_code == 303
    assert anonymous.post(f"/dataset/{SHARED_GOLD}/request", data={
        "purpose": "x" * 20, "legal_basis": "Luật", "csrf": csrf(anonymous, "/signin")}).status_code == 401
    forged = browser()
    forged.cookies.set("portal_session", "engineer|9999999999|" + "0" * 64)
    assert forged.get("/requests").status_code == 303  # a forged session is no session
    wrong = browser()
    assert wrong.post("/signin", data={"user": "engineer", "password": "guess", "csrf": csrf(wrong, "/signin")}
                      ).status_code == 401
    assert wrong.post("/signin", data={"user": "lake", "password": "", "csrf": csrf(wrong, "/signin")}
                      ).status_code == 401
    assert ask(browser("btc_analyst"), name="provinces").status_code == 404  # open, not requestable
    assert ask(browser("btc_analyst"), name="dossier_status_by_procedure", purpose="ngắn").status_code == 400
    assert ask(browser("btc_analyst"), name="enterprises_by_province").status_code == 409  # granted already
    assert "bo_tai_chinh" not in (specs_dir / "citizens" / f"{SHARED_GOLD}.yaml").read_text(encoding="utf-8")


def request_id_absent(text: str, page: str) -> bool:
    return page.rsplit("/", 1)[1] not in text


def test_sign_in_goes_back_only_to_a_path_of_this_site(portal):
    from lakehouse.serving.portal.access import safe_next

    assert [safe_next(v) for v in ("/dataset/a", "//evil.example", "https://evil.example", "/\\evil", None)] == \
        ["/dataset/a", "/", "/", "/", "/"]


def test_a_session_cookie_is_refused_when_tampered_or_expired():
    now = [1_000_000.0]
    signer = Signer(b"k" * 32, clock=lambda: now[0])
    cookie = signer.session("btc_analyst")
    assert signer.user_of(cookie) == "btc_analyst"
    user, expires, mac = cookie.split("|")
    assert signer.user_of(f"engineer|{expires}|{mac}") is None
    assert signer.user_of(f"{user}|{int(expires) + 1}|{mac}") is None
    assert Signer(b"other" * 8).user_of(cookie) is None
    now[0] += 9 * 3600
    assert signer.user_of(cookie) is None
    assert signer.csrf_ok("nonce", signer.csrf("nonce")) and not signer.csrf_ok("nonce", signer.csrf("other"))
    assert not signer.csrf_ok(None, signer.csrf(""))


def test_a_grant_is_added_keeping_every_other_line_of_the_spec():
    text = ("name: x  # kept\nlayer: gold\nsql: |\n  SELECT 1\ngrants:\n  - to: so_ha_noi   # Ha Noi only\n"
            "    rows: \"province_code = 1\"\n")
    edited = add_grant(text, "bo_tai_chinh", "request yc-1 approved")
    assert edited == text + "  - to: bo_tai_chinh  # request yc-1 approved\n"
    assert add_grant(edited, "bo_tai_chinh", "again") == edited
    assert add_grant("name: x\ngrants: []\n", "p", "n") == "name: x\ngrants:\n  - to: p  # n\n"
    assert add_grant("name: x\n", "p", "n") == "name: x\ngrants:\n  - to: p  # n\n"
    assert add_grant("name: x\ngrants:\n- to: q\n", "p", "n") == "name: x\ngrants:\n- to: q\n- to: p  # n\n"
    with pytest.raises(GrantEditError, match="not a list"):
        add_grant("name: x\ngrants: nobody\n", "p", "n")


def test_cookies_are_secure_over_https_behind_a_trusted_proxy_and_on_the_loopback_address():
    from types import SimpleNamespace as NS

    from lakehouse.serving.portal.access import cookie_secure

    def request(scheme: str, host: str, peer: str, proto: str | None = None):
        return NS(url=NS(scheme=scheme, hostname=host), client=NS(host=peer),
                  headers={"x-forwarded-proto": proto} if proto else {})

    assert cookie_secure(request("https", "data.bo.gov.vn", "203.0.113.9"), [])
    assert cookie_secure(request("http", "127.0.0.1", "127.0.0.1"), [])  # browsers keep Secure cookies there
    assert cookie_secure(request("http", "data.bo.gov.vn", "10.0.0.1", "https"), ["10.0.0.1"])
    assert not cookie_secure(request("http", "data.bo.gov.vn", "10.0.0.2", "https"), ["10.0.0.1"])  # not trusted
    assert not cookie_secure(request("http", "data.bo.gov.vn", "203.0.113.9"), [])


def test_contributions_refuse_a_missing_token_form_or_security_token_and_unknown_codes_before_reading_a_file(portal):
    """What the contribution routes refuse before anything is stored (the whole path runs on the real stack in
    tests/integration/test_contributed_data.py); a data request is asked and answered without a stack."""
    browser, _, settings = portal
    client = browser()
    files = {"file": ("a.csv", b"ma,ten\n1,x\n", "text/csv")}
    fields = {"title": "Trạm thử", "description": "Mô tả đủ dài", "license": "CC-BY-4.0", "organisation": "A",
              "contact": "a@b.vn"}
    assert client.post("/api/contributions", data=fields, files=files).status_code == 401
    forged = client.post("/api/contributions", data=fields, files=files, headers={"Authorization": "Bearer dgt_x"})
    assert forged.status_code == 401 and "lake contributions token" in forged.json()["error"]
    assert client.post("/contribute", data=fields, files=files).status_code == 403          # no CSRF token
    assert client.post("/contribute", data={**fields, "csrf": csrf(client, "/contribute")}).status_code == 415
    for code in ("dg-0000000000", "../../etc/passwd", "dg-<script>"):
        assert client.get(f"/contributions/{code}").status_code == 404
        assert client.get(f"/api/contributions/{code}").status_code == 404
    assert client.get("/contributions").status_code == 303                              # stewards sign in first
    assert browser("btc_analyst").get("/contributions").status_code == 403              # a partner is no steward

    token = csrf(client, "/data-requests")
    asked = client.post("/data-requests", data={"title": "Lịch xe buýt", "description": "Cho người khiếm thị",
                                                "contact": "", "csrf": token})
    assert asked.status_code == 303
    request_id = asked.headers["location"].split("#")[1]
    steward = browser("engineer")
    answer = {"status": "declined", "answer": "Chưa có nguồn", "csrf": csrf(steward, "/data-requests")}
    assert client.post(f"/data-requests/{request_id}/answer", data={**answer, "csrf": token}).status_code == 403
    assert steward.post(f"/data-requests/{request_id}/answer", data=answer).status_code == 303
    page = client.get("/data-requests?lang=en").text
    assert "Declined" in page and "Chưa có nguồn" in page and "Lịch xe buýt" in page
