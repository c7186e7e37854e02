"""The envelope every MQTT payload travels in, and its JSON encoding.

On the wire::

    {"v": 1, "type": "queue.state", "id": "<uuid>", "ts": "<ISO 8601 with offset>",
     "body": {...}}

plus ``reply_to`` (the requester's reply topic) and ``correlation_id`` on ``rpc.request``,
and ``correlation_id`` on ``rpc.reply``; other messages carry neither. These ride in the
payload rather than in MQTT 5 properties so they work on MQTT 3.1.1 too.

Publishers call :func:`build_envelope` (or :func:`build_request` / :func:`build_reply`)
and :func:`encode_envelope`; receivers call :func:`decode_envelope` and
:meth:`Envelope.body_as`. Anything unusable raises :class:`PayloadError` with a sentence
saying what is wrong; it names fields, never their values (a body may hold patient data).
"""

from __future__ import annotations

import builtins
import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, Self, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    SerializeAsAny,
    StringConstraints,
    ValidationError,
    model_validator,
)

from shared.mqtt.payloads import (
    MESSAGE_TYPES,
    TOPIC_MESSAGE_TYPES,
    Body,
    RpcReply,
    RpcRequest,
    type_name_of,
)
from shared.mqtt.topics import RpcReplyTopic, TopicKind

ENVELOPE_VERSION: Final = 1

B = TypeVar("B", bound=Body)

CorrelationId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class PayloadError(ValueError):
    """A received payload cannot be used: not JSON, not an envelope, a version or message
    type this build does not speak, a type that does not belong on the topic, or a body
    that fails validation. The message is a sentence naming which; it names the fields
    at fault but not their values.
    """


class Envelope(BaseModel):
    """One message: header fields plus a typed :class:`~shared.mqtt.payloads.Body`.

    Invariants (checked on construction, ValueError otherwise): ``type`` is the registered
    type name of ``body``; an ``rpc.request`` carries ``reply_to`` (an rpc reply topic)
    and ``correlation_id``; an ``rpc.reply`` carries ``correlation_id`` only; every other
    message carries neither. Validating a plain dict (or JSON) turns ``body`` into the
    model its ``type`` names.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    v: Literal[1] = ENVELOPE_VERSION
    type: str
    id: uuid.UUID
    ts: AwareDatetime
    body: SerializeAsAny[Body]
    reply_to: str | None = None
    correlation_id: CorrelationId | None = None

    @model_validator(mode="before")
    @classmethod
    def _typed_body(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("body"), dict):
            type_name = data.get("type")
            model = MESSAGE_TYPES.get(type_name) if isinstance(type_name, str) else None
            if model is not None:
                data = {**data, "body": model.model_validate(data["body"])}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        expected = type_name_of(self.body)
        if self.type != expected:
            raise ValueError(f"type {self.type!r} does not match a {expected} body")
        if isinstance(self.body, RpcRequest):
            if self.reply_to is None or self.correlation_id is None:
                raise ValueError("an rpc.request must carry reply_to and correlation_id")
            RpcReplyTopic.parse(self.reply_to)
        elif isinstance(self.body, RpcReply):
            if self.correlation_id is None:
                raise ValueError("an rpc.reply must carry the request's correlation_id")
            if self.reply_to is not None:
                raise ValueError("an rpc.reply must not carry reply_to")
        elif self.reply_to is not None or self.correlation_id is not None:
            raise ValueError(f"a {self.type} message must not carry reply_to or correlation_id")
        return self

    def body_as(self, model: builtins.type[B]) -> B:
        """Return the body typed as ``model``; raise PayloadError if it is another model."""
        if not isinstance(self.body, model):
            raise PayloadError(
                f"expected a {model.__name__} body but the message is of type {self.type!r}"
            )
        return self.body


def build_envelope(
    body: Body,
    *,
    reply_to: RpcReplyTopic | str | None = None,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> Envelope:
    """Wrap ``body`` in a new envelope: fresh uuid4 ``id``, ``ts`` = ``now`` (an aware
    datetime; the current UTC time when None), ``type`` from the message table.

    Raises ValueError (pydantic ValidationError) when the envelope invariants fail, e.g.
    an rpc.request without ``reply_to``, or ``now`` is naive.
    """
    reply_topic = reply_to.topic if isinstance(reply_to, RpcReplyTopic) else reply_to
    return Envelope(
        type=type_name_of(body),
        id=uuid.uuid4(),
        ts=now if now is not None else datetime.now(UTC),
        body=body,
        reply_to=reply_topic,
        correlation_id=correlation_id,
    )


def build_request(
    request: RpcRequest,
    *,
    reply_to: RpcReplyTopic,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> Envelope:
    """Envelope for an rpc request answered on ``reply_to``; ``correlation_id`` defaults
    to a fresh uuid4 hex string."""
    return build_envelope(
        request,
        reply_to=reply_to,
        correlation_id=correlation_id if correlation_id is not None else uuid.uuid4().hex,
        now=now,
    )


def build_reply(request: Envelope, reply: RpcReply, *, now: datetime | None = None) -> Envelope:
    """Envelope answering ``request`` (an rpc.request envelope) with ``reply``, carrying
    the request's correlation id. Publish it on ``RpcReplyTopic.parse(request.reply_to)``.

    Raises ValueError when ``request`` is not an rpc.request.
    """
    if not isinstance(request.body, RpcRequest) or request.correlation_id is None:
        raise ValueError(f"cannot reply to a {request.type!r} message; only to an rpc.request")
    return build_envelope(reply, correlation_id=request.correlation_id, now=now)


def encode_envelope(envelope: Envelope) -> bytes:
    """Serialise ``envelope`` to UTF-8 JSON bytes (non-ASCII text kept as is);
    ``reply_to`` and ``correlation_id`` are left out when absent."""
    absent = {name for name in ("reply_to", "correlation_id") if getattr(envelope, name) is None}
    return envelope.model_dump_json(exclude=absent).encode("utf-8")


def decode_envelope(data: bytes | bytearray | str, *, kind: TopicKind | None = None) -> Envelope:
    """Parse a received payload into an envelope whose ``body`` is the typed model.

    When ``kind`` is given, the message type must be one allowed on that topic kind.
    Raises PayloadError for malformed JSON, a non-object payload, a missing or
    unsupported version, an unknown type, a type not allowed on ``kind``, a missing or
    invalid body, or an invalid envelope header.
    """
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"payload is not valid UTF-8 JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise PayloadError(f"payload is a JSON {type(raw).__name__}, not an envelope object")
    _check_version(raw.get("v"))
    type_name = raw.get("type")
    if not isinstance(type_name, str) or type_name not in MESSAGE_TYPES:
        known = ", ".join(sorted(MESSAGE_TYPES))
        raise PayloadError(f"unknown message type {type_name!r}; known types: {known}")
    if kind is not None and type_name not in TOPIC_MESSAGE_TYPES[kind]:
        allowed = ", ".join(sorted(TOPIC_MESSAGE_TYPES[kind])) or "none"
        raise PayloadError(
            f"a {type_name} message does not belong on a {kind.value} topic (allowed: {allowed})"
        )
    if not isinstance(raw.get("body"), dict):
        raise PayloadError(f"the {type_name} message has no body object")
    try:
        body = MESSAGE_TYPES[type_name].model_validate(raw["body"])
    except ValidationError as exc:
        raise PayloadError(f"the {type_name} body is invalid: {_summary(exc)}") from exc
    try:
        return Envelope.model_validate({**raw, "body": body})
    except ValidationError as exc:
        raise PayloadError(f"the {type_name} envelope is invalid: {_summary(exc)}") from exc


def _check_version(version: object) -> None:
    if version is None:
        raise PayloadError("payload has no envelope version 'v'; is it a Campus PACS message?")
    if type(version) is not int or version != ENVELOPE_VERSION:
        raise PayloadError(
            f"envelope version {version!r} is not supported; "
            f"this build speaks version {ENVELOPE_VERSION}"
        )


def _summary(exc: ValidationError) -> str:
    """One line per error (field path and reason), without the offending values."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join(str(part) for part in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)
