"""Delta Sharing's bearer tokens: one per partner, stored hashed, with the expiry of ``access.yaml``; profile files."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from lakehouse.core.errors import ConfigError, LakeError
from lakehouse.serving.sharing.common import endpoint, iso, sharing_dir, utcnow


def hash_token(token: str) -> str:
    """SHA-256 of a bearer token.  Tokens are 256 random bits, so a fast hash is enough (no guessing)."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenError(LakeError):
    """A request's bearer token is missing, unknown, expired or revoked."""

    def __init__(self, status: int, code: str, message: str, record: dict | None = None):
        super().__init__(message)
        self.status, self.code = status, code
        self.record = record  # the token's record when the token is known (revoked, expired)


class TokenStore:
    """``<state>/sharing/tokens.json``: each token's hash, partner, creation, expiry and revocation."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def _read(self) -> list[dict]:
        if not self.path.exists():
            return []
        try:
            return json.loads(self.path.read_text())["tokens"]
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"{self.path}: not a token file ({exc}); move it away and issue new tokens "
                              f"with `lake sharing token PARTNER`") from exc

    def _write(self, tokens: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"tokens": tokens}, indent=1))
        tmp.chmod(0o600)
        tmp.replace(self.path)

    def issue(self, partner: str, ttl: dt.timedelta, now: dt.datetime | None = None) -> tuple[str, dict]:
        """A new token for ``partner`` (returned once, in clear); the partner's older tokens are revoked."""
        now = now or utcnow()
        token = secrets.token_urlsafe(32)
        record = {"partner": partner, "sha256": hash_token(token), "id": secrets.token_hex(4),
                  "created_at": iso(now), "expires_at": iso(now + ttl), "revoked_at": None}
        with self._lock:
            tokens = self._read()
            for old in tokens:
                if old["partner"] == partner and old["revoked_at"] is None:
                    old["revoked_at"] = iso(now)
                    old["revoked_by"] = "rotated"
            tokens.append(record)
            self._write(tokens)
        return token, record

    def revoke(self, partner: str, now: dt.datetime | None = None) -> int:
        """Revoke every live token of ``partner``; returns how many."""
        now = now or utcnow()
        with self._lock:
            tokens = self._read()
            count = 0
            for record in tokens:
                if record["partner"] == partner and record["revoked_at"] is None:
                    record["revoked_at"] = iso(now)
                    record["revoked_by"] = "revoked"
                    count += 1
            self._write(tokens)
        return count

    def records(self) -> list[dict]:
        return self._read()

    def current(self, partner: str) -> dict | None:
        """The partner's newest token record (revoked or not), if any."""
        mine = [r for r in self._read() if r["partner"] == partner]
        return mine[-1] if mine else None

    def authenticate(self, authorization: str | None, now: dt.datetime | None = None) -> dict:
        """The token record behind an ``Authorization: Bearer …`` header, or a :class:`TokenError`."""
        now = now or utcnow()
        if not authorization or not authorization.startswith("Bearer ") or not authorization[7:].strip():
            raise TokenError(401, "UNAUTHENTICATED", "no bearer token: send `Authorization: Bearer <token>` "
                                                     "(the bearerToken of your profile file)")
        digest = hash_token(authorization[7:].strip())
        match = next((r for r in self._read() if hmac.compare_digest(r["sha256"], digest)), None)
        if match is None:
            raise TokenError(401, "UNAUTHENTICATED", "unknown bearer token; ask the data owner for a profile file")
        if match["revoked_at"]:
            raise TokenError(403, "TOKEN_REVOKED", f"this token was {match.get('revoked_by', 'revoked')} at "
                                                   f"{match['revoked_at']}; ask the data owner for a new profile file",
                             match)
        expires = dt.datetime.fromisoformat(match["expires_at"].replace("Z", "+00:00"))
        if now >= expires:
            raise TokenError(403, "TOKEN_EXPIRED", f"this token expired at {match['expires_at']}; "
                                                   f"ask the data owner for a new profile file", match)
        return match


def profile(endpoint: str, token: str, expires_at: str) -> dict:
    """A Delta Sharing profile file's content (shareCredentialsVersion 1)."""
    return {"shareCredentialsVersion": 1, "endpoint": endpoint, "bearerToken": token, "expirationTime": expires_at}


def token_store(settings: Any) -> TokenStore:
    return TokenStore(sharing_dir(settings) / "tokens.json")


def issue_token(partner: str, settings: Any, out: Path | None = None) -> tuple[str, dict, Path]:
    """Create or rotate ``partner``'s token; write its profile file (mode 600). Returns token, record, path."""
    from lakehouse.config.access import access_file, load_access
    from lakehouse.core.durations import parse_duration

    access = load_access()
    if partner not in access.partners:
        known = ", ".join(sorted(access.partners)) or "none"
        raise ConfigError(f"{access_file()}: no partner {partner!r} under `partners` (known: {known})")
    ttl = parse_duration(access.partners[partner].token_ttl)
    token, record = token_store(settings).issue(partner, ttl)
    path = out or sharing_dir(settings) / "profiles" / f"{partner}.share"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(profile(endpoint(settings), token, record["expires_at"]), indent=2) + "\n")
    path.chmod(0o600)
    return token, record, path
