"""Delta Sharing's shares: one per partner of ``access.yaml``, from the specs' grants, and the grants refused.

A grant that Trino narrows (a ``rows`` filter, or a personal column masked for that
partner) cannot be narrowed on raw Parquet files, so its table is refused for Delta
Sharing and stays readable through Trino only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# deltalog's names are looked up through the module, so a test can make the object store fail
from lakehouse.serving.sharing import deltalog
from lakehouse.serving.sharing.common import utcnow
from lakehouse.serving.sharing.tokens import token_store


@dataclass(frozen=True)
class SharedTable:
    share: str
    schema: str
    name: str
    dataset: str
    # personal columns of the datasets it is built from that this partner may not see in clear;
    # the table is refused if its schema holds one of them (see `effective_shares`)
    masked: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return _stable_id("table", self.share, self.schema, self.name)


@dataclass
class Share:
    name: str
    tables: list[SharedTable] = field(default_factory=list)

    @property
    def id(self) -> str:
        return _stable_id("share", self.name)

    @property
    def schemas(self) -> list[str]:
        return sorted({t.schema for t in self.tables})


@dataclass(frozen=True)
class Refusal:
    partner: str
    dataset: str
    reason: str


def _stable_id(*parts: str) -> str:
    """A UUID-shaped id that stays the same for the same names (the protocol asks ids to be immutable)."""
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def build_shares(datasets: dict[str, Any], access: Any) -> tuple[dict[str, Share], list[Refusal]]:
    """One share per partner: the gold datasets granted to it, under their domain; and the refused grants.

    A grant with a row filter is refused here.  Masking depends on the table's real columns
    (a gold table declares none), so it is checked against the Delta schema by
    :func:`effective_shares`; each table carries the columns that would need a mask.
    """
    from lakehouse.config.access import personal_columns

    shares = {partner: Share(partner) for partner in sorted(access.partners)}
    refused: list[Refusal] = []
    for name in sorted(datasets):
        spec = datasets[name]
        if getattr(spec, "layer", None) != "gold":
            continue  # partners are granted gold only (checked by `lake spec validate`)
        for grant in spec.grants:
            if grant.to not in shares:
                continue  # a ministry group: they read through Trino
            if grant.rows:
                refused.append(Refusal(grant.to, name, (
                    f"its grant has a row filter (rows: {grant.rows!r}) that raw Parquet files cannot apply; "
                    f"the partner reads it through Trino")))
                continue
            masked = tuple(sorted(set(personal_columns(spec, datasets)) - set(grant.clear)))
            shares[grant.to].tables.append(SharedTable(grant.to, spec.domain, name, name, masked))
    return shares, refused


def masked_reason(table: SharedTable, schema_string: str) -> str | None:
    """Why ``table`` cannot be shared as files: a column of its schema that this partner sees masked."""
    columns = {f["name"] for f in json.loads(schema_string).get("fields", [])}
    hit = sorted(set(table.masked) & columns)
    if not hit:
        return None
    return (f"personal column(s) {', '.join(hit)} are masked for this partner, and raw Parquet files cannot be "
            f"masked; the partner reads it through Trino (or list them in the grant's `clear`)")


def effective_shares(shares: dict[str, Share], refused: list[Refusal],
                     store: deltalog.TableStorage | None) -> tuple[dict[str, Share], list[Refusal]]:
    """Drop the tables whose Delta schema holds a column masked for their partner, and say why.

    A table not built yet stays listed (reading it answers 404), and is checked again when read.
    """
    out: dict[str, Share] = {}
    refused = list(refused)
    for key, share in shares.items():
        kept = []
        for table in share.tables:
            reason = None
            if table.masked and store is not None:
                try:
                    schema = deltalog.snapshot(store, f"gold/{table.dataset}").metadata["schemaString"]
                    reason = masked_reason(table, schema)
                except deltalog.NoTable:
                    reason = None
            if reason:
                refused.append(Refusal(table.share, table.dataset, reason))
            else:
                kept.append(table)
        out[key] = Share(share.name, kept)
    return out, refused


def load_shares(config_dir: Path | None = None, store: deltalog.TableStorage | None = None
                ) -> tuple[dict[str, Share], list[Refusal], Any]:
    """Shares, refusals and the access config from ``lake_config/`` (specs re-read on every call);
    with ``store``, tables whose schema holds a masked column are refused too."""
    from lakehouse.config.access import load_access
    from lakehouse.config.spec import load_specs

    access = load_access(config_dir)
    specs = load_specs(config_dir)
    shares, refused = effective_shares(*build_shares(specs.datasets, access), store)
    return shares, refused, access


def status_rows(settings: Any, now: dt.datetime | None = None) -> tuple[list[dict], list[Refusal]]:
    """One row per partner (its token's state and expiry, the tables it is shared, the refused ones),
    and why each refused grant is refused."""
    now = now or utcnow()
    try:
        store: deltalog.TableStorage | None = deltalog.S3Storage(settings)
        store.list("gold/_none_/")  # reachable?
    except Exception:  # S3 down: masks are checked against the schemas once it is up
        store = None
    shares, refused, access = load_shares(store=store)
    store = token_store(settings)
    rows = []
    for partner in sorted(access.partners):
        record = store.current(partner)
        if record is None:
            state, expires = "no token", ""
        elif record["revoked_at"]:
            state, expires = record.get("revoked_by", "revoked"), record["expires_at"]
        elif dt.datetime.fromisoformat(record["expires_at"].replace("Z", "+00:00")) <= now:
            state, expires = "expired", record["expires_at"]
        else:
            state, expires = "active", record["expires_at"]
        rows.append({"partner": partner, "token": state, "expires_at": expires,
                     "tables": ", ".join(f"{t.share}.{t.schema}.{t.name}" for t in shares[partner].tables) or "-",
                     "refused": ", ".join(r.dataset for r in refused if r.partner == partner) or "-"})
    return rows, refused
