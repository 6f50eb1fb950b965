"""Delta Sharing protocol answers that need no web framework: errors, pages of lists, a table's metaData line."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lakehouse.serving.sharing.deltalog import Snapshot
    from lakehouse.serving.sharing.shares import SharedTable


class ProtocolError(Exception):
    """A request the server answers with the protocol's error body (``errorCode``, ``message``)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def page(items: list[dict], max_results: int | None, page_token: str | None) -> dict:
    """One page of a list answer; the page token is the offset, base64-encoded."""
    start = 0
    if page_token:
        try:
            start = int(base64.urlsafe_b64decode(page_token.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise ProtocolError(400, "INVALID_PARAMETER_VALUE", f"pageToken {page_token!r} is not one this "
                                                                "server returned") from None
    if max_results is not None and max_results < 0:
        raise ProtocolError(400, "INVALID_PARAMETER_VALUE", "maxResults must be non-negative")
    end = len(items) if max_results is None else start + max_results
    body: dict = {"items": items[start:end]}
    if end < len(items):
        body["nextPageToken"] = base64.urlsafe_b64encode(str(end).encode()).decode()
    return body


def metadata_line(snap: Snapshot, table: SharedTable) -> dict:
    """The ``metaData`` line of a table's answer: its schema, partitions and size, under the shared name."""
    meta = snap.metadata
    return {"metaData": {
        "id": meta.get("id") or table.id, "name": table.name,
        "format": {"provider": "parquet"}, "schemaString": meta["schemaString"],
        "partitionColumns": meta.get("partitionColumns") or [],
        "configuration": meta.get("configuration") or {},
        "size": sum(int(f["size"]) for f in snap.files), "numFiles": len(snap.files)}}
