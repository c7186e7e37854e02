"""Appointment slots (预约时段): 信息科 and 登记员 generate them from a day template,
登记员 and 技师 list the free ones."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel

from hub.api.deps import ContextDep, Principal, RequireRoles, SessionDep
from hub.api.schemas import Page
from hub.models.scheduling import Room, Slot
from hub.security.roles import Role
from hub.services import scheduling
from hub.services.campuses import check_campus
from hub.services.clock import as_utc

router = APIRouter(prefix="/slots", tags=["scheduling"])

SlotMaker = Annotated[Principal, Depends(RequireRoles(Role.IT_ADMIN, Role.REGISTRAR))]
SlotViewer = Annotated[Principal, Depends(RequireRoles(Role.REGISTRAR, Role.TECHNICIAN))]


class SlotPublic(BaseModel):
    id: int
    campus: str
    room: str
    room_name: str
    modality: str
    start: datetime
    end: datetime
    capacity: int
    booked: int
    free: int

    @classmethod
    def of(cls, slot: Slot, room: Room) -> SlotPublic:
        assert slot.id is not None
        return cls(
            id=slot.id,
            campus=slot.campus,
            room=room.code,
            room_name=room.name,
            modality=slot.modality,
            start=as_utc(slot.start),
            end=as_utc(slot.end),
            capacity=slot.capacity,
            booked=slot.booked,
            free=max(slot.capacity - slot.booked, 0),
        )


class SlotsGenerated(BaseModel):
    created: int
    skipped: int
    """Slots of the template that existed already (left unchanged)."""


@router.post("/generate", status_code=status.HTTP_201_CREATED)
def generate_slots(
    body: scheduling.SlotTemplate, principal: SlotMaker, session: SessionDep, ctx: ContextDep
) -> SlotsGenerated:
    """Create a room's slots from a day template over a date range (existing ones kept)."""
    principal.require_campus(check_campus(body.campus))
    created, skipped = scheduling.generate_slots(
        session=session, actor=principal.actor, zone=ctx.settings.zone, data=body
    )
    session.commit()
    return SlotsGenerated(created=created, skipped=skipped)


@router.get("")
def list_slots(
    principal: SlotViewer,
    session: SessionDep,
    ctx: ContextDep,
    campus: str,
    day: Annotated[date, Query(alias="date", description="campus-local day")],
    modality: str | None = None,
    room: str | None = None,
    free_only: bool = True,
) -> Page[SlotPublic]:
    """Slots of a campus on a day (free ones unless ``free_only=false``), by start time."""
    principal.require_campus(check_campus(campus))
    rows = scheduling.list_slots(
        session=session,
        zone=ctx.settings.zone,
        campus=campus,
        day=day,
        modality=modality,
        room=room,
        free_only=free_only,
    )
    return Page(data=[SlotPublic.of(s, r) for s, r in rows], count=len(rows))
