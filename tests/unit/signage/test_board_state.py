"""The board's picture from queue snapshots, calls and broker connection events."""

from __future__ import annotations

from shared.mqtt.envelope import build_envelope
from shared.mqtt.payloads import DeviceKind, DeviceStatus
from signage.board.state import (
    BoardMessage,
    BrokerConnected,
    BrokerDisconnected,
    CallReceived,
    apply,
    apply_all,
    initial_state,
    message_from_envelope,
)
from tests.unit.signage.builders import call, config, snapshot


def test_initial_state_shows_configured_rooms_and_lost_sign() -> None:
    state = initial_state(config())
    assert [p.room for p in state.rooms] == ["ct1", "ct2"]
    assert state.connection_lost
    assert state.room("ct1").calling is None and state.room("ct1").seq is None


def test_snapshot_fills_room_with_calling_and_next_few() -> None:
    state = apply(
        initial_state(config(next_count=2)),
        snapshot(1, serving="C001", waiting=("C002", "C003", "C004")),
    )
    room = state.room("ct1")
    assert room.calling is not None and room.calling.ticket == "C001"
    assert [v.ticket for v in room.next] == ["C002", "C003"]
    assert room.room_label == "CT1" and room.seq == 1 and room.fresh
    assert state.room("ct2").seq is None


def test_lower_or_equal_seq_is_ignored() -> None:
    state = apply(initial_state(config()), snapshot(5, serving="C005"))
    assert apply(state, snapshot(4, serving="C004")) is state
    assert apply(state, snapshot(5, serving="C099")) is state
    newer = apply(state, snapshot(6, serving="C006"))
    calling = newer.room("ct1").calling
    assert calling is not None and calling.ticket == "C006"


def test_paused_flag_and_empty_queue_replace_the_picture() -> None:
    state = apply(initial_state(config()), snapshot(1, serving="C001", waiting=("C002",)))
    state = apply(state, snapshot(2, paused=True))
    room = state.room("ct1")
    assert room.paused and room.calling is None and room.next == ()


def test_other_campus_and_unshown_rooms_are_ignored() -> None:
    state = initial_state(config())
    assert apply(state, snapshot(1, campus="xiqu", serving="C001")) is state
    assert apply(state, snapshot(1, room="mr1", serving="M001")) is state
    assert apply(state, call("M001", room="mr1")) is state
    assert apply(state, call("C001", campus="xiqu")) is state


def test_disconnect_keeps_picture_and_reconnect_rebuilds_from_retained() -> None:
    state = apply_all(
        initial_state(config()),
        [BrokerConnected(), snapshot(3, serving="C003"), snapshot(7, room="ct2", serving="D007")],
    )
    assert not state.connection_lost
    lost = apply(state, BrokerDisconnected())
    assert lost.connection_lost
    assert lost.room("ct1").seq == 3 and not lost.room("ct1").fresh
    assert not lost.room("ct2").fresh
    # Back: the broker re-sends its retained snapshots; ct1 moved on, ct2 did not.
    back = apply_all(
        lost,
        [BrokerConnected(), snapshot(9, serving="C009"), snapshot(7, room="ct2", serving="D007")],
    )
    assert not back.connection_lost
    ct1, ct2 = back.room("ct1"), back.room("ct2")
    assert ct1.calling is not None and ct1.calling.ticket == "C009" and ct1.fresh
    assert ct2.calling is not None and ct2.calling.ticket == "D007" and ct2.fresh
    # A stale retained snapshot delivered after the newer one changes nothing.
    assert apply(back, snapshot(8, serving="C008")) is back


def test_reconnect_rebuild_matches_a_board_that_never_lost_the_broker() -> None:
    messages: list[BoardMessage] = [
        BrokerConnected(),
        snapshot(1, serving="C001"),
        snapshot(2, serving="C002", waiting=("C003",)),
    ]
    steady = apply_all(initial_state(config()), messages)
    flapped = apply_all(
        initial_state(config()),
        [*messages[:2], BrokerDisconnected(), BrokerConnected(), messages[2]],
    )
    assert flapped == steady


def test_recent_calls_newest_first_bounded_and_deduplicated() -> None:
    state = initial_state(config(recent_count=3))
    first = call("C001", minute=1)
    state = apply_all(state, [first, call("C002", minute=2), call("D001", room="ct2", minute=3)])
    assert apply(state, first) is state
    state = apply(state, call("C003", minute=4))
    assert [r.ticket for r in state.recent] == ["C003", "D001", "C002"]


def test_recall_moves_ticket_to_top_once() -> None:
    state = apply_all(initial_state(config()), [call("C001", minute=1), call("C002", minute=2)])
    state = apply(state, call("C001", minute=3, attempt=2))
    assert [(r.ticket, r.attempt) for r in state.recent] == [("C001", 2), ("C002", 1)]
    # The first call of C001 re-delivered late does not undo the recall.
    assert apply(state, call("C001", minute=1)) is state


def test_late_redelivery_older_than_the_list_falls_off() -> None:
    state = apply_all(
        initial_state(config(recent_count=2)), [call("C005", minute=5), call("C006", minute=6)]
    )
    state = apply(state, call("C001", minute=1))
    assert [r.ticket for r in state.recent] == ["C006", "C005"]


def test_message_from_envelope_keeps_the_envelope_id() -> None:
    envelope = build_envelope(call("C001").call)
    message = message_from_envelope(envelope)
    assert isinstance(message, CallReceived)
    assert message.event_id == envelope.id and message.call.ticket == "C001"
    assert message_from_envelope(build_envelope(snapshot(1))) == snapshot(1)
    status = DeviceStatus(
        device_id="board-1", kind=DeviceKind.SIGNAGE, online=True, boot=1, version="1"
    )
    assert message_from_envelope(build_envelope(status)) is None
