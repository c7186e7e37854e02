"""The board's MQTT client: paho-mqtt 2.x in its own network thread.

:class:`BoardBus` connects with MQTT 5 (3.1.1 when the broker URL says
``?protocol=3.1.1``; then the session never expires), callbacks API version 2, the fixed client id
``config.device_id`` and a persistent session (clean start off, session expiry
:data:`SESSION_EXPIRY_S`), so QoS 1 calls published while the broker restarts or the
board is briefly away are delivered when it is back. The stale-call rule of
:mod:`signage.board.announcements` keeps such late calls off the loudspeaker.

On every (re)connect it subscribes (QoS 1) to ``queue/{room}/state`` and ``call/{room}``
of each configured room, publishes its retained birth on ``device/{id}/status`` (online,
with a boot counter raised before every connect and stored in the state folder), then
hands :class:`~signage.board.state.BrokerConnected` to the callback; on losing the broker
(not on :meth:`BoardBus.stop`) it hands :class:`~signage.board.state.BrokerDisconnected`.
The last will (offline, same boot number) is registered with every connect;
:meth:`BoardBus.stop` publishes the offline status itself, since a clean disconnect
suppresses the will.

Each received payload is decoded with the kind of its topic and turned into a board
message (:func:`board_message`). A payload that cannot be used is logged in one line
(topic and the decoder's reason, which names fields but never their values) and dropped;
the client keeps running. The callback runs on paho's thread; an exception it raises is
logged and the message still counts as received.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import JsonValue

from shared.mqtt.broker import parse_broker_url
from shared.mqtt.envelope import PayloadError, build_envelope, decode_envelope, encode_envelope
from shared.mqtt.payloads import CallEvent, DeviceKind, DeviceStatus, QueueState
from shared.mqtt.topics import CallTopic, DeviceStatusTopic, QueueStateTopic, RoomTopic, parse_topic
from signage.board.config import BoardConfig
from signage.board.state import (
    BoardMessage,
    BrokerConnected,
    BrokerDisconnected,
    message_from_envelope,
)
from signage.bus.boot import BootCounter

log = logging.getLogger(__name__)

SESSION_EXPIRY_S: Final = 3600
"""How long the broker keeps the board's session (and queues its QoS 1 calls) while away."""

KEEPALIVE_S: Final = 30
RECONNECT_MIN_S: Final = 1
RECONNECT_MAX_S: Final = 5


class BusError(RuntimeError):
    """The bus cannot be set up (e.g. the password file is unreadable); the message says
    what to fix, Chinese first."""


def read_password(path: Path) -> str:
    """The first line of ``path`` (trailing whitespace removed); raises :class:`BusError`."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BusError(
            f"无法读取 MQTT 密码文件 {path}（{exc.__class__.__name__}），请检查路径和权限 / "
            f"cannot read the broker password file {path}: check its path and permissions"
        ) from None
    if not lines or not lines[0].strip():
        raise BusError(
            f"MQTT 密码文件 {path} 是空的，请写入密码 / the broker password file {path} is empty"
        )
    return lines[0].rstrip()


def board_version() -> str:
    """The installed campus-pacs version ("0+unknown" when not installed)."""
    try:
        return metadata.version("campus-pacs")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def board_message(topic: str, payload: bytes | bytearray | str) -> BoardMessage | None:
    """The board message carried by ``payload`` on ``topic``, or None for a topic or body
    the board does not use.

    Raises PayloadError when the payload cannot be decoded for that topic's kind, or its
    body names another campus or room than the topic does.
    """
    try:
        parsed = parse_topic(topic)
    except ValueError:
        return None
    if not isinstance(parsed, QueueStateTopic | CallTopic):
        return None
    envelope = decode_envelope(payload, kind=parsed.kind)
    body = envelope.body
    if isinstance(body, QueueState | CallEvent) and (body.campus, body.room) != (
        parsed.campus,
        parsed.room,
    ):
        raise PayloadError(f"the {envelope.type} body names another campus or room than its topic")
    return message_from_envelope(envelope)


def room_filters(config: BoardConfig) -> list[tuple[str, int]]:
    """(filter, QoS) pairs the board subscribes to: state and calls of each room."""
    kinds: tuple[type[RoomTopic], ...] = (QueueStateTopic, CallTopic)
    return [
        (kind.filter(config.campus, room).pattern, kind.filter(config.campus, room).qos)
        for room in config.rooms
        for kind in kinds
    ]


class BoardBus:
    """The board's connection to the campus broker (see the module docstring).

    Create, :meth:`start` (returns at once; connecting and reconnecting happen in paho's
    thread, every 1 to 5 s while the broker is away), :meth:`stop`. Not restartable.
    """

    def __init__(
        self,
        config: BoardConfig,
        on_message: Callable[[BoardMessage], None],
        *,
        state_dir: Path,
        broker_url: str | None = None,
        detail: Mapping[str, JsonValue] | None = None,
        session_expiry: int = SESSION_EXPIRY_S,
        keepalive: int = KEEPALIVE_S,
    ) -> None:
        """``broker_url`` overrides ``config.broker_url``; ``detail`` goes into the
        device status (e.g. ``{"voice": "ok"}``). Raises :class:`BusError` when the
        password file is unreadable, ValueError (BrokerUrlError) for a bad URL."""
        self.config = config
        self.device_id = config.device_id
        self.address = parse_broker_url(broker_url or config.broker_url)
        self.status_topic = DeviceStatusTopic(config.campus, self.device_id)
        self._on_message_cb = on_message
        self._detail: dict[str, JsonValue] = dict(detail or {})
        self._session_expiry = session_expiry
        self._keepalive = keepalive
        self._boots = BootCounter(state_dir, self.device_id)
        self._boot = self._boots.current()
        self._connected = threading.Event()
        self._stopping = False
        self._lock = threading.Lock()
        password = (
            read_password(config.broker_password_file) if config.broker_password_file else None
        )
        username = config.broker_username or self.address.username
        self._v5 = self.address.protocol != "3.1.1"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.device_id,
            protocol=mqtt.MQTTv5 if self._v5 else mqtt.MQTTv311,
            clean_session=None if self._v5 else False,
        )
        if username is not None or password is not None:
            client.username_pw_set(username, password)
        if self.address.tls:
            client.tls_set()
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.on_pre_connect = self._on_pre_connect
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def boot(self) -> int:
        """The boot number of the current (or last) session."""
        return self._boot

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected (True) or ``timeout`` seconds passed (False)."""
        return self._connected.wait(timeout)

    def start(self) -> None:
        """Begin connecting in paho's thread; returns at once, even if the broker is down."""
        if not self._v5:  # 3.1.1: clean_session=False was set on the client
            self._client.connect_async(
                self.address.host, self.address.port, keepalive=self._keepalive
            )
        else:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self._session_expiry
            self._client.connect_async(
                self.address.host,
                self.address.port,
                keepalive=self._keepalive,
                clean_start=False,
                properties=properties,
            )
        self._client.loop_start()

    def stop(self, timeout: float = 5.0) -> None:
        """Publish the offline status (when connected), disconnect cleanly, end the
        thread. The session stays on the broker for ``session_expiry`` seconds."""
        with self._lock:
            self._stopping = True
        if self._connected.is_set():
            info = self._publish_status(online=False)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                log.warning("离线状态未能发出 / the offline status could not be published")
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    def dispatch(self, topic: str, payload: bytes | bytearray | str) -> None:
        """Route one received payload as if it came from the broker (also used by tests):
        decode it, hand the board message to the callback, or log and drop it."""
        try:
            message = board_message(topic, payload)
        except PayloadError as exc:
            log.warning("丢弃无法使用的消息 / dropped an unusable message on %s: %s", topic, exc)
            return
        if message is not None:
            self._deliver(message)

    # -- paho's thread ---------------------------------------------------------------

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        try:
            self._boot = self._boots.next()
        except OSError as exc:
            self._boot += 1
            log.warning(
                "无法保存启动计数 %s（%s），仅在内存中计数 / cannot store the boot counter in %s",
                self._boots.path,
                exc.__class__.__name__,
                self._boots.path,
            )
        client.will_set(
            self.status_topic.topic,
            self._status_payload(online=False),
            qos=self.status_topic.qos,
            retain=self.status_topic.retain,
        )

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: Any,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.warning(
                "MQTT 服务器拒绝连接：%s，稍后重试 / the broker refused the connection: %s",
                reason_code,
                reason_code,
            )
            return
        client.subscribe(room_filters(self.config))
        self._publish_status(online=True)
        self._connected.set()
        log.info(
            "已连接 MQTT 服务器 %s（会话%s）/ connected to %s (session %s)",
            self.address.url,
            "续用" if flags.session_present else "新建",
            self.address.url,
            "resumed" if flags.session_present else "new",
        )
        self._deliver(BrokerConnected())

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: Any,
        properties: Properties | None,
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        with self._lock:
            stopping = self._stopping
        if was_connected and not stopping:  # on stop() the board is closing: no lost sign
            log.warning(
                "与 MQTT 服务器的连接中断（%s），正在重连 / lost the broker (%s), reconnecting",
                reason_code,
                reason_code,
            )
            self._deliver(BrokerDisconnected())

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.dispatch(msg.topic, msg.payload)

    def _deliver(self, message: BoardMessage) -> None:
        try:
            self._on_message_cb(message)
        except Exception:
            log.exception("处理消息时出错 / the board failed to handle a message")

    def _publish_status(self, *, online: bool) -> mqtt.MQTTMessageInfo:
        return self._client.publish(
            self.status_topic.topic,
            self._status_payload(online=online),
            qos=self.status_topic.qos,
            retain=self.status_topic.retain,
        )

    def _status_payload(self, *, online: bool) -> bytes:
        status = DeviceStatus(
            device_id=self.device_id,
            kind=DeviceKind.SIGNAGE,
            online=online,
            boot=self._boot,
            version=board_version(),
            detail=self._detail,
        )
        return encode_envelope(build_envelope(status))
