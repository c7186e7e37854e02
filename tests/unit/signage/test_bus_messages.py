"""Turning received payloads into board messages (no broker needed), and the boot counter."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.mqtt.envelope import PayloadError, build_envelope, encode_envelope
from shared.mqtt.payloads import DeviceKind, DeviceStatus
from shared.mqtt.topics import CallTopic, DeviceStatusTopic, QueueStateTopic
from signage.board.state import CallReceived
from signage.bus.boot import BootCounter
from signage.bus.client import board_message, room_filters
from tests.unit.signage.builders import call, config, snapshot


def test_state_and_call_payloads_become_board_messages() -> None:
    state = snapshot(4, serving="C012")
    assert (
        board_message(
            QueueStateTopic("dongge", "ct1").topic, encode_envelope(build_envelope(state))
        )
        == state
    )
    received = call("C012")
    envelope = build_envelope(received.call)
    message = board_message(CallTopic("dongge", "ct1").topic, encode_envelope(envelope))
    assert message == CallReceived(event_id=envelope.id, call=received.call)


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[]", b'{"v": 2}', encode_envelope(build_envelope(snapshot(1)))],
)
def test_unusable_payloads_on_a_call_topic_raise(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        board_message(CallTopic("dongge", "ct1").topic, payload)


def test_a_body_for_another_room_than_its_topic_is_refused() -> None:
    payload = encode_envelope(build_envelope(call("C012", room="ct2").call))
    with pytest.raises(PayloadError, match="another campus or room"):
        board_message(CallTopic("dongge", "ct1").topic, payload)


def test_other_topics_are_not_board_messages() -> None:
    status = DeviceStatus(device_id="k1", kind=DeviceKind.KIOSK, online=True, boot=1, version="1")
    topic = DeviceStatusTopic("dongge", "k1").topic
    assert board_message(topic, encode_envelope(build_envelope(status))) is None
    assert board_message("elsewhere/x", b"{}") is None


def test_room_filters_cover_state_and_calls_of_each_room() -> None:
    assert room_filters(config()) == [
        (QueueStateTopic("dongge", "ct1").topic, 1),
        (CallTopic("dongge", "ct1").topic, 1),
        (QueueStateTopic("dongge", "ct2").topic, 1),
        (CallTopic("dongge", "ct2").topic, 1),
    ]


def test_boot_counter_rises_across_instances(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    first = BootCounter(folder, "board-dongge-ct1")
    assert first.current() == 0
    assert [first.next(), first.next()] == [1, 2]
    assert BootCounter(folder, "board-dongge-ct1").next() == 3
    assert BootCounter(folder, "board-other").next() == 1
    (folder / "board-x.boot").write_text("garbage", encoding="ascii")
    assert BootCounter(folder, "board-x").next() == 1
    with pytest.raises(ValueError):
        BootCounter(folder, "../etc")
