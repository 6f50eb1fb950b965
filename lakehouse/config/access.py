"""Who may read what: ``lake_config/access.yaml`` (partners and groups) and each spec's ``grants``.

``access.yaml`` names the people: partner ministries and agencies (one Trino
group each, and one Delta Sharing recipient each: :mod:`lakehouse.serving.sharing`) and the ministry's own
groups with their default view of the lake.  A dataset spec's ``grants`` say
which grantee reads that dataset's table, which of its personal columns it
sees in clear, and which rows.  The Trino rules are derived from both
(:mod:`lakehouse.serving.trino_security`).  This module only models and checks them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from lakehouse.core.durations import parse_duration
from lakehouse.core.errors import ConfigError
from lakehouse.core.yamlfile import Strict, read_mapping, validated

NAME_RE = r"^[a-z][a-z0-9_]*$"
# What a ministry group may read by default; bronze and quarantine keep personal data
# as raw text (the quarantine `record` is the whole source row), so they cannot be masked.
GroupLayer = Literal["bronze", "silver", "gold", "quarantine", "ops"]
MASKABLE_LAYERS = ("silver", "gold", "ops")



class Grant(Strict):
    """One grantee's view of a dataset's table (silver for a source dataset, gold for a gold one)."""

    to: str = Field(pattern=NAME_RE, description="a partner or a group of lake_config/access.yaml")
    clear: list[str] = Field(default_factory=list,
                             description="personal columns shown in clear to this grantee; the others are masked")
    rows: str | None = Field(None, description="row filter: a SQL predicate over the table's columns")

    @field_validator("rows")
    @classmethod
    def _one_predicate(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("an empty row filter; leave `rows` out to grant every row")
        if ";" in value or "--" in value or "/*" in value:
            raise ValueError("one SQL predicate, without ';' or comments, e.g. \"province_code = 1\"")
        return value


class LocalizedName(Strict):
    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Partner(Strict):
    """A partner ministry or agency: one Trino group; it reads only the gold tables granted to it."""

    name: LocalizedName
    users: list[str] = Field(min_length=1)
    token_ttl: str = Field("90d", description="lifetime of its Delta Sharing token, e.g. 90d")

    @field_validator("users")
    @classmethod
    def _user_names(cls, users: list[str]) -> list[str]:
        return _check_users(users)

    @field_validator("token_ttl")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class Group(Strict):
    """The ministry's own people: what they read without a grant, and whether personal data is masked."""

    users: list[str] = Field(min_length=1)
    reads: list[GroupLayer] = Field(default_factory=lambda: ["gold"],
                                    description="schemas the group reads every table of")
    personal: Literal["masked", "clear"] = Field(
        "masked", description="masked: personal columns are masked unless a grant shows them in clear")
    steward: bool = Field(False, description="its users decide partners' requests for shared data (on the portal "
                                             "and with `lake access approve|reject`)")

    @field_validator("users")
    @classmethod
    def _user_names(cls, users: list[str]) -> list[str]:
        return _check_users(users)

    @model_validator(mode="after")
    def _masked_layers(self) -> "Group":
        raw = sorted(set(self.reads) - set(MASKABLE_LAYERS))
        if self.personal == "masked" and raw:
            raise ValueError(f"reads: {', '.join(raw)} hold personal data as raw text that cannot be masked; "
                             f"a group with personal: masked reads only {', '.join(MASKABLE_LAYERS)}")
        return self


def _check_users(users: list[str]) -> list[str]:
    import re
    for user in users:
        if not re.match(NAME_RE, user):
            raise ValueError(f"{user!r}: a user name is lower-case letters, digits and _ (starting with a letter)")
    dupes = sorted({u for u in users if users.count(u) > 1})
    if dupes:
        raise ValueError(f"listed twice: {', '.join(dupes)}")
    return users


class AccessConfig(Strict):
    """``lake_config/access.yaml``."""

    partners: dict[str, Partner] = Field(default_factory=dict)
    groups: dict[str, Group] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names_and_users(self) -> "AccessConfig":
        import re
        for section in ("partners", "groups"):
            for key in getattr(self, section):
                if not re.match(NAME_RE, key):
                    raise ValueError(f"{section}.{key}: a name is lower-case letters, digits and _")
        both = sorted(set(self.partners) & set(self.groups))
        if both:
            raise ValueError(f"groups.{both[0]}: also a partner's name; grants name either, so names are unique")
        seen: dict[str, str] = {}
        for section in ("partners", "groups"):
            for key, entry in getattr(self, section).items():
                for user in entry.users:
                    if user in seen:
                        raise ValueError(f"{section}.{key}.users: {user!r} is already a user of {seen[user]}; "
                                         f"a user belongs to one partner or group")
                    seen[user] = f"{section}.{key}"
        return self

    @property
    def grantees(self) -> list[str]:
        return sorted([*self.partners, *self.groups])

    def stewards(self) -> list[str]:
        """The users who decide requests for shared data."""
        return sorted(u for g in self.groups.values() if g.steward for u in g.users)

    def users(self) -> dict[str, str]:
        """Every user and the partner or group it belongs to."""
        out = {}
        for section in (self.partners, self.groups):
            for key, entry in section.items():
                for user in entry.users:
                    out[user] = key
        return out


def access_file(config_dir: Path | None = None) -> Path:
    from lakehouse.core.settings import CONFIG_DIR
    return Path(config_dir or CONFIG_DIR) / "access.yaml"


def load_access(config_dir: Path | None = None, service_user: str | None = None) -> AccessConfig:
    """Read and validate ``access.yaml`` (none: no partners, no groups); errors name the file and field.

    ``service_user``, the platform's own Trino user, may not be listed: it always has full access.
    """
    path = access_file(config_dir)
    if not path.exists():
        return AccessConfig()
    access = validated(AccessConfig, read_mapping(path, "a mapping with partners and groups"), path)
    if service_user and service_user in access.users():
        where = access.users()[service_user]
        section = "partners" if where in access.partners else "groups"
        raise ConfigError(f"{path}: field '{section}.{where}.users': {service_user!r} is the platform's own "
                          f"Trino user (trino.user of the environment file); pick another name")
    return access


def personal_columns(spec: Any, datasets: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The personal columns of a dataset's published table: name → (declared column, the source dataset declaring it).

    A source dataset declares them (``personal: true``).  A gold table declares no
    columns, so every personal column of the source datasets it is built from is
    taken as personal in it too, under the same name: a gold SQL that keeps
    ``citizen_id`` keeps it masked.
    """
    if getattr(spec, "layer", None) == "gold":
        found: dict[str, tuple[Any, Any]] = {}
        for dep in spec.depends_on:
            source = datasets.get(dep)
            for col in getattr(source, "columns", []):
                if col.personal:
                    found.setdefault(col.name, (col, source))
        return found
    return {c.name: (c, spec) for c in spec.columns if c.personal}


def check_grants(datasets: dict[str, Any], files: dict[str, Path], access: AccessConfig,
                 access_path: Path) -> None:
    """Every grant names a known grantee, personal columns of its dataset, and partners only gold."""
    for name, spec in datasets.items():
        for i, grant in enumerate(spec.grants):
            where = f"{files[name]}: field 'grants[{i}]"
            if grant.to not in access.partners and grant.to not in access.groups:
                known = ", ".join(access.grantees) or f"none: {access_path} defines no partners or groups"
                raise ConfigError(f"{where}.to': {grant.to!r} is neither a partner nor a group of "
                                  f"{access_path} (known: {known})")
            if grant.to in access.partners and spec.layer != "gold":
                raise ConfigError(f"{where}.to': {grant.to!r} is a partner, and partners are granted gold "
                                  f"datasets only; {name} is a {spec.layer} table (grant a gold table built "
                                  f"from it instead)")
            personal = personal_columns(spec, datasets)
            for j, col in enumerate(grant.clear):
                if col not in personal:
                    have = ", ".join(sorted(personal)) or "none"
                    raise ConfigError(f"{where}.clear[{j}]': {col!r} is not a personal column of {name} "
                                      f"(its personal columns: {have}); only personal columns are masked")
            if [g.to for g in spec.grants].count(grant.to) > 1:
                raise ConfigError(f"{where}.to': {grant.to!r} is granted {name} twice; give one grant per grantee")
