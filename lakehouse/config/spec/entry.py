"""A dataset's catalog entry (DCAT-AP): what the national data portal shows of it (title, keywords, theme,
licence, contact, and who contributed it)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from lakehouse.config.spec.base import Strict


Theme = Literal["AGRI", "ECON", "EDUC", "ENER", "ENVI", "GOVE", "HEAL", "INTR", "JUST", "REGI", "SOCI", "TECH",
                "TRAN"]   # the EU data-theme vocabulary DCAT-AP uses for dcat:theme
LICENSES = {  # SPDX id → the licence's IRI (dct:license); any other licence is given as its http(s) IRI
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "ODbL-1.0": "https://opendatacommons.org/licenses/odbl/1-0/",
    "PDDL-1.0": "https://opendatacommons.org/licenses/pddl/1-0/",
}
_EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def check_license(value: str) -> str:
    """An SPDX id from :data:`LICENSES` or an http(s) IRI."""
    if value in LICENSES or re.match(r"^https?://\S+$", value):
        return value
    raise ValueError(f"{value!r} is neither a known SPDX id ({', '.join(LICENSES)}) nor an http(s) IRI")


class Text(Strict):
    """A short text in Vietnamese and in English (a catalog title)."""

    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Keywords(Strict):
    """Search words of the catalog entry, per language."""

    vi: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)


class Contact(Strict):
    """Who answers questions about a dataset (dcat:contactPoint)."""

    name: str = Field(min_length=1)
    email: str = Field(pattern=_EMAIL_RE)
    url: str | None = Field(None, pattern=r"^https?://\S+$")


class ContributedBy(Strict):
    """Provenance of a dataset an outside body contributed (dct:creator, dct:provenance in the catalogs)."""

    organisation: str = Field(min_length=1, description="the enterprise, agency or person who offered the data")
    contribution: str = Field(pattern=r"^dg-[0-9a-f]{10}$", description="the contribution's tracking code")
    submitted_at: str = Field(description="when the file was submitted (ISO 8601)")
