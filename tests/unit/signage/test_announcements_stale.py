"""The stale-call rule: a call too old on delivery is listed, never spoken."""

from __future__ import annotations

from datetime import timedelta

from signage.board.announcements import PlayChime, Stale, finished, new_queue, offer
from tests.unit.signage.builders import T0, call, config


def test_a_call_older_than_the_limit_is_not_spoken() -> None:
    queue = new_queue(config(stale_after_seconds=120))
    received = call("C012", minute=0)
    queue, effects = offer(queue, received, now=T0 + timedelta(seconds=121))
    assert len(effects) == 1 and isinstance(effects[0], Stale)
    assert effects[0].age == timedelta(seconds=121)
    assert effects[0].announcement.words.display == "请 C012 号 张*三 到 CT1 室检查"
    assert not queue.busy and queue.pending == () and queue.stale_count == 1
    # remembered as seen: a second delivery is ignored entirely
    assert offer(queue, received, now=T0 + timedelta(seconds=122)) == (queue, ())


def test_a_call_within_the_limit_is_spoken() -> None:
    queue = new_queue(config(stale_after_seconds=120))
    queue, effects = offer(queue, call("C012", minute=0), now=T0 + timedelta(seconds=120))
    assert isinstance(effects[-1], PlayChime) and queue.busy


def test_a_stale_call_does_not_disturb_the_one_being_spoken() -> None:
    queue = new_queue(config(chime=False, repeats=1, stale_after_seconds=60))
    now = T0 + timedelta(minutes=10)
    queue, _ = offer(queue, call("C010", minute=10), now=now)
    queue, effects = offer(queue, call("C001", minute=1), now=now)
    assert [type(e) for e in effects] == [Stale]
    assert queue.current is not None and queue.current.ticket == "C010"
    queue, effects = finished(queue)
    assert [type(e).__name__ for e in effects] == ["Done"] and not queue.busy


def test_without_now_the_rule_is_off() -> None:
    _, effects = offer(new_queue(config()), call("C012", minute=0))
    assert isinstance(effects[0], PlayChime)
