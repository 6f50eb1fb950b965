"""Trino access as a matrix: every Trino user × every published table, against rules written here.

The expectation (:func:`expected`) is derived from lake_config/access.yaml and the specs in plain words,
not with lakehouse.serving.trino_security (that would test the rules with their own formula):

* the platform's service user reads every table, in clear;
* a ministry group reads every table of the layers it lists (``reads``) and any table granted to it; with
  ``personal: masked`` a personal column is masked unless the group's grant of that table shows it in clear,
  with ``personal: clear`` every column is clear.  Bronze and quarantine keep personal data as raw text that
  cannot be masked, so a masked group never reads them; the usage and audit tables of ops (query_log,
  table_reads, sharing_log: query text, which may quote personal data) are for clear groups only;
* a partner reads only the gold tables granted to it: personal columns masked unless its grant shows them
  in clear, and only the rows its grant's ``rows`` predicate selects;
* anything else is refused with an access-denied error (not "does not exist": every table here exists).

A table's personal columns: a source dataset's silver table, the columns its spec marks ``personal: true``;
a gold table, those of its columns that a dataset it is built from (``depends_on``) marks personal.

The specs are tests/integration/datasets/access (acc_people, source; acc_contacts, gold, with a row filter
for so_ha_noi); one ingest publishes bronze, silver, quarantine (a row without its key) and gold, and the
usage loader makes sure the ops audit tables exist.  Then every cell is one query, run a few at a time.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from lakehouse.config.access import load_access
from lakehouse.config.spec import load_specs
from lakehouse.io import trino
from lakehelp import as_user, ingest, passwords, reset, use_datasets

HERE = Path(__file__).resolve().parent
SPECS = HERE / "datasets" / "access"
DATASETS = ["acc_people", "acc_contacts"]
CATALOG = "lake"
SERVICE = "(service)"  # the platform's service user: its name is the environment's trino.user
COLUMNS = ["person_id", "citizen_id", "full_name", "date_of_birth", "phone", "region_code"]
PEOPLE = [  # chosen so that no value equals its own mask (no 1 January birthday, no "***" name)
    (1, "001090000123", "Nguyễn Văn An", "1990-05-01", "0912345678", 1),
    (2, "079301000005", "Trần Thị Lan", "2001-03-03", "+84 983 111 222", 79),
    (3, "001185000007", "Lê Văn Bình", "1985-07-07", None, 1),
    (4, "048199000011", "Phạm Thu Hà", None, "0905000111", 48),
    (5, "099170000042", "Đỗ Văn Sai", "1970-12-31", "024 3825 9876", 48),  # CCCD and phone fail their (warn) checks
    (None, "001090000999", "Người Không Mã", "1999-09-09", "0911000999", 1),  # no key: to quarantine
]
AUDIT_TABLES = {"query_log", "table_reads", "sharing_log"}  # who queried or shared what (query text)
RAW_LAYERS = {"bronze", "quarantine"}


def users_in_config() -> list[str]:
    access = load_access()
    return [SERVICE, *sorted(access.users())]


# ---- the expectation --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    allowed: bool
    masked: frozenset[str] = frozenset()  # personal columns this user sees masked
    rows: str | None = None               # the row filter this user reads through


def table_of(schema: str, table: str, datasets: dict) -> object | None:
    """The spec a published table comes from (bronze/silver/quarantine of a source, gold of a gold dataset)."""
    name = table.removesuffix("__quarantine") if schema == "quarantine" else table
    spec = datasets.get(name)
    if spec is None or schema == "ops":
        return None
    if (schema == "gold") != (spec.layer == "gold"):
        return None
    return spec


def personal_of(schema: str, table: str, columns: list[str], datasets: dict) -> set[str]:
    spec = table_of(schema, table, datasets)
    if spec is None or schema in RAW_LAYERS:
        return set()
    if schema == "silver":
        return {c.name for c in spec.columns if c.personal}
    marked = {c.name for dep in spec.depends_on for c in getattr(datasets.get(dep), "columns", []) if c.personal}
    return set(columns) & marked


def expected(user: str, schema: str, table: str, columns: list[str], access, datasets: dict) -> Cell:
    """What ``user`` may read of ``<schema>.<table>`` (whose columns are ``columns``), from first principles."""
    if user == SERVICE:
        return Cell(True)
    member = access.users()[user]
    spec = table_of(schema, table, datasets)
    published = spec is not None and schema == ("gold" if spec.layer == "gold" else "silver")
    grant = next((g for g in spec.grants if g.to == member), None) if published else None
    personal = personal_of(schema, table, columns, datasets)
    shown = set(grant.clear) if grant else set()
    if member in access.partners:
        if grant is None or schema != "gold":
            return Cell(False)
        return Cell(True, frozenset(personal - shown), grant.rows)
    group = access.groups[member]
    clear = group.personal == "clear"
    if not clear and (schema in RAW_LAYERS or (schema == "ops" and table in AUDIT_TABLES)):
        return Cell(False)
    if schema not in group.reads and grant is None:
        return Cell(False)
    return Cell(True, frozenset() if clear else frozenset(personal - shown), grant.rows if grant else None)


# ---- the stack ----------------------------------------------------------------------------------------

@dataclass
class Observed:
    columns: list[str] | None = None
    rows: list[tuple] | None = None
    error: str | None = None


@pytest.fixture(scope="module")
def matrix(stack, tmp_path_factory):
    """Publish the access specs once, then run every user × table query; yields what each cell answered."""
    from jobs import usage as usage_loader

    source = tmp_path_factory.mktemp("matrix") / "people.jsonl"
    source.write_text("".join(json.dumps(dict(zip(COLUMNS, p)), ensure_ascii=False) + "\n" for p in PEOPLE),
                      encoding="utf-8")
    with use_datasets(SPECS):
        reset(DATASETS, stack)
        ingest("acc_people", [source], "2026-11-20")
        datasets = load_specs().datasets
        known = trino.registered(stack)
        if not AUDIT_TABLES <= {t for s, t in known if s == "ops"}:
            usage_loader.run("2026-11-20", stack)  # its first run creates the usage and audit tables
            known = trino.registered(stack)
        secrets = passwords(stack)
        tables = [("bronze", "acc_people"), ("silver", "acc_people"), ("quarantine", "acc_people__quarantine"),
                  ("gold", "acc_contacts")]
        missing = [t for t in tables if t not in known]
        assert not missing, f"the ingest did not publish {missing}"
        tables += sorted((s, t) for s, t in known if s == "ops")
        assert {"run_log", *AUDIT_TABLES} <= {t for s, t in tables if s == "ops"}

        def run(user: str, sql: str) -> Observed:
            try:
                if user == SERVICE:
                    columns, rows = trino.query(sql, stack)
                else:
                    columns, rows = trino.query(sql, stack, user=user, password=secrets[user])
                return Observed(columns, rows)
            except Exception as exc:  # the refusal is the answer
                return Observed(error=f"{exc.__class__.__name__}: {exc}")

        deadline = time.monotonic() + 30  # the publish step wrote the rules; Trino re-reads them every 5 s
        while ("acc_contacts",) not in (run("hn_officer", "SHOW TABLES FROM lake.gold").rows or []):
            assert time.monotonic() < deadline, "Trino did not pick up the test specs' access rules"
            time.sleep(1)

        def select(schema: str, table: str) -> str:
            return f'SELECT * FROM {CATALOG}.{schema}."{table}"' + (" LIMIT 1" if schema == "ops" else "")

        cells = [(user, schema, table) for user in users_in_config() for schema, table in tables]
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = dict(zip(cells, pool.map(lambda c: run(c[0], select(c[1], c[2])), cells)))
        access = load_access(service_user=stack.env.trino.user)
        yield stack, access, datasets, tables, answers, run
        reset(DATASETS, stack)


# ---- the checks -----------------------------------------------------------------------------------------

def looks_masked(masked, clear) -> bool:
    """A masked value is not the clear one, keeps NULL a NULL, and shows at most a string's last 4 characters."""
    if clear is None:
        return masked is None
    if masked == clear:
        return False
    if isinstance(clear, str) and isinstance(masked, str) and len(clear) >= 7 and clear[:-4] in masked:
        return False
    return True


def compare(cell: Cell, got: Observed, reference: Observed, personal: set[str]) -> list[str]:
    """How ``got`` differs from the clear ``reference`` rows read through ``cell`` (empty: as expected)."""
    if got.columns != reference.columns:
        return [f"columns {got.columns} instead of {reference.columns}"]
    identity = [i for i, c in enumerate(got.columns) if c not in personal]  # the non-personal columns name a row

    def keyed(rows):
        out = {repr(tuple(r[i] for i in identity)): r for r in rows}  # arrays are lists: key on the text
        return out if len(out) == len(rows) else None

    want, have = keyed(reference.rows), keyed(got.rows)
    assert want is not None, f"the test data must tell rows apart by their non-personal columns {identity}"
    if have is None or set(have) != set(want):
        return [f"rows {sorted(got.rows, key=repr)} instead of {sorted(reference.rows, key=repr)}"]
    problems = []
    for i, column in enumerate(got.columns):
        for key, row in want.items():
            if column in cell.masked and not looks_masked(have[key][i], row[i]):
                problems.append(f"{column} = {have[key][i]!r} is not masked (clear: {row[i]!r})")
            elif column not in cell.masked and have[key][i] != row[i]:
                problems.append(f"{column} = {have[key][i]!r} instead of the clear {row[i]!r}")
    return problems


def check_user(user: str, matrix) -> list[str]:
    settings, access, datasets, tables, answers, run = matrix
    problems = []
    for schema, table in tables:
        got, reference = answers[(user, schema, table)], answers[(SERVICE, schema, table)]
        name = f"{user} × {schema}.{table}"
        assert reference.error is None, f"the service user cannot read {schema}.{table}: {reference.error}"
        cell = expected(user, schema, table, reference.columns, access, datasets)
        if not cell.allowed:
            if got.error is None:
                problems.append(f"{name}: read {len(got.rows)} row(s), expected an access-denied error")
            elif ("Access Denied" not in got.error or f"{schema}.{table}" not in got.error
                  or "does not exist" in got.error):
                problems.append(f"{name}: refused, but not as access denied: {got.error}")
            continue
        if got.error is not None:
            problems.append(f"{name}: refused, expected a read: {got.error}")
            continue
        if schema == "ops":
            continue  # read, with no personal column: that is all a cell of ops says
        if cell.rows:  # the clear rows this user may read: the grant's predicate, run by the service user
            reference = run(SERVICE, f'SELECT * FROM {CATALOG}.{schema}."{table}" WHERE {cell.rows}')
            assert reference.error is None, reference.error
        personal = personal_of(schema, table, reference.columns, datasets)
        problems += [f"{name}: {p}" for p in compare(cell, got, reference, personal)]
    return problems


@pytest.mark.parametrize("user", users_in_config())
def test_each_user_reads_exactly_what_the_access_rules_say(matrix, user):
    problems = check_user(user, matrix)
    assert not problems, "\n".join(problems)


def test_the_matrix_covers_every_user_and_layer(matrix):
    """Guard against a vacuous matrix: each user, each layer, allowed and denied cells, masks and a row filter."""
    settings, access, datasets, tables, answers, _ = matrix
    assert {u for u, _, _ in answers} == {SERVICE, *access.users()}
    assert {s for s, _ in tables} == {"bronze", "silver", "gold", "quarantine", "ops"}
    cells = {(u, s, t): expected(u, s, t, answers[(SERVICE, s, t)].columns, access, datasets)
             for u, s, t in answers}
    assert any(c.allowed for c in cells.values()) and any(not c.allowed for c in cells.values())
    assert any(c.masked for c in cells.values()) and any(c.rows for c in cells.values())
    for partner in access.partners.values():
        for user in partner.users:
            assert not any(cells[(user, s, t)].allowed for s, t in tables if s != "gold")
    # the cells the module's narrative names, spelled out: a wrong formula above would not pass these
    assert cells[("hn_officer", "gold", "acc_contacts")] == Cell(True, frozenset({"phone", "date_of_birth"}),
                                                                 "region_code = 1")
    assert cells[("btc_analyst", "gold", "acc_contacts")] == Cell(False)
    assert cells[("analyst", "silver", "acc_people")] == Cell(
        True, frozenset({"citizen_id", "full_name", "date_of_birth"}))
    assert cells[("analyst", "quarantine", "acc_people__quarantine")] == Cell(False)
    assert cells[("analyst", "ops", "query_log")] == Cell(False)
    assert cells[("engineer", "bronze", "acc_people")] == Cell(True)


def test_each_user_lists_exactly_the_tables_it_reads(matrix):
    """information_schema shows a user the tables it may read, and no other (names can tell too much)."""
    settings, access, datasets, tables, answers, run = matrix
    schemas = ", ".join(f"'{s}'" for s in sorted({s for s, _ in tables}))
    sql = (f"SELECT table_schema, table_name FROM {CATALOG}.information_schema.tables "
           f"WHERE table_schema IN ({schemas})")
    users = users_in_config()
    with ThreadPoolExecutor(max_workers=4) as pool:
        listed = dict(zip(users, pool.map(lambda u: run(u, sql), users)))
    problems = []
    for user in users:
        want = {(s, t) for s, t in tables
                if expected(user, s, t, answers[(SERVICE, s, t)].columns, access, datasets).allowed}
        got = listed[user]
        if got.error is not None:
            problems.append(f"{user}: listing refused: {got.error}")
            continue
        have = set(got.rows) & set(tables)  # tables outside the matrix (other tests' datasets) are not judged
        if have != want:
            problems.append(f"{user}: lists {sorted(have - want)} it may not read, "
                            f"misses {sorted(want - have)} it may")
    assert not problems, "\n".join(problems)


def test_no_personal_value_reaches_a_masked_user_in_clear_through_ops(matrix):
    """Masks are on the tables' personal columns, but a masked user (a partner, a `personal: masked` group)
    must not read the same values in clear anywhere else: the run log and quality tables of ops it reads
    (the failing values a quality check keeps as examples are the test data's personal values)."""
    settings, access, datasets, tables, answers, run = matrix
    personal = {v for p in PEOPLE for i, v in enumerate(p) if COLUMNS[i] not in ("person_id", "region_code")
                and v is not None and len(v) >= 8}  # long enough not to turn up by chance in a count or an id
    masked_users = [u for u, member in access.users().items()
                    if member in access.partners or access.groups[member].personal == "masked"]
    queries = []
    for user in masked_users:
        for schema, table in tables:
            columns = answers[(SERVICE, schema, table)].columns
            if schema == "ops" and expected(user, schema, table, columns, access, datasets).allowed:
                where = f" WHERE dataset IN ({', '.join(repr(d) for d in DATASETS)})" if "dataset" in columns else ""
                queries.append((user, table, f'SELECT * FROM {CATALOG}.ops."{table}"{where}'))
    assert queries, "no masked user reads an ops table: nothing to check"
    # not vacuous: the quality checks did keep the failing CCCD and phone, which a clear group reads
    kept = run("engineer", f"SELECT examples FROM {CATALOG}.ops.quality_results WHERE dataset = 'acc_people'")
    assert {"099170000042", "024 3825 9876"} <= {v for (examples,) in kept.rows for v in examples or []}
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda q: run(q[0], q[2]), queries))

    def values(cell):
        if isinstance(cell, (list, tuple)):
            for item in cell:
                yield from values(item)
        elif isinstance(cell, dict):
            for item in cell.values():
                yield from values(item)
        elif cell is not None:
            yield str(cell)

    leaks = []
    for (user, table, _), answer in zip(queries, got):
        assert answer.error is None, f"{user} × ops.{table}: {answer.error}"
        for row in answer.rows:
            for column, cell in zip(answer.columns, row):
                hits = sorted({v for text in values(cell) for v in personal if v in text})
                if hits:
                    leaks.append(f"{user} × ops.{table}.{column}: {hits}")
    assert not leaks, "personal values in clear:\n" + "\n".join(sorted(set(leaks)))


def test_the_row_filter_and_masks_of_a_partner_by_value(matrix):
    """One cell by value, so the generic comparison above is checked against data written by hand."""
    settings, *_ = matrix
    rows = as_user("hn_officer", "SELECT person_id, full_name, phone, date_of_birth FROM lake.gold.acc_contacts "
                                 "ORDER BY person_id", settings)
    assert rows == [(1, "Nguyễn Văn An", "xxxxxxx678", dt.date(1990, 1, 1)),
                    (3, "Lê Văn Bình", None, dt.date(1985, 1, 1))]
