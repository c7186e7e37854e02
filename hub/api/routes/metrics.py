"""``GET /metrics``: Prometheus text, public and free of patient data (mounted at the
root, beside ``/api/v1``, where scrapers look for it)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from hub.api.deps import PUBLIC, SessionDep
from hub.services.metrics import prometheus_text

router = APIRouter(tags=["metrics"])

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/metrics", dependencies=[Depends(PUBLIC)], response_class=PlainTextResponse)
def metrics(session: SessionDep) -> PlainTextResponse:
    """Edge backlogs, archive instances, sync events and unmatched studies by campus."""
    return PlainTextResponse(prometheus_text(session=session), media_type=CONTENT_TYPE)
