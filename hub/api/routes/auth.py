"""Sign-in (OAuth2 password flow), who am I, and password change."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from hub.api.deps import (
    PUBLIC,
    ContextDep,
    Principal,
    RequireRoles,
    SessionDep,
    client_address,
)
from hub.api.schemas import Message, TokenOut
from hub.security.passwords import WeakPassword
from hub.security.roles import ALL_ROLES
from hub.services import audit
from hub.services.users import LoginRefused, UserError, authenticate, change_password

router = APIRouter(prefix="/auth", tags=["auth"])

AnyPerson = Annotated[Principal, Depends(RequireRoles(*ALL_ROLES))]


class Me(BaseModel):
    username: str
    display_name: str
    role: str
    role_label: str
    campuses: list[str]


class PasswordChange(BaseModel):
    current_password: str
    new_password: str


def login(
    *, session: SessionDep, ctx: ContextDep, username: str, password: str, client: str
) -> TokenOut:
    """Check the credentials (with lockout) and issue a token; audit either way."""
    try:
        user = authenticate(
            session=session,
            passwords=ctx.passwords,
            policy=ctx.lockout,
            username=username,
            password=password,
        )
    except LoginRefused as exc:
        audit.record(
            session,
            audit.Actor(name=username[:64], role="", client=client),
            action="login_failed",
            resource="session",
            detail="locked" if exc.locked_until else "",
        )
        session.commit()
        code = status.HTTP_423_LOCKED if exc.locked_until else status.HTTP_401_UNAUTHORIZED
        raise HTTPException(code, str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc
    token, expires = ctx.signer.issue(user.username, user.token_version)
    audit.record(
        session,
        audit.Actor(name=user.username, role=user.role, client=client),
        action="login",
        resource="session",
    )
    session.commit()
    return TokenOut(access_token=token, expires_at=expires)


@router.post("/token", dependencies=[Depends(PUBLIC)])
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    ctx: ContextDep,
    request: Request,
) -> TokenOut:
    """OAuth2 password flow. 401 for wrong credentials, 423 while the account is locked."""
    return login(
        session=session,
        ctx=ctx,
        username=form.username,
        password=form.password,
        client=client_address(request),
    )


@router.get("/me")
def me(principal: AnyPerson) -> Me:
    user = principal.user
    return Me(
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        role_label=principal.role.label,
        campuses=user.campus_list,
    )


@router.post("/password")
def password(
    body: PasswordChange, principal: AnyPerson, session: SessionDep, ctx: ContextDep
) -> Message:
    """Change one's own password; every token issued before stops working."""
    try:
        change_password(
            session=session,
            passwords=ctx.passwords,
            user=principal.user,
            current=body.current_password,
            new=body.new_password,
        )
    except (UserError, WeakPassword) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    audit.record(
        session,
        principal.actor,
        action="update",
        resource="password",
        resource_id=principal.user.username,
    )
    session.commit()
    return Message(message="密码已修改，请重新登录 / password changed, sign in again")
