"""Contributions: submitted, checked, then approved or rejected by a steward; what each one's status is.

A submission's file goes to the contributions area of the bucket (``contributions/<code>/upload.<format>``: the
name the contributor gave is kept as a label, never used as a path) with its check report
(``report.json``), and never touches the lake's tables.  Every submission, decision and outcome is one JSON line of
``<state>/contributions/events.jsonl`` (who, what, when), appended under a lock that also makes "is it still
awaiting review?" and the decision one step; a contribution's state is the fold of its lines, and nothing there is
rewritten.

Statuses: ``refused`` (the file cannot be read: the bronze file checks, or no format a contribution may come in),
``blocked`` (personal data found: it cannot be published as open data; the contributor submits a cleaned file),
``review`` (awaiting a steward), ``approved`` (its spec is written; the pipeline runs), ``published`` (in silver,
exported and catalogued), ``failed`` (approved, but a pipeline step failed: the run log says why), ``rejected``.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lakehouse.core.errors import RefusedError

CODE = re.compile(r"dg-[0-9a-f]{10}")      # đóng góp: a contribution's tracking code
LIMITS = {"title": (5, 200), "description": (10, 5000), "organisation": (2, 200), "reason": (5, 1000)}
DOMAIN = "contributed"                      # the domain and the spec folder of contributed datasets
OPEN_STATUSES = ("review",)


class ContributionError(RefusedError):
    """A submission or decision that cannot be made; ``status`` is the HTTP answer the portal gives."""


@dataclass(frozen=True)
class Contribution:
    code: str
    title: str
    description: str
    license: str
    organisation: str
    contact: str
    filename: str
    format: str
    bytes: int
    sha256: str
    submitted_at: str
    submitted_by: str
    updates: str | None = None
    status: str = "review"
    dataset: str | None = None              # the spec's name, once approved
    decided_by: str | None = None
    decided_at: str | None = None
    reason: str = ""
    history: tuple = field(default=(), compare=False)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def clean_text(value: Any, what: str) -> str:
    """A form's free text, stripped; :class:`ContributionError` when too short, too long or holding control
    characters."""
    low, high = LIMITS[what]
    text = str(value or "").strip()
    if any(ord(c) < 32 and c not in "\n\t" or ord(c) == 127 for c in text):
        raise ContributionError(f"the {what} holds control characters")
    if not low <= len(text) <= high:
        raise ContributionError(f"the {what} must be {low} to {high} characters (it is {len(text)})")
    return text


def folder(settings) -> Path:
    path = settings.state_dir / "contributions"
    path.mkdir(parents=True, exist_ok=True)
    return path


def area_key(code: str, name: str) -> str:
    """Where a contribution's files are kept in the bucket."""
    return f"contributions/{code}/{name}"


@contextmanager
def _locked(settings) -> Iterator[Path]:
    log = folder(settings) / "events.jsonl"
    with open(folder(settings) / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield log
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _append(log: Path, event: dict) -> None:
    with open(log, "a", encoding="utf-8") as out:
        out.write(json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n")


def _read(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]


def fold(lines: list[dict]) -> dict[str, Contribution]:
    """Each contribution's state from its events, oldest first."""
    out: dict[str, Contribution] = {}
    for e in lines:
        kind, code = e["event"], e["code"]
        if kind == "submitted":
            fields = {k: e[k] for k in Contribution.__dataclass_fields__ if k in e and k != "history"}
            fields.update(submitted_at=e["at"], submitted_by=e["by"])   # the submission's own time and author
            out[code] = Contribution(**fields, history=((kind, e["at"], e["by"]),))
            continue
        if code not in out:
            continue
        c = out[code]
        changes: dict[str, Any] = {"history": c.history + ((kind, e["at"], e["by"]),)}
        if kind in ("approved", "rejected"):
            changes.update(status=kind, decided_by=e["by"], decided_at=e["at"], reason=e.get("reason", ""),
                           dataset=e.get("dataset"))
        elif kind in ("published", "failed"):
            changes.update(status=kind, reason=e.get("reason", c.reason))
        out[code] = replace(c, **changes)
    return out


def contributions(settings) -> dict[str, Contribution]:
    return fold(_read(folder(settings) / "events.jsonl"))


def get(settings, code: str) -> Contribution:
    if not CODE.fullmatch(code or ""):
        raise ContributionError(f"{code!r} is not a tracking code (dg- and 10 hexadecimal digits)", status=404)
    found = contributions(settings).get(code)
    if found is None:
        raise ContributionError(f"no contribution {code}", status=404)
    return found


def report(settings, code: str) -> dict:
    """The check report of a contribution (what :func:`check` found), as kept beside its events."""
    path = folder(settings) / code / "report.json"
    if not path.exists():
        raise ContributionError(f"no check report for {code}", status=404)
    return json.loads(path.read_text(encoding="utf-8"))


# ---- submitting ---------------------------------------------------------------------------------

def check(data: bytes, filename: str) -> dict:
    """The automatic checks of a contributed file, each with its reason in Vietnamese and English.

    The bronze layer's file checks (empty, binary, encoding, header, zip bombs …, run as if a spec declared
    the file's own header), the schema its values imply with a candidate key, and the personal-data scan.
    """
    from lakehouse.engine import filecheck
    from lakehouse.serving.contributions import scan

    out: dict[str, Any] = {"file": filename, "bytes": len(data), "checked_at": _now()}
    try:
        kind = scan.sniff_format(data[:8192])
    except scan.ScanError as error:
        return {**out, "status": "refused", "refusal": {"code": "format", "vi": "Tệp không đọc được: " + str(error),
                                                          "en": f"the file cannot be read: {error}"}}
    encoding = "utf-8"
    unsafe = filecheck.xlsx_safe_to_open(filecheck.BytesBlob(filename, data)) if kind == "xlsx" else None
    if unsafe:  # a zip bomb or a damaged archive is never handed to openpyxl
        return {**out, "format": kind, "status": "refused", "refusal": _refusal(unsafe)}
    if kind == "csv":
        found = filecheck.read_encoding(filecheck.BytesBlob(filename, data), _provisional(kind, ["x"], ","))
        if isinstance(found, filecheck.Refusal):
            return {**out, "format": kind, "status": "refused", "refusal": _refusal(found)}
        encoding = found.encoding
    try:
        table = scan.read_table(data, encoding)
    except (scan.ScanError, UnicodeDecodeError, ValueError, OSError) as error:
        return {**out, "format": kind, "status": "refused",
                "refusal": {"code": "format", "vi": f"Tệp {kind} không đọc được: {error}",
                            "en": f"the {kind} file cannot be read: {error}"}}
    spec = _provisional(kind, table.header, table.delimiter, encoding, table.header_row)
    refused = filecheck.check_file(filecheck.BytesBlob(filename, data), spec, encoding)
    if refused:
        return {**out, "format": kind, "status": "refused", "refusal": _refusal(refused)}
    columns = scan.infer_columns(table)
    findings = scan.personal_data(table, columns)
    status = "blocked" if findings else "review"
    for f in findings:   # a column found holding personal data is marked so in the proposed spec
        next(c for c in columns if c["source"] == f.column)["personal"] = True
    return {**out, "format": kind, "encoding": encoding, "delimiter": table.delimiter, "rows": len(table.rows),
            "columns": columns, "key": scan.candidate_key(columns, len(table.rows)),
            "personal_data": [f.as_dict() for f in findings], "status": status}


def _provisional(kind: str, header: list[str], delimiter: str, encoding: str = "auto", header_row: int = 1):
    """A spec that declares the file's own header as text columns: what the bronze file checks need."""
    from lakehouse.config.spec import SourceDataset
    from lakehouse.serving.contributions.scan import column_name

    taken: set[str] = set()
    source = {"kind": "files", "format": kind, "pattern": "*"}
    if kind == "csv":
        source.update(encoding="auto" if encoding == "auto" else encoding, delimiter=delimiter)
    if kind == "xlsx":
        source.update(header_row=header_row)
    columns = [{"name": column_name(h, taken), "source": h, "type": "string"} for h in header]
    return SourceDataset.model_validate({"name": "contribution", "domain": DOMAIN, "description": "check",
                                         "grain": "a row", "source": source, "columns": columns,
                                         "keys": [columns[0]["name"]]})


def _refusal(refusal) -> dict:
    return {"code": refusal.code, "vi": f"Tệp bị từ chối ({refusal.code}): {refusal.reason}", "en": refusal.reason}


def submit(settings, data: bytes, filename: str, *, title: str, description: str, license: str, organisation: str,
           contact: str, by: str, updates: str | None = None) -> tuple[Contribution, dict]:
    """Check and keep a contributed file; the contribution (with its tracking code) and its check report."""
    from lakehouse.config.spec import LICENSES
    from lakehouse.io import storage

    limit = settings.env.services.portal.contribution_max_mb
    if len(data) > limit * 1024 * 1024:
        raise ContributionError(f"the file is {len(data) / 1048576:.1f} MiB; a contribution may be at most "
                                f"{limit} MiB (services.portal.contribution_max_mb)", status=413)
    if license not in LICENSES:
        raise ContributionError(f"licence {license!r} is not one an open dataset may carry: "
                                f"{', '.join(sorted(LICENSES))}")
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", contact or ""):
        raise ContributionError("give an e-mail address the steward can answer (contact)")
    meta = {"title": clean_text(title, "title"), "description": clean_text(description, "description"),
            "organisation": clean_text(organisation, "organisation"), "license": license, "contact": contact,
            "updates": updates or None}
    if updates:
        _check_updates(settings, updates)
    label = Path(filename or "upload").name[:200] or "upload"
    code = f"dg-{secrets.token_hex(5)}"
    checked = check(data, label)
    kind = checked.get("format", "bin")
    storage.put_bytes(area_key(code, f"upload.{kind}"), data, settings)
    storage.put_bytes(area_key(code, "report.json"), json.dumps(checked, ensure_ascii=False, indent=1).encode(),
                      settings)
    (folder(settings) / code).mkdir(parents=True, exist_ok=True)
    (folder(settings) / code / "report.json").write_text(json.dumps(checked, ensure_ascii=False, indent=1),
                                                         encoding="utf-8")
    event = {"event": "submitted", "code": code, "at": _now(), "by": by, **meta, "filename": label, "format": kind,
             "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "status": checked["status"]}
    with _locked(settings) as log:
        _append(log, event)
    return contributions(settings)[code], checked


def _check_updates(settings, dataset: str) -> None:
    from lakehouse.config.spec import load_specs

    spec = load_specs().datasets.get(dataset)
    if spec is None or spec.domain != DOMAIN:
        raise ContributionError(f"{dataset!r} is not a contributed dataset: only those are updated by a contribution")


# ---- review -------------------------------------------------------------------------------------

def datasets_dir() -> Path:
    """The datasets folder the specs are read from (``LAKE_DATASETS_DIR``, else ``lake_config/datasets``)."""
    import os

    from lakehouse.core.settings import CONFIG_DIR

    return Path(os.environ.get("LAKE_DATASETS_DIR") or Path(CONFIG_DIR) / "datasets")


def spec_name(c: Contribution) -> str:
    """The dataset a contribution becomes: the one it updates, else its title as a name (``contributed_…``)."""
    from lakehouse.serving.portal.search import fold

    if c.updates:
        return c.updates
    name = "contributed"
    for word in (re.sub(r"[^a-z0-9]", "", w) for w in fold(c.title).split()):
        if word and len(name) + 1 + len(word) > 60:
            break
        name += f"_{word}" if word else ""
    return name if name != "contributed" else "contributed_data"


def proposed_spec(c: Contribution, checked: dict) -> dict:
    """The spec a steward approves (and may edit first): the accepted schema, open data, its provenance.  The
    English title is the contributor's until the steward writes one."""
    from lakehouse.serving.portal.search import fold

    columns = [{"name": col["name"], "type": col["type"], "nullable": col["nulls"] > 0,
                "description": f"'{col['source']}' in the contributed file"} for col in checked["columns"]]
    # what lands is the file's rows as UTF-8 CSV under these column names (landed_file), whatever it came as
    source = {"kind": "files", "format": "csv", "pattern": "*.csv", "encoding": "utf-8", "delimiter": ","}
    keywords = [w for w in dict.fromkeys(re.findall(r"[^\W\d_][\w-]+", c.title.lower())) if len(fold(w)) > 2][:8]
    return {
        "name": spec_name(c), "domain": DOMAIN,
        "description": c.description, "grain": "one row of the contributed file per distinct "
                                               + ", ".join(checked["key"]),
        "classification": "open", "catalogs": ["open_data"],
        "title": {"vi": c.title, "en": c.title}, "description_vi": c.description,
        "keywords": {"vi": keywords, "en": []}, "license": c.license,
        "contact": {"name": c.organisation, "email": c.contact},
        "contributed_by": {"organisation": c.organisation, "contribution": c.code, "submitted_at": c.submitted_at},
        "source": source, "columns": columns, "keys": checked["key"], "load_mode": "snapshot",
    }


def landed_file(settings, c: Contribution) -> bytes:
    """What an approved contribution lands as: its rows as UTF-8 CSV with the proposed column names as header
    (:func:`scan.canonical_csv`); the file as submitted stays in the contributions area."""
    from lakehouse.io import storage
    from lakehouse.serving.contributions import scan

    checked = report(settings, c.code)
    data = storage.fetcher(settings)(f"s3a://{settings.bucket}/{area_key(c.code, f'upload.{c.format}')}")
    table = scan.read_table(data, checked.get("encoding") or "utf-8")
    return scan.canonical_csv(table, [col["name"] for col in checked["columns"]])


def spec_text(spec: dict) -> str:
    import yaml

    head = (f"# Contributed by {spec['contributed_by']['organisation']} (contribution "
            f"{spec['contributed_by']['contribution']}); written when a steward approved it.\n")
    return head + yaml.safe_dump(spec, allow_unicode=True, sort_keys=False, width=110)


def approve(settings, code: str, by: str, text: str | None = None) -> tuple[Contribution, Path]:
    """Write the contribution's spec (``text``: the steward's edited one, else :func:`proposed_spec`) into
    ``<datasets>/contributed/`` and record the approval; the spec's path.  Refused unless it awaits review."""
    import yaml

    from lakehouse.config.spec import NAME_RE, load_specs
    from lakehouse.core.errors import ConfigError

    with _locked(settings) as log:
        c = fold(_read(log)).get(code) or get(settings, code)
        if c.status not in OPEN_STATUSES:
            raise ContributionError(f"{code} is {c.status}, not awaiting review"
                                    + (": a file with personal data cannot be published as open data"
                                       if c.status == "blocked" else ""), status=409)
        spec = yaml.safe_load(text) if text else proposed_spec(c, report(settings, code))
        if not isinstance(spec, dict) or not re.fullmatch(NAME_RE, str(spec.get("name") or "")):
            raise ContributionError("the spec must be a mapping whose name is lower-case letters, digits and _ "
                                    "(it names the spec file and the tables)")
        path = datasets_dir() / DOMAIN / f"{spec['name']}.yaml"
        if path.exists() and spec["name"] != c.updates:
            raise ContributionError(f"{path} exists: the dataset {spec['name']!r} is another contribution's; "
                                    "give this one another name")
        old = path.read_text(encoding="utf-8") if path.exists() else None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text if text else spec_text(spec), encoding="utf-8")
        try:
            loaded = load_specs()[spec["name"]]
            if loaded.domain != DOMAIN or loaded.classification != "open" or "open_data" not in loaded.catalogs:
                raise ConfigError(f"{path}: a contributed dataset is in domain {DOMAIN!r}, classification 'open' "
                                  "and the open_data catalog")
        except Exception:
            if old is None:
                path.unlink()
            else:
                path.write_text(old, encoding="utf-8")
            raise
        _append(log, {"event": "approved", "code": code, "at": _now(), "by": by, "dataset": spec["name"]})
    return contributions(settings)[code], path


def reject(settings, code: str, by: str, reason: str) -> Contribution:
    """Reject a contribution awaiting review (or blocked), with the reason its status page shows."""
    why = clean_text(reason, "reason")
    with _locked(settings) as log:
        c = fold(_read(log)).get(code) or get(settings, code)
        if c.status not in (*OPEN_STATUSES, "blocked", "refused"):
            raise ContributionError(f"{code} is {c.status}; only a contribution not yet approved is rejected",
                                    status=409)
        _append(log, {"event": "rejected", "code": code, "at": _now(), "by": by, "reason": why})
    return contributions(settings)[code]


def record_outcome(settings, code: str, event: str, by: str, reason: str = "") -> Contribution:
    """``published`` or ``failed``: what the pipeline did with an approved contribution."""
    with _locked(settings) as log:
        _append(log, {"event": event, "code": code, "at": _now(), "by": by, "reason": reason})
    return contributions(settings)[code]


# ---- contributor tokens (the HTTP API) ------------------------------------------------------------

def issue_token(settings, organisation: str, contact: str, by: str) -> str:
    """A new API token for a contributing organisation; only its SHA-256 is kept (``tokens.jsonl``)."""
    name = clean_text(organisation, "organisation")
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", contact or ""):
        raise ContributionError("give the organisation's contact e-mail address (--contact)")
    token = f"dgt_{secrets.token_urlsafe(24)}"
    with _locked(settings):
        _append(folder(settings) / "tokens.jsonl", {"sha256": hashlib.sha256(token.encode()).hexdigest(),
                                                    "organisation": name, "contact": contact, "at": _now(),
                                                    "by": by})
    return token


def token_owner(settings, token: str | None) -> dict | None:
    """The organisation and contact a presented token was issued to, or None."""
    if not token or not token.startswith("dgt_") or len(token) > 100:
        return None
    digest = hashlib.sha256(token.encode()).hexdigest()
    issued = _read(folder(settings) / "tokens.jsonl")
    return next(({"organisation": t["organisation"], "contact": t["contact"]} for t in issued
                 if secrets.compare_digest(t["sha256"], digest)), None)
