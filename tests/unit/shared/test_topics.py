"""Topic value objects: names, flags, parsing, filters and segment validation."""

from __future__ import annotations

import dataclasses

import pytest

from shared.mqtt.topics import (
    TOPIC_CLASSES,
    TOPIC_ROOT,
    CallTopic,
    DeviceConfigTopic,
    DeviceStatusTopic,
    QueueStateTopic,
    RpcReplyTopic,
    RpcRequestTopic,
    Topic,
    TopicFilter,
    TopicKind,
    campus_filter,
    check_segment,
    parse_topic,
)

R = TOPIC_ROOT

CASES: list[tuple[Topic, str, bool]] = [
    (QueueStateTopic("dongge", "ct1"), f"{R}/dongge/queue/ct1/state", True),
    (CallTopic("xianhu", "MR-2"), f"{R}/xianhu/call/MR-2", False),
    (DeviceStatusTopic("dongge", "kiosk_01"), f"{R}/dongge/device/kiosk_01/status", True),
    (DeviceConfigTopic("dongge", "board-3"), f"{R}/dongge/device/board-3/config", True),
    (RpcRequestTopic("xianhu", "kiosk-7"), f"{R}/xianhu/rpc/kiosk-7/request", False),
    (RpcReplyTopic("xianhu", "kiosk-7"), f"{R}/xianhu/rpc/kiosk-7/reply", False),
]


def test_root_is_the_versioned_project_root() -> None:
    assert TOPIC_ROOT == "pacs" + "/v1"


@pytest.mark.parametrize(("topic", "name", "retain"), CASES)
def test_topic_name_and_flags(topic: Topic, name: str, retain: bool) -> None:
    assert topic.topic == name
    assert topic.qos == 1
    assert topic.retain is retain
    assert topic.matches(name)
    assert not topic.matches(name + "/x")


@pytest.mark.parametrize(("topic", "name", "retain"), CASES)
def test_parse_round_trip(topic: Topic, name: str, retain: bool) -> None:
    assert type(topic).parse(name) == topic
    assert parse_topic(name) == topic
    assert type(parse_topic(name)) is type(topic)


def test_every_kind_has_one_class() -> None:
    assert sorted(cls.KIND for cls in TOPIC_CLASSES) == sorted(TopicKind)
    assert {QueueStateTopic("a", "b").kind, CallTopic("a", "b").kind} == {
        TopicKind.QUEUE_STATE,
        TopicKind.CALL,
    }


def test_topics_are_frozen_and_hashable() -> None:
    topic = QueueStateTopic("dongge", "ct1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        topic.room = "ct2"  # type: ignore[misc]
    assert {topic, QueueStateTopic("dongge", "ct1")} == {topic}


def test_keyword_construction() -> None:
    assert DeviceStatusTopic(campus="dongge", device_id="k1").device_id == "k1"
    assert CallTopic(campus="dongge", room="us1").room == "us1"


@pytest.mark.parametrize(
    "bad", ["", "a+b", "+", "#", "a/b", "a b", "东葛", "ct1\n", "a.b", "x" * 65, "é"]
)
def test_bad_segments_are_refused_with_the_value_named(bad: str) -> None:
    with pytest.raises(ValueError, match="room") as caught:
        QueueStateTopic("dongge", bad)
    assert repr(bad) in str(caught.value)
    with pytest.raises(ValueError, match="campus"):
        CallTopic(bad, "ct1")
    with pytest.raises(ValueError, match="device id"):
        DeviceStatusTopic("dongge", bad)


def test_check_segment_accepts_and_returns_good_values() -> None:
    for good in ("dongge", "CT-1", "kiosk_01", "x" * 64, "0"):
        assert check_segment(good, "room") == good


@pytest.mark.parametrize(
    ("cls", "text"),
    [
        (QueueStateTopic, f"{R}/dongge/call/ct1"),
        (QueueStateTopic, f"{R}/dongge/queue/ct1"),
        (QueueStateTopic, f"{R}/dongge/queue/ct1/state/extra"),
        (QueueStateTopic, "pacs/v2/dongge/queue/ct1/state"),
        (CallTopic, f"{R}/dongge/queue/ct1/state"),
        (DeviceStatusTopic, f"{R}/dongge/device/k1/config"),
        (RpcReplyTopic, f"{R}/dongge/rpc/k1/request"),
    ],
)
def test_parse_refuses_another_shape(cls: type[Topic], text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        cls.parse(text)


def test_parse_refuses_bad_segment_values() -> None:
    with pytest.raises(ValueError, match="room '\\+'"):
        QueueStateTopic.parse(f"{R}/dongge/queue/+/state")
    with pytest.raises(ValueError, match="campus ''"):
        parse_topic(f"{R}//queue/ct1/state")
    with pytest.raises(ValueError, match="device id"):
        parse_topic(f"{R}/dongge/device/#/status")


@pytest.mark.parametrize(
    "text", ["", "/", "pacs", f"{R}/dongge", f"{R}/dongge/queue/ct1/status", "other/x/y/z"]
)
def test_parse_topic_refuses_unknown_topics(text: str) -> None:
    with pytest.raises(ValueError, match="not a Campus PACS topic"):
        parse_topic(text)


def test_filters_of_each_kind() -> None:
    assert QueueStateTopic.filter("dongge") == TopicFilter(f"{R}/dongge/queue/+/state", qos=1)
    assert QueueStateTopic.filter().pattern == f"{R}/+/queue/+/state"
    assert CallTopic.filter("xianhu", room="ct1").pattern == f"{R}/xianhu/call/ct1"
    assert DeviceStatusTopic.filter(device_id="k1").pattern == f"{R}/+/device/k1/status"
    assert DeviceConfigTopic.filter("dongge", "k1").pattern == f"{R}/dongge/device/k1/config"
    assert RpcRequestTopic.filter("dongge").pattern == f"{R}/dongge/rpc/+/request"
    assert RpcReplyTopic.filter("dongge", "k1").pattern == f"{R}/dongge/rpc/k1/reply"
    assert DeviceStatusTopic.kind_filter("dongge").pattern == f"{R}/dongge/device/+/status"
    assert campus_filter("dongge").pattern == f"{R}/dongge/#"
    assert campus_filter().pattern == f"{R}/+/#"


def test_filters_validate_their_segments() -> None:
    with pytest.raises(ValueError, match="campus"):
        QueueStateTopic.filter("don/gge")
    with pytest.raises(ValueError, match="room"):
        CallTopic.filter("dongge", "#")
    with pytest.raises(ValueError, match="campus"):
        campus_filter("+")


def test_filter_matches_all_rooms_of_one_campus() -> None:
    rooms = QueueStateTopic.filter("dongge")
    assert rooms.matches(QueueStateTopic("dongge", "ct1").topic)
    assert rooms.matches(QueueStateTopic("dongge", "mr-2").topic)
    assert not rooms.matches(QueueStateTopic("xianhu", "ct1").topic)
    assert not rooms.matches(CallTopic("dongge", "ct1").topic)
    assert not rooms.matches(f"{R}/dongge/queue/ct1/state/x")
    assert not rooms.matches(f"{R}/dongge/queue/state")


@pytest.mark.parametrize(("topic", "name", "retain"), CASES)
def test_kind_filter_matches_only_its_kind(topic: Topic, name: str, retain: bool) -> None:
    for cls in TOPIC_CLASSES:
        assert cls.kind_filter().matches(name) is isinstance(topic, cls)
        assert cls.kind_filter(topic.campus).matches(name) is isinstance(topic, cls)
    assert campus_filter(topic.campus).matches(name)
    assert campus_filter().matches(name)
    assert not campus_filter("elsewhere").matches(name)


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("a/b/c", "a/b/c", True),
        ("a/b/c", "a/b", False),
        ("a/+/c", "a/x/c", True),
        ("a/+/c", "a//c", True),
        ("a/+", "a/x/c", False),
        ("a/#", "a", True),
        ("a/#", "a/x/y/z", True),
        ("#", "a/b", True),
        ("+/b", "$SYS/b", False),
        ("#", "$SYS/b", False),
        ("$SYS/#", "$SYS/b", True),
    ],
)
def test_filter_matching_rules(pattern: str, topic: str, expected: bool) -> None:
    assert TopicFilter(pattern).matches(topic) is expected


@pytest.mark.parametrize("pattern", ["a/#/b", "a/b#", "a+/b", "a/+b"])
def test_malformed_filters_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="malformed"):
        TopicFilter(pattern)


def test_filter_qos_is_checked() -> None:
    with pytest.raises(ValueError, match="QoS"):
        TopicFilter("a/b", qos=3)
