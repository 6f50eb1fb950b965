"""lake_config/README.md stays true to the spec model (milliseconds, no Spark).

Every fenced ```yaml block that is a dataset (it has `name:` and `source:` or
`layer: gold`) must validate as a SourceDataset or GoldDataset.  Examples that
leave `domain` to the folder's `_defaults.yaml` must say so in a comment; the
test then supplies one.  Cross-references (conform, depends_on) are checked only
when a whole catalog loads, so model validation is what applies here.
"""

import re
import typing
from pathlib import Path

import pytest
import yaml

from lakehouse.config.spec import (Column, Conform, Freshness, GoldDataset, Incremental, Maintenance, Message,
                                   Reference, Rule, Source, SourceDataset, SourceKind)

README = Path(__file__).resolve().parents[2] / "lake_config" / "README.md"
FENCE = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _dataset_blocks() -> list[tuple[int, str, dict]]:
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        body = match.group(1)
        data = yaml.safe_load(body)
        if not isinstance(data, dict) or "name" not in data:
            continue
        if "source" in data or data.get("layer") == "gold":
            line = text.count("\n", 0, match.start()) + 1
            blocks.append((line, body, data))
    return blocks


BLOCKS = _dataset_blocks()


def test_readme_has_dataset_examples():
    assert len(BLOCKS) >= 9


@pytest.mark.parametrize("line, body, data", BLOCKS, ids=[f"line{b[0]}-{b[2]['name']}" for b in BLOCKS])
def test_example_is_a_valid_spec(line, body, data):
    data = dict(data)
    if "domain" not in data:
        assert "_defaults.yaml" in body, f"README line {line}: no domain, and no comment saying _defaults.yaml sets it"
        data["domain"] = "from_defaults"
    model = GoldDataset if data.get("layer") == "gold" else SourceDataset
    model.model_validate(data)


def test_an_example_for_every_source_kind():
    kinds = {d["source"].get("kind", "files") for _, _, d in BLOCKS if "source" in d}
    assert kinds == set(typing.get_args(SourceKind))
    formats = {d["source"].get("format") for _, _, d in BLOCKS if d.get("source", {}).get("kind") == "files"}
    assert {"csv", "xlsx", "parquet"} <= formats


@pytest.mark.parametrize("model", [SourceDataset, GoldDataset, Column, Conform, Source, Rule, Message, Reference,
                                   Freshness, Maintenance, Incremental])
def test_every_field_is_documented(model):
    text = README.read_text(encoding="utf-8")
    missing = [f for f in model.model_fields if f"`{f}`" not in text]
    assert not missing, f"{model.__name__}: fields not documented in lake_config/README.md: {missing}"
