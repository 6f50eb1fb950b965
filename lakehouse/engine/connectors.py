"""Built-in extractors: code that lands a source's rows as files.

A dataset whose ``source.kind`` is ``builtin`` names one of these in
``source.extractor``; it returns (file name, bytes) to land for a date.
"""

from __future__ import annotations

import json
from typing import Callable

from lakehouse.config.spec import SourceDataset
from lakehouse.core.errors import ConfigError


def _vietnam_provinces(options: dict) -> tuple[str, bytes]:
    """The 34 provinces or 3,321 communes shipped by the `vietnam-provinces` package, as JSON Lines."""
    from vietnam_provinces import Province, Ward

    entity = options.get("entity")
    if entity == "provinces":
        rows = [{"code": int(p.code), "name": p.name, "division_type": p.division_type.value,
                 "codename": p.codename, "phone_code": p.phone_code} for p in Province.iter_all()]
    elif entity == "communes":
        rows = [{"code": int(w.code), "name": w.name, "division_type": w.division_type.value,
                 "codename": w.codename, "province_code": int(w.province_code)} for w in Ward.iter_all()]
    else:
        raise ConfigError(f"source.options.entity: {entity!r} is not one of 'provinces', 'communes'")
    rows.sort(key=lambda r: r["code"])  # stable bytes: the same data lands as the same file
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return f"{entity}.jsonl", body.encode("utf-8")


EXTRACTORS: dict[str, Callable[[dict], tuple[str, bytes]]] = {
    "vietnam_provinces": _vietnam_provinces,
}


def extract(spec: SourceDataset) -> tuple[str, bytes] | None:
    """Run the dataset's built-in extractor; None for other source kinds."""
    if spec.source.kind != "builtin":
        return None
    try:
        extractor = EXTRACTORS[spec.source.extractor]
    except KeyError:
        raise ConfigError(f"dataset {spec.name}: field 'source.extractor': unknown extractor "
                          f"{spec.source.extractor!r}; known: {', '.join(EXTRACTORS)}") from None
    return extractor(spec.source.options)
