"""Recording and searching the audit trail. Records are only ever added."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from hub.models.audit import AuditEvent
from hub.models.base import utcnow


@dataclass(frozen=True)
class Actor:
    """Who is acting: a person (username, role) or a device (device id, ``device:<kind>``)."""

    name: str
    role: str
    client: str = ""


def record(
    session: Session,
    actor: Actor,
    *,
    action: str,
    resource: str,
    resource_id: str | int = "",
    patient_id: str | None = None,
    detail: dict[str, Any] | str = "",
) -> None:
    """Add one audit record to the session's transaction (it commits with the change)."""
    text = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)
    session.add(
        AuditEvent(
            at=utcnow(),
            actor=actor.name,
            role=actor.role,
            action=action,
            resource=resource,
            resource_id=str(resource_id),
            patient_id=patient_id,
            detail=text,
            client=actor.client[:64],
        )
    )


def record_reads(
    session: Session, actor: Actor, *, resource: str, patient_ids: Sequence[str], detail: str = ""
) -> None:
    """One ``read`` record per patient whose data a person was shown."""
    for patient_id in dict.fromkeys(patient_ids):
        record(
            session,
            actor,
            action="read",
            resource=resource,
            patient_id=patient_id,
            detail=detail,
        )


def search(
    session: Session,
    *,
    actor: str | None = None,
    patient_id: str | None = None,
    action: str | None = None,
    resource: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[AuditEvent], int]:
    """Matching records, newest first, and how many match in all."""
    stmt = select(AuditEvent)
    if actor:
        stmt = stmt.where(AuditEvent.actor == actor)
    if patient_id:
        stmt = stmt.where(AuditEvent.patient_id == patient_id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if resource:
        stmt = stmt.where(AuditEvent.resource == resource)
    if since:
        stmt = stmt.where(AuditEvent.at >= since)
    if until:
        stmt = stmt.where(AuditEvent.at < until)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(stmt.order_by(col(AuditEvent.id).desc()).offset(offset).limit(limit)).all()
    return list(rows), int(total)
