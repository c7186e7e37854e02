"""Short-lived login tokens for people (JWT, HS256) and opaque tokens for devices."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

_ALGORITHM = "HS256"
_AUDIENCE = "pacs-hub"


class InvalidToken(ValueError):
    """The token is malformed, expired or signed with another key."""


@dataclass(frozen=True)
class TokenClaims:
    username: str
    token_version: int
    expires_at: datetime


class TokenSigner:
    """Issue and check people's access tokens."""

    def __init__(self, secret: bytes, lifetime: timedelta) -> None:
        self._secret = hashlib.sha256(b"jwt:" + secret).digest()
        self.lifetime = lifetime

    def issue(self, username: str, token_version: int) -> tuple[str, datetime]:
        expires = datetime.now(UTC) + self.lifetime
        claims = {"sub": username, "ver": token_version, "exp": expires, "aud": _AUDIENCE}
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM), expires

    def check(self, token: str) -> TokenClaims:
        try:
            data = jwt.decode(token, self._secret, algorithms=[_ALGORITHM], audience=_AUDIENCE)
            return TokenClaims(
                username=str(data["sub"]),
                token_version=int(data["ver"]),
                expires_at=datetime.fromtimestamp(int(data["exp"]), UTC),
            )
        except (jwt.PyJWTError, KeyError, TypeError, ValueError) as exc:
            raise InvalidToken(str(exc)) from exc


def new_device_token() -> str:
    """A fresh random device token (shown once to the operator, stored only as a hash)."""
    return "pacsdev_" + secrets.token_urlsafe(32)


def device_token_hash(token: str) -> str:
    """The stored form of a device token (tokens are random, so a plain sha256 suffices)."""
    return hashlib.sha256(token.encode()).hexdigest()


def keyed_hash(secret: bytes, value: str) -> str:
    """HMAC-SHA256 of ``value`` under a key derived from the hub secret (identity cards)."""
    key = hashlib.sha256(b"idcard:" + secret).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
