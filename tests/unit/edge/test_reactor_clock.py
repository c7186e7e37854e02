"""The association reactor's clock: wakes on a queued DIMSE message, otherwise real time."""

from __future__ import annotations

import contextlib
import queue
import threading
import time

import pynetdicom.association as association_module

from edge_gateway.dicom.transport import ReactorClock, wake_reactors_on_messages


class _Dimse:
    def __init__(self) -> None:
        self.msg_queue: queue.Queue[object] = queue.Queue()


class _ReactorLike(threading.Thread):
    """A thread shaped like pynetdicom's Association: it has ``dimse.msg_queue``."""

    def __init__(self, clock: ReactorClock, polls: int) -> None:
        super().__init__(daemon=True)
        self.dimse = _Dimse()
        self.clock = clock
        self.polls = polls
        self.seen: list[object] = []

    def run(self) -> None:
        for _ in range(self.polls):
            self.clock.sleep(0.001)  # what the reactor does before each look
            with contextlib.suppress(queue.Empty):
                self.seen.append(self.dimse.msg_queue.get(block=False))


def test_installed_once_in_pynetdicoms_association_module() -> None:
    wake_reactors_on_messages()
    wake_reactors_on_messages()
    clock = association_module.time  # type: ignore[attr-defined]
    assert isinstance(clock, ReactorClock)
    assert clock.monotonic is time.monotonic and clock.time is time.time


def test_every_queued_message_is_taken_in_order() -> None:
    clock = ReactorClock()
    reactor = _ReactorLike(clock, polls=2000)
    reactor.start()
    for n in range(50):
        reactor.dimse.msg_queue.put(n)
    reactor.join(timeout=30)
    assert not reactor.is_alive()
    assert reactor.seen == list(range(50))
    clock.sleep(0.0001)  # any other pause, on any thread, is time.sleep's
