"""Liveness: the hub answers and reaches its database."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import text

from hub.api.deps import PUBLIC, SessionDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str


@router.get("/health", dependencies=[Depends(PUBLIC)])
def health(session: SessionDep) -> Health:
    session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    return Health(status="ok", database=session.get_bind().dialect.name)
