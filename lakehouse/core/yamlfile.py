"""Config files in YAML, read strictly: UTF-8 text, no key given twice, errors that name the file.

PyYAML alone keeps the last of two equal keys (a rule or grant silently lost) and a file
in another encoding fails with a bare UnicodeDecodeError; every config loader reads
through here instead (specs, `access.yaml`, `catalogs.yaml`, the environment files), and
validates into a model built on :class:`Strict` with :func:`validated`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from lakehouse.core.errors import ConfigError, format_validation_error

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """The base of every config model: a key the model does not know is an error, not a silently ignored typo."""

    model_config = ConfigDict(extra="forbid")


def validated(model: type[M], raw: Any, path: Path) -> M:
    """``raw`` (what ``path`` holds) as a ``model``; otherwise a ConfigError naming the file and the field."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, exc)) from exc


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping holding the same key twice."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice (lines {seen[key]} and {line}); keep one",
                key_node.start_mark)
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read(path: Path) -> Any:
    """The YAML document in ``path`` (None when empty)."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start} is {data[exc.start:exc.start + 1]!r}); "
                          "save the file as UTF-8") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def read_mapping(path: Path, what: str = "a mapping of fields") -> dict:
    """The top-level mapping of ``path`` ({} when the file is empty)."""
    data = read(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected {what} at the top level, got {type(data).__name__}")
    return data
