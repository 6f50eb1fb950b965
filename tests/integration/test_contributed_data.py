"""Contributed data on the real stack: `lake contributions`, the portal's API and its pages in a real Chromium.

With the CLI: a clean file awaits review with the schema its values imply; a file with citizen ID numbers is
blocked with its column named (never its values) and cannot be approved; a rejected one never reaches the landing
zone, bronze or the specs.  On the portal (`lake up portal`): a contributor token submits through the API, an
anonymous visitor submits in the browser and reads the status page, asks for data not yet published and reads
the steward's answer, and a steward approves from the queue; the
load (`lake contributions publish`, started by the portal) puts the rows in Trino and the dataset in the open-data
catalog with who contributed it.  The specs are the module's own folder (``LAKE_DATASETS_DIR``), where an approval
writes ``contributed/<name>.yaml``.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import uuid

import pytest

from lakehouse import cli
from lakehouse.io import delta_io, storage, trino
from lakehouse.io.spark import get_spark
from lakehouse.serving.contributions import store
from lakehelp import chromium, navigating, passwords, reset, screenshots, use_datasets

STATIONS = ("Mã trạm;Tên trạm;Số cổng sạc;Công suất kW;Ngày khai trương\n"
            "EV-001;Trạm sạc Vincom Bà Triệu;8;60;2024-03-01\n"
            "EV-002;Trạm sạc Hồ Gươm;4;30.5;15/06/2024\n"
            "EV-003;Trạm sạc Mỹ Đình;12;;2025-01-20\n").encode()
PEOPLE = "Họ tên,Số CCCD,Quận\nNguyễn Văn An,001203001234,Ba Đình\nTrần Thị Bình,079185002345,Hoàn Kiếm\n".encode()
API_TITLE = "Trạm sạc xe điện Hà Nội"
API_NAME = "contributed_tram_sac_xe_dien_ha_noi"
FORM = {"description": "Danh sách do doanh nghiệp cung cấp", "license": "CC-BY-4.0",
        "organisation": "Công ty Cổ phần Sạc Xanh", "contact": "dulieu@sacxanh.vn"}


@pytest.fixture(scope="module")
def contributed(stack, tmp_path_factory):
    settings = stack
    reset([API_NAME], settings)
    storage.delete_prefix("contributions/", settings)
    for log in ("events.jsonl", "data_requests.jsonl"):
        (settings.state_dir / "contributions" / log).unlink(missing_ok=True)
    specs = tmp_path_factory.mktemp("contributed") / "datasets"
    specs.mkdir()
    with use_datasets(specs):
        yield {"settings": settings, "specs": specs, "tmp": tmp_path_factory.mktemp("files")}


def lake(capsys, *argv: str) -> str:
    capsys.readouterr()
    cli.main(list(argv))
    return capsys.readouterr().out


def submit(ctx, capsys, name: str, data: bytes, title: str) -> str:
    path = ctx["tmp"] / name
    path.write_bytes(data)
    out = lake(capsys, "contributions", "submit", str(path), "--title", title, "--by", "sacxanh",
               *[a for k, v in FORM.items() for a in (f"--{k}", v)])
    return re.search(r"\[lake\] (dg-[0-9a-f]{10}):", out)[1]


def test_with_the_cli_a_clean_file_awaits_review_citizen_ids_block_and_a_rejected_file_stays_out(contributed,
                                                                                                   capsys):
    settings = contributed["settings"]
    code = submit(contributed, capsys, "tram.csv", STATIONS, "Danh sách trạm sạc (bản thử)")
    shown = json.loads(lake(capsys, "contributions", "show", code, "--format", "json"))
    assert shown["contribution"]["status"] == "review"
    assert [(c["name"], c["type"]) for c in shown["report"]["columns"]] == [
        ("ma_tram", "string"), ("ten_tram", "string"), ("so_cong_sac", "int"), ("cong_suat_kw", "double"),
        ("ngay_khai_truong", "date")]
    assert code in lake(capsys, "contributions", "list")

    blocked = submit(contributed, capsys, "cu_dan.csv", PEOPLE, "Danh sách cư dân được hỗ trợ")
    out = lake(capsys, "contributions", "show", blocked)
    assert "status        blocked" in out
    assert "column 'Số CCCD' holds citizen ID numbers (CCCD) in 2 rows (rows 1, 2)" in out
    assert "001203001234" not in out
    with pytest.raises(SystemExit):
        lake(capsys, "contributions", "approve", blocked)
    assert "personal data cannot be published" in capsys.readouterr().err

    lake(capsys, "contributions", "reject", code, "--reason", "Trùng với dữ liệu đã có", "--by", "steward")
    c = store.get(settings, code)
    assert (c.status, c.reason) == ("rejected", "Trùng với dữ liệu đã có")
    name = store.spec_name(c)
    assert storage.list_keys(f"landing/{name}/", settings) == []
    assert not delta_io.exists(get_spark("test", settings), settings.table_uri("bronze", name))
    assert not (contributed["specs"] / "contributed" / f"{name}.yaml").exists()
    assert storage.list_keys(f"contributions/{code}/", settings)   # the file stays in the contributions area


def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in
             fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post(url: str, body: bytes, content_type: str, token: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": content_type, **({"Authorization": f"Bearer {token}"} if token else {})}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers)) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture(scope="module")
def portal(contributed):
    from lakehouse import services

    settings = contributed["settings"]
    services.up(["portal"], settings)  # inherits LAKE_DATASETS_DIR: this module's specs
    yield f"http://{settings.host}:{settings.env.services.portal.port}"
    services.down(["portal"], settings)


def test_on_the_portal_the_api_and_a_visitor_submit_and_a_stewards_approval_publishes(contributed, portal, capsys,
                                                                                       tmp_path):
    from selenium.webdriver.common.by import By

    settings = contributed["settings"]
    token = re.search(r"dgt_\S+", lake(capsys, "contributions", "token", "--organisation", FORM["organisation"],
                                       "--contact", FORM["contact"]))[0]
    body, kind = multipart({"title": API_TITLE, "description": FORM["description"], "license": "CC-BY-4.0"},
                           "tram.csv", STATIONS)
    assert post(f"{portal}/api/contributions", body, kind)[0] == 401
    status, answer = post(f"{portal}/api/contributions", body, kind, token)
    assert status == 201 and answer["status"] == "review" and answer["organisation"] == FORM["organisation"]
    code = answer["code"]
    assert "contact" not in answer and answer["report"]["key"] == ["ma_tram"]

    shots, secret = screenshots(tmp_path), passwords(settings)
    people = contributed["tmp"] / "nguoi_nhan_ho_tro.csv"
    people.write_bytes(PEOPLE)
    with chromium(tmp_path) as driver:
        driver.get(f"{portal}/contribute")
        driver.find_element(By.ID, "file").send_keys(str(people))
        for field, value in {"title": "Người nhận hỗ trợ", **FORM}.items():
            if field != "license":
                driver.find_element(By.ID, field).send_keys(value)
        driver.save_screenshot(str(shots / "portal-contribute.png"))
        navigating(driver, driver.find_element(By.ID, "contribute").submit)
        assert re.search(r"/contributions/dg-[0-9a-f]{10}$", driver.current_url)
        assert driver.find_element(By.ID, "status").text.startswith("Bị chặn")
        assert "Cột 'Số CCCD' chứa số căn cước công dân (CCCD) ở 2 dòng" in driver.find_element(
            By.ID, "personal-data").text
        assert "001203001234" not in driver.page_source and FORM["contact"] not in driver.page_source
        driver.save_screenshot(str(shots / "portal-contribution-blocked.png"))

        driver.get(f"{portal}/data-requests")   # asking for data not yet published, anonymously
        driver.find_element(By.ID, "title").send_keys("Lịch chạy xe buýt theo giờ")
        box = driver.find_element(By.ID, "description")
        box.send_keys("Để làm ứng dụng tra cứu cho người khiếm thị")
        navigating(driver, box.submit)
        [asked] = [row.get_attribute("id") for row in driver.find_elements(By.CSS_SELECTOR, "#data-requests tr[id]")
                   if "Lịch chạy xe buýt theo giờ" in row.text]
        lake(capsys, "contributions", "answer", asked, "--status", "planned", "--reason",
             "Sẽ công bố trong quý 1 năm 2027", "--by", "steward")
        driver.get(f"{portal}/data-requests?lang=en")
        assert "Planned" in driver.find_element(By.ID, asked).text
        assert "Sẽ công bố trong quý 1 năm 2027" in driver.find_element(By.ID, asked).text
        driver.save_screenshot(str(shots / "portal-data-requests.png"))

        driver.get(f"{portal}/signin?next=/contributions")
        driver.find_element(By.ID, "user").send_keys("engineer")   # a steward (data_engineers: steward: true)
        box = driver.find_element(By.ID, "password")
        box.send_keys(secret["engineer"])
        navigating(driver, box.submit)
        assert code in driver.find_element(By.ID, "queue").text
        driver.save_screenshot(str(shots / "portal-contributions.png"))
        navigating(driver, driver.find_element(By.LINK_TEXT, code).click)
        navigating(driver, driver.find_element(By.CSS_SELECTOR, "button[value=approve]").click)
        assert driver.find_element(By.ID, "status").text.startswith("Đã duyệt")

    for _ in range(120):   # the portal started `lake contributions publish` in its own process
        with urllib.request.urlopen(f"{portal}/api/contributions/{code}") as answer:
            now = json.loads(answer.read())
        if now["status"] != "approved":
            break
        time.sleep(2)
    log = (settings.state_dir / "contributions" / code / "publish.log").read_text(encoding="utf-8")
    assert now["status"] == "published", log[-3000:]
    assert now["dataset"] == API_NAME
    _, rows = trino.query(f"SELECT ma_tram, so_cong_sac, cong_suat_kw, CAST(ngay_khai_truong AS varchar) "
                          f"FROM {settings.trino_catalog}.silver.{API_NAME} ORDER BY ma_tram", settings)
    assert [list(r) for r in rows] == [["EV-001", 8, 60.0, "2024-03-01"], ["EV-002", 4, 30.5, "2024-06-15"],
                                       ["EV-003", 12, None, "2025-01-20"]]
    catalog = json.loads((settings.state_dir / "portal" / "catalog" / "open_data.jsonld").read_text())
    [entry] = [n for n in catalog["@graph"][0]["dcat:dataset"] if n["dct:identifier"] == API_NAME]
    assert entry["dct:creator"]["foaf:name"] == FORM["organisation"]
    assert code in json.dumps(entry["dct:provenance"], ensure_ascii=False)
    assert f"contribution: {code}" in (contributed["specs"] / "contributed" / f"{API_NAME}.yaml").read_text()
