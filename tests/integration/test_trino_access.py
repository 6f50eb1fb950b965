"""Trino secured, on the real stack: who sees which tables, masked and clear columns, row filters, passwords.

The specs are in tests/integration/datasets/access (acc_people, silver, granted to the analysts
with the phone in clear; acc_contacts, gold, granted to the partner so_ha_noi for region 1 with
names in clear); the users are the shipped lake_config/access.yaml's.  The publish step adds each
dataset's grants to the rules, which hold every published dataset's grants (the shipped specs' too,
once published); ``reset`` withdraws them.  Trino re-reads the rules within seconds.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import time
import urllib.request
from pathlib import Path

import pytest

from lakehouse.config.spec import load_specs
from lakehouse.io import trino
from lakehouse.serving import trino_security
from lakehelp import as_user, ingest, reset, use_datasets

HERE = Path(__file__).resolve().parent
SHIPPED = HERE.parents[1] / "lake_config"
SPECS = HERE / "datasets" / "access"
DATASETS = ["acc_people", "acc_contacts"]
PEOPLE = [  # person_id, citizen_id, full_name, date_of_birth, phone, region_code
    (1, "001090000123", "Nguyễn Văn An", "1990-05-01", "0912345678", 1),
    (2, "079301000005", "Trần Thị Lan", "2001-03-03", "+84 983 111 222", 79),
    (3, "001185000007", "Lê Văn Bình", "1985-07-07", None, 1),
]


def denied(user: str, sql: str, settings) -> str:
    with pytest.raises(Exception) as info:
        as_user(user, sql, settings)
    return str(info.value)


@pytest.fixture(scope="module")
def granted(stack, tmp_path_factory):
    source = tmp_path_factory.mktemp("access") / "people.jsonl"
    source.write_text("".join(json.dumps(dict(zip(
        ["person_id", "citizen_id", "full_name", "date_of_birth", "phone", "region_code"], p)),
        ensure_ascii=False) + "\n" for p in PEOPLE), encoding="utf-8")
    with use_datasets(SPECS):
        reset(DATASETS, stack)
        ingest("acc_people", [source], "2026-11-20")
        deadline = time.monotonic() + 30  # the publish step wrote the rules; Trino re-reads them every 5 s
        while ("acc_contacts",) not in as_user("hn_officer", "SHOW TABLES FROM lake.gold", stack):
            assert time.monotonic() < deadline, "Trino did not pick up the test specs' access rules"
            time.sleep(1)
        yield stack
        reset(DATASETS, stack)


def test_a_partner_sees_only_its_granted_tables(granted):
    assert as_user("hn_officer", "SHOW SCHEMAS FROM lake", granted) == [("gold",)]
    assert "Access Denied" in denied("hn_officer", "SELECT count(*) FROM lake.silver.acc_people", granted)
    assert "Access Denied" in denied("hn_officer", "SELECT count(*) FROM lake.ops.run_log", granted)
    # a partner with no grant in these specs sees none of their tables; the rules hold every published
    # dataset's grants, so it may list the gold tables the shipped specs grant it (published by another test)
    shipped = load_specs(config_dir=SHIPPED).datasets
    its_own = {name for name, spec in shipped.items() if any(g.to == "bo_tai_chinh" for g in spec.grants)}
    schemas = as_user("btc_analyst", "SHOW SCHEMAS FROM lake", granted)
    assert schemas in ([], [("gold",)])
    if schemas:
        listed = {t for (t,) in as_user("btc_analyst", "SHOW TABLES FROM lake.gold", granted)}
        assert listed <= its_own and "acc_contacts" not in listed
    else:
        assert "Access Denied" in denied("btc_analyst", "SHOW TABLES FROM lake.gold", granted)
    assert "Access Denied" in denied("btc_analyst", "SELECT count(*) FROM lake.gold.acc_contacts", granted)
    # the platform's service user still sees everything
    assert trino.query("SELECT count(*) FROM lake.silver.acc_people", granted)[1] == [(3,)]


def test_a_publish_that_sees_other_specs_keeps_these_grants(granted):
    """A publish in another process with the shipped specs (a scheduled DAG) adds its dataset's grants and
    leaves the test specs' ones: the rules are not the last publisher's specs."""
    shipped = load_specs(config_dir=SHIPPED).datasets
    name = "enterprises_by_province"
    had = (granted.state_dir / "trino" / "etc" / "grants" / f"{name}.json").exists()
    try:
        assert trino_security.publish_grants(granted, shipped[name], shipped)
        time.sleep(6)  # Trino re-reads the rules every 5 s
        assert ("acc_contacts",) in as_user("hn_officer", "SHOW TABLES FROM lake.gold", granted)
        assert as_user("hn_officer", "SELECT person_id FROM lake.gold.acc_contacts ORDER BY 1", granted) == [
            (1,), (3,)]
    finally:
        if not had:
            trino_security.withdraw_grants(granted, name)


def test_a_row_filter_limits_the_rows(granted):
    assert as_user("hn_officer", "SELECT person_id FROM lake.gold.acc_contacts ORDER BY 1", granted) == [(1,), (3,)]
    assert as_user("engineer", "SELECT person_id FROM lake.gold.acc_contacts ORDER BY 1", granted) == [(1,), (2,), (3,)]


def test_personal_columns_are_masked_for_one_user_and_clear_for_another(granted):
    sql = "SELECT citizen_id, full_name, date_of_birth, phone FROM lake.silver.acc_people ORDER BY person_id"
    clear = [(p[1], p[2], dt.date.fromisoformat(p[3]), p[4]) for p in PEOPLE]
    assert as_user("engineer", sql, granted) == clear                      # data engineers: in clear
    assert as_user("analyst", sql, granted) == [                            # analysts: masked, phone granted
        ("xxxxxxxx0123", "***", dt.date(1990, 1, 1), "0912345678"),
        ("xxxxxxxx0005", "***", dt.date(2001, 1, 1), "+84 983 111 222"),
        ("xxxxxxxx0007", "***", dt.date(1985, 1, 1), None),
    ]
    # in gold, the partner's grant shows names in clear and masks the other personal columns
    assert as_user("hn_officer", "SELECT full_name, phone, date_of_birth FROM lake.gold.acc_contacts "
                                 "ORDER BY person_id", granted) == [
        ("Nguyễn Văn An", "xxxxxxx678", dt.date(1990, 1, 1)),
        ("Lê Văn Bình", None, dt.date(1985, 1, 1)),
    ]
    # a filter on a masked column sees the masked value, so it cannot probe the clear one
    assert as_user("analyst", "SELECT count(*) FROM lake.silver.acc_people WHERE citizen_id = '001090000123'",
                   granted) == [(0,)]


def test_a_wrong_password_is_refused(granted):
    with pytest.raises(Exception, match="Invalid credentials"):
        as_user("analyst", "SELECT 1", granted, password="not-the-password")
    with pytest.raises(Exception, match="Invalid credentials"):
        as_user("nobody", "SELECT 1", granted, password="whatever")
    assert as_user("analyst", "SELECT current_user", granted) == [("analyst",)]


def test_only_https_is_served(granted):
    import ssl

    # the port is up and answers over TLS (so a refusal below is not a server that is down)
    context = ssl.create_default_context(cafile=str(granted.trino_cert))
    url = f"{granted.trino_host}:{granted.trino_port}/v1/info"
    info = json.load(urllib.request.urlopen(f"https://{url}", context=context, timeout=10))
    assert info.get("starting") is False
    with pytest.raises((OSError, http.client.HTTPException)) as plain:  # no plain-HTTP listener: the port speaks TLS
        urllib.request.urlopen(f"http://{url}", timeout=5).read()
    assert not isinstance(plain.value, ConnectionRefusedError)
    assert "refused" not in str(plain.value).lower()
