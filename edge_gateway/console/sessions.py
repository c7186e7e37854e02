"""Signed session cookies for the console: ``base64(json).hmac`` with a key kept in the
edge's data dir (created on first use, mode 0600). A cookie names the person and expires
after a shift (12 h); changing the key file signs everyone out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Final

from edge_gateway.console.users import Person

COOKIE: Final = "pacs_console"
LIFETIME_SECONDS: Final = 12 * 3600


def load_key(path: Path) -> bytes:
    """The signing key at ``path``, made (32 random bytes, hex, 0600) when absent."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32))
            handle.flush()
            os.fsync(handle.fileno())
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


class Sessions:
    def __init__(self, key: bytes, *, lifetime: int = LIFETIME_SECONDS) -> None:
        self._key = key
        self._lifetime = lifetime

    def _sign(self, body: bytes) -> str:
        return hmac.new(self._key, body, hashlib.sha256).hexdigest()

    def issue(self, person: Person) -> str:
        """A cookie value for ``person``."""
        data = {
            "u": person.username,
            "n": person.display_name,
            "r": person.role,
            "exp": int(time.time()) + self._lifetime,
        }
        body = base64.urlsafe_b64encode(json.dumps(data, ensure_ascii=False).encode("utf-8"))
        return f"{body.decode('ascii')}.{self._sign(body)}"

    def read(self, value: str | None) -> Person | None:
        """The person of a valid, unexpired cookie; None otherwise."""
        if not value or "." not in value:
            return None
        body_text, signature = value.rsplit(".", 1)
        body = body_text.encode("ascii", errors="replace")
        if not hmac.compare_digest(self._sign(body), signature):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body))
        except ValueError:
            return None
        if not isinstance(data, dict) or int(data.get("exp", 0)) < time.time():
            return None
        return Person(str(data["u"]), str(data["n"]), str(data["r"]))
