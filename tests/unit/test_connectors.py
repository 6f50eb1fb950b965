"""The administrative-units extractor lands exactly what the package ships."""

import json

import pytest
from vietnam_provinces import Province, Ward

from lakehouse.config.spec import load_specs
from lakehouse.core.errors import ConfigError
from lakehouse.engine.connectors import extract


def rows(name):
    filename, body = extract(load_specs()[name])
    return filename, [json.loads(line) for line in body.decode("utf-8").splitlines()]


def test_provinces_and_communes_as_shipped():
    filename, provinces = rows("provinces")
    assert filename == "provinces.jsonl"
    assert len(provinces) == len(list(Province.iter_all())) == 34
    _, communes = rows("communes")
    assert len(communes) == len(list(Ward.iter_all())) == 3321
    assert {c["province_code"] for c in communes} == {p["code"] for p in provinces}


def test_extract_is_byte_stable():
    spec = load_specs()["communes"]
    assert extract(spec) == extract(spec)


def test_unknown_entity_is_a_config_error():
    spec = load_specs()["communes"].model_copy(deep=True)
    spec.source.options = {"entity": "districts"}
    with pytest.raises(ConfigError, match="'districts' is not one of"):
        extract(spec)
