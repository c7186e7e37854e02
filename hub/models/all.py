"""Imports every hub table module so the metadata is complete (Alembic, tests)."""

from __future__ import annotations

from hub.models import archive, audit, people, registration, scheduling

__all__ = ["archive", "audit", "people", "registration", "scheduling"]
