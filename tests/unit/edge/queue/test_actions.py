"""One test per action rule of the room state machine."""

from datetime import timedelta

import pytest

from edge_gateway.queue import actions
from edge_gateway.queue.actions import (
    back_from_prep,
    call_next,
    cancel,
    check_in,
    complete,
    complete_by_accession,
    discontinue_by_accession,
    pause,
    recall,
    resume,
    return_missed,
    room_order,
    send_to_prep,
    skip,
    start_day,
    start_exam,
    transfer,
)
from edge_gateway.queue.errors import QueueError
from edge_gateway.queue.model import (
    Action,
    CampusQueue,
    PrepState,
    RoomConfig,
    TicketState,
    new_queue,
    view_status,
)
from shared.mqtt.payloads import TicketStatus
from tests.unit.edge.queue.support import Clock, at, config, enqueue, request


def waiting(queue: CampusQueue, room: str = "ct1") -> list[str]:
    return [t.number for t in room_order(queue, room)]


def two_waiting() -> tuple[CampusQueue, Clock, str, str]:
    clock = Clock(at(9))
    queue = new_queue(config())
    queue, first = enqueue(queue, clock, "p1", accessions=("ACC1",))
    queue, second = enqueue(queue, clock, "p2", accessions=("ACC2",))
    return queue, clock, first, second


def test_check_in_issues_prefixed_numbers_per_modality() -> None:
    clock = Clock(at(9))
    queue = new_queue(config())
    queue, ct = enqueue(queue, clock, "a")
    queue, mr = enqueue(queue, clock, "b", room="mr1", modality="MR")
    queue, ct2 = enqueue(queue, clock, "c")
    assert (ct, mr, ct2) == ("C001", "M001", "C002")
    outcome = check_in(queue, request("d", modality="MR"), now=clock.tick())
    record = outcome.transitions[0]
    assert (record.action, record.to_state, record.ticket) == (
        Action.CHECK_IN,
        TicketState.WAITING,
        "M002",
    )
    assert outcome.queue.tickets["M002"].history == (record,)


def test_check_in_balances_rooms_of_the_same_modality_by_queue_length() -> None:
    clock = Clock(at(9))
    queue = new_queue(config())
    rooms = []
    for patient in "abcd":
        outcome = check_in(queue, request(patient), now=clock.tick())
        queue = outcome.queue
        rooms.append(outcome.queue.tickets[outcome.transitions[0].ticket or ""].room)
    assert rooms == ["ct1", "ct2", "ct1", "ct2"]
    queue = call_next(queue, "ct1", now=clock.tick()).queue
    queue = complete(queue, "C001", now=clock.tick()).queue
    outcome = check_in(queue, request("e"), now=clock.tick())
    assert outcome.queue.tickets["C005"].room == "ct1"  # ct1 has 1 left, ct2 has 2


def test_check_in_prefers_open_rooms_over_paused_ones() -> None:
    clock = Clock(at(9))
    queue = pause(new_queue(config()), "ct1", now=clock.tick()).queue
    for patient in "abc":
        queue = check_in(queue, request(patient), now=clock.tick()).queue
    assert {t.room for t in queue.tickets.values()} == {"ct2"}


def test_check_in_goes_to_the_room_of_the_booked_scanner_while_it_is_open() -> None:
    """The modality in the booked room has the exam on its worklist (queried by its own
    station AE): the patient is called there even when the other room is shorter."""
    rooms = (
        RoomConfig("ct1", "CT1", "CT", "DG_CT1"),
        RoomConfig("ct2", "CT2", "CT", "DG_CT2"),
        RoomConfig("mr1", "MR1", "MR"),
    )
    clock = Clock(at(9))
    queue = new_queue(config(rooms=rooms))
    for patient in "abc":
        queue = check_in(queue, request(patient, station_ae="DG_CT2"), now=clock.tick()).queue
    assert [t.room for t in queue.tickets.values()] == ["ct2", "ct2", "ct2"]
    # no booked scanner, or one this campus has no room for: the shortest line
    queue = check_in(queue, request("d"), now=clock.tick()).queue
    queue = check_in(queue, request("e", station_ae="XH_CT9"), now=clock.tick()).queue
    assert queue.tickets["C004"].room == "ct1" and queue.tickets["C005"].room == "ct1"
    # the booked room is paused (scanner down): the patient is not kept waiting for it
    queue = pause(queue, "ct2", now=clock.tick()).queue
    queue = check_in(queue, request("f", station_ae="DG_CT2"), now=clock.tick()).queue
    assert queue.tickets["C006"].room == "ct1"
    # a registrar's chosen room still wins over the booking
    queue = check_in(queue, request("g", station_ae="DG_CT1", room="ct2"), now=clock.tick()).queue
    assert queue.tickets["C007"].room == "ct2"


def test_a_station_belongs_to_one_room() -> None:
    rooms = (RoomConfig("ct1", "CT1", "CT", "CT_A"), RoomConfig("ct2", "CT2", "CT", "CT_A"))
    with pytest.raises(ValueError, match="one room only"):
        config(rooms=rooms)


def test_check_in_refusals() -> None:
    clock = Clock(at(9))
    queue = new_queue(config())
    queue, number = enqueue(queue, clock, "a")
    with pytest.raises(QueueError, match=f"已签到，您的号码是{number}"):
        enqueue(queue, clock, "a", room="ct2")
    with pytest.raises(QueueError, match="本院区没有US检查室"):
        check_in(queue, request("b", modality="US"), now=clock.tick())
    with pytest.raises(QueueError, match="MR1室不做CT检查"):
        enqueue(queue, clock, "b", room="mr1")


def test_call_next_calls_the_first_and_occupies_the_room() -> None:
    queue, clock, first, second = two_waiting()
    outcome = call_next(queue, "ct1", now=clock.tick())
    ticket = outcome.queue.tickets[first]
    assert ticket.status is TicketState.CALLED and ticket.called_at == clock.now
    assert outcome.queue.rooms["ct1"].serving == first
    assert waiting(outcome.queue) == [second]
    assert outcome.transitions[0].action is Action.CALL


def test_call_next_refused_while_serving_when_paused_and_when_empty() -> None:
    queue, clock, first, _ = two_waiting()
    queue = call_next(queue, "ct1", now=clock.tick()).queue
    with pytest.raises(QueueError, match=f"CT1室正在检查{first}号"):
        call_next(queue, "ct1", now=clock.tick())
    paused = pause(queue, "ct1", now=clock.tick()).queue
    with pytest.raises(QueueError) as error:
        call_next(complete(paused, first, now=clock.tick()).queue, "ct1", now=clock.tick())
    assert str(error.value) == "CT1室已暂停，不能叫号 / room CT1 is paused: resume it first"
    with pytest.raises(QueueError, match="CT2室没有候检患者"):
        call_next(queue, "ct2", now=clock.tick())
    with pytest.raises(QueueError, match="没有xx检查室"):
        call_next(queue, "xx", now=clock.tick())


def test_pause_and_resume() -> None:
    queue, clock, first, _ = two_waiting()
    outcome = pause(queue, "ct1", now=clock.tick())
    assert outcome.queue.rooms["ct1"].paused
    assert outcome.transitions[0].action is Action.PAUSE and outcome.transitions[0].ticket is None
    with pytest.raises(QueueError, match="CT1室已暂停"):
        pause(outcome.queue, "ct1", now=clock.tick())
    resumed = resume(outcome.queue, "ct1", now=clock.tick()).queue
    assert call_next(resumed, "ct1", now=clock.tick()).queue.rooms["ct1"].serving == first
    with pytest.raises(QueueError, match="CT1室未暂停"):
        resume(resumed, "ct1", now=clock.tick())


def test_recall_repeats_the_call_of_a_called_ticket_only() -> None:
    queue, clock, first, second = two_waiting()
    queue = call_next(queue, "ct1", now=clock.tick()).queue
    outcome = recall(queue, first, now=clock.tick())
    assert outcome.queue.tickets[first].call_attempts == 2
    assert outcome.transitions[0].action is Action.RECALL
    assert outcome.transitions[0].detail == "attempt=2"
    with pytest.raises(QueueError, match=f"{second}号不在叫号中，不能重呼"):
        recall(queue, second, now=clock.tick())


def test_skip_marks_missed_and_frees_the_room() -> None:
    queue, clock, first, second = two_waiting()
    queue = call_next(queue, "ct1", now=clock.tick()).queue
    queue = skip(queue, first, now=clock.tick()).queue
    ticket = queue.tickets[first]
    assert (ticket.status, ticket.missed_count) == (TicketState.MISSED, 1)
    assert queue.rooms["ct1"].serving is None
    assert call_next(queue, "ct1", now=clock.tick()).queue.rooms["ct1"].serving == second
    with pytest.raises(QueueError, match="不能过号"):
        skip(queue, second, now=clock.tick())
    with pytest.raises(QueueError, match="未过号"):
        return_missed(queue, second, now=clock.tick())


def test_missed_patient_returned_is_called_again_and_counts_misses() -> None:
    queue, clock, first, _ = two_waiting()
    queue = call_next(queue, "ct1", now=clock.tick()).queue
    queue = skip(queue, first, now=clock.tick()).queue
    queue = return_missed(queue, first, now=clock.tick()).queue
    assert queue.tickets[first].status is TicketState.WAITING
    assert first in waiting(queue)


def test_preparation_out_is_not_called_and_back_keeps_its_place() -> None:
    queue, clock, first, second = two_waiting()
    queue, third = enqueue(queue, clock, "p3")
    queue = send_to_prep(queue, first, now=clock.tick(), reason="饮水").queue
    assert queue.tickets[first].prep is PrepState.OUT
    assert waiting(queue) == [second, third]
    with pytest.raises(QueueError, match="当前不能去准备"):
        send_to_prep(queue, first, now=clock.tick())
    queue = back_from_prep(queue, first, now=clock.tick()).queue
    assert waiting(queue) == [first, second, third]
    with pytest.raises(QueueError, match="不在准备中"):
        back_from_prep(queue, first, now=clock.tick())


def test_called_patient_sent_to_preparation_frees_the_room() -> None:
    queue, clock, first, second = two_waiting()
    queue = call_next(queue, "ct1", now=clock.tick()).queue
    queue = send_to_prep(queue, first, now=clock.tick()).queue
    assert queue.rooms["ct1"].serving is None
    assert queue.tickets[first].status is TicketState.WAITING
    assert call_next(queue, "ct1", now=clock.tick()).queue.rooms["ct1"].serving == second


def test_transfer_moves_to_a_room_of_the_same_modality_keeping_fifo() -> None:
    clock = Clock(at(9))
    queue = new_queue(config())
    queue, early = enqueue(queue, clock, "a", room="ct1")
    queue, other = enqueue(queue, clock, "b", room="ct2")
    queue = call_next(queue, "ct1", now=clock.tick()).queue
    outcome = transfer(queue, early, "ct2", now=clock.tick())
    queue = outcome.queue
    assert queue.tickets[early].room == "ct2" and queue.rooms["ct1"].serving is None
    assert queue.tickets[early].status is TicketState.WAITING
    assert waiting(queue, "ct2") == [early, other]  # checked in earlier: ahead
    assert outcome.transitions[0].detail == "from=ct1"
    assert outcome.transitions[0].room == "ct2"
    with pytest.raises(QueueError, match="MR1室不做CT检查"):
        transfer(queue, early, "mr1", now=clock.tick())
    with pytest.raises(QueueError, match="已在CT2室"):
        transfer(queue, early, "ct2", now=clock.tick())


def test_start_and_complete_record_service_time() -> None:
    queue, clock, first, _ = two_waiting()
    queue = call_next(queue, "ct1", now=clock.tick()).queue
    queue = start_exam(queue, first, now=clock.tick()).queue
    assert queue.tickets[first].status is TicketState.IN_EXAM
    clock.tick(6)
    outcome = complete(queue, first, now=clock.tick())
    assert outcome.queue.tickets[first].status is TicketState.DONE
    assert outcome.queue.rooms["ct1"].serving is None
    assert outcome.queue.rooms["ct1"].durations == (8 * 60.0,)
    with pytest.raises(QueueError, match="未被叫号，不能完成"):
        complete(outcome.queue, first, now=clock.tick())


def test_service_time_window_keeps_the_latest_exams() -> None:
    clock = Clock(at(9))
    queue = new_queue(config(service_window=2))
    for index, patient in enumerate("abc"):
        queue, number = enqueue(queue, clock, patient)
        queue = call_next(queue, "ct1", now=clock.tick()).queue
        queue = complete(queue, number, now=clock.tick(index + 1)).queue
    assert queue.rooms["ct1"].durations == (120.0, 180.0)


def test_complete_by_accession_from_mpps() -> None:
    queue, clock, first, second = two_waiting()
    queue = call_next(queue, "ct1", now=clock.tick()).queue
    outcome = complete_by_accession(queue, "ACC1", now=clock.tick())
    assert outcome.queue.tickets[first].status is TicketState.DONE
    assert outcome.queue.rooms["ct1"].serving is None
    lagging = complete_by_accession(outcome.queue, "ACC2", now=clock.tick())
    assert lagging.queue.tickets[second].status is TicketState.DONE
    assert lagging.transitions[0].detail == "mpps"
    repeat = complete_by_accession(lagging.queue, "ACC2", now=clock.tick())
    assert repeat.transitions == () and repeat.queue == lagging.queue
    assert complete_by_accession(queue, "NOPE", now=clock.tick()).transitions == ()


def test_discontinue_by_accession_from_mpps_cancels_and_frees_the_room() -> None:
    queue, clock, first, second = two_waiting()
    queue = call_next(queue, "ct1", now=clock.tick()).queue
    queue = start_exam(queue, first, now=clock.tick()).queue
    outcome = discontinue_by_accession(queue, "ACC1", now=clock.tick())
    assert outcome.queue.tickets[first].status is TicketState.CANCELLED
    assert outcome.queue.rooms["ct1"].serving is None
    record = outcome.transitions[0]
    assert (record.action, record.detail) == (Action.CANCEL, actions.DISCONTINUED_REASON)
    # the room calls the next patient at once
    called = call_next(outcome.queue, "ct1", now=clock.tick())
    assert called.queue.rooms["ct1"].serving == second
    # a repeat, or an accession no ticket holds: nothing happens
    repeat = discontinue_by_accession(outcome.queue, "ACC1", now=clock.tick())
    assert repeat.transitions == () and repeat.queue == outcome.queue
    assert discontinue_by_accession(queue, "NOPE", now=clock.tick()).transitions == ()


def test_cancel_removes_from_queue_and_frees_room() -> None:
    queue, clock, first, second = two_waiting()
    queue = call_next(queue, "ct1", now=clock.tick()).queue
    outcome = cancel(queue, first, now=clock.tick(), reason="患者离开")
    assert outcome.queue.tickets[first].status is TicketState.CANCELLED
    assert outcome.queue.rooms["ct1"].serving is None
    assert view_status(TicketState.CANCELLED) is None
    with pytest.raises(QueueError, match="已结束，不能取消"):
        cancel(outcome.queue, first, now=clock.tick())
    queue = cancel(outcome.queue, second, now=clock.tick()).queue
    assert waiting(queue) == []
    # a cancelled patient may check in again
    queue, again = enqueue(queue, clock, "p1")
    assert again == "C003"


def test_unknown_ticket_is_a_readable_error() -> None:
    queue, clock, _, _ = two_waiting()
    with pytest.raises(QueueError) as error:
        recall(queue, "C999", now=clock.tick())
    assert str(error.value) == "没有C999号 / no ticket C999: check the number"


def test_start_day_drops_yesterdays_tickets_and_numbers_restart() -> None:
    queue, clock, first, _ = two_waiting()
    queue = call_next(queue, "ct1", now=clock.tick()).queue
    clock.now = at(8, day=26)
    queue = start_day(queue, now=clock())
    assert queue.tickets == {} and queue.rooms["ct1"].serving is None
    assert queue.rooms["ct1"].calls == 0
    queue, number = enqueue(queue, clock, "p1")
    assert number == first == "C001"
    assert start_day(queue, now=clock()) is queue  # idempotent within the day


def test_view_status_uses_broker_vocabulary() -> None:
    assert view_status(TicketState.IN_EXAM) is TicketStatus.IN_EXAM
    assert {view_status(s) for s in TicketState} - {None} == set(TicketStatus)


def test_transitions_are_immutable_history() -> None:
    queue, clock, first, _ = two_waiting()
    before = queue
    queue = call_next(queue, "ct1", now=clock.tick()).queue
    queue = recall(queue, first, now=clock.tick()).queue
    assert before.tickets[first].status is TicketState.WAITING  # old state untouched
    assert [h.action for h in queue.tickets[first].history] == [
        Action.CHECK_IN,
        Action.CALL,
        Action.RECALL,
    ]
    assert queue.tickets[first].history[1].at == clock.now - timedelta(minutes=1)
    assert actions.get_room(queue, "ct1").calls == 1


def test_start_day_keeps_counters_of_rooms_with_todays_tickets() -> None:
    clock = Clock(at(23, day=24))
    queue = new_queue(config())
    queue, _ = enqueue(queue, clock, "old", room="ct2")
    clock.now = at(9)
    queue, today = enqueue(queue, clock, "new", room="ct1")
    queue = call_next(queue, "ct1", now=clock.tick()).queue
    queue = start_day(queue, now=clock())
    assert list(queue.tickets) == [today]
    assert queue.rooms["ct1"].calls == 1 and queue.rooms["ct1"].serving == today


def test_all_rooms_paused_still_accept_check_ins() -> None:
    clock = Clock(at(9))
    queue = new_queue(config())
    queue = pause(pause(queue, "ct1", now=clock.tick()).queue, "ct2", now=clock.tick()).queue
    queue, number = enqueue(queue, clock, "a", room=None)
    assert queue.tickets[number].room == "ct1"
