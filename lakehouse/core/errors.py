"""Errors a user can act on, and how to print them."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError


class LakeError(Exception):
    """An error with a message meant for the person at the terminal."""


class RefusedError(LakeError):
    """An action a user asked for that is refused (a request, a contribution, a decision); ``status`` is the HTTP
    answer a server gives for it."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ConfigError(LakeError):
    """A config or spec file is wrong: the message names the file and field."""


class MissingToolError(LakeError):
    """A program the platform needs is not installed: the message says what to install."""


class ServiceError(LakeError):
    """A service could not start, or is not running when it is needed."""


class StorageError(LakeError):
    """The object store refused a write: the message names the object and, where it can tell, the cause."""


def _field_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def format_validation_error(path: Path | str, exc: ValidationError) -> str:
    """One line per problem: ``<file>: field '<a.b[0].c>': <message>``."""
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field (check its spelling against `lake spec schema`)"
        lines.append(f"{path}: field '{_field_path(loc)}': {message}")
    return "\n".join(lines)
