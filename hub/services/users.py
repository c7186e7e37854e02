"""People: creating users, signing in with lockout, changing passwords."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from sqlmodel import Session, select

from hub.models.base import utcnow
from hub.models.people import User
from hub.security.passwords import Passwords
from hub.security.roles import Role
from shared.settings import CAMPUSES


class UserError(ValueError):
    """A request about users that cannot be carried out; the message says why."""


class LoginRefused(Exception):
    """Sign-in failed. ``locked_until`` is set when the account is (now) locked."""

    def __init__(self, message: str, locked_until: datetime | None = None) -> None:
        super().__init__(message)
        self.locked_until = locked_until


@dataclass(frozen=True)
class LockoutPolicy:
    attempts: int
    duration: timedelta
    zone: tzinfo = UTC
    """Time zone of the "try again after HH:MM" in the lockout message."""


def parse_campuses(value: str | list[str]) -> str:
    """Normalise a campus list (``"dongge,xianhu"``, ``["dongge"]`` or ``"both"``)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [i.strip() for i in items if i.strip()]
    if items == ["both"] or items == ["all"]:
        items = list(CAMPUSES)
    unknown = [i for i in items if i not in CAMPUSES]
    if unknown or not items:
        raise UserError(f"campus must be one or more of {', '.join(CAMPUSES)} (or 'both')")
    return ",".join(dict.fromkeys(items))


def create_user(
    *,
    session: Session,
    passwords: Passwords,
    username: str,
    password: str,
    role: str,
    campuses: str | list[str],
    display_name: str = "",
) -> User:
    """Add a user; raises ``UserError`` (taken name, unknown role/campus) or ``WeakPassword``."""
    username = username.strip()
    if not username or len(username) > 64:
        raise UserError("username must be 1-64 characters")
    try:
        role_value = Role(role).value
    except ValueError as exc:
        raise UserError(f"role must be one of {', '.join(r.value for r in Role)}") from exc
    if session.exec(select(User).where(User.username == username)).first() is not None:
        raise UserError(f"username {username!r} is taken")
    now = utcnow()
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=passwords.hash(password),
        role=role_value,
        campuses=parse_campuses(campuses),
        password_changed_at=now,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(
    *,
    session: Session,
    passwords: Passwords,
    policy: LockoutPolicy,
    username: str,
    password: str,
) -> User:
    """The user if the password is right and the account is usable, else ``LoginRefused``.

    Failures are counted; after ``policy.attempts`` in a row the account is locked for
    ``policy.duration`` (the caller commits the session either way)."""
    user = session.exec(select(User).where(User.username == username)).first()
    now = utcnow()
    if user is None or not user.active:
        # Same work as a real check, so timing does not reveal which names exist.
        passwords.burn(password)
        raise LoginRefused("用户名或密码错误 / wrong username or password")
    locked = _aware(user.locked_until)
    if locked is not None and locked > now:
        raise LoginRefused(
            f"账号已锁定，请于 {locked.astimezone(policy.zone):%H:%M} 后再试或联系信息科"
            " / account locked",
            locked,
        )
    if not passwords.verify(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= policy.attempts:
            user.locked_until = now + policy.duration
            user.failed_logins = 0
            session.add(user)
            raise LoginRefused(
                "连续输错密码次数过多，账号已锁定 / too many failures, account locked",
                user.locked_until,
            )
        session.add(user)
        raise LoginRefused("用户名或密码错误 / wrong username or password")
    user.failed_logins = 0
    user.locked_until = None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash(password)
    session.add(user)
    return user


def change_password(
    *, session: Session, passwords: Passwords, user: User, current: str, new: str
) -> None:
    """Change a user's password; old tokens stop working. Raises ``UserError``/``WeakPassword``."""
    if not passwords.verify(user.password_hash, current):
        raise UserError("当前密码不正确 / the current password is wrong")
    if current == new:
        raise UserError("新密码不能与当前密码相同 / the new password must differ")
    user.password_hash = passwords.hash(new)
    user.password_changed_at = utcnow()
    user.token_version += 1
    session.add(user)


def reset_password(*, session: Session, passwords: Passwords, username: str, new: str) -> User:
    """An administrator's reset: new password, lock cleared, old tokens dead. Raises
    ``UserError`` for an unknown user and ``WeakPassword``."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise UserError(f"用户 {username} 不存在 / no user {username!r}")
    user.password_hash = passwords.hash(new)
    user.password_changed_at = utcnow()
    user.token_version += 1
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    return user


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
