"""The announcement queue: order, repeats, recalls, duplicates and the backlog bound."""

from __future__ import annotations

import pytest

from signage.board.announcements import (
    AnnouncementQueue,
    Done,
    Dropped,
    Effect,
    PlayChime,
    Speak,
    finished,
    new_queue,
    offer,
)
from signage.board.state import CallReceived
from tests.unit.signage.builders import call, config


def run_until_idle(
    queue: AnnouncementQueue, effects: tuple[Effect, ...]
) -> tuple[AnnouncementQueue, list[Effect]]:
    """Act as a speech worker: acknowledge every timed effect until the queue is idle."""
    log = list(effects)
    while queue.busy:
        queue, effects = finished(queue)
        log.extend(effects)
    return queue, log


def spoken(log: list[Effect]) -> list[tuple[str, int]]:
    return [(e.announcement.ticket, e.repeat) for e in log if isinstance(e, Speak)]


def feed(
    queue: AnnouncementQueue, calls: list[CallReceived]
) -> tuple[AnnouncementQueue, list[Effect]]:
    log: list[Effect] = []
    for received in calls:
        queue, effects = offer(queue, received)
        log.extend(effects)
    return queue, log


def test_one_call_is_chime_then_two_repeats_then_done() -> None:
    queue, effects = offer(new_queue(config()), call("C012"))
    assert len(effects) == 1 and isinstance(effects[0], PlayChime)
    queue, log = run_until_idle(queue, effects)
    kinds = [type(e).__name__ for e in log]
    assert kinds == ["PlayChime", "Speak", "Speak", "Done"]
    speech = [e for e in log if isinstance(e, Speak)]
    assert [s.repeat for s in speech] == [1, 2]
    assert speech[0].text == "请 C012 号 张*三 到 CT1 室检查"
    assert speech[0].pinyin.startswith("qing3 C ling2 yao1 er4 hao4")
    assert queue.current is None and queue.pending == ()


def test_repeats_and_chime_follow_config() -> None:
    queue, effects = offer(new_queue(config(repeats=3, chime=False)), call("C001"))
    _, log = run_until_idle(queue, effects)
    assert [type(e).__name__ for e in log] == ["Speak", "Speak", "Speak", "Done"]


def test_number_only_config_leaves_the_name_out() -> None:
    queue, effects = offer(new_queue(config(number_only=True)), call("C001", name="单*"))
    _, log = run_until_idle(queue, effects)
    speech = [e for e in log if isinstance(e, Speak)]
    assert speech[0].text == "请 C001 号 到 CT1 室检查"
    assert "shan4" not in speech[0].pinyin and "mou3" not in speech[0].pinyin


def test_one_at_a_time_in_call_order_even_when_delivered_out_of_order() -> None:
    queue = new_queue(config(chime=False, repeats=1))
    queue, first = offer(queue, call("C001", minute=1))
    queue, log = feed(
        queue, [call("C004", minute=4), call("D002", room="ct2", minute=2), call("C003", minute=3)]
    )
    assert log == []  # nothing new starts while C001 is being spoken
    assert queue.current is not None and queue.current.ticket == "C001"
    _, log = run_until_idle(queue, first)
    assert spoken(log) == [("C001", 1), ("D002", 1), ("C003", 1), ("C004", 1)]


def test_never_more_than_one_timed_effect_outstanding() -> None:
    queue, log = feed(new_queue(config()), [call(f"C00{n}", minute=n) for n in range(1, 5)])
    outstanding = sum(isinstance(e, (PlayChime, Speak)) for e in log)
    while queue.busy:
        assert outstanding == 1
        queue, effects = finished(queue)
        timed = [e for e in effects if isinstance(e, (PlayChime, Speak))]
        assert len(timed) <= 1 and (not timed or effects[-1] is timed[0])
        outstanding = len(timed)
    assert outstanding == 0


def test_recall_is_a_new_announcement() -> None:
    queue = new_queue(config(chime=False, repeats=1))
    queue, log = feed(queue, [call("C001", minute=1), call("C001", minute=2, attempt=2)])
    _, log = run_until_idle(queue, tuple(log))
    assert spoken(log) == [("C001", 1), ("C001", 1)]
    assert [e.announcement.attempt for e in log if isinstance(e, Done)] == [1, 2]


def test_duplicate_event_id_is_ignored_even_after_it_was_spoken() -> None:
    queue = new_queue(config(chime=False, repeats=1))
    once = call("C001")
    queue, effects = offer(queue, once)
    again, none = offer(queue, once)
    assert none == () and again.pending == ()
    queue, _ = run_until_idle(queue, effects)
    assert offer(queue, once) == (queue, ())


def test_unshown_rooms_and_other_campuses_are_not_announced() -> None:
    queue = new_queue(config())
    assert offer(queue, call("M001", room="mr1")) == (queue, ())
    assert offer(queue, call("C001", campus="xiqu")) == (queue, ())


def test_backlog_is_bounded_and_drops_the_oldest_waiting_call() -> None:
    queue = new_queue(config(chime=False, repeats=1, max_backlog=2))
    queue, log = feed(queue, [call(f"C00{n}", minute=n) for n in range(1, 6)])
    dropped = [e.announcement.ticket for e in log if isinstance(e, Dropped)]
    assert dropped == ["C002", "C003"]
    assert [a.ticket for a in queue.pending] == ["C004", "C005"]
    assert queue.dropped_count == 2 and [a.ticket for a in queue.dropped] == ["C002", "C003"]
    _, log = run_until_idle(queue, tuple(log))
    assert spoken(log) == [("C001", 1), ("C004", 1), ("C005", 1)]


def test_memory_stays_bounded_over_many_calls() -> None:
    queue = new_queue(config(chime=False, repeats=1, max_backlog=5))
    for n in range(2000):
        queue, effects = offer(queue, call(f"C{n % 1000:03d}", minute=n))
        if n % 10 == 0:
            queue, _ = run_until_idle(queue, effects)
    assert len(queue.seen) <= 256 and len(queue.dropped) <= 20 and len(queue.pending) <= 5
    assert queue.dropped_count > 0


def test_finished_without_outstanding_effect_is_a_worker_bug() -> None:
    with pytest.raises(RuntimeError):
        finished(new_queue(config()))
