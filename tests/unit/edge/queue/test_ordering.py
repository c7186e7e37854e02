"""One test per ordering rule: levels, FIFO, late arrivals, early window, missed recall."""

from datetime import date, time, timedelta

import pytest

from edge_gateway.queue.actions import call_next, complete, return_missed, room_order, skip
from edge_gateway.queue.errors import QueueError
from edge_gateway.queue.model import CampusQueue, LateRule, Level, RecallRule, new_queue
from edge_gateway.queue.ordering import age_on, half_day_end, slot_end
from tests.unit.edge.queue.support import Clock, at, config, enqueue


def numbers(queue: CampusQueue, room: str = "ct1") -> list[str]:
    return [t.number for t in room_order(queue, room)]


def serve_next(queue: CampusQueue, clock: Clock, room: str = "ct1") -> tuple[CampusQueue, str]:
    called = call_next(queue, room, now=clock.tick())
    number = called.transitions[0].ticket
    assert number is not None
    return complete(called.queue, number, now=clock.tick()).queue, number


def test_levels_emergency_special_on_time_walk_in() -> None:
    clock = Clock(at(8))
    queue = new_queue(config())
    queue, walk_in = enqueue(queue, clock, "w")
    queue, on_time = enqueue(queue, clock, "a", appointment_at=at(8, 30))
    queue, special = enqueue(queue, clock, "s", groups=frozenset({"military"}))
    queue, emergency = enqueue(queue, clock, "e", emergency=True)
    assert numbers(queue) == [emergency, special, on_time, walk_in]
    assert [t.level for t in room_order(queue, "ct1")] == list(Level)


def test_fifo_within_a_level() -> None:
    clock = Clock(at(8))
    queue = new_queue(config())
    queue, first = enqueue(queue, clock, "1")
    queue, second = enqueue(queue, clock, "2")
    queue, third = enqueue(queue, clock, "3")
    assert numbers(queue) == [first, second, third]


def test_age_70_is_a_special_group_69_is_not() -> None:
    clock = Clock(at(8))
    queue = new_queue(config())
    queue, young = enqueue(queue, clock, "y", birth_date=date(1956, 11, 26))  # 69 today
    queue, old = enqueue(queue, clock, "o", birth_date=date(1956, 11, 25))  # 70 today
    assert numbers(queue) == [old, young]
    assert queue.tickets[old].special_group == "elderly"
    assert age_on(date(1956, 11, 26), date(2026, 11, 25)) == 69


def test_special_groups_are_configurable() -> None:
    clock = Clock(at(8))
    queue = new_queue(config(special_groups=()))
    queue, first = enqueue(queue, clock, "1")
    queue, military = enqueue(queue, clock, "m", groups=frozenset({"military"}))
    assert numbers(queue) == [first, military]


def test_appointment_within_grace_is_on_time() -> None:
    clock = Clock(at(9, 10))
    queue = new_queue(config())
    queue, walk_in = enqueue(queue, clock, "w")
    queue, slightly_late = enqueue(queue, clock, "a", appointment_at=at(9))  # 9:12, grace 15'
    assert numbers(queue) == [slightly_late, walk_in]
    assert not queue.tickets[slightly_late].late


def test_late_every_n_is_called_after_n_others() -> None:
    clock = Clock(at(9))
    queue = new_queue(config(late_rule=LateRule.EVERY_N, late_every_n=2))
    for patient in "abcd":
        queue, _ = enqueue(queue, clock, patient, appointment_at=at(9, 30))
    queue, late = enqueue(queue, clock, "late", appointment_at=at(8))
    assert queue.tickets[late].late
    assert numbers(queue).index(late) == 2
    queue, _ = serve_next(queue, clock)
    assert numbers(queue).index(late) == 1  # moves up as others are called
    queue, _ = serve_next(queue, clock)
    queue, called = serve_next(queue, clock)
    assert called == late


def test_two_late_patients_have_n_others_between_them() -> None:
    clock = Clock(at(9))
    queue = new_queue(config(late_rule=LateRule.EVERY_N, late_every_n=2))
    for patient in "abcdef":
        queue, _ = enqueue(queue, clock, patient)
    queue, late1 = enqueue(queue, clock, "l1", appointment_at=at(8))
    queue, late2 = enqueue(queue, clock, "l2", appointment_at=at(8))
    order = numbers(queue)
    assert (order.index(late1), order.index(late2)) == (2, 5)


def test_late_every_n_is_not_overtaken_by_later_walk_ins() -> None:
    clock = Clock(at(9))
    queue = new_queue(config(late_rule=LateRule.EVERY_N, late_every_n=1))
    queue, walk_in = enqueue(queue, clock, "w")
    queue, late = enqueue(queue, clock, "l", appointment_at=at(8))
    queue, later = enqueue(queue, clock, "x")
    assert numbers(queue) == [walk_in, late, later]


def test_late_end_of_slot_goes_after_on_time_patients_of_the_slot() -> None:
    clock = Clock(at(9, 0))
    queue = new_queue(config(late_rule=LateRule.END_OF_SLOT, slot_length=timedelta(minutes=30)))
    queue, walk_in = enqueue(queue, clock, "w")
    queue, late = enqueue(queue, clock, "l", appointment_at=at(8))  # 9:02, slot ends 9:30
    queue, on_time = enqueue(queue, clock, "a", appointment_at=at(9, 15))
    clock.now = at(9, 40)
    queue, next_slot = enqueue(queue, clock, "b", appointment_at=at(9, 45))
    assert numbers(queue) == [on_time, late, next_slot, walk_in]
    assert slot_end(at(9, 2), config()) == at(9, 30)


def test_late_end_of_half_day_goes_after_everyone_of_the_half_day() -> None:
    clock = Clock(at(9))
    queue = new_queue(config(late_rule=LateRule.END_OF_HALF_DAY))
    queue, late = enqueue(queue, clock, "l", appointment_at=at(8))
    queue, walk_in = enqueue(queue, clock, "w")
    clock.now = at(11, 50)
    queue, last_walk_in = enqueue(queue, clock, "x")
    assert numbers(queue) == [walk_in, last_walk_in, late]
    assert half_day_end(at(13), config()) == at(18)
    assert half_day_end(at(19), config()) == at(0, day=26)


def test_too_early_check_in_is_refused_with_the_time_to_come_back() -> None:
    clock = Clock(at(8))
    queue = new_queue(config(early_window=timedelta(minutes=30)))
    with pytest.raises(QueueError) as error:
        enqueue(queue, clock, "a", appointment_at=at(10))
    assert str(error.value).startswith("签到太早")
    assert "09:30" in str(error.value) and "check in from 09:30" in str(error.value)
    clock.now = at(9, 28)
    with pytest.raises(QueueError):
        enqueue(queue, clock, "a", appointment_at=at(10))  # 09:29: one minute too early
    queue, ticket = enqueue(queue, clock, "a", appointment_at=at(10))  # 09:30: window opens
    assert queue.tickets[ticket].level is Level.ON_TIME


def missed_and_back(recall_rule: RecallRule) -> tuple[CampusQueue, str, list[str]]:
    clock = Clock(at(9))
    queue = new_queue(config(recall_rule=recall_rule, recall_after_n=2))
    queue, missed = enqueue(queue, clock, "m")
    others = []
    for patient in "abcd":
        queue, number = enqueue(queue, clock, patient)
        others.append(number)
    queue = call_next(queue, "ct1", now=clock.tick()).queue
    queue = skip(queue, missed, now=clock.tick()).queue
    assert missed not in numbers(queue)
    queue = return_missed(queue, missed, now=clock.tick()).queue
    return queue, missed, others


def test_missed_patient_returns_after_n_patients() -> None:
    queue, missed, others = missed_and_back(RecallRule.AFTER_N)
    assert numbers(queue) == [*others[:2], missed, *others[2:]]


def test_missed_patient_returns_at_end_of_queue() -> None:
    queue, missed, others = missed_and_back(RecallRule.END_OF_QUEUE)
    assert numbers(queue) == [*others, missed]


def test_returned_missed_patient_is_not_overtaken_by_later_arrivals() -> None:
    queue, missed, others = missed_and_back(RecallRule.END_OF_QUEUE)
    clock = Clock(at(10))
    queue, later = enqueue(queue, clock, "z")
    assert numbers(queue) == [*others, missed, later]


def test_emergency_still_goes_first_ahead_of_a_pinned_ticket() -> None:
    queue, missed, others = missed_and_back(RecallRule.AFTER_N)
    clock = Clock(at(10))
    queue, emergency = enqueue(queue, clock, "e", emergency=True)
    # the pin counts places from the front, so the emergency pushes a regular ticket back
    assert numbers(queue) == [emergency, others[0], missed, *others[1:]]


def test_half_day_ends_are_configurable() -> None:
    cfg = config(half_day_ends=(time(11, 30),))
    assert half_day_end(at(9), cfg) == at(11, 30)
