"""The API documentation pages (Swagger UI at ``/docs``, ReDoc at ``/redoc``), served entirely
by the hub.

FastAPI's own pages load their JavaScript and CSS from a CDN, which a hospital network without
internet access cannot reach (the page stays blank). Here the files come from the
``openapi_ui_bundles`` package (Swagger UI 5 and ReDoc 2, both able to read the OpenAPI 3.1
document FastAPI writes) and the hub serves them under ``ASSETS_URL``. ``create_app`` builds
the app with ``docs_url=None, redoc_url=None`` so that FastAPI adds no CDN pages of its own,
then calls ``install``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from openapi_ui_bundles import redoc, swagger_ui

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs-assets"
SWAGGER_ASSETS_URL = f"{ASSETS_URL}/swagger-ui"
REDOC_ASSETS_URL = f"{ASSETS_URL}/redoc"

SWAGGER_JS = f"{SWAGGER_ASSETS_URL}/swagger-ui-bundle.js"
SWAGGER_CSS = f"{SWAGGER_ASSETS_URL}/swagger-ui.css"
FAVICON = f"{SWAGGER_ASSETS_URL}/favicon-32x32.png"
REDOC_JS = f"{REDOC_ASSETS_URL}/redoc.standalone.js"


def install(app: FastAPI) -> None:
    """Serve the Swagger UI and ReDoc files under ``ASSETS_URL``, Swagger UI at ``DOCS_URL``
    and ReDoc at ``REDOC_URL`` (called by ``create_app``).

    Both pages show ``app.openapi_url``; Swagger UI keeps the app's ``swagger_ui_parameters``
    and ``swagger_ui_init_oauth``. URLs are prefixed with the request's ``root_path`` (the hub
    behind a reverse proxy under a sub-path), as FastAPI's own pages do. Nothing is installed
    when the app has no OpenAPI document (``openapi_url=None``).

    There is no OAuth2 redirect page: the hub's API declares no OAuth2 security scheme, so
    Swagger UI has no authorization-code or implicit flow to come back from.
    """
    if not app.openapi_url:
        return
    openapi_url = app.openapi_url
    app.mount(SWAGGER_ASSETS_URL, StaticFiles(directory=swagger_ui.static_path), name="swagger-ui")
    app.mount(REDOC_ASSETS_URL, StaticFiles(directory=redoc.static_path), name="redoc")

    async def swagger_ui_page(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=root + SWAGGER_JS,
            swagger_css_url=root + SWAGGER_CSS,
            swagger_favicon_url=root + FAVICON,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    async def redoc_page(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=root + REDOC_JS,
            redoc_favicon_url=root + FAVICON,
            with_google_fonts=False,
        )

    app.add_route(DOCS_URL, swagger_ui_page, include_in_schema=False)
    app.add_route(REDOC_URL, redoc_page, include_in_schema=False)


def _root_path(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")
