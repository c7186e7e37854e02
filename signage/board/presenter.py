"""What the board shows, as plain text: :class:`BoardState` in, :class:`BoardView` out.

No Kivy here: the window (:mod:`signage.ui`) copies these strings into its labels, and the
text mode of ``pacs-signage`` prints :func:`room_line` and :func:`connection_line`. Only
masked names ever reach this module (the broker carries nothing else).

Wording: captions are Chinese (``language = "zh"``) or Chinese with English after
(``"zh-en"``); the connection-lost banner and the paused sign are always both, Chinese
first, because they tell staff something is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from signage.board.state import BoardState, RecentCall, RoomPicture

CONNECTION_LOST: Final = "与叫号服务器的连接已中断，正在重新连接… / connection lost, reconnecting"
CONNECTED: Final = "已连接叫号服务器 / connected to the call server"
PAUSED: Final = "暂停服务 / paused"
NO_DATA: Final = "等待排队信息… / waiting for queue data"
NOBODY: Final = "—"

_CAPTIONS: Final = {
    "calling": ("正在呼叫", "Now calling"),
    "next": ("请准备", "Next"),
    "recent": ("最近呼叫", "Last calls"),
}


@dataclass(frozen=True)
class RoomView:
    """One room panel. ``status`` is empty while the room serves normally; it holds
    :data:`PAUSED` or :data:`NO_DATA` otherwise. ``next_text`` is ``next_lines`` one per line."""

    room: str
    label: str
    calling_caption: str
    calling_ticket: str
    calling_name: str
    next_caption: str
    next_lines: tuple[str, ...]
    next_text: str
    status: str
    paused: bool


@dataclass(frozen=True)
class BoardView:
    """The whole screen. ``banner`` is empty while connected; ``recent_text`` is
    ``recent_lines`` joined for a one-line strip."""

    rooms: tuple[RoomView, ...]
    recent_caption: str
    recent_lines: tuple[str, ...]
    recent_text: str
    banner: str


def present(state: BoardState, language: str = "zh") -> BoardView:
    """The display strings for ``state``; ``language`` is ``"zh"`` or ``"zh-en"``."""
    recent = tuple(recent_line(call) for call in state.recent)
    return BoardView(
        rooms=tuple(present_room(picture, language) for picture in state.rooms),
        recent_caption=caption("recent", language),
        recent_lines=recent,
        recent_text="    ".join(recent),
        banner=CONNECTION_LOST if state.connection_lost else "",
    )


def present_room(picture: RoomPicture, language: str = "zh") -> RoomView:
    """The panel strings of one room."""
    next_lines = tuple(_ticket_line(view.ticket, view.masked_name) for view in picture.next)
    if picture.paused:
        status = PAUSED
    elif picture.seq is None:
        status = NO_DATA
    else:
        status = ""
    calling = picture.calling
    return RoomView(
        room=picture.room,
        label=picture.room_label,
        calling_caption=caption("calling", language),
        calling_ticket=calling.ticket if calling else NOBODY,
        calling_name=calling.masked_name if calling else "",
        next_caption=caption("next", language),
        next_lines=next_lines,
        next_text="\n".join(next_lines),
        status=status,
        paused=picture.paused,
    )


def caption(key: str, language: str) -> str:
    """A heading in the board's language (``"zh-en"``: Chinese, then English)."""
    chinese, english = _CAPTIONS[key]
    return f"{chinese} {english}" if language == "zh-en" else chinese


def recent_line(call: RecentCall) -> str:
    """One entry of the last-calls strip, e.g. ``C012 张*三 → CT1``."""
    return f"{_ticket_line(call.ticket, call.masked_name)} → {call.room_label}"


def room_line(view: RoomView) -> str:
    """One room as a line of text (text mode), e.g.
    ``CT1: 呼叫 C012 张*三；等候 C013 李*, C014 王*``."""
    if view.status:
        return f"{view.label}: {view.status}"
    calling = _ticket_line(view.calling_ticket, view.calling_name)
    waiting = ", ".join(view.next_lines) if view.next_lines else NOBODY
    return f"{view.label}: 呼叫 {calling}；等候 {waiting}"


def connection_line(state: BoardState) -> str:
    """The connection as a line of text: :data:`CONNECTION_LOST` or :data:`CONNECTED`."""
    return CONNECTION_LOST if state.connection_lost else CONNECTED


def _ticket_line(ticket: str, masked_name: str) -> str:
    return f"{ticket} {masked_name}" if masked_name else ticket
