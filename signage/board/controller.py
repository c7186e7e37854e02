"""The board's logic in one thread-safe object: messages in, picture and voice out.

:class:`BoardController` holds the :class:`~signage.board.state.BoardState` and the
:class:`~signage.board.announcements.AnnouncementQueue`. The MQTT thread calls
:meth:`~BoardController.handle`, the speech worker's thread calls
:meth:`~BoardController.speech_finished`; one lock serialises both. After each change the
observers get the new state (state listeners) or the queue's effects (effect listeners),
*on the calling thread and while the lock is held*, so they see changes in order; they
must return quickly and must not wait for another thread that may call the controller
(a window hops to its main thread with ``Clock.schedule_once``).

Timed effects (chime, speech) go to the ``speak`` sink one at a time; the sink (normally
:meth:`signage.speech.worker.SpeechWorker.submit`) must return at once and arrange for
:meth:`speech_finished` to be called exactly once per effect. With no sink (a silent
board) every timed effect counts as finished at once, so announcements still complete
and effect listeners still see them.

Nothing grows with the number of calls: the state keeps ``recent_count`` calls, the queue
at most ``max_backlog`` waiting plus bounded ``seen``/``dropped`` tuples, and the
controller itself keeps only counters.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from signage.board.announcements import (
    AnnouncementQueue,
    Done,
    Dropped,
    Effect,
    PlayChime,
    Speak,
    Stale,
    finished,
    new_queue,
    offer,
)
from signage.board.config import BoardConfig
from signage.board.state import BoardMessage, BoardState, CallReceived, apply, initial_state

log = logging.getLogger(__name__)

TimedEffect = PlayChime | Speak
StateListener = Callable[[BoardState], None]
EffectListener = Callable[[Effect], None]


def utc_now() -> datetime:
    """The default clock: the current time, UTC, aware."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Counters:
    """Totals since start: messages handled, calls offered, announcements finished,
    calls dropped from a full backlog, calls too old to speak."""

    messages: int = 0
    calls: int = 0
    announced: int = 0
    dropped: int = 0
    stale: int = 0


class BoardController:
    """The board's state and announcement queue behind one lock (see the module docstring)."""

    def __init__(
        self,
        config: BoardConfig,
        speak: Callable[[TimedEffect], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """``speak`` receives timed effects (None: silent board); ``clock`` returns the
        aware current time, used to recognise stale calls."""
        self._config = config
        self._speak = speak
        self._clock = clock
        self._lock = threading.RLock()
        self._state = initial_state(config)
        self._queue = new_queue(config)
        self._counters = Counters()
        self._state_listeners: list[StateListener] = []
        self._effect_listeners: list[EffectListener] = []

    @property
    def config(self) -> BoardConfig:
        return self._config

    @property
    def state(self) -> BoardState:
        """The current picture (an immutable value)."""
        with self._lock:
            return self._state

    @property
    def queue(self) -> AnnouncementQueue:
        """The current announcement queue (an immutable value)."""
        with self._lock:
            return self._queue

    @property
    def counters(self) -> Counters:
        with self._lock:
            return self._counters

    def subscribe(self, listener: StateListener) -> Callable[[], None]:
        """Call ``listener(state)`` after every change of the picture; returns a function
        that unsubscribes. The listener is not called with the current state."""
        with self._lock:
            self._state_listeners.append(listener)
        return lambda: self._remove(self._state_listeners, listener)

    def subscribe_effects(self, listener: EffectListener) -> Callable[[], None]:
        """Call ``listener(effect)`` for every effect of the announcement queue (timed
        ones when they are handed out, notices when they happen); returns an unsubscriber."""
        with self._lock:
            self._effect_listeners.append(listener)
        return lambda: self._remove(self._effect_listeners, listener)

    def handle(self, message: BoardMessage) -> None:
        """Apply one broker message; a call is also offered to the announcement queue."""
        with self._lock:
            c = self._counters
            self._counters = replace(
                c, messages=c.messages + 1, calls=c.calls + isinstance(message, CallReceived)
            )
            new_state = apply(self._state, message)
            if new_state is not self._state:
                self._state = new_state
                self._notify_state(new_state)
            if isinstance(message, CallReceived):
                self._queue, effects = offer(self._queue, message, now=self._clock())
                self._dispatch(effects)

    def speech_finished(self) -> None:
        """The timed effect last handed to ``speak`` is complete. A call with nothing
        outstanding (e.g. after a restart of the worker) is logged and ignored."""
        with self._lock:
            if not self._queue.busy:
                log.warning("语音完成通知多余，已忽略 / speech_finished() with nothing outstanding")
                return
            self._queue, effects = finished(self._queue)
            self._dispatch(effects)

    # -- inside the lock -------------------------------------------------------------

    def _dispatch(self, effects: tuple[Effect, ...]) -> None:
        """Hand out ``effects``; without a sink, finish timed ones at once (iteratively)."""
        pending = effects
        while pending:
            timed: TimedEffect | None = None
            for effect in pending:
                self._count(effect)
                self._notify_effect(effect)
                if isinstance(effect, PlayChime | Speak):
                    timed = effect
            pending = ()
            if timed is None:
                return
            if self._speak is not None:
                try:
                    self._speak(timed)
                except Exception:
                    log.exception("语音输出失败，本条按已播处理 / the speech sink failed")
                    self._queue, pending = finished(self._queue)
                continue
            self._queue, pending = finished(self._queue)

    def _count(self, effect: Effect) -> None:
        c = self._counters
        if isinstance(effect, Dropped):
            self._counters = replace(c, dropped=c.dropped + 1)
        elif isinstance(effect, Stale):
            self._counters = replace(c, stale=c.stale + 1)
        elif isinstance(effect, Done):
            self._counters = replace(c, announced=c.announced + 1)

    def _notify_state(self, state: BoardState) -> None:
        for listener in tuple(self._state_listeners):
            try:
                listener(state)
            except Exception:
                log.exception("画面观察者出错 / a state listener raised")

    def _notify_effect(self, effect: Effect) -> None:
        for listener in tuple(self._effect_listeners):
            try:
                listener(effect)
            except Exception:
                log.exception("播报观察者出错 / an effect listener raised")

    def _remove(self, listeners: list[StateListener] | list[EffectListener], item: object) -> None:
        with self._lock:
            for index, held in enumerate(listeners):
                if held is item:
                    del listeners[index]
                    return
