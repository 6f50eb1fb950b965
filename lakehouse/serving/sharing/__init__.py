"""Delta Sharing for partner ministries: shares from the specs' grants, bearer tokens, and the server.

The open Delta Sharing protocol (github.com/delta-io/delta-sharing, PROTOCOL.md) is
a small REST API: a recipient lists the shares, schemas and tables it was given,
asks for a table's metadata and files, and reads those files itself through
short-lived presigned URLs.  The reference server has no per-recipient tokens,
so this package implements the protocol's read side:

* **Shares** (:mod:`.shares`, :func:`build_shares`): one share per partner of ``access.yaml``,
  named after the partner; its schemas are the domains of the gold datasets
  granted to it, its tables those datasets.  A grant that Trino narrows (a
  ``rows`` filter, or a personal column masked for that partner) cannot be
  narrowed on raw Parquet files, so that table is **refused** for Delta
  Sharing and stays readable through Trino only (masks are checked against
  the table's Delta schema: :func:`effective_shares`).
* **Tokens** (:mod:`.tokens`, :class:`TokenStore`): one bearer token per partner, with the
  expiry ``token_ttl`` of ``access.yaml``; only its SHA-256 is kept, in
  ``<state>/sharing/tokens.json``.  A new token revokes the partner's older ones.
* **Tables** (:mod:`.deltalog`, :func:`snapshot`): the Delta log is replayed here (JSON commits and
  classic Parquet checkpoints), so the server needs no Spark.  A table whose
  live files carry deletion vectors, or that uses a reader feature a Parquet
  reader cannot honour (column mapping, v2 checkpoints), is refused with a
  message saying how to fix it: the protocol's ``parquet`` answer would hand out
  rows that were deleted.
* **Audit** (:mod:`.audit`): every request, allowed or refused, is one line of
  ``<state>/sharing/audit.jsonl`` (who, which share/table, when, files and bytes served).

The server (:mod:`.server`, :func:`create_app`, FastAPI) is started by ``lake up sharing`` on
``services.sharing.port`` (127.0.0.1); ``lake sharing token PARTNER`` writes the
partner's profile file.
"""

from __future__ import annotations

from typing import Any

from lakehouse.serving.sharing.audit import AuditLog, audit_log
from lakehouse.serving.sharing.common import PREFIX, endpoint, sharing_dir, utcnow
from lakehouse.serving.sharing.deltalog import (PARQUET_SAFE_FEATURES, URL_TTL, NoTable, NotShareable, S3Storage,
                                                Snapshot, TableStorage, check_shareable, file_lines, object_key,
                                                snapshot)
from lakehouse.serving.sharing.protocol import ProtocolError, metadata_line
from lakehouse.serving.sharing.protocol import page as _page  # the name the tests know it by
from lakehouse.serving.sharing.shares import (Refusal, Share, SharedTable, build_shares, effective_shares,
                                              load_shares, masked_reason, status_rows)
from lakehouse.serving.sharing.tokens import TokenError, TokenStore, hash_token, issue_token, profile, token_store

__all__ = ["AuditLog", "NoTable", "NotShareable", "PARQUET_SAFE_FEATURES", "PREFIX", "ProtocolError", "Refusal",
           "S3Storage", "Share", "SharedTable", "Snapshot", "TableStorage", "TokenError", "TokenStore", "URL_TTL",
           "audit_log", "build_shares", "check_shareable", "effective_shares", "endpoint", "file_lines",
           "hash_token", "issue_token", "load_shares", "masked_reason", "metadata_line", "object_key", "profile",
           "sharing_dir", "snapshot", "status_rows", "token_store", "utcnow"]
_SERVER_NAMES = ("create_app", "main")  # not in __all__: a star import would load FastAPI


def __getattr__(name: str) -> Any:
    """``create_app`` and ``main`` load the server, and with it FastAPI, on first use only: a Spark job
    importing this package for the audit log or the tokens does not pay for a web framework."""
    if name in _SERVER_NAMES:
        from lakehouse.serving.sharing import server
        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
