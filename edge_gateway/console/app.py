"""The technician console: ``create_console_app(desk, users, sessions)``.

Pages (Chinese first, server-rendered; a little JavaScript for keyboard shortcuts and for
reloading when the room changes):

* ``GET /console/login``, ``POST /console/login``, ``POST /console/logout``
* ``GET /console`` — choose a room
* ``GET /console/rooms/{room}`` — current patient (full name: identity check), waiting
  list with estimated waits, missed and preparing lists, buttons with shortcuts, check-in
* ``POST /console/rooms/{room}/actions`` — form ``action`` (see :class:`RoomAction`),
  ``ticket``, ``to_room``, ``reason``; answers 303 back to the page with the result, or
  JSON ``{"ok", "message"}`` when the request accepts ``application/json`` (409 when the
  queue rules refuse, with the sentence)
* ``POST /console/rooms/{room}/check-in`` — ``patient_id`` or ``accession``, ``emergency``,
  ``group``
* ``GET /console/rooms/{room}/version`` — ``{"seq": n}``: the page reloads when it changes
* ``GET /console/health`` — no sign-in

Every page and action needs a signed-in technician or registrar of this campus; what a
room page shows is reported to the hub's audit trail (:mod:`edge_gateway.console.audit`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from edge_gateway.console.audit import ReadAudit
from edge_gateway.console.sessions import COOKIE, LIFETIME_SECONDS, Sessions
from edge_gateway.console.users import ConsoleUsers, Person, SignInRefused
from edge_gateway.console.view import room_page
from edge_gateway.queue.desk import QueueDesk, RoomAction
from edge_gateway.queue.errors import QueueError
from edge_gateway.queue.store import StaleQueueError
from shared.settings import campus_label

log = logging.getLogger(__name__)

STALE_SENTENCE = (
    "排队数据被另一个程序修改，操作未执行：请重试，若反复出现请联系信息科（同一数据目录只能运行一个网关）"
    " / the queue was changed by another program and nothing was done: try again; if it "
    "keeps happening call IT (only one gateway may run on a data directory)"
)
GROUPS = {"": "", "elderly": "老年人", "disabled": "残疾人", "military": "军人"}


class _SignInNeeded(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def _person(request: Request) -> Person:
    """The signed-in person; raises _SignInNeeded (→ sign-in page or 401)."""
    sessions: Sessions = request.app.state.sessions
    found = sessions.read(request.cookies.get(COOKIE))
    if found is None:
        raise _SignInNeeded(str(request.url.path))
    return found


Who = Annotated[Person, Depends(_person)]


def create_console_app(
    desk: QueueDesk,
    users: ConsoleUsers,
    sessions: Sessions,
    *,
    reads: ReadAudit,
    campus: str,
    secure_cookie: bool = False,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FastAPI:
    """The console as an ASGI app (served by the gateway next to its DICOM port)."""
    app = FastAPI(title="PACS 叫号控制台", docs_url=None, redoc_url=None, openapi_url=None)
    package = resources.files("edge_gateway.console")
    templates = Jinja2Templates(directory=str(package / "templates"))
    app.mount("/console/static", StaticFiles(directory=str(package / "static")), name="static")

    app.state.sessions = sessions

    @app.exception_handler(RequestValidationError)
    def _bad_form(request: Request, exc: RequestValidationError) -> Response:
        fields = ", ".join(
            sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")}) or {"?"}
        )
        message = (
            f"请求不完整（{fields}），请刷新页面后重试 / the request is incomplete ({fields}): "
            "reload the page and try again"
        )
        return JSONResponse({"ok": False, "message": message}, status_code=422)

    @app.exception_handler(_SignInNeeded)
    def _to_login(request: Request, exc: _SignInNeeded) -> Response:
        if _wants_json(request):
            return JSONResponse(
                {"ok": False, "message": "请先登录 / sign in first"}, status_code=401
            )
        return RedirectResponse(f"/console/login?next={quote(exc.next_url)}", status_code=303)

    def room_or_404(room: str) -> str:
        if room not in desk.queue.rooms:
            raise HTTPException(404, f"没有检查室 {room} / no room {room} on this campus")
        return room

    @app.get("/console/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "campus": campus}

    @app.get("/console/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/console", error: str = "") -> Response:
        return templates.TemplateResponse(
            request,
            "login.html",
            {"next": _local(next), "error": error, "campus": campus_label(campus), "username": ""},
        )

    @app.post("/console/login")
    def login(
        request: Request,
        username: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "/console",
    ) -> Response:
        try:
            who = users.sign_in(username, password)
        except SignInRefused as refused:
            log.info("console sign-in refused for %r: %s", username[:64], refused)
            return templates.TemplateResponse(
                request,
                "login.html",
                {
                    "next": _local(next),
                    "error": str(refused),
                    "campus": campus_label(campus),
                    "username": username,
                },
                status_code=401,
            )
        log.info("console: %s (%s) signed in", who.username, who.role)
        response = RedirectResponse(_local(next), status_code=303)
        response.set_cookie(
            COOKIE,
            sessions.issue(who),
            max_age=LIFETIME_SECONDS,
            httponly=True,
            samesite="strict",
            secure=secure_cookie,
        )
        return response

    @app.post("/console/logout")
    def logout() -> Response:
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/console", response_class=HTMLResponse)
    def rooms(request: Request, who: Who) -> Response:
        queue = desk.queue
        listed = [
            (r.room, r.label, r.modality, queue.rooms[r.room].paused) for r in queue.config.rooms
        ]
        return templates.TemplateResponse(
            request, "rooms.html", {"who": who, "rooms": listed, "campus": campus_label(campus)}
        )

    @app.get("/console/rooms/{room}", response_class=HTMLResponse)
    def room_view(request: Request, room: str, who: Who, ok: str = "", err: str = "") -> Response:
        room = room_or_404(room)
        now = clock()
        page = room_page(desk.queue, room, seq=desk.seq(room), now=now)
        shown = [
            r.patient_id for r in (page.current, *page.waiting, *page.missed, *page.preparing) if r
        ]
        reads.viewed(who, room, shown, now.astimezone(desk.queue.config.zone).date())
        return templates.TemplateResponse(
            request,
            "room.html",
            {
                "who": who,
                "page": page,
                "ok": ok,
                "err": err,
                "groups": GROUPS,
                "campus": campus_label(campus),
            },
        )

    @app.get("/console/rooms/{room}/version")
    def version(room: str, who: Who) -> dict[str, int]:
        return {"seq": desk.seq(room_or_404(room))}

    @app.post("/console/rooms/{room}/actions")
    def act(
        request: Request,
        room: str,
        who: Who,
        action: Annotated[str, Form()],
        ticket: Annotated[str, Form()] = "",
        to_room: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
    ) -> Response:
        room = room_or_404(room)
        try:
            chosen = RoomAction(action)
        except ValueError:
            return _answer(request, room, False, f"未知操作 {action} / unknown action {action}")
        try:
            applied = desk.act(
                chosen,
                room=room,
                ticket=ticket.strip() or None,
                to_room=to_room or None,
                reason=reason.strip()[:200],
            )
        except QueueError as refused:
            return _answer(request, room, False, str(refused))
        except StaleQueueError:
            return _answer(request, room, False, STALE_SENTENCE)
        numbers = sorted({t.ticket for t in applied.transitions if t.ticket})
        log.info("console: %s did %s in room %s on %s", who.username, chosen, room, numbers)
        return _answer(request, room, True, _done_sentence(chosen, numbers), tickets=numbers)

    @app.post("/console/rooms/{room}/check-in")
    def check_in(
        request: Request,
        room: str,
        who: Who,
        patient_id: Annotated[str, Form()] = "",
        accession: Annotated[str, Form()] = "",
        emergency: Annotated[str, Form()] = "",
        group: Annotated[str, Form()] = "",
    ) -> Response:
        room = room_or_404(room)
        groups = frozenset({group}) if group in GROUPS and group else frozenset()
        try:
            checked = desk.check_in(
                patient_id=patient_id.strip() or None,
                accession=accession.strip() or None,
                emergency=bool(emergency),
                groups=groups,
                room=room,
            )
        except QueueError as refused:
            return _answer(request, room, False, str(refused))
        except StaleQueueError:
            return _answer(request, room, False, STALE_SENTENCE)
        parts = [
            f"{c.ticket.number}（{desk.queue.rooms[c.ticket.room].label}"
            f"{'' if c.new else '，已签到'}）"
            for c in checked
        ]
        log.info(
            "console: %s checked in patient → %s", who.username, [c.ticket.number for c in checked]
        )
        numbers = [c.ticket.number for c in checked]
        return _answer(
            request, room, True, f"已签到：{'、'.join(parts)} / checked in", tickets=numbers
        )

    def _answer(
        request: Request, room: str, ok: bool, message: str, *, tickets: list[str] | None = None
    ) -> Response:
        if _wants_json(request):
            return JSONResponse(
                {"ok": ok, "message": message, "tickets": tickets or []},
                status_code=200 if ok else 409,
            )
        key = "ok" if ok else "err"
        return RedirectResponse(f"/console/rooms/{room}?{key}={quote(message)}", status_code=303)

    return app


_DONE = {
    RoomAction.CALL_NEXT: "已叫号",
    RoomAction.RECALL: "已重呼",
    RoomAction.SKIP: "已过号",
    RoomAction.RETURN_MISSED: "已召回排队",
    RoomAction.PREP_OUT: "已去准备",
    RoomAction.PREP_BACK: "准备完成，已回到队列",
    RoomAction.START: "开始检查",
    RoomAction.COMPLETE: "检查完成",
    RoomAction.TRANSFER: "已转室",
    RoomAction.PAUSE: "本室已暂停",
    RoomAction.RESUME: "本室已恢复",
    RoomAction.CANCEL: "已取消",
}


def _done_sentence(action: RoomAction, numbers: list[str]) -> str:
    which = "、".join(numbers)
    return (
        f"{_DONE[action]}{('：' + which) if which else ''} / {action.value.replace('_', ' ')} done"
    )


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _local(target: str) -> str:
    """Only redirect within the console (never to another site)."""
    return target if target.startswith("/console") and "//" not in target else "/console"
