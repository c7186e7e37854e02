"""The board's announcement queue: calls spoken one at a time, in call order.

A plain state machine. :func:`offer` takes a delivered call, :func:`finished` says the
speech worker completed the effect it was last given; both return the new
:class:`AnnouncementQueue` and the effects to carry out, in order.

Effects: :class:`PlayChime` and :class:`Speak` *take time*: the worker performs them
and then calls :func:`finished` exactly once. :class:`Done` (an announcement ended),
:class:`Dropped` (a call was dropped unspoken) and :class:`Stale` (a call too old to be
spoken) are notices the worker logs or shows and does not acknowledge. A returned effect
tuple holds at most one timed effect, always last, and only when no timed effect is
outstanding: announcements never overlap.

Rules:

* One announcement = a chime (if configured) then the words ``repeats`` times.
* Calls are spoken in ``called_at`` order; a call delivered late is placed among the
  waiting ones by its time (never ahead of the one being spoken).
* A recall (重呼) of a ticket is a new call event and so a new announcement.
* An event id seen before (a re-delivery) is ignored; the last :data:`SEEN_LIMIT` ids are
  remembered.
* Calls for another campus or a room the board does not show are ignored.
* A call whose ``called_at`` is more than ``stale_after`` before the time of delivery
  (``now`` given to :func:`offer`) is not spoken: it is a re-delivery after an outage
  (a persistent session hands over calls queued while the board was away), and calling
  a patient minutes late would confuse the room. It is answered with a :class:`Stale`
  notice and remembered as seen; the board still lists it among the last calls.
* At most ``max_backlog`` announcements wait; beyond that the oldest waiting one is
  dropped, announced by a :class:`Dropped` effect and kept in ``dropped`` (the last
  :data:`DROPPED_LIMIT`; ``dropped_count`` counts all).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from signage.board.config import BoardConfig
from signage.board.speech_text import SpokenCall, call_text
from signage.board.state import CallReceived

SEEN_LIMIT: Final = 256
DROPPED_LIMIT: Final = 20
DEFAULT_STALE_AFTER: Final = timedelta(seconds=120)


@dataclass(frozen=True)
class Announcement:
    """One call to be announced, with its words already prepared."""

    event_id: uuid.UUID
    room: str
    ticket: str
    attempt: int
    called_at: datetime
    words: SpokenCall


@dataclass(frozen=True)
class PlayChime:
    """Play the chime before ``announcement`` (timed: acknowledge with :func:`finished`)."""

    announcement: Announcement


@dataclass(frozen=True)
class Speak:
    """Say ``pinyin`` (shown as ``text``); ``repeat`` counts from 1 (timed)."""

    announcement: Announcement
    text: str
    pinyin: str
    repeat: int


@dataclass(frozen=True)
class Done:
    """``announcement`` has been fully spoken (notice)."""

    announcement: Announcement


@dataclass(frozen=True)
class Dropped:
    """``announcement`` was dropped unspoken because the backlog was full (notice)."""

    announcement: Announcement


@dataclass(frozen=True)
class Stale:
    """``announcement`` was delivered too late to be spoken (notice); ``age`` is how old
    its call was on delivery."""

    announcement: Announcement
    age: timedelta


Effect = PlayChime | Speak | Done | Dropped | Stale


@dataclass(frozen=True)
class AnnouncementQueue:
    """The queue's state. ``script`` holds the current announcement's remaining timed
    effects, the one in progress first (empty: idle)."""

    campus: str
    rooms: frozenset[str]
    repeats: int
    chime: bool
    number_only: bool
    max_backlog: int
    stale_after: timedelta = DEFAULT_STALE_AFTER
    script: tuple[PlayChime | Speak, ...] = ()
    pending: tuple[Announcement, ...] = ()
    seen: tuple[uuid.UUID, ...] = ()
    dropped: tuple[Announcement, ...] = ()
    dropped_count: int = 0
    stale_count: int = 0

    @property
    def busy(self) -> bool:
        """True while a timed effect is outstanding."""
        return bool(self.script)

    @property
    def current(self) -> Announcement | None:
        """The announcement being played, if any."""
        return self.script[0].announcement if self.script else None


Step = tuple[AnnouncementQueue, tuple[Effect, ...]]


def new_queue(config: BoardConfig) -> AnnouncementQueue:
    """An idle queue with the board's voice settings."""
    return AnnouncementQueue(
        campus=config.campus,
        rooms=frozenset(config.rooms),
        repeats=config.repeats,
        chime=config.chime,
        number_only=config.number_only,
        max_backlog=config.max_backlog,
        stale_after=timedelta(seconds=config.stale_after_seconds),
    )


def offer(queue: AnnouncementQueue, received: CallReceived, *, now: datetime | None = None) -> Step:
    """Take a delivered call: start it when idle, else queue it (see module rules).

    ``now`` (an aware datetime) is the time of delivery, used for the stale-call rule;
    when None the rule is not applied.
    """
    call = received.call
    if (
        call.campus != queue.campus
        or call.room not in queue.rooms
        or received.event_id in queue.seen
    ):
        return queue, ()
    words = call_text(
        ticket=call.ticket,
        masked_name=call.masked_name,
        room_label=call.room_label,
        number_only=queue.number_only,
    )
    item = Announcement(
        event_id=received.event_id,
        room=call.room,
        ticket=call.ticket,
        attempt=call.attempt,
        called_at=call.called_at,
        words=words,
    )
    queue = replace(queue, seen=(*queue.seen, item.event_id)[-SEEN_LIMIT:])
    if now is not None and now - call.called_at > queue.stale_after:
        stale = Stale(item, age=now - call.called_at)
        return replace(queue, stale_count=queue.stale_count + 1), (stale,)
    if not queue.busy:
        return _start(queue, item, ())
    position = len(queue.pending)
    while position > 0 and queue.pending[position - 1].called_at > item.called_at:
        position -= 1
    pending = (*queue.pending[:position], item, *queue.pending[position:])
    return _trim(replace(queue, pending=pending))


def finished(queue: AnnouncementQueue) -> Step:
    """The timed effect last handed out is complete: return the next effects.

    Raises RuntimeError when nothing was outstanding (a worker bug: every timed effect
    is acknowledged exactly once).
    """
    if not queue.busy:
        raise RuntimeError("finished() called with no chime or speech outstanding")
    done = queue.script[0].announcement
    rest = queue.script[1:]
    if rest:
        return replace(queue, script=rest), (rest[0],)
    notices: tuple[Effect, ...] = (Done(done),)
    if not queue.pending:
        return replace(queue, script=()), notices
    head, *tail = queue.pending
    return _start(replace(queue, pending=tuple(tail)), head, notices)


def _start(queue: AnnouncementQueue, item: Announcement, notices: tuple[Effect, ...]) -> Step:
    chime: tuple[PlayChime | Speak, ...] = (PlayChime(item),) if queue.chime else ()
    speech = tuple(
        Speak(item, text=item.words.display, pinyin=item.words.pinyin, repeat=n)
        for n in range(1, queue.repeats + 1)
    )
    script = chime + speech
    return replace(queue, script=script), (*notices, script[0])


def _trim(queue: AnnouncementQueue) -> Step:
    excess = len(queue.pending) - queue.max_backlog
    if excess <= 0:
        return queue, ()
    lost, kept = queue.pending[:excess], queue.pending[excess:]
    trimmed = replace(
        queue,
        pending=kept,
        dropped=(*queue.dropped, *lost)[-DROPPED_LIMIT:],
        dropped_count=queue.dropped_count + len(lost),
    )
    return trimmed, tuple(Dropped(item) for item in lost)
