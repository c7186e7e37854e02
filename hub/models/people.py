"""People (users with a role and campuses) and devices (edges, kiosks, boards) with tokens."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field

from hub.models.base import HubModel


class User(HubModel, table=True):
    """A person who signs in. ``campuses`` is a comma-separated list of campus codes."""

    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, max_length=64)
    display_name: str = Field(default="", max_length=64)
    password_hash: str
    role: str = Field(max_length=32)
    campuses: str = Field(max_length=64)
    active: bool = True
    failed_logins: int = 0
    locked_until: datetime | None = None
    token_version: int = 0
    password_changed_at: datetime
    created_at: datetime

    @property
    def campus_list(self) -> list[str]:
        return [c for c in self.campuses.split(",") if c]


class Device(HubModel, table=True):
    """A device that calls the hub with its own token (an edge gateway today)."""

    __tablename__ = "device"

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(unique=True, max_length=64)
    kind: str = Field(max_length=16)
    campus: str = Field(max_length=16)
    token_hash: str = Field(unique=True, max_length=64)
    revoked: bool = False
    created_at: datetime
    last_seen_at: datetime | None = None
