"""MQTT topic names of Campus PACS, as validated value objects.

Every topic lives under ``{TOPIC_ROOT}/{campus}/``; this module is the only place that
spells the root. Each topic kind is a frozen dataclass holding its variable segments
(campus and room, or campus and device id) and knows its QoS and retain flag:

- :class:`QueueStateTopic` ``queue/{room}/state``: QoS 1, retained
- :class:`CallTopic` ``call/{room}``: QoS 1
- :class:`DeviceStatusTopic` ``device/{device_id}/status``: QoS 1, retained
- :class:`DeviceConfigTopic` ``device/{device_id}/config``: QoS 1, retained
- :class:`RpcRequestTopic` ``rpc/{device_id}/request``: QoS 1
- :class:`RpcReplyTopic` ``rpc/{device_id}/reply``: QoS 1

Build a topic with its constructor (``QueueStateTopic("dongge", "ct1").topic``), read one
with ``Kind.parse(text)`` or :func:`parse_topic`, subscribe with ``Kind.filter(...)``
(``None`` for a field means "any", i.e. ``+``), and route with
:meth:`TopicFilter.matches`. Segment values may hold ASCII letters, digits, ``-`` and
``_`` only; anything else raises ValueError naming the value.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Final, Self

TOPIC_ROOT: Final = "pacs/v1"
"""Root of every Campus PACS topic; the one place the project spells it."""

SEGMENT_MAX_LENGTH: Final = 64
SINGLE_LEVEL: Final = "+"
MULTI_LEVEL: Final = "#"

_SEGMENT_RE: Final = re.compile(r"[A-Za-z0-9_-]+")
_ROOT_LEVELS: Final = tuple(TOPIC_ROOT.split("/"))
_SUBJECT: Final = None
"""Placeholder in a kind's level pattern for its subject (room or device id)."""


class TopicKind(StrEnum):
    """The kinds of topic; :mod:`shared.mqtt.payloads` says which messages each carries."""

    QUEUE_STATE = "queue_state"
    CALL = "call"
    DEVICE_STATUS = "device_status"
    DEVICE_CONFIG = "device_config"
    RPC_REQUEST = "rpc_request"
    RPC_REPLY = "rpc_reply"


def check_segment(value: str, what: str = "topic segment") -> str:
    """Return ``value`` when it may be used as one topic level, else raise ValueError.

    Allowed: 1 to 64 ASCII letters, digits, ``-`` and ``_`` (so never ``+``, ``#``,
    ``/``, spaces or non-ASCII text). ``what`` names the value in the error sentence.
    """
    if not isinstance(value, str) or not _SEGMENT_RE.fullmatch(value):
        raise ValueError(
            f"{what} {value!r} is not a valid topic segment: use 1 to {SEGMENT_MAX_LENGTH} "
            "ASCII letters, digits, '-' or '_' (no '+', '#', '/', spaces or other characters)"
        )
    if len(value) > SEGMENT_MAX_LENGTH:
        raise ValueError(
            f"{what} {value!r} is {len(value)} characters long; "
            f"a topic segment may have at most {SEGMENT_MAX_LENGTH}"
        )
    return value


@dataclass(frozen=True)
class TopicFilter:
    """An MQTT subscription filter, e.g. all rooms' state of a campus.

    ``pattern`` may use ``+`` for one whole level and ``#`` as the whole last level;
    ``qos`` is the QoS to subscribe with. Raises ValueError for a malformed pattern.
    """

    pattern: str
    qos: int = 1

    def __post_init__(self) -> None:
        levels = self.pattern.split("/")
        for index, level in enumerate(levels):
            if MULTI_LEVEL in level and (level != MULTI_LEVEL or index != len(levels) - 1):
                raise ValueError(
                    f"topic filter {self.pattern!r} is malformed: '#' must be the whole last level"
                )
            if SINGLE_LEVEL in level and level != SINGLE_LEVEL:
                raise ValueError(
                    f"topic filter {self.pattern!r} is malformed: '+' must be a whole level"
                )
        if self.qos not in (0, 1, 2):
            raise ValueError(f"QoS {self.qos!r} is not 0, 1 or 2")

    def matches(self, topic: str) -> bool:
        """Return True when the concrete topic name ``topic`` falls under this filter
        (MQTT rules: ``+`` matches exactly one level, ``#`` the rest, including none;
        a wildcard first level never matches a ``$`` topic)."""
        topic_levels = topic.split("/")
        filter_levels = self.pattern.split("/")
        if topic.startswith("$") and filter_levels[0] in (SINGLE_LEVEL, MULTI_LEVEL):
            return False
        for index, level in enumerate(filter_levels):
            if level == MULTI_LEVEL:
                return True
            if index >= len(topic_levels):
                return False
            if level != SINGLE_LEVEL and level != topic_levels[index]:
                return False
        return len(topic_levels) == len(filter_levels)


@dataclass(frozen=True)
class Topic(ABC):
    """Base of the topic kinds: a campus plus one subject (room or device id).

    Subclasses set :attr:`KIND`, :attr:`QOS`, :attr:`RETAIN`, :attr:`LEVELS` (the levels
    after the campus, ``None`` standing for the subject) and :attr:`SUBJECT_NAME`.
    """

    campus: str

    KIND: ClassVar[TopicKind]
    QOS: ClassVar[int] = 1
    RETAIN: ClassVar[bool] = False
    LEVELS: ClassVar[tuple[str | None, ...]]
    SUBJECT_NAME: ClassVar[str]

    def __post_init__(self) -> None:
        check_segment(self.campus, "campus")
        check_segment(self.subject, self.SUBJECT_NAME.replace("_", " "))

    @property
    @abstractmethod
    def subject(self) -> str:
        """The room or device id this topic is about."""

    @property
    def kind(self) -> TopicKind:
        return self.KIND

    @property
    def qos(self) -> int:
        """QoS to publish and subscribe with."""
        return self.QOS

    @property
    def retain(self) -> bool:
        """Whether messages on this topic are published retained."""
        return self.RETAIN

    @property
    def topic(self) -> str:
        """The topic name, e.g. ``{TOPIC_ROOT}/dongge/queue/ct1/state``."""
        return _join(self.campus, self.subject, self.LEVELS)

    def matches(self, topic: str) -> bool:
        """Return True when ``topic`` names exactly this topic."""
        return topic == self.topic

    @classmethod
    def template(cls) -> str:
        """The topic shape for error messages, e.g. ``…/{campus}/queue/{room}/state``."""
        levels = (f"{{{cls.SUBJECT_NAME}}}" if lv is None else lv for lv in cls.LEVELS)
        return "/".join((TOPIC_ROOT, "{campus}", *levels))

    @classmethod
    def fits(cls, topic: str) -> bool:
        """Return True when ``topic`` has this kind's shape (fixed levels in place),
        whatever its segment values; :meth:`parse` then validates the values."""
        return _subject_values(topic, cls.LEVELS) is not None

    @classmethod
    def parse(cls, topic: str) -> Self:
        """Read a topic name of this kind back into its value object.

        Raises ValueError when ``topic`` has another shape or a segment is invalid.
        """
        values = _subject_values(topic, cls.LEVELS)
        if values is None:
            raise ValueError(
                f"topic {topic!r} is not a {cls.KIND.value} topic; expected {cls.template()}"
            )
        campus, subject = values
        return cls._build(campus, subject)

    @classmethod
    def kind_filter(cls, campus: str | None = None) -> TopicFilter:
        """Filter for every topic of this kind in ``campus`` (in every campus when None)."""
        return cls._filter(campus, None)

    @classmethod
    @abstractmethod
    def _build(cls, campus: str, subject: str) -> Self:
        """Make the topic of this kind for ``campus`` and its room or device id."""

    @classmethod
    def _filter(cls, campus: str | None, subject: str | None) -> TopicFilter:
        campus_level = SINGLE_LEVEL if campus is None else check_segment(campus, "campus")
        subject_level = (
            SINGLE_LEVEL
            if subject is None
            else check_segment(subject, cls.SUBJECT_NAME.replace("_", " "))
        )
        return TopicFilter(_join(campus_level, subject_level, cls.LEVELS), qos=cls.QOS)


@dataclass(frozen=True)
class RoomTopic(Topic):
    """A topic about one exam room of a campus."""

    room: str

    SUBJECT_NAME: ClassVar[str] = "room"

    @property
    def subject(self) -> str:
        return self.room

    @classmethod
    def _build(cls, campus: str, subject: str) -> Self:
        return cls(campus=campus, room=subject)

    @classmethod
    def filter(cls, campus: str | None = None, room: str | None = None) -> TopicFilter:
        """Subscription filter for this kind; ``None`` means any campus / any room."""
        return cls._filter(campus, room)


@dataclass(frozen=True)
class DeviceTopic(Topic):
    """A topic about one device (kiosk, signage board, console, gateway)."""

    device_id: str

    SUBJECT_NAME: ClassVar[str] = "device_id"

    @property
    def subject(self) -> str:
        return self.device_id

    @classmethod
    def _build(cls, campus: str, subject: str) -> Self:
        return cls(campus=campus, device_id=subject)

    @classmethod
    def filter(cls, campus: str | None = None, device_id: str | None = None) -> TopicFilter:
        """Subscription filter for this kind; ``None`` means any campus / any device."""
        return cls._filter(campus, device_id)


@dataclass(frozen=True)
class QueueStateTopic(RoomTopic):
    """``queue/{room}/state``: retained full snapshot of a room's queue (edge → screens)."""

    KIND: ClassVar[TopicKind] = TopicKind.QUEUE_STATE
    RETAIN: ClassVar[bool] = True
    LEVELS: ClassVar[tuple[str | None, ...]] = ("queue", _SUBJECT, "state")


@dataclass(frozen=True)
class CallTopic(RoomTopic):
    """``call/{room}``: one call-out (edge → signage)."""

    KIND: ClassVar[TopicKind] = TopicKind.CALL
    LEVELS: ClassVar[tuple[str | None, ...]] = ("call", _SUBJECT)


@dataclass(frozen=True)
class DeviceStatusTopic(DeviceTopic):
    """``device/{device_id}/status``: retained birth / last will of a device."""

    KIND: ClassVar[TopicKind] = TopicKind.DEVICE_STATUS
    RETAIN: ClassVar[bool] = True
    LEVELS: ClassVar[tuple[str | None, ...]] = ("device", _SUBJECT, "status")


@dataclass(frozen=True)
class DeviceConfigTopic(DeviceTopic):
    """``device/{device_id}/config``: retained desired configuration (provisioning → device)."""

    KIND: ClassVar[TopicKind] = TopicKind.DEVICE_CONFIG
    RETAIN: ClassVar[bool] = True
    LEVELS: ClassVar[tuple[str | None, ...]] = ("device", _SUBJECT, "config")


@dataclass(frozen=True)
class RpcRequestTopic(DeviceTopic):
    """``rpc/{device_id}/request``: requests sent by a device (kiosk → edge)."""

    KIND: ClassVar[TopicKind] = TopicKind.RPC_REQUEST
    LEVELS: ClassVar[tuple[str | None, ...]] = ("rpc", _SUBJECT, "request")


@dataclass(frozen=True)
class RpcReplyTopic(DeviceTopic):
    """``rpc/{device_id}/reply``: replies to a device's requests (edge → kiosk)."""

    KIND: ClassVar[TopicKind] = TopicKind.RPC_REPLY
    LEVELS: ClassVar[tuple[str | None, ...]] = ("rpc", _SUBJECT, "reply")


TOPIC_CLASSES: Final[tuple[type[Topic], ...]] = (
    QueueStateTopic,
    CallTopic,
    DeviceStatusTopic,
    DeviceConfigTopic,
    RpcRequestTopic,
    RpcReplyTopic,
)
"""Every topic kind, one class each."""


def parse_topic(topic: str) -> Topic:
    """Return the value object for any Campus PACS topic name.

    Raises ValueError when ``topic`` has none of the known shapes, or names a known shape
    with an invalid segment value.
    """
    for cls in TOPIC_CLASSES:
        if cls.fits(topic):
            return cls.parse(topic)
    shapes = ", ".join(cls.template() for cls in TOPIC_CLASSES)
    raise ValueError(f"topic {topic!r} is not a Campus PACS topic; expected one of: {shapes}")


def campus_filter(campus: str | None = None) -> TopicFilter:
    """Filter for every topic of ``campus`` (of every campus when None), e.g. for a bridge."""
    campus_level = SINGLE_LEVEL if campus is None else check_segment(campus, "campus")
    return TopicFilter(f"{TOPIC_ROOT}/{campus_level}/{MULTI_LEVEL}")


def _join(campus: str, subject: str, levels: tuple[str | None, ...]) -> str:
    tail = (subject if level is None else level for level in levels)
    return "/".join((TOPIC_ROOT, campus, *tail))


def _subject_values(topic: str, levels: tuple[str | None, ...]) -> tuple[str, str] | None:
    """Return (campus, subject) when ``topic`` has the shape root/campus/levels, else None."""
    parts = topic.split("/")
    root_len = len(_ROOT_LEVELS)
    if len(parts) != root_len + 1 + len(levels) or tuple(parts[:root_len]) != _ROOT_LEVELS:
        return None
    campus, tail = parts[root_len], parts[root_len + 1 :]
    subject = ""
    for expected, actual in zip(levels, tail, strict=True):
        if expected is None:
            subject = actual
        elif expected != actual:
            return None
    return campus, subject
