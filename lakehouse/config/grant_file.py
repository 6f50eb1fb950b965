"""A grant added to a dataset's spec file, every other line kept as it was (pure: text in, text out).

An approved request for shared data (:mod:`lakehouse.serving.access_requests`) becomes a grant in the
dataset's own spec, so the specs stay the one place grants are read from: Trino's rules, the Delta
Sharing shares and `lake spec validate` all see it, and the file's history shows who added it.  The
spec is edited as YAML (ruamel's round trip keeps comments, quotes and the layout), and the result is
refused unless the only difference is lines added: an edit that would reformat a hand-written spec
is left to a person.
"""

from __future__ import annotations

import difflib
import io
import re


class GrantEditError(ValueError):
    """The grant cannot be written into this file without changing other lines."""


INDENTS = ((4, 2), (2, 0))  # (sequence, dash offset): `  - to: …` as the shipped specs, or `- to: …`


def _yaml(sequence: int = 4, offset: int = 2):
    from ruamel.yaml import YAML

    y = YAML()
    y.preserve_quotes = True
    y.width = 1_000_000  # never fold a long line
    y.indent(mapping=2, sequence=sequence, offset=offset)
    return y


def add_grant(text: str, grantee: str, note: str) -> str:
    """``text`` with ``{to: grantee}`` appended to its top-level ``grants`` (made when absent), ``note`` as the
    line's comment.  Unchanged when the grantee already has a grant.  :class:`GrantEditError` when the
    file is not a mapping or the edit would touch any existing line."""
    removed: list[str] = []
    for sequence, offset in INDENTS:  # the file's own list indentation is the one that rewrites no line
        edited, removed = _added(text, grantee, note, _yaml(sequence, offset))
        if not removed:
            return edited
    raise GrantEditError(f"adding the grant would also rewrite {len(removed)} existing line(s), first "
                         f"{removed[0][2:]!r}; add `- to: {grantee}` under `grants:` by hand")


def _added(text: str, grantee: str, note: str, y) -> tuple[str, list[str]]:
    """The edited text, and the existing lines it would remove or change."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    data = y.load(text)
    if not isinstance(data, dict):
        raise GrantEditError("the spec file is not a YAML mapping")
    grants = data.get("grants")
    if grants is None or grants == []:  # `grants: []` becomes a block list
        grants = data["grants"] = CommentedSeq()
    if not isinstance(grants, list):
        raise GrantEditError("its `grants` is not a list")
    if any(isinstance(g, dict) and g.get("to") == grantee for g in grants):
        return text, []
    grant = CommentedMap(to=grantee)
    grant.yaml_add_eol_comment(" ".join(note.split())[:200], "to")
    grants.append(grant)
    out = io.StringIO()
    y.dump(data, out)
    edited = out.getvalue()
    if not text.endswith("\n") and edited.startswith(text):  # the old last line gains its newline
        text += "\n"
    removed = [line for line in difflib.ndiff(text.splitlines(), edited.splitlines())
               if line.startswith("- ") and not re.fullmatch(r"- grants:\s*\[\s*\]\s*(#.*)?", line)]
    return edited, removed
