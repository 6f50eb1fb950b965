"""Signing in to the portal with the Trino users' passwords; session cookies and CSRF tokens.

The people who sign in are the users of ``lake_config/access.yaml``, with the passwords `lake users`
prints (the same as Trino's).  A session is the cookie ``user|expires|mac``, signed with HMAC-SHA256 under
a key generated once into ``<state>/portal/session.key`` (0600): nothing is stored per session, and a new
key signs everyone out.  Every form that changes something carries a CSRF token, the HMAC of the browser's
own random ``portal_nonce`` cookie, and is refused without the matching pair; the cookies are HttpOnly,
SameSite=Lax, and Secure over HTTPS or on the loopback address (:func:`.access.cookie_secure`).  :class:`Signer` is pure; :func:`load_key` and :func:`password_ok` read files.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from typing import Any, Callable

SESSION = "portal_session"
NONCE = "portal_nonce"
SESSION_HOURS = 8
USER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


class Signer:
    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        self.key, self.clock = key, clock

    def _mac(self, purpose: str, value: str) -> str:
        return hmac.new(self.key, f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()

    def session(self, user: str) -> str:
        """The session cookie's value for ``user``, valid for :data:`SESSION_HOURS`."""
        body = f"{user}|{int(self.clock()) + SESSION_HOURS * 3600}"
        return f"{body}|{self._mac('session', body)}"

    def user_of(self, cookie: str | None) -> str | None:
        """The signed-in user of a session cookie; None when absent, forged, malformed or expired."""
        parts = (cookie or "").split("|")
        if len(parts) != 3 or len(cookie or "") > 300:
            return None
        user, expires, mac = parts
        if not hmac.compare_digest(mac, self._mac("session", f"{user}|{expires}")):
            return None
        if not expires.isdigit() or int(expires) < self.clock() or not set(user) <= USER_CHARS:
            return None
        return user

    def csrf(self, nonce: str) -> str:
        return self._mac("csrf", nonce)

    def csrf_ok(self, nonce: str | None, token: str | None) -> bool:
        return bool(nonce) and bool(token) and hmac.compare_digest(self.csrf(nonce or ""), token or "")


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def load_key(path: Path) -> bytes:
    """The portal's signing key, made once (0600)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
        try:
            os.link(tmp, path)  # the first writer's key wins; a second process reads it
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes()


def password_ok(settings: Any, user: str, password: str) -> bool:
    """``password`` is ``user``'s generated password and ``user`` is one of access.yaml (never the service user)."""
    from lakehouse.config.access import load_access

    users = load_access(service_user=settings.env.trino.user).users()
    if user not in users or len(password) > 200:
        hmac.compare_digest(password.encode(), secrets.token_urlsafe(16).encode())  # the same work either way
        return False
    expected = settings.trino_passwords([user])[user]
    return hmac.compare_digest(password.encode(), expected.encode())
