"""The hub's own SQLModel registry: its metadata is the hub schema (and Alembic's target)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import registry
from sqlmodel import SQLModel


class HubModel(SQLModel, registry=registry()):
    """Base of every hub table."""


def utcnow() -> datetime:
    return datetime.now(UTC)
