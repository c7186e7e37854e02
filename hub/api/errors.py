"""HTTP answers for the services' errors: ``{"detail": sentence, ...extra}``."""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from hub.services.errors import Conflict, Invalid, NotFound, ServiceError

STATUS_OF: dict[type[ServiceError], int] = {
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    Invalid: status.HTTP_400_BAD_REQUEST,
}


async def service_error_response(request: Request, exc: Exception) -> JSONResponse:
    """404/409/400 with the error's sentence in ``detail`` and its extra fields beside it."""
    assert isinstance(exc, ServiceError)
    code = next(
        (c for kind, c in STATUS_OF.items() if isinstance(exc, kind)),
        status.HTTP_400_BAD_REQUEST,
    )
    body = {"detail": exc.message, **exc.extra}
    return JSONResponse(jsonable_encoder(body), status_code=code)


async def validation_error_response(request: Request, exc: Exception) -> JSONResponse:
    """422 with one sentence naming the fields that are wrong, and FastAPI's list beside it
    (``errors``) for programs."""
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query"))
        problems.append(f"{where or '请求'}: {error.get('msg', '')}")
    sentence = "请求内容有误，请检查这些字段 / invalid request, check: " + "; ".join(problems)
    return JSONResponse(
        jsonable_encoder({"detail": sentence, "errors": exc.errors()}),
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


def install(app: FastAPI) -> None:
    """Register the handlers on ``app`` (called by ``create_app``)."""
    app.add_exception_handler(ServiceError, service_error_response)
    app.add_exception_handler(RequestValidationError, validation_error_response)
