"""Pages every signed-in person sees: sign in, sign out, home."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.api.deps import SESSION_COOKIE, ContextDep, SessionDep, client_address
from hub.api.routes.auth import login
from hub.web.session import AnyStaff, set_session_cookie

router = APIRouter(include_in_schema=False)


def _safe_next(next_url: str) -> str:
    """Only local paths (no scheme, no host) may be redirected to after sign-in."""
    if next_url.startswith("/") and not next_url.startswith("//"):
        return next_url
    return "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/", message: str = "") -> Response:
    templates = request.app.state.templates
    return templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "login.html", {"next": _safe_next(next), "error": message}
    )


@router.post("/login", response_model=None)
def login_submit(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    try:
        token = login(
            session=session,
            ctx=ctx,
            username=username.strip(),
            password=password,
            client=client_address(request),
        )
    except HTTPException as exc:
        templates = request.app.state.templates
        return templates.TemplateResponse(  # type: ignore[no-any-return]
            request,
            "login.html",
            {"next": _safe_next(next), "error": str(exc.detail), "username": username},
            status_code=exc.status_code,
        )
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(
        response,
        token.access_token,
        max_age=ctx.settings.token_minutes * 60,
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout() -> RedirectResponse:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, principal: AnyStaff) -> Response:
    templates = request.app.state.templates
    return templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "home.html", {"me": principal.user, "role": principal.role}
    )
