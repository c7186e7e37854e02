"""The audit trail: append-only (the migration adds triggers refusing UPDATE and DELETE)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field

from hub.models.base import HubModel


class AuditEvent(HubModel, table=True):
    """Who (and in which role) did what to which patient's data, when, and from where."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_at", "at"),
        Index("ix_audit_patient", "patient_id", "at"),
        Index("ix_audit_actor", "actor", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    actor: str = Field(max_length=64)
    role: str = Field(max_length=32)
    action: str = Field(max_length=16)
    """create, update, delete, read, login, login_failed, …"""
    resource: str = Field(max_length=64)
    """e.g. ``patient``, ``order``, ``appointment``, ``user``."""
    resource_id: str = Field(default="", max_length=64)
    patient_id: str | None = Field(default=None, max_length=64)
    detail: str = ""
    client: str = Field(default="", max_length=64)
