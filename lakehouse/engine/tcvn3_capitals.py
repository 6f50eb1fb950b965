"""The opt-in repair of text typed in a TCVN3 capital font: ``NGUYễN`` → ``NGUYỄN`` (pure; the Spark half runs
in the JVM only).

TCVN3 has no byte for the 60 capitals with a tone mark, so typists of its capital fonts (``.VnTimeH``) wrote
the small letter's byte: a register typed in capitals reads ``NGUYễN THị ý``. A string column declared
``tcvn3_capitals: true`` gets those small toned letters raised where the text is plainly in capitals, and each
row it changed is counted against sạch as a warning (rule ``tcvn3_capitals__<column>``).

Which words are raised, judged on each value (NFC). A word's *other letters* are its letters but the small
toned ones:

- a word whose other letters are at least two capitals and no small letter is in capitals (``NGUYễN``,
  ``THị``), and its small toned letters are raised;
- a word with fewer other letters (``Hồ``, ``Lý``, ``ý``) cannot tell a capital font from title case, so it is
  raised only when its value has a word in capitals and no word with a small letter among its other letters.

So title case (``Hồ Chí Minh``) and values that mix cases on purpose (``NGUYỄN Văn An``, ``TP. Hồ Chí Minh``)
keep their small letters; a value all of whose words are a capital and small toned letters (``Lý Hà``) is
ambiguous and kept as it is.
"""

from __future__ import annotations

import unicodedata
from typing import Callable

from pyspark.sql import Column as SparkColumn
from pyspark.sql import functions as F

from lakehouse.config.spec import Column, Message, Rule, SourceDataset

_VOWELS = "aăâeêioôơuưy"
_TONES = "\u0300\u0301\u0309\u0303\u0323"
TONED_SMALL = "".join(unicodedata.normalize("NFC", v + t) for v in _VOWELS for t in _TONES)  # the 60 letters
PREFIX = "tcvn3_capitals__"
DIMENSION, ACTION = "sach", "warn"


# ---- the rule, in Python ------------------------------------------------------------------------------------

def _split(text: str) -> list[str]:
    """Runs of letters and runs of other characters, in order."""
    parts: list[str] = []
    for char in text:
        if parts and parts[-1][-1].isalpha() == char.isalpha():
            parts[-1] += char
        else:
            parts.append(char)
    return parts


def _others(word: str) -> str:
    return "".join(c for c in word if c.isalpha() and c not in TONED_SMALL)


def _in_capitals(word: str) -> bool:
    others = _others(word)
    return len(others) >= 2 and others.isupper()


def _has_small(word: str) -> bool:
    return any(c.islower() for c in _others(word))


def raise_capitals(text: str) -> str:
    """``text`` (NFC) with the small toned letters of its words in capitals raised (see the module docstring)."""
    if not any(c in TONED_SMALL for c in text):
        return text
    parts = _split(text)
    words = [p for p in parts if p[0].isalpha()]
    value_in_capitals = any(map(_in_capitals, words)) and not any(map(_has_small, words))
    return "".join(p.upper() if p[0].isalpha() and any(c in TONED_SMALL for c in p)
                   and (_in_capitals(p) or (value_in_capitals and not _has_small(p))) else p
                   for p in parts)


# ---- the same rule, as a Spark column ---------------------------------------------------------------------------

_TONED_CLASS = f"[{TONED_SMALL}]"


def _spark_others(word: SparkColumn) -> SparkColumn:
    return F.regexp_replace(word, F.lit(f"{_TONED_CLASS}|\\P{{L}}"), F.lit(""))


def _spark_in_capitals(word: SparkColumn) -> SparkColumn:
    others = _spark_others(word)
    return (F.length(others) >= 2) & others.rlike("^\\p{Lu}+$")


def _spark_has_small(word: SparkColumn) -> SparkColumn:
    return _spark_others(word).rlike("\\p{Ll}")


def raised(value: SparkColumn) -> SparkColumn:
    """:func:`raise_capitals` of an NFC string column, in Spark SQL functions (no Python worker)."""
    parts = F.regexp_extract_all(value, F.lit("(\\p{L}+|\\P{L}+)"), F.lit(1))
    value_in_capitals = F.exists(parts, _spark_in_capitals) & ~F.exists(parts, _spark_has_small)
    fixed = F.array_join(F.transform(parts, lambda p: F.when(
        p.rlike(_TONED_CLASS) & (_spark_in_capitals(p) | (value_in_capitals & ~_spark_has_small(p))), F.upper(p))
        .otherwise(p)), "")
    return F.when(value.rlike(_TONED_CLASS), fixed).otherwise(value)


# ---- what the silver pass reports ------------------------------------------------------------------------------

def repaired_columns(spec: SourceDataset) -> list[Column]:
    return [c for c in spec.columns if c.tcvn3_capitals]


def rule_ids(spec: SourceDataset) -> list[str]:
    """The warning of each repaired column, ``tcvn3_capitals__<column>``."""
    return [PREFIX + c.name for c in repaired_columns(spec)]


def rules(spec: SourceDataset) -> list[Rule]:
    """The repair's warnings as rules, for the batch's quality results (counted by the Spark pass, like the
    values that do not fit their type: the repaired value no longer shows what was wrong)."""
    return [Rule(id=PREFIX + c.name, check="not_null", columns=[c.name], dimension=DIMENSION, action=ACTION,
                 message=Message(vi=f"{c.name}: chữ hoa có dấu gõ bằng phông chữ hoa TCVN3 đã được sửa "
                                    f"(NGUYễN → NGUYỄN)",
                                 en=f"{c.name}: toned capitals typed in a TCVN3 capital font were repaired "
                                    f"(NGUYễN → NGUYỄN)"))
            for c in repaired_columns(spec)]


def checks(spec: SourceDataset, before: Callable[[Column], SparkColumn]) -> list[tuple]:
    """For ``flag_rows``: per repaired column, (the row was changed, rule id, dimension, action, reason), where
    ``before(column)`` is the column's text before the repair (trimmed, NFC) and ``F.col(name)`` after it."""
    out = []
    for col in repaired_columns(spec):
        was = before(col)
        out.append((was.isNotNull() & (F.col(col.name) != was), PREFIX + col.name, DIMENSION, ACTION,
                    F.concat(F.lit(f"{col.name}: '"), was, F.lit("' repaired to '"), F.col(col.name),
                             F.lit("'"))))
    return out
