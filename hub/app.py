"""The hub's composition root: ``create_app(settings)`` builds the FastAPI application."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from hub.api.deps import PUBLIC
from hub.api.routes import audit, auth, users
from hub.config import HubSettings
from hub.context import HubContext, build_context

API_PREFIX = "/api/v1"


def create_app(settings: HubSettings, context: HubContext | None = None) -> FastAPI:
    """The hub application for ``settings`` (the schema must be migrated already:
    ``pacs-hub db upgrade``)."""
    ctx = context or build_context(settings)
    app = FastAPI(
        title="Campus PACS hub / 中心服务器",
        version="1",
        description="登记预约、权限管理、边缘同步 / registration, permissions, edge sync",
    )
    app.state.ctx = ctx
    api = APIRouter(prefix=API_PREFIX)
    for module in (auth, users, audit):
        api.include_router(module.router)
    api.add_api_route("/health", _health, methods=["GET"], dependencies=[Depends(PUBLIC)])
    app.include_router(api)
    return app


def _health() -> dict[str, str]:
    return {"status": "ok"}
