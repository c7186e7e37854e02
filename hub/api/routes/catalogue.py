"""The procedure catalogue (检查项目目录): everyone signed in reads it, 信息科 changes it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel

from hub.api.deps import Principal, RequireRoles, SessionDep
from hub.api.schemas import Page
from hub.models.registration import Procedure
from hub.security.roles import ALL_ROLES, Role
from hub.services import catalogue

router = APIRouter(prefix="/catalogue", tags=["catalogue"])

AnyPerson = Annotated[Principal, Depends(RequireRoles(*ALL_ROLES))]
Admin = Annotated[Principal, Depends(RequireRoles(Role.IT_ADMIN))]


class ProcedurePublic(BaseModel):
    code: str
    name: str
    modality: str
    body_part: str
    minutes: int
    preparation: str
    active: bool

    @classmethod
    def of(cls, row: Procedure) -> ProcedurePublic:
        return cls(
            code=row.code,
            name=row.name,
            modality=row.modality,
            body_part=row.body_part,
            minutes=row.duration_minutes,
            preparation=row.preparation,
            active=row.active,
        )


class ModalityPublic(BaseModel):
    code: str
    label: str


@router.get("/procedures")
def list_procedures(
    principal: AnyPerson,
    session: SessionDep,
    modality: str | None = None,
    include_inactive: bool = False,
) -> Page[ProcedurePublic]:
    """Catalogue entries (active ones unless ``include_inactive``), by modality and code."""
    rows = catalogue.list_procedures(
        session=session, modality=modality, include_inactive=include_inactive
    )
    return Page(data=[ProcedurePublic.of(r) for r in rows], count=len(rows))


@router.get("/modalities")
def list_modalities(principal: AnyPerson) -> list[ModalityPublic]:
    """Modality codes accepted for procedures and rooms, with Chinese labels."""
    return [ModalityPublic(code=c, label=label) for c, label in catalogue.MODALITIES.items()]


@router.post("/procedures", status_code=status.HTTP_201_CREATED)
def create_procedure(
    body: catalogue.ProcedureIn, principal: Admin, session: SessionDep
) -> ProcedurePublic:
    """Add an entry. 409 when the code exists, 400 for a bad code or modality."""
    row = catalogue.create_procedure(session=session, actor=principal.actor, data=body)
    session.commit()
    return ProcedurePublic.of(row)


@router.patch("/procedures/{code}")
def update_procedure(
    code: str, body: catalogue.ProcedureUpdate, principal: Admin, session: SessionDep
) -> ProcedurePublic:
    """Change an entry (``active: false`` withdraws it from new orders). 404 when unknown.
    Existing orders keep the name they were registered with."""
    row = catalogue.update_procedure(session=session, actor=principal.actor, code=code, data=body)
    session.commit()
    return ProcedurePublic.of(row)
