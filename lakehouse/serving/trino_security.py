"""Trino secured: a TLS certificate, password and group files, and access rules from the published grants.

Pure functions build the files' text (``password_file``, ``group_file``,
``dataset_rules``, ``assemble_rules``, ``access_rules``, ``mask_expression``);
``write_security`` writes them into Trino's etc folder, ``ensure_certificate``
makes the self-signed certificate once.

The rules are the union of the published datasets' grants: each publish stores its
dataset's fragment (``etc/grants/<dataset>.json``, from the specs that publish sees)
and reassembles ``rules.json`` from every fragment, under a lock; ``withdraw_grants``
removes one.  So a publish that sees other specs (another process, another
``LAKE_DATASETS_DIR``) never drops the rest.  Trino re-reads the rules every few
seconds (``security.refresh-period``), so that needs no restart; new users or
passwords need one.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lakehouse.config.access import AccessConfig, personal_columns
from lakehouse.core import sql
from lakehouse.core.errors import LakeError

# ---- masks -------------------------------------------------------------------------

MASKS = {
    # kind: (what the grantee sees, expression over the column {c})
    "id": ("x's then the last 4 characters: xxxxxxxx0123",
           "'xxxxxxxx' || substr({c}, -4)"),
    "phone": ("x's then the last 3 digits: xxxxxxx567",
              "'xxxxxxx' || substr(regexp_replace({c}, '[^0-9]', ''), -3)"),
    "date": ("1 January of the same year (the year only)", "date_trunc('year', {c})"),
    "text": ("*** (NULL stays NULL)", "IF({c} IS NULL, NULL, '***')"),
    "other": ("NULL", "NULL"),
}


def mask_kind(column: Any, owner: Any) -> str:
    """Which mask a personal column gets: from the rules that judge it, else from its type."""
    for rule in getattr(owner, "quality", []):
        if rule.columns[:1] == [column.name] and rule.check in ("cccd", "cmnd"):
            return "id"
        if rule.columns == [column.name] and rule.check == "phone":
            return "phone"
    if column.type in ("date", "timestamp"):
        return "date"
    if column.type == "string":
        return "text"
    return "other"




def mask_expression(column: Any, owner: Any) -> str:
    """The SQL that replaces a masked personal column's value (same type as the column)."""
    return MASKS[mask_kind(column, owner)][1].format(c=sql.identifier(column.name))


# ---- rules ---------------------------------------------------------------------------

def _exact(*names: str) -> str:
    """A regex matching exactly these names (Trino matches the whole string)."""
    return "|".join(sorted(names))


def _published_table(spec: Any) -> tuple[str, str]:
    """The schema and table a grant covers: silver for a source dataset, gold for a gold one."""
    return ("gold" if spec.layer == "gold" else "silver"), spec.name


def _table_rule(grantee: str, catalog: str, schema: str, table: str, masks: dict[str, str],
                rows: str | None) -> dict:
    rule: dict[str, Any] = {"group": _exact(grantee), "catalog": _exact(catalog), "schema": schema,
                            "table": table, "privileges": ["SELECT"]}
    if masks:
        rule["columns"] = [{"name": name, "mask": expr} for name, expr in sorted(masks.items())]
    if rows:
        rule["filter"] = rows
    return rule


def dataset_rules(spec: Any, datasets: dict[str, Any], catalog: str) -> dict:
    """One dataset's part of the rules, from the specs its publisher sees (JSON-serialisable).

    ``grants``: its grants' table rules (masks and row filter); ``schema``, ``table`` and
    ``masks`` (every personal column's mask): what a masked group's default puts on the table.
    A gold table's personal columns come from its sources' specs, hence ``datasets``.
    """
    schema, table = _published_table(spec)
    masks = {col: mask_expression(column, owner) for col, (column, owner) in personal_columns(spec, datasets).items()}
    grants = [_table_rule(grant.to, catalog, schema, table,
                          {col: expr for col, expr in masks.items() if col not in grant.clear}, grant.rows)
              for grant in spec.grants]
    return {"schema": schema, "table": table, "grants": grants, "masks": masks}


# lakehouse.quality.validation.RESULTS (not imported here: that module needs pyspark)
QUALITY_RESULTS = "quality_results"




def examples_mask(fragments: dict[str, dict]) -> str:
    """The mask of ``ops.quality_results.examples`` for masked groups: a rule's failing values only when
    its dataset is a published one and none of the rule's columns is personal in it; else NULL.

    A source dataset's fragment (schema silver) names its personal columns (``masks``); a dataset
    without a fragment (not published here yet) is unknown, so its examples are masked too.
    """
    plain = sorted(name for name, part in fragments.items() if part["schema"] == "silver" and not part["masks"])
    branches = [f'WHEN "dataset" IN ({sql.literals(plain)}) THEN "examples"'] if plain else []
    for name in sorted(fragments):
        part = fragments[name]
        if part["schema"] == "silver" and part["masks"]:
            personal = sql.literals(sorted(part["masks"]))
            branches.append(f'WHEN "dataset" = {sql.literal(name)} AND NOT arrays_overlap("columns", ARRAY[{personal}]) '
                            f'THEN "examples"')
    if not branches:
        return "CAST(NULL AS array(varchar))"
    return "CASE " + " ".join(branches) + " END"


def assemble_rules(fragments: dict[str, dict], access: AccessConfig, service_user: str, catalog: str) -> dict:
    """Trino's file-based access-control rules (``rules.json``) from access.yaml and each dataset's fragment.

    First matching rule wins, so the order is: the platform's service user (everything);
    each grant (its table, masks and row filter); each ministry group's default (its layers,
    personal columns masked unless the group reads them in clear); the JDBC metadata tables.
    Anything else is denied: a partner sees only the gold tables granted to it.  The usage and audit
    tables (``ops.query_log``, ``ops.table_reads``, ``ops.sharing_log``) are denied to groups whose
    personal columns are masked, and ``ops.quality_results`` shows them no failing values
    (``examples``) of a rule over a personal column: :func:`examples_mask`.
    """
    service = _exact(service_user)
    everyone = [*access.partners, *access.groups]
    tables: list[dict] = [{"user": service, "privileges": ["SELECT", "INSERT", "DELETE", "UPDATE", "OWNERSHIP",
                                                            "GRANT_SELECT"]}]
    for name in sorted(fragments):
        tables.extend(fragments[name]["grants"])
    # who queried or shared what (query text may quote personal data): only groups that read personal data in
    # clear, and who may already view others' queries, read the usage and audit tables of ops
    masked = sorted(g for g, spec in access.groups.items() if spec.personal == "masked" and "ops" in spec.reads)
    if masked:
        from lakehouse.serving.usage import TABLES as AUDIT_TABLES
        tables.append({"group": _exact(*masked), "catalog": _exact(catalog), "schema": _exact("ops"),
                       "table": _exact(*AUDIT_TABLES), "privileges": []})
        # a quality rule keeps up to 20 failing values as examples: a rule over a personal column keeps
        # personal data in clear, which these groups read masked everywhere else
        tables.append({"group": _exact(*masked), "catalog": _exact(catalog), "schema": _exact("ops"),
                       "table": _exact(QUALITY_RESULTS), "privileges": ["SELECT"],
                       "columns": [{"name": "examples", "mask": examples_mask(fragments)}]})
    for group_name in sorted(access.groups):
        group = access.groups[group_name]
        if group.personal == "masked":
            for name in sorted(fragments):
                part = fragments[name]
                if part["schema"] in group.reads and part["masks"]:
                    tables.append(_table_rule(group_name, catalog, part["schema"], part["table"], part["masks"],
                                              None))
        if group.reads:
            tables.append({"group": _exact(group_name), "catalog": _exact(catalog),
                           "schema": _exact(*group.reads), "privileges": ["SELECT"]})
    tables.append({"catalog": "system", "schema": "jdbc|metadata", "privileges": ["SELECT"]})
    catalogs: list[dict] = [{"user": service, "allow": "all"}]
    if everyone:
        catalogs.append({"group": _exact(*everyone), "catalog": _exact(catalog), "allow": "read-only"})
    catalogs.append({"catalog": "system", "allow": "read-only"})
    clear_groups = [g for g, spec in access.groups.items() if spec.personal == "clear"]
    queries: list[dict] = [{"user": service, "allow": ["execute", "kill", "view"]}]
    if clear_groups:
        queries.append({"group": _exact(*clear_groups), "allow": ["execute", "view"]})
    queries.append({"allow": ["execute"]})
    return {
        "catalogs": catalogs,
        "schemas": [{"user": service, "owner": True}],
        "tables": tables,
        "procedures": [{"user": service, "privileges": ["EXECUTE", "GRANT_EXECUTE"]}],
        "functions": [{"user": service, "privileges": ["EXECUTE", "GRANT_EXECUTE", "OWNERSHIP"]}],
        "queries": queries,
        "system_information": [{"user": service, "allow": ["read", "write"]}],
    }


def access_rules(datasets: dict[str, Any], access: AccessConfig, service_user: str, catalog: str) -> dict:
    """The rules for exactly these datasets' grants (every dataset's fragment, assembled)."""
    fragments = {name: dataset_rules(spec, datasets, catalog) for name, spec in datasets.items()}
    return assemble_rules(fragments, access, service_user, catalog)


def group_file(access: AccessConfig) -> str:
    """Trino's group file: ``group:user1,user2`` for each partner and group."""
    lines = [f"{name}:{','.join(entry.users)}"
             for section in (access.partners, access.groups) for name, entry in sorted(section.items())]
    return "\n".join(lines) + "\n"


def bcrypt_hash(password: str, rounds: int = 10) -> str:
    """A bcrypt hash in the ``$2y$`` form Trino's password file documents."""
    import bcrypt

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()
    return "$2y$" + hashed[4:]


def password_file(passwords: dict[str, str], previous: str = "") -> str:
    """``user:bcrypt-hash`` lines; a user whose hash in ``previous`` still matches keeps it (no re-hash)."""
    import bcrypt

    old = dict(line.split(":", 1) for line in previous.splitlines() if ":" in line)
    lines = []
    for user in sorted(passwords):
        hashed = old.get(user)
        if not hashed or not bcrypt.checkpw(passwords[user].encode(), ("$2b$" + hashed[4:]).encode()):
            hashed = bcrypt_hash(passwords[user])
        lines.append(f"{user}:{hashed}")
    return "\n".join(lines) + "\n"


# ---- certificate ----------------------------------------------------------------------

def _names(host: str) -> tuple[list[str], list[str]]:
    dns, ips = ["localhost"], ["127.0.0.1"]
    try:
        ipaddress.ip_address(host)
        if host not in ips:
            ips.append(host)
    except ValueError:
        if host not in dns:
            dns.append(host)
    return dns, ips


def certificate_ok(cert_pem: bytes, host: str, now: dt.datetime | None = None) -> bool:
    """The certificate names ``host`` (and localhost, 127.0.0.1) and is valid for 30 more days."""
    from cryptography import x509

    now = now or dt.datetime.now(dt.timezone.utc)
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    dns, ips = _names(host)
    have_dns = set(san.get_values_for_type(x509.DNSName))
    have_ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return (set(dns) <= have_dns and set(ips) <= have_ips
            and cert.not_valid_after_utc - now > dt.timedelta(days=30))


def make_certificate(host: str, days: int = 825) -> tuple[bytes, bytes]:
    """A self-signed certificate for ``host``, localhost and 127.0.0.1: (private key PEM, certificate PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lakehouse trino"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lakehouse (self-signed, local)")])
    dns, ips = _names(host)
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([*map(x509.DNSName, dns),
                                                        *(x509.IPAddress(ipaddress.ip_address(i)) for i in ips)]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def _write_private(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # two publish tasks may refresh at once
    tmp.write_bytes(text.encode() if isinstance(text, str) else text)
    tmp.chmod(0o600)
    os.replace(tmp, path)


def ensure_certificate(tls_dir: Path, host: str) -> tuple[Path, Path]:
    """Make the server's key+certificate PEM and the clients' certificate PEM once; again only
    when the host changed or the certificate has under 30 days left.  Returns (server PEM, client PEM)."""
    server, client = tls_dir / "trino-server.pem", tls_dir / "trino.crt"
    if server.exists() and client.exists() and certificate_ok(client.read_bytes(), host):
        return server, client
    key_pem, cert_pem = make_certificate(host)
    _write_private(server, key_pem + cert_pem)
    client.parent.mkdir(parents=True, exist_ok=True)
    tmp = client.with_name(f"{client.name}.{os.getpid()}.tmp")
    tmp.write_bytes(cert_pem)
    os.replace(tmp, client)
    return server, client


# ---- published grants ---------------------------------------------------------------------

def _etc(settings: Any) -> Path:
    """The local Trino's etc folder."""
    return settings.state_dir / "trino" / "etc"


@contextmanager
def _locked(etc: Path) -> Iterator[None]:
    """Hold ``etc/grants.lock`` exclusively: one writer of fragments and ``rules.json`` at a time."""
    etc.mkdir(parents=True, exist_ok=True)
    with open(etc / "grants.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def _fragment_text(spec: Any, datasets: dict[str, Any], catalog: str) -> str:
    """A dataset's fragment as the JSON stored in ``etc/grants/<dataset>.json``."""
    return json.dumps(dataset_rules(spec, datasets, catalog), indent=1, ensure_ascii=False) + "\n"


def _ensure_grants(settings: Any, etc: Path, datasets: dict[str, Any] | None = None) -> Path:  # lock held
    """The grants folder, seeded once with every current dataset's fragment (what the rules held before it)."""
    grants = etc / "grants"
    if not grants.is_dir():
        if datasets is None:
            from lakehouse.config.spec import load_specs
            datasets = load_specs().datasets
        seeding = etc / f"grants.{os.getpid()}.tmp"
        shutil.rmtree(seeding, ignore_errors=True)
        for name, spec in datasets.items():
            _write_private(seeding / f"{name}.json", _fragment_text(spec, datasets, settings.trino_catalog))
        seeding.mkdir(parents=True, exist_ok=True)
        os.rename(seeding, grants)  # all at once: an interrupted seeding leaves no half folder
    return grants


def read_fragments(grants: Path) -> dict[str, dict]:
    """Every stored fragment, by dataset name; one that is not a fragment stops with its file named."""
    fragments = {}
    for path in sorted(grants.glob("*.json")):
        try:
            part = json.loads(path.read_text(encoding="utf-8"))
            if not (isinstance(part, dict) and {"schema", "table", "grants", "masks"} <= part.keys()):
                raise ValueError("not a dataset's grants (keys schema, table, grants, masks)")
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise LakeError(f"{path}: {exc}; publish the dataset again (lake run {path.stem}) "
                            f"or delete the file to withdraw its grants") from exc
        fragments[path.stem] = part
    return fragments


def _write_rules(settings: Any, etc: Path, grants: Path) -> Path:
    """(Re)write ``rules.json`` from the stored fragments; Trino picks it up within its refresh period."""
    from lakehouse.config.access import load_access

    access = load_access(service_user=settings.env.trino.user)
    rules = assemble_rules(read_fragments(grants), access, settings.env.trino.user, settings.trino_catalog)
    path = etc / "rules.json"
    _write_private(path, json.dumps(rules, indent=1, ensure_ascii=False) + "\n")
    return path


def publish_grants(settings: Any, spec: Any, datasets: dict[str, Any]) -> bool:
    """Store this dataset's fragment (from the specs the publisher sees) and rewrite the rules.

    Other datasets' fragments are kept, so the rules are the union of what was published.
    Returns False when this machine runs no local Trino.
    """
    etc = _etc(settings)
    if not (etc / "access-control.properties").exists():
        return False
    with _locked(etc):
        grants = _ensure_grants(settings, etc, datasets)
        _write_private(grants / f"{spec.name}.json", _fragment_text(spec, datasets, settings.trino_catalog))
        _write_rules(settings, etc, grants)
    return True


def withdraw_grants(settings: Any, dataset: str) -> bool:
    """Remove a dataset's fragment and rewrite the rules.  False when this machine runs no local Trino."""
    etc = _etc(settings)
    if not (etc / "access-control.properties").exists():
        return False
    with _locked(etc):
        grants = _ensure_grants(settings, etc)
        (grants / f"{dataset}.json").unlink(missing_ok=True)
        _write_rules(settings, etc, grants)
    return True


# ---- writing Trino's files --------------------------------------------------------------

def write_security(settings: Any, etc: Path) -> None:
    """Certificate, password file, group file, access rules and their properties files in ``etc``.

    Idempotent.  The rules are assembled from the published datasets' grants (``etc/grants``)
    and access.yaml; a spec's grants change only when that dataset is published again.
    """
    from lakehouse.config.access import load_access

    access = load_access(service_user=settings.env.trino.user)
    ensure_certificate(settings.trino_tls_dir, settings.host)
    passwords = settings.trino_passwords(list(access.users()))
    pw_path = etc / "password.db"
    previous = pw_path.read_text() if pw_path.exists() else ""
    _write_private(pw_path, password_file(passwords, previous))
    _write_private(etc / "group.txt", group_file(access))
    with _locked(etc):
        _write_rules(settings, etc, _ensure_grants(settings, etc))
    _write_private(etc / "password-authenticator.properties",
                   f"password-authenticator.name=file\nfile.password-file={pw_path}\n"
                   "file.refresh-period=5s\n")
    _write_private(etc / "group-provider.properties",
                   f"group-provider.name=file\nfile.group-file={etc / 'group.txt'}\nfile.refresh-period=5s\n")
    _write_private(etc / "access-control.properties",
                   f"access-control.name=file\nsecurity.config-file={etc / 'rules.json'}\n"
                   "security.refresh-period=5s\n")


def refresh(settings: Any) -> bool:
    """Rewrite users, groups and rules for the local Trino (if ``lake up`` configured one here).

    Trino re-reads them within 5 s, so a user, group or access.yaml change takes effect
    without a restart; grants come from the published datasets.  Returns False when this
    machine runs no local Trino.
    """
    etc = _etc(settings)
    if not (etc / "access-control.properties").exists():
        return False
    write_security(settings, etc)
    return True


def users(settings: Any) -> list[dict]:
    """Every Trino user: who it is (the service user, a partner or a group) and its generated password."""
    from lakehouse.config.access import load_access

    access = load_access(service_user=settings.env.trino.user)
    members = access.users()
    passwords = settings.trino_passwords(list(members))
    rows = [{"user": settings.env.trino.user, "member_of": "(platform service user: full access)",
             "password": passwords[settings.env.trino.user]}]
    for user in sorted(members):
        grantee = members[user]
        kind = "partner" if grantee in access.partners else "group"
        rows.append({"user": user, "member_of": f"{kind} {grantee}", "password": passwords[user]})
    return rows


def how_to_connect(settings: Any, user: str = "<user>") -> str:
    """The commands an analyst runs to reach Trino with the certificate."""
    from lakehouse.io.install import trino_cli_jar

    cert, url = settings.trino_cert, settings.trino_url
    return "\n".join([
        f"Trino: {url} (TLS certificate: {cert}; catalog {settings.trino_catalog})",
        f"  CLI:    TRINO_PASSWORD=... java -jar {trino_cli_jar(settings)} --server {url} --user {user} "
        f"--password --truststore-path {cert}",
        f"  JDBC:   jdbc:trino://{settings.trino_host}:{settings.trino_port}/{settings.trino_catalog}"
        f"?SSL=true&SSLTrustStorePath={cert}  (user {user}, its password)",
        f"  Python: trino.dbapi.connect(host='{settings.trino_host}', port={settings.trino_port}, "
        f"http_scheme='https', auth=trino.auth.BasicAuthentication('{user}', PASSWORD), verify='{cert}')",
    ])
