"""What the registrar's pages (登记员工作站) share: the registrar dependency, a route
class that turns refusals and service errors into Chinese pages, rendering with the
signed-in person and a flash message, and redirect-after-post.

A flash message travels in a short-lived cookie from the 303 redirect to the page it
leads to, which shows it once and deletes it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import Depends, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from hub.api.deps import Principal
from hub.api.errors import STATUS_OF
from hub.context import HubContext
from hub.models.base import utcnow
from hub.security.roles import Role
from hub.services.clock import local_day
from hub.services.errors import ServiceError
from hub.web.session import PageRoles

FLASH_COOKIE = "pacs_flash"

Registrar = Annotated[Principal, Depends(PageRoles(Role.REGISTRAR))]
"""A signed-in 登记员 (others: the 403 page; nobody signed in: the sign-in page)."""

_TITLES = {
    status.HTTP_400_BAD_REQUEST: "请求有误",
    status.HTTP_403_FORBIDDEN: "无权访问",
    status.HTTP_404_NOT_FOUND: "未找到",
    status.HTTP_409_CONFLICT: "操作未完成",
}


class PageRoute(APIRoute):
    """An ``APIRoute`` whose refusals are pages, not JSON: an ``HTTPException`` of 4xx
    (403 wrong role or campus, 404 …), a ``ServiceError`` and a malformed query become
    ``reg_error.html`` with the sentence and the same status. The sign-in redirect and
    anything else pass through unchanged."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                if not 400 <= exc.status_code < 500 or exc.status_code == 401:
                    raise
                return error_page(request, exc.status_code, str(exc.detail))
            except ServiceError as exc:
                return error_page(request, service_status(exc), exc.message)
            except RequestValidationError as exc:
                fields = "、".join(str(e.get("loc", ["?"])[-1]) for e in exc.errors())
                message = f"网址中的参数有误（{fields}），请从页面上的链接进入 / bad parameters"
                return error_page(request, status.HTTP_400_BAD_REQUEST, message)

        return guarded


def service_status(exc: ServiceError) -> int:
    """The HTTP status the API answers ``exc`` with (404/409/400)."""
    return next(
        (code for kind, code in STATUS_OF.items() if isinstance(exc, kind)),
        status.HTTP_400_BAD_REQUEST,
    )


def error_page(request: Request, status_code: int, message: str) -> Response:
    """A small Chinese page saying why the request was refused."""
    templates = request.app.state.templates
    context = {"title": _TITLES.get(status_code, "出错了"), "message": message}
    return templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "reg_error.html", context, status_code=status_code
    )


def render(
    request: Request,
    principal: Principal,
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    """``template`` with the signed-in person, the pending flash message (then cleared)
    and ``context``."""
    flash = unquote(request.cookies.get(FLASH_COOKIE, ""))
    templates = request.app.state.templates
    response = templates.TemplateResponse(
        request,
        template,
        {"me": principal.user, "role": principal.role, "flash": flash, **context},
        status_code=status_code,
    )
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response  # type: ignore[no-any-return]


def redirect(url: str, flash: str = "") -> RedirectResponse:
    """303 to ``url`` (redirect-after-post), carrying ``flash`` to be shown there once."""
    response = RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
    if flash:
        response.set_cookie(
            FLASH_COOKIE, quote(flash), max_age=60, httponly=True, samesite="strict", path="/"
        )
    return response


def today(ctx: HubContext) -> date:
    """The campus calendar day now."""
    return local_day(utcnow(), ctx.settings.zone)


def validation_sentence(exc: ValidationError, labels: Mapping[str, str]) -> str:
    """One sentence for a form field pydantic refused (the first one), naming the field
    as the page labels it."""
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    label = labels.get(field, field)
    return f"“{label}”填写有误，请修改后再提交 / {field}: {first['msg']}"
