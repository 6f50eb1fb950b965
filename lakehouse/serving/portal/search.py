"""Search over the portal's datasets, Vietnamese-aware (pure).

Matching folds text the way a person typing Vietnamese without a Vietnamese keyboard does:
every diacritic and tone mark is dropped (``Hà Nội`` → ``ha noi``), ``đ`` is ``d``, case is
ignored, and NFC and NFD input fold alike, so both tone placements (``hoà`` / ``hòa``) give
the same tokens.  No stemming: Vietnamese words do not inflect, and an English stemmer breaks
them.  Every token of the query must match a token of the dataset (or begin one, for the
query's last token while a person is still typing it); the score weights where it matched.
Results are sorted by score, then by the newest load, then by name.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field

_NOT_WORD = re.compile(r"[^0-9a-z]+")
WEIGHTS = {"title": 5.0, "name": 4.0, "keywords": 3.0, "description": 1.0, "columns": 1.0}
MAX_QUERY = 200  # characters of a query that are read


def fold(text: str) -> str:
    """``text`` without marks, lower case, words separated by one space (``"Đà Nẵng"`` → ``"da nang"``)."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NOT_WORD.sub(" ", bare.casefold()).split())


def tokens(text: str) -> list[str]:
    return fold(text).split()


@dataclass(frozen=True)
class Doc:
    """One searchable dataset: its text per field (weights in ``WEIGHTS``), its facet values, when it was loaded."""

    name: str
    text: dict[str, str]
    facets: dict[str, tuple[str, ...]]
    modified: str | None = None  # ISO time of the last load; newer first among equal scores


@dataclass(frozen=True)
class Result:
    total: int
    hits: list[tuple[Doc, float]]
    facets: dict[str, list[tuple[str, int]]]  # facet → (value, datasets with it among the matches), most first


@dataclass
class Index:
    """The folded tokens of each document, built once; a search scans them (1,000 datasets: milliseconds)."""

    docs: list[Doc]
    _tokens: list[dict[str, set[str]]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._tokens = [{f: set(tokens(t)) for f, t in d.text.items()} for d in self.docs]

    def _score(self, i: int, query: list[str]) -> float:
        total = 0.0
        for n, q in enumerate(query):
            best = 0.0
            last = n == len(query) - 1
            for f, words in self._tokens[i].items():
                weight = WEIGHTS.get(f, 1.0)
                if q in words:
                    best = max(best, weight)
                elif last and len(q) >= 2 and any(w.startswith(q) for w in words):
                    best = max(best, weight / 2)
            if not best:
                return 0.0
            total += best
        return total

    def search(self, query: str = "", filters: dict[str, list[str]] | None = None,
               start: int = 0, rows: int = 20) -> Result:
        """Datasets matching every token of ``query`` and, per facet in ``filters``, one of its values."""
        words = tokens(query[:MAX_QUERY])
        filters = {k: set(v) for k, v in (filters or {}).items() if v}
        matched: list[tuple[Doc, float]] = []
        for i, doc in enumerate(self.docs):
            if any(not wanted.intersection(doc.facets.get(k, ())) for k, wanted in filters.items()):
                continue
            score = self._score(i, words) if words else 1.0
            if score:
                matched.append((doc, score))
        matched.sort(key=lambda hit: hit[0].name)
        matched.sort(key=lambda hit: hit[0].modified or "", reverse=True)
        matched.sort(key=lambda hit: hit[1], reverse=True)
        counts: dict[str, dict[str, int]] = {}
        for doc, _ in matched:
            for facet, values in doc.facets.items():
                for value in values:
                    counts.setdefault(facet, {})[value] = counts.setdefault(facet, {}).get(value, 0) + 1
        facets = {f: sorted(c.items(), key=lambda kv: (-kv[1], kv[0])) for f, c in counts.items()}
        return Result(len(matched), matched[start:start + rows], facets)


def pages(total: int, rows: int) -> int:
    return max(1, math.ceil(total / rows))
