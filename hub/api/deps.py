"""Dependencies of the API routes: the database session, the signed-in person or device,
and the role check every endpoint declares.

Every route under ``/api/v1`` depends on exactly one of ``RequireRoles(...)``,
``RequireDevice(...)``, ``RequireRolesOrDevice(...)`` or ``PUBLIC``;
``tests/integration/hub/test_role_matrix.py`` walks the routes and calls each with
every role.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlmodel import Session, select

from hub.context import HubContext
from hub.models.base import utcnow
from hub.models.people import Device, User
from hub.security.roles import Role
from hub.security.tokens import InvalidToken
from hub.services.audit import Actor
from hub.services.devices import device_for_token

SESSION_COOKIE = "pacs_session"


def get_context(request: Request) -> HubContext:
    ctx: HubContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[HubContext, Depends(get_context)]


def get_session(ctx: ContextDep) -> Iterator[Session]:
    """One session per request; the route commits what it changes."""
    with Session(ctx.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=message,
        headers={"WWW-Authenticate": "Bearer"},
    )


@dataclass(frozen=True)
class Principal:
    """The signed-in person, with what the audit trail needs."""

    user: User
    client: str

    @property
    def role(self) -> Role:
        return Role(self.user.role)

    @property
    def actor(self) -> Actor:
        return Actor(name=self.user.username, role=self.user.role, client=self.client)

    def may_act_on(self, campus: str) -> bool:
        return campus in self.user.campus_list

    def require_campus(self, campus: str) -> None:
        """Raise 403 unless the person works at ``campus``."""
        if not self.may_act_on(campus):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"您没有{campus}院区的权限 / you are not assigned to campus {campus}",
            )


def _person(request: Request, session: Session, ctx: HubContext) -> Principal:
    token = _bearer(request) or request.cookies.get(SESSION_COOKIE)
    if not token:
        raise _unauthorized("请先登录 / sign in first")
    try:
        claims = ctx.signer.check(token)
    except InvalidToken as exc:
        raise _unauthorized("登录已过期，请重新登录 / session expired, sign in again") from exc
    user = session.exec(select(User).where(User.username == claims.username)).first()
    if user is None or not user.active or user.token_version != claims.token_version:
        raise _unauthorized("登录已失效，请重新登录 / sign in again")
    locked = user.locked_until
    if locked is not None and locked.replace(tzinfo=locked.tzinfo or UTC) > utcnow():
        raise _unauthorized("账号已锁定 / account locked")
    return Principal(user=user, client=client_address(request))


class RequireRoles:
    """Dependency: a signed-in person whose role is one of ``allowed`` (else 401/403)."""

    def __init__(self, *allowed: Role) -> None:
        self.allowed = frozenset(allowed)

    def __call__(self, request: Request, session: SessionDep, ctx: ContextDep) -> Principal:
        principal = _person(request, session, ctx)
        if principal.role not in self.allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"{principal.role.label}无权执行此操作"
                f" / role {principal.role.value} may not do this",
            )
        return principal


class RequireDevice:
    """Dependency: a device token of one of ``kinds`` (e.g. an edge gateway)."""

    def __init__(self, *kinds: str) -> None:
        self.kinds = frozenset(kinds)

    def __call__(self, request: Request, session: SessionDep) -> Device:
        token = _bearer(request)
        if not token:
            raise _unauthorized("device token required")
        device = device_for_token(session, token)
        if device is None:
            raise _unauthorized("unknown or revoked device token")
        if device.kind not in self.kinds:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"a {device.kind} may not call this")
        device.last_seen_at = utcnow()
        session.add(device)
        session.commit()
        session.refresh(device)
        return device


class RequireRolesOrDevice:
    """Dependency: a device token of one of ``kinds``, or else a signed-in person whose
    role is one of ``allowed`` (e.g. STOW-RS: edges and 信息科). Returns the Device or
    the Principal; 401/403 as ``RequireDevice``/``RequireRoles``."""

    def __init__(self, roles: Iterable[Role], kinds: Iterable[str]) -> None:
        self.allowed = frozenset(roles)
        self.kinds = frozenset(kinds)

    def __call__(
        self, request: Request, session: SessionDep, ctx: ContextDep
    ) -> Principal | Device:
        token = _bearer(request)
        if token and device_for_token(session, token) is not None:
            return RequireDevice(*self.kinds)(request, session)
        return RequireRoles(*self.allowed)(request, session, ctx)


class Public:
    """Dependency marking a route that needs no sign-in (login, health)."""

    def __call__(self) -> None:
        return None


PUBLIC = Public()
