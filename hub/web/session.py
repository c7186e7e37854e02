"""Signing in and out of the web UI: the same short-lived token as the API, in an
HttpOnly, SameSite=Strict cookie; pages for a person not signed in redirect to /login."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status

from hub.api.deps import SESSION_COOKIE, ContextDep, Principal, RequireRoles, SessionDep
from hub.security.roles import Role


class LoginRedirect(Exception):
    """Raised by a page dependency when nobody (or the wrong person) is signed in."""

    def __init__(self, next_url: str, message: str = "") -> None:
        super().__init__(message)
        self.next_url = next_url
        self.message = message


class PageRoles(RequireRoles):
    """``RequireRoles`` for pages: 401 becomes a redirect to the sign-in page."""

    def __call__(self, request: Request, session: SessionDep, ctx: ContextDep) -> Principal:
        try:
            return super().__call__(request, session, ctx)
        except HTTPException as exc:
            if exc.status_code == status.HTTP_401_UNAUTHORIZED:
                here = request.url.path
                if request.url.query:
                    here += "?" + request.url.query
                raise LoginRedirect(here, str(exc.detail)) from exc
            raise


def login_url(next_url: str) -> str:
    return f"/login?next={quote(next_url)}"


def set_session_cookie(response: object, token: str, max_age: int, secure: bool) -> None:
    response.set_cookie(  # type: ignore[attr-defined]
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )


AnyStaff = Annotated[Principal, Depends(PageRoles(*Role))]
