"""access.yaml, the specs' grants, and the Trino files derived from them (milliseconds, no services)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import bcrypt
import pytest

from lakehouse.config.access import load_access
from lakehouse.config.spec import load_specs
from lakehouse.core.errors import ConfigError, LakeError
from lakehouse.core.settings import Environment, Settings
from lakehouse.serving import trino_security

ACCESS = """\
partners:
  so_ha_noi: {name: {vi: "Sở Hà Nội", en: "Ha Noi office"}, users: [hn_officer], token_ttl: 30d}
  bo_tai_chinh: {name: {vi: "Bộ Tài chính", en: "Ministry of Finance"}, users: [btc_analyst]}
groups:
  analysts: {users: [analyst], reads: [silver, gold, ops]}
  data_engineers: {users: [engineer], reads: [bronze, silver, gold, quarantine, ops], personal: clear}
"""

PEOPLE = """\
name: people
domain: demo
description: People.
grain: one row per person
source: {kind: files, format: csv}
columns:
  - {name: person_id, type: int}
  - {name: citizen_id, type: string, personal: true}
  - {name: full_name, type: string, personal: true}
  - {name: date_of_birth, type: date, personal: true}
  - {name: phone, type: string, personal: true}
  - {name: income, type: bigint, personal: true}
  - {name: province_code, type: int}
keys: [person_id]
quality:
  - {check: cccd, columns: [citizen_id], dimension: dung, action: warn, message: {vi: a, en: a}}
  - {check: phone, columns: [phone], dimension: dung, action: warn, message: {vi: a, en: a}}
"""

BY_PROVINCE = """\
name: people_by_province
layer: gold
domain: demo
description: People per province, with a contact.
grain: one row per province
depends_on: [people]
sql: SELECT province_code, max(full_name) AS full_name, count(*) AS people FROM people GROUP BY province_code
"""


def config(tmp_path: Path, access: str = ACCESS, people_grants: str = "", gold_grants: str = "") -> Path:
    (tmp_path / "datasets" / "demo").mkdir(parents=True, exist_ok=True)
    (tmp_path / "access.yaml").write_text(access, encoding="utf-8")
    (tmp_path / "datasets" / "demo" / "people.yaml").write_text(PEOPLE + people_grants, encoding="utf-8")
    (tmp_path / "datasets" / "demo" / "people_by_province.yaml").write_text(BY_PROVINCE + gold_grants,
                                                                            encoding="utf-8")
    return tmp_path


def rules_for(tmp_path: Path, **grants) -> dict:
    root = config(tmp_path, **grants)
    return trino_security.access_rules(load_specs(root).datasets, load_access(root), "lake", "lake")


# ---- validation ---------------------------------------------------------------------

def test_the_shipped_access_file_and_grants_are_valid():
    access = load_access(service_user="lake")
    assert {"bo_tai_chinh", "so_ha_noi"} <= set(access.partners)
    assert access.groups["analysts"].personal == "masked"
    specs = load_specs()
    partner_grants = [(g.to, d.name) for d in specs.datasets.values() for g in d.grants if g.to in access.partners]
    assert ("bo_tai_chinh", "enterprises_by_province") in partner_grants
    assert all(specs[name].layer == "gold" for _, name in partner_grants)


def test_token_ttl_is_a_duration(tmp_path):
    config(tmp_path, ACCESS.replace("token_ttl: 30d", "token_ttl: a month"))
    with pytest.raises(ConfigError, match=r"access.yaml: field 'partners.so_ha_noi.token_ttl': .*30m, 2h or 1d"):
        load_access(tmp_path)


@pytest.mark.parametrize("change, field, words", [
    (lambda a: a.replace("users: [engineer]", "users: [analyst]"), "(top level)", "already a user of groups.analysts"),
    (lambda a: a.replace("reads: [silver, gold, ops]", "reads: [silver, quarantine]"), "groups.analysts",
     "quarantine hold personal data as raw text"),
    (lambda a: a.replace("users: [hn_officer]", "users: [Hn Officer]"), "partners.so_ha_noi.users", "lower-case"),
    (lambda a: a.replace("analysts:", "so_ha_noi:"), "(top level)", "also a partner's name"),
    (lambda a: a + "roles: {}\n", "roles", "unknown field"),
])
def test_access_errors_name_the_file_and_field(tmp_path, change, field, words):
    config(tmp_path, change(ACCESS))
    with pytest.raises(ConfigError) as info:
        load_access(tmp_path)
    assert f"{tmp_path / 'access.yaml'}: field '{field}'" in str(info.value)
    assert words in str(info.value)


def test_the_service_user_is_not_an_access_file_user(tmp_path):
    config(tmp_path, ACCESS.replace("users: [analyst]", "users: [lake]"))
    with pytest.raises(ConfigError, match=r"field 'groups.analysts.users': 'lake' is the platform's own"):
        load_access(tmp_path, service_user="lake")


@pytest.mark.parametrize("grants, field, words", [
    ("grants:\n  - to: so_ha_noi\n", "people.yaml: field 'grants[0].to'",
     "'so_ha_noi' is a partner, and partners are granted gold datasets only"),
    ("grants:\n  - to: bo_xay_dung\n", "people.yaml: field 'grants[0].to'",
     "'bo_xay_dung' is neither a partner nor a group of"),
    ("grants:\n  - to: analysts\n    clear: [province_code]\n", "people.yaml: field 'grants[0].clear[0]'",
     "'province_code' is not a personal column of people"),
    ("grants:\n  - to: analysts\n  - to: analysts\n", "people.yaml: field 'grants[0].to'", "granted people twice"),
    ("grants:\n  - to: analysts\n    rows: \"1 = 1; DROP TABLE x\"\n", "people.yaml: field 'grants[0].rows'",
     "without ';'"),
])
def test_grant_errors_name_the_file_and_field(tmp_path, grants, field, words):
    config(tmp_path, people_grants=grants)
    with pytest.raises(ConfigError) as info:
        load_specs(tmp_path)
    assert field in str(info.value) and words in str(info.value)


def test_a_gold_table_inherits_personal_columns_by_name(tmp_path):
    config(tmp_path, gold_grants="grants:\n  - to: so_ha_noi\n    clear: [full_name]\n")
    assert load_specs(tmp_path)["people_by_province"].grants[0].clear == ["full_name"]


# ---- rules --------------------------------------------------------------------------

def _table_rules(rules: dict, group: str) -> list[dict]:
    return [r for r in rules["tables"] if r.get("group") and re.fullmatch(r["group"], group)]


def test_the_service_user_comes_first_with_everything(tmp_path):
    rules = rules_for(tmp_path)
    for section in ("catalogs", "schemas", "tables", "procedures", "queries", "system_information"):
        assert rules[section][0]["user"] == "lake", section
    assert "OWNERSHIP" in rules["tables"][0]["privileges"]
    assert rules["catalogs"][0]["allow"] == "all"


def test_a_partner_gets_only_its_grants_with_masks_and_row_filter(tmp_path):
    rules = rules_for(tmp_path, gold_grants="grants:\n  - to: so_ha_noi\n    clear: [full_name]\n"
                                            "    rows: \"province_code = 1\"\n")
    mine = _table_rules(rules, "so_ha_noi")
    assert [(r["schema"], r["table"]) for r in mine] == [("gold", "people_by_province")]
    assert mine[0]["filter"] == "province_code = 1"
    masked = {c["name"] for c in mine[0]["columns"]}
    assert masked == {"citizen_id", "date_of_birth", "phone", "income"}  # full_name is granted in clear
    assert _table_rules(rules, "bo_tai_chinh") == []  # no grant: no table rule at all
    # the only rule left that matches any user is the JDBC metadata one
    assert [r for r in rules["tables"] if "group" not in r and "user" not in r] == [
        {"catalog": "system", "schema": "jdbc|metadata", "privileges": ["SELECT"]}]


def test_masks_follow_the_rules_and_types():
    catalog_dir = Path(__file__).resolve().parents[2] / "lake_config"
    citizens = load_specs(catalog_dir)["citizens"]
    masks = {c.name: trino_security.mask_expression(c, citizens) for c in citizens.columns if c.personal}
    assert masks == {
        "citizen_id": "'xxxxxxxx' || substr(\"citizen_id\", -4)",
        "full_name": "IF(\"full_name\" IS NULL, NULL, '***')",
        "date_of_birth": "date_trunc('year', \"date_of_birth\")",
        "phone": "'xxxxxxx' || substr(regexp_replace(\"phone\", '[^0-9]', ''), -3)",
    }


def test_a_group_grant_comes_before_its_default_and_masked_groups_mask_the_rest(tmp_path):
    rules = rules_for(tmp_path, people_grants="grants:\n  - to: analysts\n    clear: [phone]\n")
    mine = _table_rules(rules, "analysts")
    assert [(r.get("schema"), r.get("table")) for r in mine] == [
        ("silver", "people"),                    # the grant: phone in clear
        ("ops", "query_log|sharing_log|table_reads"),  # who queried or shared what: not for masked groups
        ("ops", "quality_results"),              # failing values of rules over personal columns masked
        ("silver", "people"),                    # the group's default for the table: all masked (not reached)
        ("gold", "people_by_province"),          # a gold table built from it: its personal names masked
        ("gold|ops|silver", None),               # every other table of its layers
    ]
    assert "phone" not in {c["name"] for c in mine[0]["columns"]}
    assert mine[1]["privileges"] == []
    assert [c["name"] for c in mine[2]["columns"]] == ["examples"]
    assert "phone" in {c["name"] for c in mine[3]["columns"]}
    engineers = _table_rules(rules, "data_engineers")
    assert engineers == [{"group": "data_engineers", "catalog": "lake",
                          "schema": "bronze|gold|ops|quarantine|silver", "privileges": ["SELECT"]}]


def test_quality_examples_of_personal_columns_are_masked_for_masked_groups(tmp_path):
    """ops.quality_results keeps failing values: for a rule over a personal column, personal data in clear."""
    root = config(tmp_path)
    (root / "datasets" / "demo" / "offices.yaml").write_text(
        "name: offices\ndomain: demo\ndescription: Offices.\ngrain: one row per office\n"
        "source: {kind: files, format: csv}\ncolumns:\n  - {name: office_id, type: int}\nkeys: [office_id]\n",
        encoding="utf-8")
    datasets = load_specs(root).datasets
    fragments = {name: trino_security.dataset_rules(spec, datasets, "lake") for name, spec in datasets.items()}
    mask = trino_security.examples_mask(fragments)
    assert mask == ('CASE WHEN "dataset" IN (\'offices\') THEN "examples" '
                    'WHEN "dataset" = \'people\' AND NOT arrays_overlap("columns", ARRAY[\'citizen_id\', '
                    '\'date_of_birth\', \'full_name\', \'income\', \'phone\']) THEN "examples" END')
    assert trino_security.examples_mask({}) == "CAST(NULL AS array(varchar))"  # nothing published: all masked
    rules = trino_security.assemble_rules(fragments, load_access(root), "lake", "lake")
    masked = [r for r in rules["tables"] if r.get("table") == "quality_results"]
    assert [(r["group"], r["columns"]) for r in masked] == [("analysts", [{"name": "examples", "mask": mask}])]


def test_the_quality_results_name_is_the_quality_modules():
    from lakehouse.quality import validation
    assert trino_security.QUALITY_RESULTS == validation.RESULTS


def test_rules_are_json_and_the_group_file_lists_every_member(tmp_path):
    rules = rules_for(tmp_path)
    assert json.loads(json.dumps(rules)) == rules
    assert trino_security.group_file(load_access(tmp_path)).splitlines() == [
        "bo_tai_chinh:btc_analyst", "so_ha_noi:hn_officer", "analysts:analyst", "data_engineers:engineer"]


# ---- passwords and certificate -------------------------------------------------------------

def test_password_file_holds_bcrypt_hashes_and_keeps_a_matching_one():
    text = trino_security.password_file({"analyst": "s3cret", "lake": "other"})
    lines = dict(line.split(":", 1) for line in text.splitlines())
    assert set(lines) == {"analyst", "lake"}
    assert lines["analyst"].startswith("$2y$10$")
    assert bcrypt.checkpw(b"s3cret", ("$2b$" + lines["analyst"][4:]).encode())
    assert "s3cret" not in text
    assert trino_security.password_file({"analyst": "s3cret", "lake": "other"}, text) == text
    changed = trino_security.password_file({"analyst": "new", "lake": "other"}, text)
    assert changed.splitlines()[1] == text.splitlines()[1] and changed.splitlines()[0] != text.splitlines()[0]


def test_passwords_are_generated_once_into_the_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    monkeypatch.delenv("LAKE_TRINO_PASSWORD", raising=False)
    first = Settings(Environment(name="x")).trino_passwords(["analyst", "hn_officer"])
    again = Settings(Environment(name="x")).trino_passwords(["analyst", "hn_officer"])
    assert first == again and set(first) == {"analyst", "hn_officer", "lake"}
    assert len(set(first.values())) == 3
    stored = json.loads((tmp_path / "secrets.json").read_text())
    assert stored["trino_users"]["analyst"] == first["analyst"] and stored["trino_password"] == first["lake"]
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0


def test_certificate_names_the_host_and_is_made_once(tmp_path):
    server, client = trino_security.ensure_certificate(tmp_path, "127.0.0.1")
    assert b"PRIVATE KEY" in server.read_bytes() and b"PRIVATE KEY" not in client.read_bytes()
    assert server.stat().st_mode & 0o077 == 0
    cert = client.read_bytes()
    assert trino_security.certificate_ok(cert, "127.0.0.1")
    assert not trino_security.certificate_ok(cert, "10.0.0.5")
    assert not trino_security.certificate_ok(cert, "127.0.0.1", dt.datetime.now(dt.timezone.utc)
                                             + dt.timedelta(days=800))
    trino_security.ensure_certificate(tmp_path, "127.0.0.1")
    assert client.read_bytes() == cert                       # same host: kept
    trino_security.ensure_certificate(tmp_path, "10.0.0.5")
    assert trino_security.certificate_ok(client.read_bytes(), "10.0.0.5")  # a new host: made again


def test_lake_users_prints_every_user_and_sql_refuses_an_unknown_one(tmp_path, monkeypatch, capsys):
    from lakehouse.cli import main
    from lakehouse.core import settings as settings_mod

    monkeypatch.setenv("LAKE_HOME", str(tmp_path))
    monkeypatch.setattr(settings_mod, "_settings", Settings(Environment(name="x")))
    main(["users", "--format", "json"])
    rows = json.loads(capsys.readouterr().out)
    shipped = load_access()
    assert [r["user"] for r in rows] == ["lake", *sorted(shipped.users())]
    assert {r["member_of"] for r in rows if r["user"] == "hn_officer"} == {"partner so_ha_noi"}
    assert all(len(r["password"]) >= 16 for r in rows)
    with pytest.raises(SystemExit):
        main(["sql", "SELECT 1", "--user", "nobody"])
    assert "no Trino user 'nobody' (known: analyst, btc_analyst" in capsys.readouterr().err


# ---- published grants: each publish adds its dataset's part, whoever else publishes --------------

TO_HANOI = "grants:\n  - to: so_ha_noi\n    clear: [full_name]\n"
TO_ANALYSTS = "grants:\n  - to: analysts\n    clear: [phone]\n"


@pytest.fixture
def local_trino(tmp_path, monkeypatch) -> Settings:
    """Settings whose state dir holds a local Trino's etc folder, as `lake up trino` leaves it."""
    monkeypatch.setenv("LAKE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LAKE_DATASETS_DIR", raising=False)
    settings = Settings(Environment(name="x"))
    etc = settings.state_dir / "trino" / "etc"
    etc.mkdir(parents=True)
    (etc / "access-control.properties").write_text("access-control.name=file\n")
    return settings


def _grants_in_force(settings: Settings) -> set[tuple[str, str, str]]:
    """(grantee, schema, table) of rules.json's grant rules: those between the service user's and the audit deny."""
    tables = json.loads((settings.state_dir / "trino" / "etc" / "rules.json").read_text())["tables"]
    audit = next(i for i, rule in enumerate(tables) if rule.get("schema") == "ops")
    return {(rule["group"], rule["schema"], rule["table"]) for rule in tables[1:audit]}


def _seen_by(tmp_path: Path, folder: str, **grants):
    """The specs one process sees: its own config folder (another LAKE_DATASETS_DIR)."""
    return load_specs(config(tmp_path / folder, **grants)).datasets


@pytest.mark.parametrize("first", ["gold", "silver"])
def test_two_processes_with_different_specs_each_add_their_own_grants(tmp_path, local_trino, first):
    gold_process = _seen_by(tmp_path, "a", gold_grants=TO_HANOI)     # sees no grant of people
    silver_process = _seen_by(tmp_path, "b", people_grants=TO_ANALYSTS)  # sees no grant of people_by_province
    publishes = [(gold_process, "people_by_province"), (silver_process, "people")]
    for datasets, name in (publishes if first == "gold" else publishes[::-1]):
        assert trino_security.publish_grants(local_trino, datasets[name], datasets)
    assert _grants_in_force(local_trino) == {("so_ha_noi", "gold", "people_by_province"),
                                             ("analysts", "silver", "people")}
    # exactly the rules of one catalog holding both grants, in today's order
    both = _seen_by(tmp_path, "both", gold_grants=TO_HANOI, people_grants=TO_ANALYSTS)
    rules = json.loads((local_trino.state_dir / "trino" / "etc" / "rules.json").read_text())
    assert rules == trino_security.access_rules(both, load_access(service_user="lake"), "lake", "lake")


def test_publishing_again_replaces_the_datasets_grants_and_withdraw_removes_them(tmp_path, local_trino):
    granted = _seen_by(tmp_path, "a", gold_grants=TO_HANOI, people_grants=TO_ANALYSTS)
    for name in ("people", "people_by_province"):
        trino_security.publish_grants(local_trino, granted[name], granted)
    assert ("so_ha_noi", "gold", "people_by_province") in _grants_in_force(local_trino)
    dropped = _seen_by(tmp_path, "b", people_grants=TO_ANALYSTS)  # the spec lost its grant to so_ha_noi
    trino_security.publish_grants(local_trino, dropped["people_by_province"], dropped)
    assert _grants_in_force(local_trino) == {("analysts", "silver", "people")}
    assert trino_security.withdraw_grants(local_trino, "people")
    assert _grants_in_force(local_trino) == set()
    assert sorted(p.name for p in (local_trino.state_dir / "trino" / "etc" / "grants").iterdir()) == [
        "people_by_province.json"]


def test_a_corrupt_stored_fragment_stops_with_its_file_named(tmp_path, local_trino):
    datasets = _seen_by(tmp_path, "a", gold_grants=TO_HANOI)
    trino_security.publish_grants(local_trino, datasets["people"], datasets)
    broken = local_trino.state_dir / "trino" / "etc" / "grants" / "people_by_province.json"
    broken.write_text('{"schema": "gold", "grants": [')
    with pytest.raises(LakeError, match=re.escape(str(broken))):
        trino_security.publish_grants(local_trino, datasets["people"], datasets)
    broken.write_text('["not", "a", "fragment"]')
    with pytest.raises(LakeError, match=re.escape(str(broken))):
        trino_security.withdraw_grants(local_trino, "people")


def test_no_local_trino_no_grants_written(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKE_HOME", str(tmp_path / "home"))
    datasets = _seen_by(tmp_path, "a", gold_grants=TO_HANOI)
    settings = Settings(Environment(name="x"))
    assert not trino_security.publish_grants(settings, datasets["people"], datasets)
    assert not trino_security.withdraw_grants(settings, "people")
    assert not (settings.state_dir / "trino").exists()


def test_a_stack_from_before_is_seeded_once_from_the_current_specs(tmp_path, local_trino, monkeypatch):
    before = config(tmp_path / "a", gold_grants=TO_HANOI) / "datasets"
    monkeypatch.setenv("LAKE_DATASETS_DIR", str(before))
    assert trino_security.refresh(local_trino)  # `lake users` (or `lake up trino`) on an old stack
    grants = local_trino.state_dir / "trino" / "etc" / "grants"
    assert sorted(p.name for p in grants.iterdir()) == ["people.json", "people_by_province.json"]
    assert _grants_in_force(local_trino) == {("so_ha_noi", "gold", "people_by_province")}
    # from then on other specs change nothing until a dataset is published or withdrawn
    monkeypatch.setenv("LAKE_DATASETS_DIR", str(config(tmp_path / "b", people_grants=TO_ANALYSTS) / "datasets"))
    trino_security.refresh(local_trino)
    assert _grants_in_force(local_trino) == {("so_ha_noi", "gold", "people_by_province")}


def test_a_publish_waits_for_the_lock_so_rewrites_never_interleave(tmp_path, local_trino):
    import fcntl
    import threading

    datasets = _seen_by(tmp_path, "a", gold_grants=TO_HANOI)
    etc = local_trino.state_dir / "trino" / "etc"
    (etc / "grants").mkdir()
    with open(etc / "grants.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process is writing
        publish = threading.Thread(target=trino_security.publish_grants,
                                   args=(local_trino, datasets["people_by_province"], datasets))
        publish.start()
        publish.join(0.5)
        assert publish.is_alive() and not (etc / "grants" / "people_by_province.json").exists()
    publish.join(10)
    assert _grants_in_force(local_trino) == {("so_ha_noi", "gold", "people_by_province")}
