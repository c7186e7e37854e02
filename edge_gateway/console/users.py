"""Who may use the technician console: the hub's users, checked at the hub while it answers
and against a cache at the edge while it does not.

Sign-in with the hub reachable: the hub checks the password (its lockout and audit apply)
and names the person's role and campuses; on success the edge keeps an argon2 hash of the
password with that role and those campuses (``console_user``). When the hub refuses, the
cached entry is dropped (a changed or revoked password stops working here too). When the
hub cannot be reached (or the edge runs without a hub), the cache decides, for entries
refreshed within ``max_age``. A gateway without a hub gets its console users from
``pacs-edge console-user add`` (kept here only; they do not expire).

Only technicians (技师) and registrars (登记员) of this edge's campus may use the console.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import httpx
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects.sqlite import insert
from sqlmodel import Field

from edge_gateway.store.models import EdgeModel

log = logging.getLogger(__name__)

CONSOLE_ROLES: Final = frozenset({"technician", "registrar"})
ROLE_LABELS: Final = {"technician": "技师", "registrar": "登记员"}


class ConsoleUser(EdgeModel, table=True):
    """A hub user who signed in to this edge's console, with what the hub said of them."""

    __tablename__ = "console_user"

    username: str = Field(primary_key=True)
    password_hash: str
    display_name: str
    role: str
    campuses: str
    """Comma-separated campus codes."""
    refreshed_at: datetime
    local: bool = False
    """Added at this gateway (``pacs-edge console-user add``) for a gateway without a hub:
    never expires; a hub, when there is one, still decides first."""


_USER = ConsoleUser.__table__  # type: ignore[attr-defined]


class SignInRefused(Exception):
    """Sign-in refused; ``str()`` is the sentence for the sign-in page."""


@dataclass(frozen=True)
class Person:
    """A signed-in console user."""

    username: str
    display_name: str
    role: str

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)


class HubUnreachable(Exception):
    """The hub did not answer (network, timeout, 5xx)."""


class HubDirectory:
    """The hub's password check, as a person's client would call it."""

    def __init__(self, base_url: str, *, ca_file: Path | None = None, timeout: float = 8.0):
        verify: ssl.SSLContext | bool = True
        if ca_file is not None:
            verify = ssl.create_default_context(cafile=str(ca_file))
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=3.0),
            verify=verify,
            headers={"User-Agent": "pacs-edge-console"},
        )

    def close(self) -> None:
        self._http.close()

    def check(self, username: str, password: str) -> dict[str, object] | None:
        """The hub's ``/auth/me`` of the person when the password is right; None when the
        hub refuses it (wrong password, locked, inactive). Raises HubUnreachable."""
        try:
            answer = self._http.post(
                "/api/v1/auth/token", data={"username": username, "password": password}
            )
            if answer.status_code in (400, 401, 403, 423):
                return None
            answer.raise_for_status()
            token = answer.json()["access_token"]
            me = self._http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
            me.raise_for_status()
            data = me.json()
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise HubUnreachable(str(exc) or type(exc).__name__) from exc
        if not isinstance(data, dict):
            raise HubUnreachable("unexpected answer from the hub")
        return data


class ConsoleUsers:
    """Sign-in for the console (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        campus: str,
        hub: HubDirectory | None,
        *,
        max_age: timedelta = timedelta(days=30),
    ) -> None:
        self._engine = engine
        self._campus = campus
        self._hub = hub
        self._max_age = max_age
        self._hasher = PasswordHasher()
        ConsoleUser.metadata.create_all(engine, tables=[_USER])

    def sign_in(self, username: str, password: str) -> Person:
        """The person, or SignInRefused with a sentence (Chinese first)."""
        username = username.strip()
        if not username or not password:
            raise SignInRefused("请输入用户名和密码 / enter your user name and password")
        if self._hub is not None:
            try:
                found = self._hub.check(username, password)
            except HubUnreachable as exc:
                log.warning("hub not reachable for console sign-in (%s): using the cache", exc)
            else:
                if found is None:
                    self._forget(username)
                    raise SignInRefused(
                        "用户名或密码不正确（或账号已锁定） / wrong user name or password "
                        "(or the account is locked)"
                    )
                return self._remember(username, password, found)
        return self._from_cache(username, password)

    def add_local(self, username: str, password: str, role: str, display_name: str = "") -> None:
        """Add (or reset) a console user kept at this gateway only. Raises ValueError with
        a sentence for a bad user name, role or password."""
        username = username.strip()
        if not username or len(username) > 64 or any(c.isspace() for c in username):
            raise ValueError("用户名须为 1–64 个非空白字符 / the user name must be 1-64 characters")
        if role not in CONSOLE_ROLES:
            raise ValueError(
                f"角色只能是 {', '.join(sorted(CONSOLE_ROLES))} / role must be one of "
                f"{', '.join(sorted(CONSOLE_ROLES))}"
            )
        if len(password) < 8:
            raise ValueError("密码至少 8 个字符 / the password needs at least 8 characters")
        self._store(username, password, display_name or username, role, [self._campus], True)

    def remove(self, username: str) -> bool:
        """Forget ``username`` at this gateway; True when there was such a user."""
        with self._engine.begin() as conn:
            return bool(conn.execute(delete(_USER).where(_USER.c.username == username)).rowcount)

    def listed(self) -> list[tuple[str, str, str, bool, datetime]]:
        """(username, display name, role, local, refreshed at) of every known user."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(
                    _USER.c.username,
                    _USER.c.display_name,
                    _USER.c.role,
                    _USER.c.local,
                    _USER.c.refreshed_at,
                ).order_by(_USER.c.username)
            ).all()
        return [(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

    def _allowed(self, role: str, campuses: list[str]) -> None:
        if role not in CONSOLE_ROLES:
            raise SignInRefused(
                "只有技师和登记员可以使用叫号控制台 / only technicians and registrars may use "
                "the console"
            )
        if self._campus not in campuses:
            raise SignInRefused(
                "您的账号不属于本院区，请联系信息科 / your account is not for this campus: ask IT"
            )

    def _remember(self, username: str, password: str, me: dict[str, object]) -> Person:
        role = str(me.get("role", ""))
        raw = me.get("campuses")
        campuses = [str(c) for c in raw] if isinstance(raw, list) else []
        self._allowed(role, campuses)
        display = str(me.get("display_name") or username)
        self._store(username, password, display, role, campuses, False)
        return Person(username, display, role)

    def _store(
        self,
        username: str,
        password: str,
        display: str,
        role: str,
        campuses: list[str],
        local: bool,
    ) -> None:
        row = {
            "username": username,
            "password_hash": self._hasher.hash(password),
            "display_name": display,
            "role": role,
            "campuses": ",".join(campuses),
            "refreshed_at": datetime.now(UTC),
            "local": local,
        }
        with self._engine.begin() as conn:
            stmt = insert(_USER).values(row)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["username"],
                    set_={k: v for k, v in row.items() if k != "username"},
                )
            )

    def _forget(self, username: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(_USER).where(_USER.c.username == username))

    def _from_cache(self, username: str, password: str) -> Person:
        with self._engine.connect() as conn:
            row = conn.execute(select(_USER).where(_USER.c.username == username)).first()
        refused = SignInRefused(
            "无法连接中心，且本机没有此账号的有效记录：请在中心恢复后再登录，或联系信息科 / "
            "the hub cannot be reached and this edge has no valid record of this account: "
            "sign in once the hub is back, or ask IT"
        )
        if row is None:
            raise refused
        refreshed = row.refreshed_at
        if refreshed.tzinfo is None:
            refreshed = refreshed.replace(tzinfo=UTC)
        if not row.local and datetime.now(UTC) - refreshed > self._max_age:
            raise refused
        try:
            self._hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            raise SignInRefused("用户名或密码不正确 / wrong user name or password") from None
        self._allowed(row.role, row.campuses.split(","))
        return Person(username, row.display_name, row.role)
