"""Message bodies carried on the broker, and the one table that names them.

Each body is a frozen pydantic model that refuses unknown fields. :data:`MESSAGES` is
the single table saying which message type name maps to which model and on which topic
kinds it may travel; :data:`MESSAGE_TYPES` and :data:`TOPIC_MESSAGE_TYPES` are lookups
derived from it.

Patient names appear only as ``masked_name`` fields, which refuse any text that shows
letters without hiding some of them with ``*`` (see :func:`shared.masking.is_masked`),
so a full name cannot be put on the broker by mistake. Validation errors never echo the
offending input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Final, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    model_validator,
)

from shared.masking import is_masked
from shared.mqtt.topics import TopicKind, check_segment


def _campus(value: str) -> str:
    return check_segment(value, "campus")


def _room(value: str) -> str:
    return check_segment(value, "room")


def _device_id(value: str) -> str:
    return check_segment(value, "device id")


def _masked(value: str) -> str:
    if not is_masked(value):
        raise ValueError(
            "masked_name shows a name without any '*'; it looks like an unmasked name. "
            "Pass the patient's name through shared.masking.mask_name() before publishing"
        )
    return value


Campus = Annotated[str, AfterValidator(_campus)]
Room = Annotated[str, AfterValidator(_room)]
DeviceId = Annotated[str, AfterValidator(_device_id)]
Ticket = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,16}$")]
"""A ticket number as printed and called, e.g. ``C012``."""
MaskedName = Annotated[str, StringConstraints(max_length=64), AfterValidator(_masked)]
"""A patient name as shown on a shared screen: masked (张*丰, 张*(C012)) or empty."""
Label = Annotated[str, StringConstraints(min_length=1, max_length=64)]
JsonObject = dict[str, JsonValue]


class Body(BaseModel):
    """Base of every message body: frozen, unknown fields refused, inputs hidden in errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class TicketStatus(StrEnum):
    """Where a ticket stands in its room's queue."""

    WAITING = "waiting"
    CALLED = "called"
    IN_EXAM = "in_exam"
    MISSED = "missed"
    DONE = "done"


class TicketView(Body):
    """One ticket as a screen shows it."""

    ticket: Ticket
    masked_name: MaskedName
    exam_label: Annotated[str, StringConstraints(max_length=64)]
    status: TicketStatus


class QueueState(Body):
    """``queue.state``: full snapshot of one room's queue, published retained.

    ``seq`` rises with every snapshot of the room, so a screen keeps the newest one
    (see :meth:`supersedes`). A ticket appears at most once across ``now_serving`` and
    ``waiting``.
    """

    campus: Campus
    room: Room
    room_label: Label
    seq: Annotated[int, Field(ge=0)]
    paused: bool
    now_serving: TicketView | None = None
    waiting: tuple[TicketView, ...] = ()
    updated_at: AwareDatetime

    @model_validator(mode="after")
    def _tickets_unique(self) -> Self:
        views = ([self.now_serving] if self.now_serving else []) + list(self.waiting)
        tickets = [view.ticket for view in views]
        repeated = sorted({t for t in tickets if tickets.count(t) > 1})
        if repeated:
            raise ValueError(f"ticket(s) {', '.join(repeated)} appear more than once")
        return self

    def supersedes(self, previous: QueueState | None) -> bool:
        """Return True when this snapshot should replace ``previous`` (None: nothing yet),
        i.e. its ``seq`` is higher. Raises ValueError if the two are of different rooms."""
        if previous is None:
            return True
        if (previous.campus, previous.room) != (self.campus, self.room):
            raise ValueError(
                f"cannot compare queue state of {self.campus}/{self.room} "
                f"with that of {previous.campus}/{previous.room}"
            )
        return self.seq > previous.seq


class CallEvent(Body):
    """``queue.call``: one call-out of a ticket to a room; ``attempt`` counts repeats (1 first)."""

    campus: Campus
    room: Room
    room_label: Label
    ticket: Ticket
    masked_name: MaskedName
    spoken_text: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    attempt: Annotated[int, Field(ge=1)]
    called_at: AwareDatetime


class DeviceKind(StrEnum):
    """What sort of device publishes a status."""

    KIOSK = "kiosk"
    SIGNAGE = "signage"
    CONSOLE = "console"
    EDGE = "edge"
    HUB = "hub"


class DeviceStatus(Body):
    """``device.status``: a device's birth (online) or last will (offline), retained.

    ``boot`` is the device's session counter, raised at every connect; birth and will of
    one session carry the same value, so a will from an older session that arrives after
    a newer birth is recognised as stale (see :meth:`supersedes`). ``detail`` holds
    device-specific state, e.g. ``{"paper": "near_end", "voice": "ok"}``.
    """

    device_id: DeviceId
    kind: DeviceKind
    online: bool
    boot: Annotated[int, Field(ge=0)]
    version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    detail: JsonObject = Field(default_factory=dict)

    def supersedes(self, current: DeviceStatus | None) -> bool:
        """Return True when this status should replace ``current`` (None: nothing known):
        it is from the same or a later boot. A will from an earlier boot returns False.
        Raises ValueError if the two are of different devices."""
        if current is None:
            return True
        if current.device_id != self.device_id:
            raise ValueError(
                f"cannot compare status of device {self.device_id} with that of {current.device_id}"
            )
        return self.boot >= current.boot


class DeviceConfig(Body):
    """``device.config``: desired configuration of a device; ``revision`` rises with edits."""

    device_id: DeviceId
    revision: Annotated[int, Field(ge=0)]
    settings: JsonObject = Field(default_factory=dict)


class RpcRequest(Body):
    """``rpc.request``: a call such as ``ticket.create``; the envelope carries ``reply_to``
    and ``correlation_id``."""

    method: Annotated[
        str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", max_length=64)
    ]
    params: JsonObject = Field(default_factory=dict)


class RpcReply(Body):
    """``rpc.reply``: ``{"status": "ok", "data": {...}}`` or ``{"status": "error",
    "error": "<a sentence saying what went wrong>"}``.

    An ok reply has no ``error``; an error reply has a non-blank ``error`` and no ``data``.
    """

    status: Literal["ok", "error"]
    data: JsonObject | None = None
    error: str | None = None

    @model_validator(mode="after")
    def _status_consistent(self) -> Self:
        if self.status == "ok" and self.error is not None:
            raise ValueError("an ok reply must not carry an error")
        if self.status == "error":
            if self.error is None or not self.error.strip():
                raise ValueError("an error reply must carry an error sentence")
            if self.data is not None:
                raise ValueError("an error reply must not carry data")
        return self

    @classmethod
    def success(cls, data: JsonObject | None = None) -> RpcReply:
        """An ok reply carrying ``data``."""
        return cls(status="ok", data=data)

    @classmethod
    def failure(cls, error: str) -> RpcReply:
        """An error reply; ``error`` is a sentence the user can act on."""
        return cls(status="error", error=error)


@dataclass(frozen=True)
class MessageSpec:
    """One row of :data:`MESSAGES`: a message type, its body model, its topic kinds."""

    type_name: str
    model: type[Body]
    topic_kinds: frozenset[TopicKind]


MESSAGES: Final[tuple[MessageSpec, ...]] = (
    MessageSpec("queue.state", QueueState, frozenset({TopicKind.QUEUE_STATE})),
    MessageSpec("queue.call", CallEvent, frozenset({TopicKind.CALL})),
    MessageSpec("device.status", DeviceStatus, frozenset({TopicKind.DEVICE_STATUS})),
    MessageSpec("device.config", DeviceConfig, frozenset({TopicKind.DEVICE_CONFIG})),
    MessageSpec("rpc.request", RpcRequest, frozenset({TopicKind.RPC_REQUEST})),
    MessageSpec("rpc.reply", RpcReply, frozenset({TopicKind.RPC_REPLY})),
)
"""The table: every message type, the model of its body, the topic kinds it travels on."""

MESSAGE_TYPES: Final[Mapping[str, type[Body]]] = MappingProxyType(
    {spec.type_name: spec.model for spec in MESSAGES}
)
"""Message type name → body model (derived from :data:`MESSAGES`)."""

TOPIC_MESSAGE_TYPES: Final[Mapping[TopicKind, frozenset[str]]] = MappingProxyType(
    {kind: frozenset(s.type_name for s in MESSAGES if kind in s.topic_kinds) for kind in TopicKind}
)
"""Topic kind → message types allowed on it (derived from :data:`MESSAGES`)."""

_TYPE_OF_MODEL: Final[Mapping[type[Body], str]] = MappingProxyType(
    {spec.model: spec.type_name for spec in MESSAGES}
)


def type_name_of(body: Body) -> str:
    """Return the message type name of ``body`` (``"queue.state"`` for a QueueState).

    Raises ValueError when its model is not in :data:`MESSAGES`.
    """
    try:
        return _TYPE_OF_MODEL[type(body)]
    except KeyError:
        raise ValueError(
            f"{type(body).__name__} is not a registered message body; add it to MESSAGES"
        ) from None
