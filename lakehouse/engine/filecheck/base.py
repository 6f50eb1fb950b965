"""What every file check shares: a :class:`Refusal` (a stable code and a reason) and the :class:`Blob` a file is
seen through (S3 object, local file, bytes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

@dataclass(frozen=True)
class Refusal:
    """Why a landed file is refused whole: a stable code and one sentence for the data steward."""

    code: str
    reason: str


class Blob(Protocol):
    """A landed file as the checks see it: its name and size, its ends, and its content in order."""

    name: str
    size: int

    def head(self, n: int) -> bytes: ...

    def tail(self, n: int) -> bytes: ...

    def chunks(self, size: int = 1 << 20) -> Iterator[bytes]: ...


class LocalBlob:
    """A :class:`Blob` over a local file (tests and `lake ingest`)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.name = str(path)
        self.size = self.path.stat().st_size

    def head(self, n: int) -> bytes:
        with self.path.open("rb") as f:
            return f.read(n)

    def tail(self, n: int) -> bytes:
        with self.path.open("rb") as f:
            f.seek(max(0, self.size - n))
            return f.read()

    def chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        with self.path.open("rb") as f:
            while block := f.read(size):
                yield block


class BytesBlob:
    """A :class:`Blob` over bytes in memory (tests)."""

    def __init__(self, name: str, data: bytes):
        self.name = name
        self.data = data
        self.size = len(data)

    def head(self, n: int) -> bytes:
        return self.data[:n]

    def tail(self, n: int) -> bytes:
        return self.data[max(0, self.size - n):]

    def chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        for start in range(0, self.size, size):
            yield self.data[start:start + size]
