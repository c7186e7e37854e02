"""The board controller: state, announcements one at a time, stale calls, bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc
from datetime import datetime, timedelta
from pathlib import Path

from signage.board.announcements import (
    DROPPED_LIMIT,
    SEEN_LIMIT,
    Done,
    Effect,
    PlayChime,
    Speak,
    Stale,
)
from signage.board.controller import BoardController, TimedEffect
from signage.board.state import BoardState, BrokerConnected, CallReceived
from tests.unit.signage.builders import T0, call, config, snapshot

ROOT = Path(__file__).resolve().parents[3]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Sink:
    """A speech sink that records what it is given (the test plays the worker)."""

    def __init__(self) -> None:
        self.given: list[TimedEffect] = []

    def __call__(self, effect: TimedEffect) -> None:
        self.given.append(effect)


def test_effects_go_to_the_sink_one_at_a_time_in_call_order() -> None:
    sink = Sink()
    board = BoardController(config(chime=True, repeats=2), sink, Clock(T0 + timedelta(minutes=3)))
    board.handle(call("C001", minute=1))
    board.handle(call("C003", minute=3))
    board.handle(call("C002", minute=2))
    assert len(sink.given) == 1 and isinstance(sink.given[0], PlayChime)
    while board.queue.busy:
        board.speech_finished()
    tickets = [(type(e).__name__, e.announcement.ticket) for e in sink.given]
    assert tickets == [
        ("PlayChime", "C001"), ("Speak", "C001"), ("Speak", "C001"),
        ("PlayChime", "C002"), ("Speak", "C002"), ("Speak", "C002"),
        ("PlayChime", "C003"), ("Speak", "C003"), ("Speak", "C003"),
    ]  # fmt: skip
    assert board.counters.announced == 3 and board.counters.calls == 3


def test_a_stale_call_is_listed_but_not_spoken() -> None:
    sink = Sink()
    notices: list[Effect] = []
    board = BoardController(config(), sink, Clock(T0 + timedelta(minutes=5)))
    board.subscribe_effects(notices.append)
    board.handle(call("C001", minute=0))
    assert sink.given == [] and [type(n) for n in notices] == [Stale]
    assert [r.ticket for r in board.state.recent] == ["C001"]
    assert board.counters.stale == 1


def test_observers_see_each_new_state_and_can_unsubscribe() -> None:
    board = BoardController(config(), None, Clock(T0))
    seen: list[BoardState] = []
    unsubscribe = board.subscribe(seen.append)
    board.handle(BrokerConnected())
    board.handle(snapshot(1, serving="C001"))
    board.handle(snapshot(1, serving="C001"))  # re-delivery: no change, no call
    assert len(seen) == 2 and seen[-1] is board.state
    unsubscribe()
    board.handle(snapshot(2, serving="C002"))
    assert len(seen) == 2


def test_a_silent_board_completes_announcements_at_once() -> None:
    effects: list[Effect] = []
    board = BoardController(config(chime=False, repeats=1), None, Clock(T0))
    board.subscribe_effects(effects.append)
    board.handle(call("C001"))
    board.handle(call("C002", minute=0))
    assert [type(e) for e in effects] == [Speak, Done, Speak, Done]
    assert not board.queue.busy


def test_threads_calling_in_and_finishing_keep_strict_turns() -> None:
    """Many calls from one thread while a worker thread acknowledges: never two
    outstanding effects, nothing lost beyond the backlog bound."""
    outstanding = threading.Semaphore(0)
    given: list[TimedEffect] = []
    overlap: list[int] = []
    busy = [0]

    def sink(effect: TimedEffect) -> None:
        busy[0] += 1
        if busy[0] > 1:
            overlap.append(busy[0])
        given.append(effect)
        outstanding.release()

    board = BoardController(
        config(chime=False, repeats=1, max_backlog=100), sink, Clock(T0 + timedelta(minutes=1))
    )
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            if outstanding.acquire(timeout=0.05):
                busy[0] -= 1
                board.speech_finished()

    thread = threading.Thread(target=worker)
    thread.start()
    for n in range(50):
        board.handle(call(f"C{n:03d}", minute=0))
    deadline = time.monotonic() + 10
    while board.queue.busy and time.monotonic() < deadline:
        time.sleep(0.01)  # poll the condition, with a deadline
    stop.set()
    thread.join()
    assert overlap == []
    assert sorted(e.announcement.ticket for e in given) == [f"C{n:03d}" for n in range(50)]


def measure_ten_thousand_calls() -> dict[str, int]:
    """10,000 calls and pictures on a board: what it still holds, and how much the traced
    memory grew over the last 8,000 (``test_memory_stays_flat_over_ten_thousand_calls``)."""
    clock = Clock(T0)
    board = BoardController(config(max_backlog=10, recent_count=5), Sink(), clock)

    def burst(start: int, count: int) -> None:
        for n in range(start, start + count):
            clock.now = T0 + timedelta(seconds=n)
            received = call(f"C{n % 1000:03d}", room=("ct1", "ct2")[n % 2])
            moved = received.call.model_copy(update={"called_at": clock.now})
            board.handle(CallReceived(event_id=received.event_id, call=moved))
            board.handle(snapshot(n, room=("ct1", "ct2")[n % 2], serving=f"C{n % 1000:03d}"))

    burst(0, 2000)
    tracemalloc.start()
    first, _ = tracemalloc.get_traced_memory()
    burst(2000, 8000)
    second, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    queue = board.queue
    return {
        "grown": second - first,
        "seen": len(queue.seen),
        "dropped": len(queue.dropped),
        "pending": len(queue.pending),
        "recent": len(board.state.recent),
        "calls": board.counters.calls,
        "dropped_calls": board.counters.dropped,
    }


def test_memory_stays_flat_over_ten_thousand_calls() -> None:
    # In a fresh interpreter: tracemalloc counts every thread, and threads that earlier tests
    # left in this (xdist worker) process allocate too.
    script = (
        "import json; from tests.unit.signage.test_board_controller import "
        "measure_ten_thousand_calls as m; print(json.dumps(m()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    held = json.loads(done.stdout.strip().splitlines()[-1])
    assert held["seen"] <= SEEN_LIMIT and held["dropped"] <= DROPPED_LIMIT
    assert held["pending"] <= 10 and held["recent"] <= 5
    assert held["calls"] == 10000 and held["dropped_calls"] > 0
    assert held["grown"] < 200_000, f"grew by {held['grown']} bytes over 8,000 calls"
