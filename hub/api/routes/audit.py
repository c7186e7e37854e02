"""Searching the audit trail (auditors). There is no way to change or delete a record."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from hub.api.deps import Principal, RequireRoles, SessionDep
from hub.api.schemas import Page
from hub.models.audit import AuditEvent
from hub.security.roles import Role
from hub.services import audit

router = APIRouter(prefix="/audit", tags=["audit"])

Auditor = Annotated[Principal, Depends(RequireRoles(Role.AUDITOR))]


class AuditPublic(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    resource: str
    resource_id: str
    patient_id: str | None
    detail: str
    client: str

    @classmethod
    def of(cls, row: AuditEvent) -> AuditPublic:
        assert row.id is not None
        return cls(**row.model_dump(exclude={"id"}), id=row.id)


@router.get("")
def search_audit(
    principal: Auditor,
    session: SessionDep,
    actor: str | None = None,
    patient_id: str | None = None,
    action: str | None = None,
    resource: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Page[AuditPublic]:
    """Records matching every given filter, newest first. The search itself is audited."""
    rows, total = audit.search(
        session,
        actor=actor,
        patient_id=patient_id,
        action=action,
        resource=resource,
        since=since,
        until=until,
        offset=offset,
        limit=limit,
    )
    audit.record(
        session,
        principal.actor,
        action="search",
        resource="audit",
        detail={"actor": actor, "patient_id": patient_id, "action": action},
    )
    session.commit()
    return Page(data=[AuditPublic.of(r) for r in rows], count=total)
