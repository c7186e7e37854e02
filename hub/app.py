"""The hub's composition root: ``create_app(settings)`` builds the FastAPI application."""

from __future__ import annotations

from types import ModuleType

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from hub.api import docs_pages, errors
from hub.api.routes import (
    archive,
    audit,
    auth,
    catalogue,
    devices,
    dicomweb,
    health,
    metrics,
    orders,
    patients,
    rooms,
    scheduling,
    slots,
    sync,
    users,
)
from hub.config import HubSettings
from hub.context import HubContext, build_context
from hub.web import pages, registration_booking, registration_orders, registration_patients
from hub.web.session import LoginRedirect, login_url
from hub.web.templating import STATIC_DIR, build_templates

API_PREFIX = "/api/v1"

API_MODULES: tuple[ModuleType, ...] = (
    health,
    auth,
    users,
    devices,
    audit,
    patients,
    catalogue,
    orders,
    rooms,
    slots,
    scheduling,
    sync,
    dicomweb,
    archive,
)
"""Route modules served under ``API_PREFIX``; each has a ``router`` (an ``APIRouter``)."""

WEB_MODULES: tuple[ModuleType, ...] = (
    pages,
    registration_patients,
    registration_orders,
    registration_booking,
)
"""Page modules of the web UI (Chinese, server-rendered)."""


def create_app(settings: HubSettings, context: HubContext | None = None) -> FastAPI:
    """The hub application for ``settings`` (the schema must be migrated already:
    ``pacs-hub db upgrade``)."""
    ctx = context or build_context(settings)
    app = FastAPI(
        title="Campus PACS hub / 中心服务器",
        version="1",
        description="登记预约、权限管理、边缘同步 / registration, permissions, edge sync",
        docs_url=None,  # docs_pages serves /docs and /redoc from the hub itself, not a CDN
        redoc_url=None,
    )
    app.state.ctx = ctx
    api = APIRouter(prefix=API_PREFIX)
    for module in API_MODULES:
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(metrics.router)  # /metrics at the root, where scrapers look
    app.state.templates = build_templates()
    for module in WEB_MODULES:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(LoginRedirect, _to_login)  # type: ignore[arg-type]
    errors.install(app)
    docs_pages.install(app)
    return app


async def _to_login(request: Request, exc: LoginRedirect) -> RedirectResponse:
    return RedirectResponse(login_url(exc.next_url), status_code=303)
