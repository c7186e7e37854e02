"""Envelope and payload models: round trips through bytes, and every refusal."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from shared.mqtt.envelope import (
    ENVELOPE_VERSION,
    Envelope,
    PayloadError,
    build_envelope,
    build_reply,
    build_request,
    decode_envelope,
    encode_envelope,
)
from shared.mqtt.payloads import (
    MESSAGE_TYPES,
    MESSAGES,
    TOPIC_MESSAGE_TYPES,
    Body,
    CallEvent,
    DeviceConfig,
    DeviceKind,
    DeviceStatus,
    QueueState,
    RpcReply,
    RpcRequest,
    TicketStatus,
    TicketView,
    type_name_of,
)
from shared.mqtt.topics import RpcReplyTopic, TopicKind

NOW = datetime(2025, 3, 4, 8, 30, tzinfo=timezone(timedelta(hours=8)))
REPLY_TOPIC = RpcReplyTopic("dongge", "kiosk-1")


def ticket(number: str, name: str = "张*", status: str = "waiting") -> TicketView:
    return TicketView(ticket=number, masked_name=name, exam_label="CT 平扫", status=status)


def queue_state(seq: int = 7, **changes: Any) -> QueueState:
    fields: dict[str, Any] = {
        "campus": "dongge",
        "room": "ct1",
        "room_label": "CT1 室",
        "seq": seq,
        "paused": False,
        "now_serving": ticket("C011", "李*丰", "called"),
        "waiting": [ticket("C012", "张*(C012)"), ticket("C015", "张*(C015)")],
        "updated_at": NOW,
    }
    fields.update(changes)
    return QueueState(**fields)


def call_event(**changes: Any) -> CallEvent:
    fields: dict[str, Any] = {
        "campus": "dongge",
        "room": "ct1",
        "room_label": "CT1 室",
        "ticket": "C012",
        "masked_name": "欧阳*娜",
        "spoken_text": "请 C012 号到 CT1 室检查",
        "attempt": 1,
        "called_at": NOW,
    }
    fields.update(changes)
    return CallEvent(**fields)


def device_status(boot: int = 3, online: bool = True) -> DeviceStatus:
    return DeviceStatus(
        device_id="kiosk-1",
        kind=DeviceKind.KIOSK,
        online=online,
        boot=boot,
        version="1.4.2",
        detail={"printer": {"paper": "near_end", "online": True}, "voice": "ok"},
    )


BODIES: list[Body] = [
    queue_state(),
    queue_state(now_serving=None, waiting=[], paused=True),
    call_event(),
    device_status(),
    DeviceConfig(device_id="board-3", revision=12, settings={"rooms": ["ct1", "ct2"], "tts": 1}),
    RpcReply.success({"ticket": "C016", "position": 4}),
    RpcReply.success(),
    RpcReply.failure("打印机缺纸，请到服务台取号。"),
]


def envelope_for(body: Body) -> Envelope:
    if isinstance(body, RpcReply):
        return build_envelope(body, correlation_id="abc-123", now=NOW)
    return build_envelope(body, now=NOW)


def test_every_registered_type_is_covered() -> None:
    covered = {type_name_of(body) for body in BODIES} | {"rpc.request"}
    assert covered == set(MESSAGE_TYPES)
    assert len({spec.type_name for spec in MESSAGES}) == len(MESSAGES)


@pytest.mark.parametrize("body", BODIES, ids=lambda b: type(b).__name__)
def test_round_trip_through_bytes(body: Body) -> None:
    envelope = envelope_for(body)
    data = encode_envelope(envelope)
    assert isinstance(data, bytes)
    decoded = decode_envelope(data)
    assert decoded == envelope
    assert type(decoded.body) is type(body)
    assert decoded.body_as(type(body)) == body
    assert decode_envelope(data.decode("utf-8")) == envelope
    assert Envelope.model_validate_json(data) == envelope


def test_rpc_request_round_trip_carries_reply_to_and_correlation_id() -> None:
    request = build_request(
        RpcRequest(method="ticket.create", params={"patient_id": "P001", "exam": "CT"}),
        reply_to=REPLY_TOPIC,
        now=NOW,
    )
    wire = json.loads(encode_envelope(request))
    assert wire["reply_to"] == REPLY_TOPIC.topic
    assert wire["correlation_id"] == request.correlation_id
    decoded = decode_envelope(encode_envelope(request), kind=TopicKind.RPC_REQUEST)
    assert decoded == request
    assert RpcReplyTopic.parse(decoded.reply_to or "") == REPLY_TOPIC

    reply = build_reply(decoded, RpcReply.success({"ticket": "C016"}), now=NOW)
    assert reply.correlation_id == request.correlation_id
    assert reply.reply_to is None
    assert decode_envelope(encode_envelope(reply), kind=TopicKind.RPC_REPLY) == reply


def test_wire_shape() -> None:
    envelope = build_envelope(call_event(), now=NOW)
    wire = json.loads(encode_envelope(envelope))
    assert set(wire) == {"v", "type", "id", "ts", "body"}
    assert wire["v"] == ENVELOPE_VERSION == 1
    assert wire["type"] == "queue.call"
    assert uuid.UUID(wire["id"]).version == 4
    assert datetime.fromisoformat(wire["ts"]) == NOW
    assert wire["body"]["masked_name"] == "欧阳*娜"
    assert "欧阳" in encode_envelope(envelope).decode("utf-8")


def test_build_envelope_defaults_to_fresh_id_and_utc_now() -> None:
    before = datetime.now(UTC)
    first, second = build_envelope(device_status()), build_envelope(device_status())
    assert first.id != second.id
    assert first.ts.utcoffset() == timedelta(0)
    assert before <= first.ts <= datetime.now(UTC)


def test_build_envelope_refuses_a_naive_time() -> None:
    with pytest.raises(ValidationError):
        build_envelope(device_status(), now=datetime(2025, 3, 4, 8, 30))


def test_envelope_invariants() -> None:
    with pytest.raises(ValidationError, match="reply_to and correlation_id"):
        build_envelope(RpcRequest(method="ticket.create"), now=NOW)
    with pytest.raises(ValidationError, match="not a rpc_reply topic"):
        build_envelope(
            RpcRequest(method="ticket.create"),
            reply_to="elsewhere/reply",
            correlation_id="c1",
            now=NOW,
        )
    with pytest.raises(ValidationError, match="correlation_id"):
        build_envelope(RpcReply.success(), now=NOW)
    with pytest.raises(ValidationError, match="must not carry reply_to"):
        build_envelope(RpcReply.success(), reply_to=REPLY_TOPIC, correlation_id="c1", now=NOW)
    with pytest.raises(ValidationError, match="must not carry"):
        build_envelope(call_event(), correlation_id="c1", now=NOW)
    with pytest.raises(ValidationError, match="does not match"):
        Envelope(type="queue.state", id=uuid.uuid4(), ts=NOW, body=call_event())


def test_build_reply_only_answers_requests() -> None:
    with pytest.raises(ValueError, match=r"only to an rpc\.request"):
        build_reply(build_envelope(call_event(), now=NOW), RpcReply.success())


def test_body_as_refuses_another_model() -> None:
    envelope = build_envelope(call_event(), now=NOW)
    with pytest.raises(PayloadError, match="expected a QueueState body"):
        envelope.body_as(QueueState)


def wire(message: Body | None = None, /, **changes: Any) -> dict[str, Any]:
    """The JSON object of an envelope around ``message``, with top-level ``changes``."""
    data: dict[str, Any] = json.loads(encode_envelope(build_envelope(message or call_event())))
    data.update(changes)
    return data


def encode(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "not valid UTF-8 JSON"),
        (b"{not json", "not valid UTF-8 JSON"),
        (b"\xff\xfe\xfa", "not valid UTF-8 JSON"),
        (b"[1, 2]", "JSON list, not an envelope"),
        (b'"text"', "JSON str, not an envelope"),
        (encode({"type": "queue.call", "body": {}}), "no envelope version"),
        (encode(wire(v=2)), "version 2 is not supported"),
        (encode(wire(v="1")), "version '1' is not supported"),
        (encode(wire(v=True)), "version True is not supported"),
        (encode(wire(type="queue.shout")), "unknown message type 'queue.shout'"),
        (encode(wire(type=None)), "unknown message type None"),
        (encode(wire(body=None)), "has no body object"),
        (encode(wire(body=[1])), "has no body object"),
        (encode(wire(id="not-a-uuid")), "envelope is invalid: id"),
        (encode(wire(ts="2025-03-04T08:30:00")), "envelope is invalid: ts"),
        (encode(wire(ts="yesterday")), "envelope is invalid: ts"),
        (encode(wire(extra="x")), "envelope is invalid: extra"),
        (encode(wire(type="queue.state")), "queue.state body is invalid"),
    ],
)
def test_decode_refuses_malformed_payloads(payload: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        decode_envelope(payload)


def body_of(body: Body, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(body.model_dump_json())
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("type_name", "body", "field"),
    [
        ("queue.call", body_of(call_event(), attempt=0), "attempt"),
        ("queue.call", body_of(call_event(), surprise=1), "surprise"),
        ("queue.call", body_of(call_event(), room="ct/1"), "room"),
        ("queue.call", body_of(call_event(), called_at="2025-03-04T08:30:00"), "called_at"),
        ("queue.call", {"ticket": "C012"}, "campus"),
        ("queue.state", body_of(queue_state(), seq=-1), "seq"),
        ("queue.state", body_of(queue_state(), paused="maybe"), "paused"),
        ("device.status", body_of(device_status(), kind="toaster"), "kind"),
        ("device.status", body_of(device_status(), boot=-1), "boot"),
        ("device.config", {"device_id": "k1", "revision": "x", "settings": {}}, "revision"),
        ("rpc.reply", {"status": "maybe"}, "status"),
        ("rpc.reply", {"status": "error"}, "error sentence"),
        ("rpc.reply", {"status": "error", "error": "  "}, "error sentence"),
        ("rpc.reply", {"status": "ok", "error": "boom"}, "must not carry an error"),
        ("rpc.reply", {"status": "error", "error": "boom", "data": {}}, "must not carry data"),
    ],
)
def test_decode_refuses_invalid_bodies(type_name: str, body: dict[str, Any], field: str) -> None:
    data = wire(type=type_name, body=body, correlation_id="c1")
    if type_name != "rpc.reply":
        data.pop("correlation_id")
    with pytest.raises(PayloadError, match=f"{type_name} body is invalid: .*{field}"):
        decode_envelope(encode(data))


def test_decode_refuses_rpc_envelopes_missing_their_fields() -> None:
    request = build_request(RpcRequest(method="ping"), reply_to=REPLY_TOPIC, now=NOW)
    for missing in ("reply_to", "correlation_id"):
        data = json.loads(encode_envelope(request))
        del data[missing]
        with pytest.raises(PayloadError, match="reply_to and correlation_id"):
            decode_envelope(encode(data))
    data = json.loads(encode_envelope(request))
    data["reply_to"] = "somewhere/else"
    with pytest.raises(PayloadError, match=r"envelope is invalid: .*rpc_reply topic"):
        decode_envelope(encode(data))
    reply = json.loads(encode_envelope(build_reply(request, RpcReply.success(), now=NOW)))
    del reply["correlation_id"]
    with pytest.raises(PayloadError, match="correlation_id"):
        decode_envelope(encode(reply))


@pytest.mark.parametrize("kind", list(TopicKind))
def test_decode_checks_the_topic_kind(kind: TopicKind) -> None:
    data = encode_envelope(build_envelope(call_event(), now=NOW))
    if "queue.call" in TOPIC_MESSAGE_TYPES[kind]:
        assert decode_envelope(data, kind=kind).type == "queue.call"
    else:
        with pytest.raises(PayloadError, match=f"does not belong on a {kind.value} topic"):
            decode_envelope(data, kind=kind)


def test_every_topic_kind_carries_a_type() -> None:
    assert all(TOPIC_MESSAGE_TYPES[kind] for kind in TopicKind)


@pytest.mark.parametrize(
    "full_name", ["张三", "张三丰", "欧阳娜娜", "麦麦提·赛帕克", "ZHANG SAN", "李"]
)
def test_unmasked_names_are_refused_and_not_echoed(full_name: str) -> None:
    with pytest.raises(ValidationError, match="unmasked") as caught:
        ticket("C012", full_name)
    assert full_name not in str(caught.value)
    with pytest.raises(ValidationError, match="unmasked"):
        call_event(masked_name=full_name)

    data = wire(body=body_of(call_event(), masked_name=full_name))
    with pytest.raises(PayloadError, match=r"masked_name.*unmasked") as refused:
        decode_envelope(encode(data))
    assert full_name not in str(refused.value)


@pytest.mark.parametrize("label", ["张*", "张*(C012)", "欧阳*娜", "麦麦提·***", "ZHANG S*", ""])
def test_masked_names_are_accepted(label: str) -> None:
    assert ticket("C012", label).masked_name == label


def test_queue_state_refuses_a_ticket_twice() -> None:
    with pytest.raises(ValidationError, match="C012"):
        queue_state(now_serving=ticket("C012"), waiting=[ticket("C012")])


def test_queue_state_supersedes_by_seq() -> None:
    older, newer = queue_state(seq=7), queue_state(seq=8)
    assert newer.supersedes(older)
    assert newer.supersedes(None)
    assert not older.supersedes(newer)
    assert not older.supersedes(older)
    with pytest.raises(ValueError, match="cannot compare"):
        queue_state(room="ct2").supersedes(older)


def test_device_status_stale_will_is_recognised() -> None:
    birth = device_status(boot=5, online=True)
    stale_will = device_status(boot=4, online=False)
    own_will = device_status(boot=5, online=False)
    assert not stale_will.supersedes(birth)
    assert own_will.supersedes(birth)
    assert birth.supersedes(None)


def test_bodies_are_frozen() -> None:
    state = queue_state()
    with pytest.raises(ValidationError):
        state.seq = 9  # type: ignore[misc]
    assert isinstance(state.waiting, tuple)
    assert state.waiting[0].status is TicketStatus.WAITING


def test_rpc_request_method_names() -> None:
    assert RpcRequest(method="report.print_ack").params == {}
    for bad in ("", "Ticket.Create", "ticket..create", "ticket create", "1abc"):
        with pytest.raises(ValidationError):
            RpcRequest(method=bad)
