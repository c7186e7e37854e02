"""Managing people (信息科 only): list, add, change role/campuses, lock, unlock."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel
from sqlmodel import col, func, select

from hub.api.deps import ContextDep, Principal, RequireRoles, SessionDep
from hub.api.schemas import Page
from hub.models.people import User
from hub.security.passwords import WeakPassword
from hub.security.roles import Role
from hub.services import audit
from hub.services.users import UserError, create_user, parse_campuses

router = APIRouter(prefix="/users", tags=["users"])

Admin = Annotated[Principal, Depends(RequireRoles(Role.IT_ADMIN))]


class UserCreate(BaseModel):
    username: str
    password: str
    role: Role
    campuses: list[str]
    display_name: str = ""


class UserUpdate(BaseModel):
    role: Role | None = None
    campuses: list[str] | None = None
    display_name: str | None = None
    active: bool | None = None
    unlock: bool = False


class UserPublic(BaseModel):
    username: str
    display_name: str
    role: Role
    campuses: list[str]
    active: bool
    locked_until: datetime | None

    @classmethod
    def of(cls, user: User) -> UserPublic:
        return cls(
            username=user.username,
            display_name=user.display_name,
            role=Role(user.role),
            campuses=user.campus_list,
            active=user.active,
            locked_until=user.locked_until,
        )


@router.get("")
def list_users(principal: Admin, session: SessionDep) -> Page[UserPublic]:
    users = session.exec(select(User).order_by(col(User.username))).all()
    total = session.exec(select(func.count()).select_from(User)).one()
    return Page(data=[UserPublic.of(u) for u in users], count=int(total))


@router.post("", status_code=status.HTTP_201_CREATED)
def add_user(
    body: UserCreate, principal: Admin, session: SessionDep, ctx: ContextDep
) -> UserPublic:
    try:
        user = create_user(
            session=session,
            passwords=ctx.passwords,
            username=body.username,
            password=body.password,
            role=body.role.value,
            campuses=body.campuses,
            display_name=body.display_name,
        )
    except (UserError, WeakPassword) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    audit.record(
        session,
        principal.actor,
        action="create",
        resource="user",
        resource_id=user.username,
        detail={"role": user.role, "campuses": user.campuses},
    )
    session.commit()
    return UserPublic.of(user)


@router.patch("/{username}")
def update_user(
    username: str, body: UserUpdate, principal: Admin, session: SessionDep
) -> UserPublic:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {username!r}")
    changes: dict[str, object] = {}
    if body.role is not None:
        user.role = body.role.value
        changes["role"] = user.role
    if body.campuses is not None:
        try:
            user.campuses = parse_campuses(body.campuses)
        except UserError as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
        changes["campuses"] = user.campuses
    if body.display_name is not None:
        user.display_name = body.display_name
        changes["display_name"] = user.display_name
    if body.active is not None:
        user.active = body.active
        changes["active"] = user.active
    if body.unlock:
        user.locked_until = None
        user.failed_logins = 0
        changes["unlock"] = True
    if changes:
        user.token_version += 1  # a changed role or scope takes effect at once
    session.add(user)
    audit.record(
        session,
        principal.actor,
        action="update",
        resource="user",
        resource_id=user.username,
        detail=changes,
    )
    session.commit()
    return UserPublic.of(user)
