"""Dashboard sessions: an API key is exchanged for a signed, short-lived cookie bound to the
key's tenant. The key never reaches the browser's storage; the cookie holds the tenant, an
expiry and a nonce, signed with HMAC-SHA256. CSRF tokens are derived from the nonce."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

COOKIE_NAME = "rf_session"
_SESSION = b"session\x00"
_CSRF = b"csrf\x00"


@dataclass(frozen=True, kw_only=True)
class Session:
    tenant: str
    expires_at: datetime
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, purpose: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, purpose + payload.encode(), hashlib.sha256).digest())


def issue(secret: bytes, *, tenant: str, now: datetime, lifetime: timedelta) -> tuple[str, Session]:
    """A new session for ``tenant`` and its cookie value."""
    session = Session(tenant=tenant, expires_at=now + lifetime, nonce=secrets.token_urlsafe(16))
    body = {"t": tenant, "e": int(session.expires_at.timestamp()), "n": session.nonce}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{_mac(secret, _SESSION, payload)}", session


def read(secret: bytes, cookie: str | None, *, now: datetime) -> Session | None:
    """The session a cookie carries; None when absent, forged, malformed or expired."""
    if not cookie or cookie.count(".") != 1:
        return None
    payload, mac = cookie.split(".")
    if not hmac.compare_digest(mac, _mac(secret, _SESSION, payload)):
        return None
    try:
        body = json.loads(_unb64(payload))
        session = Session(
            tenant=str(body["t"]),
            expires_at=datetime.fromtimestamp(int(body["e"]), tz=now.tzinfo),
            nonce=str(body["n"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires_at > now else None


def csrf_token(secret: bytes, session: Session) -> str:
    """The token every state-changing form of this session carries."""
    return _mac(secret, _CSRF, session.nonce)


def csrf_ok(secret: bytes, session: Session, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(str(token), csrf_token(secret, session))


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a path on this site, never another origin."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    if any(ord(c) < 0x20 for c in path):
        return "/"
    return path
