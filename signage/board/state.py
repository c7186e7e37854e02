"""The board's picture as an immutable value, changed only by :func:`apply`.

Messages in (see :data:`BoardMessage`): a decoded :class:`QueueState` snapshot, a
:class:`CallReceived` (a :class:`CallEvent` with its envelope id), and the broker
connection events :class:`BrokerConnected` / :class:`BrokerDisconnected`. Out: a new
:class:`BoardState` (the same object when the message changes nothing).

Rules:

* Only the configured campus and rooms are shown; other messages are ignored.
* A snapshot replaces a room's picture only when its ``seq`` is higher than the one held.
  A lower ``seq`` is stale (an old retained message) and ignored. An equal ``seq`` is a
  re-delivery: the picture is unchanged, but the room counts as confirmed (``fresh``).
* Losing the broker sets ``connected = False`` (the screen shows the lost sign) and marks
  every room not fresh: the last picture stays on screen until the broker's retained
  snapshots, delivered again on reconnect, confirm or replace it. No picture is thrown
  away on disconnect, so a flapping link never blanks the screen.
* The last calls (newest ``called_at`` first, at most ``recent_count``) list each room's
  ticket once: a recall (attempt > 1) replaces its earlier line; an event id already listed
  is ignored, and a late re-delivery older than every listed call falls off the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from shared.mqtt.envelope import Envelope
from shared.mqtt.payloads import CallEvent, QueueState, TicketView
from signage.board.config import BoardConfig


@dataclass(frozen=True)
class CallReceived:
    """A call-out as delivered: ``event_id`` is its envelope id (dedupes re-deliveries)."""

    event_id: uuid.UUID
    call: CallEvent


@dataclass(frozen=True)
class BrokerConnected:
    """The board's MQTT client (re)connected; retained snapshots will follow."""


@dataclass(frozen=True)
class BrokerDisconnected:
    """The board's MQTT client lost the broker."""


BoardMessage = QueueState | CallReceived | BrokerConnected | BrokerDisconnected


@dataclass(frozen=True)
class RoomPicture:
    """One room on the board: ``calling`` is the ticket now served, ``next`` the first few
    waiting. ``seq`` is that of the snapshot shown (None: none yet); ``fresh`` is True when
    a snapshot has confirmed the picture since the last (re)connect."""

    room: str
    room_label: str
    seq: int | None = None
    paused: bool = False
    calling: TicketView | None = None
    next: tuple[TicketView, ...] = ()
    fresh: bool = False


@dataclass(frozen=True)
class RecentCall:
    """One line of the "last calls" list."""

    event_id: uuid.UUID
    room: str
    room_label: str
    ticket: str
    masked_name: str
    attempt: int
    called_at: datetime


@dataclass(frozen=True)
class BoardState:
    """Everything the board shows. Build the first one with :func:`initial_state`."""

    campus: str
    rooms: tuple[RoomPicture, ...]
    recent: tuple[RecentCall, ...]
    connected: bool
    next_count: int
    recent_count: int

    @property
    def connection_lost(self) -> bool:
        """True while the board has no broker (also before its first connection)."""
        return not self.connected

    def room(self, room: str) -> RoomPicture:
        """The picture of ``room``; KeyError if the board does not show it."""
        for picture in self.rooms:
            if picture.room == room:
                return picture
        raise KeyError(room)


def initial_state(config: BoardConfig) -> BoardState:
    """The picture of a board that has heard nothing yet (rooms empty, not connected)."""
    return BoardState(
        campus=config.campus,
        rooms=tuple(RoomPicture(room=room, room_label=room) for room in config.rooms),
        recent=(),
        connected=False,
        next_count=config.next_count,
        recent_count=config.recent_count,
    )


def apply(state: BoardState, message: BoardMessage) -> BoardState:
    """Return the picture after ``message`` (see the module docstring for the rules)."""
    match message:
        case BrokerConnected():
            return state if state.connected else replace(state, connected=True)
        case BrokerDisconnected():
            rooms = tuple(replace(p, fresh=False) for p in state.rooms)
            return replace(state, connected=False, rooms=rooms)
        case QueueState():
            return _apply_snapshot(state, message)
        case CallReceived():
            return _apply_call(state, message)


def apply_all(state: BoardState, messages: Iterable[BoardMessage]) -> BoardState:
    """Apply ``messages`` in order, e.g. the retained snapshots after a reconnect."""
    for message in messages:
        state = apply(state, message)
    return state


def message_from_envelope(envelope: Envelope) -> BoardMessage | None:
    """The board message carried by a decoded envelope, or None for bodies the board
    does not use."""
    if isinstance(envelope.body, QueueState):
        return envelope.body
    if isinstance(envelope.body, CallEvent):
        return CallReceived(event_id=envelope.id, call=envelope.body)
    return None


def _apply_snapshot(state: BoardState, snapshot: QueueState) -> BoardState:
    if snapshot.campus != state.campus:
        return state
    rooms = list(state.rooms)
    for index, held in enumerate(rooms):
        if held.room != snapshot.room:
            continue
        if held.seq is not None and snapshot.seq < held.seq:
            return state
        if held.seq == snapshot.seq:
            if held.fresh:
                return state
            rooms[index] = replace(held, fresh=True)
        else:
            rooms[index] = RoomPicture(
                room=held.room,
                room_label=snapshot.room_label,
                seq=snapshot.seq,
                paused=snapshot.paused,
                calling=snapshot.now_serving,
                next=snapshot.waiting[: state.next_count],
                fresh=True,
            )
        return replace(state, rooms=tuple(rooms))
    return state


def _apply_call(state: BoardState, received: CallReceived) -> BoardState:
    call = received.call
    shown = any(p.room == call.room for p in state.rooms)
    if call.campus != state.campus or not shown or state.recent_count == 0:
        return state
    for held in state.recent:
        if held.event_id == received.event_id:
            return state
        if (held.room, held.ticket) == (call.room, call.ticket) and held.called_at > call.called_at:
            return state
    line = RecentCall(
        event_id=received.event_id,
        room=call.room,
        room_label=call.room_label,
        ticket=call.ticket,
        masked_name=call.masked_name,
        attempt=call.attempt,
        called_at=call.called_at,
    )
    others = [r for r in state.recent if (r.room, r.ticket) != (call.room, call.ticket)]
    newest_first = sorted((line, *others), key=lambda r: r.called_at, reverse=True)
    return replace(state, recent=tuple(newest_first[: state.recent_count]))
