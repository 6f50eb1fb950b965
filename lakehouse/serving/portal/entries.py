"""What the portal shows of each dataset, from its spec, lake_config/catalogs.yaml and the measured facts (pure).

Only datasets a catalog lists, classified ``open`` or ``shared``, are public; the rest
(internal, personal) never appear on the portal, not even by name.  Facts are what
`lake catalog` measured (scores, freshness, last load, the open-data export's manifest),
kept in ``<state>/portal/catalog/facts.json``; a dataset without facts is shown as not
measured yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lakehouse.config.spec import GoldDataset, SourceDataset, Specs
from lakehouse.serving.catalog import CatalogsConfig, frequency, is_open, schedule_of
from lakehouse.serving.portal.search import Doc

PUBLIC_CLASSES = ("open", "shared")
BANDS = (  # quality band of the overall score: (lowest score, code, vi, en)
    (90.0, "good", "Tốt", "Good"),
    (70.0, "fair", "Khá", "Fair"),
    (0.0, "low", "Cần cải thiện", "Needs work"),
)
NOT_MEASURED = ("none", "Chưa đo", "Not measured yet")
FREQUENCIES = {  # EU frequency code → (vi, en)
    "CONT": ("Liên tục", "Continuous"), "HOURLY": ("Hằng giờ", "Hourly"), "DAILY": ("Hằng ngày", "Daily"),
    "WEEKLY": ("Hằng tuần", "Weekly"), "MONTHLY": ("Hằng tháng", "Monthly"), "QUARTERLY": ("Hằng quý", "Quarterly"),
    "ANNUAL": ("Hằng năm", "Yearly"), "IRREG": ("Không định kỳ", "Irregular"),
}
CLASSES = {"open": ("Mở: ai cũng được dùng", "Open: anyone may use it"),
           "shared": ("Dùng chung: cấp cho cơ quan theo yêu cầu", "Shared: granted to agencies on request")}


def is_public(spec: SourceDataset | GoldDataset) -> bool:
    return bool(spec.catalogs) and spec.classification in PUBLIC_CLASSES


def band(scores: dict | None) -> tuple[str, str, str]:
    overall = (scores or {}).get("overall")
    if overall is None:
        return NOT_MEASURED
    for low, code, vi, en in BANDS:
        if overall >= low:
            return code, vi, en
    return BANDS[-1][1:]


@dataclass(frozen=True)
class Entry:
    """One public dataset as the portal shows it."""

    spec: SourceDataset | GoldDataset
    facts: dict[str, Any]
    licence: str | None
    frequency: str           # EU frequency code
    formats: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def title(self) -> dict[str, str]:
        t = self.spec.title
        return {"vi": t.vi, "en": t.en} if t else {"vi": self.spec.name, "en": self.spec.name}

    @property
    def description(self) -> dict[str, str]:
        return {"vi": (self.spec.description_vi or "").strip(), "en": self.spec.description.strip()}

    @property
    def is_open(self) -> bool:
        return is_open(self.spec)

    source_scores: tuple[tuple[str, float | None], ...] = ()  # a gold table's: its sources' overall scores

    @property
    def band(self) -> tuple[str, str, str]:
        """The quality band: of the dataset's own scores, or for a gold table (no rules of its own) of its
        weakest source's."""
        if self.facts.get("scores") or not self.source_scores:
            return band(self.facts.get("scores"))
        known = [v for _, v in self.source_scores if v is not None]
        return band({"overall": min(known)} if known and len(known) == len(self.source_scores) else None)

    @property
    def modified(self) -> str | None:
        return self.facts.get("last_load_at")

    @property
    def columns(self) -> list[dict[str, Any]]:
        """The data dictionary: a source's declared columns; a gold table's come from its SQL (not listed)."""
        if isinstance(self.spec, SourceDataset):
            return [{"name": c.name, "type": c.type, "description": c.description, "personal": c.personal}
                    for c in self.spec.columns]
        return []

    def doc(self) -> Doc:
        s = self.spec
        keywords = " ".join([*s.keywords.vi, *s.keywords.en])
        text = {"title": f"{self.title['vi']} {self.title['en']}", "name": s.name.replace("_", " "),
                "keywords": keywords, "description": f"{self.description['vi']} {self.description['en']}",
                "columns": " ".join(f"{c['name'].replace('_', ' ')} {c['description']}" for c in self.columns)}
        facets = {"catalog": tuple(s.catalogs), "domain": (s.domain,), "classification": (s.classification,),
                  "format": self.formats, "licence": (self.licence,) if self.licence else (),
                  "frequency": (self.frequency,), "quality": (self.band[0],)}
        return Doc(s.name, text, facets, self.modified)


def entries(specs: Specs, config: CatalogsConfig, facts: dict[str, dict]) -> dict[str, Entry]:
    """Every public dataset's entry, by name."""
    out = {}
    for spec in sorted(specs.datasets.values(), key=lambda s: s.name):
        if not is_public(spec):
            continue
        open_ = is_open(spec)
        licence = (spec.license or config.license) if open_ else spec.license
        code = frequency(schedule_of(spec, specs)).rsplit("/", 1)[-1]
        formats = ("CSV", "Parquet", "SQL") if open_ else ("SQL",)
        sources = tuple((d, ((facts.get(d) or {}).get("scores") or {}).get("overall"))
                        for d in getattr(spec, "depends_on", []))
        out[spec.name] = Entry(spec, facts.get(spec.name, {}), licence, code, formats, sources)
    return out
