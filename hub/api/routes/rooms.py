"""Exam rooms (检查室): 信息科 adds them, everyone signed in lists them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel

from hub.api.deps import Principal, RequireRoles, SessionDep
from hub.models.scheduling import Room
from hub.security.roles import ALL_ROLES, Role
from hub.services import scheduling
from hub.services.campuses import check_campus

router = APIRouter(prefix="/rooms", tags=["scheduling"])

AnyPerson = Annotated[Principal, Depends(RequireRoles(*ALL_ROLES))]
Admin = Annotated[Principal, Depends(RequireRoles(Role.IT_ADMIN))]


class RoomPublic(BaseModel):
    id: int
    campus: str
    code: str
    name: str
    modality: str
    station_ae: str
    active: bool

    @classmethod
    def of(cls, room: Room) -> RoomPublic:
        assert room.id is not None
        return cls(**room.model_dump(exclude={"id"}), id=room.id)


@router.get("")
def list_rooms(
    principal: AnyPerson,
    session: SessionDep,
    campus: str | None = None,
    modality: str | None = None,
) -> list[RoomPublic]:
    """Active rooms of ``campus`` (default: the person's campuses)."""
    if campus is not None:
        principal.require_campus(check_campus(campus))
    rows = scheduling.list_rooms(
        session=session,
        campuses=[campus] if campus else principal.user.campus_list,
        modality=modality,
    )
    return [RoomPublic.of(r) for r in rows]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_room(body: scheduling.RoomCreate, principal: Admin, session: SessionDep) -> RoomPublic:
    """Add a room. 409 when the campus has that code; 400 for a bad modality or AE title."""
    principal.require_campus(check_campus(body.campus))
    room = scheduling.create_room(session=session, actor=principal.actor, data=body)
    session.commit()
    return RoomPublic.of(room)
