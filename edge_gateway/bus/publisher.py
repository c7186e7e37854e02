"""The edge gateway on the campus broker: the queue's pictures and calls, and its own status.

One paho-mqtt 2.x client (``CallbackAPIVersion.VERSION2``) with a fixed client id
(``edge-{campus}``) and a persistent session (MQTT 5: clean start off and a session
expiry; MQTT 3.1.1: clean session off), so QoS 1 messages are not lost across a broker
restart: paho keeps every unacknowledged message and sends it again after reconnecting.

* After every committed queue change (a :class:`~edge_gateway.queue.desk.QueueDesk`
  listener): the retained ``queue/{room}/state`` of each room whose picture changed, with
  its persisted ``seq``, then one ``call/{room}`` per call or recall.
* On every (re)connect: the retained picture of every room at its current ``seq`` (so a
  broker that lost its retained store is refilled), and the retained online status.
* Last will: the retained offline status of the same ``boot`` as the birth; ``boot`` rises
  with every connection (persisted), so a late will of an older connection is recognised.
  A clean stop publishes the offline status itself (a will is not sent then).
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge_gateway.bus.views import call_event, room_state
from edge_gateway.queue.desk import QueueDesk
from edge_gateway.queue.store import Applied
from shared.mqtt.broker import BrokerAddress
from shared.mqtt.envelope import build_envelope, encode_envelope
from shared.mqtt.payloads import Body, DeviceKind, DeviceStatus
from shared.mqtt.topics import CallTopic, DeviceStatusTopic, QueueStateTopic, Topic

log = logging.getLogger(__name__)

SESSION_EXPIRY_SECONDS: Final = 7 * 24 * 3600
MAX_QUEUED: Final = 20_000
"""Messages kept for the broker while it is away (beyond that the oldest calls are lost,
which after hours of outage is better than speaking them)."""
KEEPALIVE_SECONDS: Final = 15


class EdgeBus:
    """See the module docstring. ``start`` returns at once; the client connects (and keeps
    reconnecting, 1–10 s apart) on paho's network thread."""

    def __init__(
        self,
        address: BrokerAddress,
        desk: QueueDesk,
        *,
        campus: str,
        boots: Callable[[], int],
        version: str,
        password: str | None = None,
        ca_file: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._address = address
        self._desk = desk
        self._campus = campus
        self._clock = clock
        self.device_id = f"edge-{campus}"
        self._boots = boots
        self._boot = boots()
        self._version = version
        self.connected = threading.Event()
        self._lock = threading.Lock()
        v5 = address.protocol == "5"
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.device_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
        )
        self._v5 = v5
        client = self._client
        client.max_queued_messages_set(MAX_QUEUED)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        if address.username:
            client.username_pw_set(address.username, password)
        if address.tls:
            client.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)
        self._set_will()
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        desk.add_listener(self.publish_applied)

    # -- lifecycle --

    def start(self) -> None:
        properties = None
        if self._v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        self._client.connect_async(
            self._address.host,
            self._address.port,
            keepalive=KEEPALIVE_SECONDS,
            clean_start=False if self._v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )
        self._client.loop_start()
        log.info("queue messages go to the broker at %s", self._address.url)

    def stop(self, timeout: float = 5.0) -> None:
        """Say offline (retained), wait up to ``timeout`` for it to be sent, disconnect."""
        if self.connected.is_set():
            info = self._publish(self._status_topic(), self._status(False))
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                log.warning("offline status not confirmed by the broker")
        self._client.disconnect()
        self._client.loop_stop()

    # -- publishing --

    def publish_applied(self, applied: Applied) -> None:
        """The desk listener: changed rooms' pictures, then the calls, in that order."""
        now = self._clock()
        with self._lock:
            pictures = {}
            for room, seq in sorted(applied.seqs.items()):
                pictures[room] = room_state(applied.queue, room, seq=seq, now=now)
                self._publish(QueueStateTopic(self._campus, room), pictures[room])
            for transition in applied.transitions:
                event = call_event(applied.queue, transition, pictures.get(transition.room))
                if event is not None:
                    self._publish(CallTopic(self._campus, event.room), event)

    def publish_all_rooms(self) -> None:
        """Every room's picture at its current seq (on connect)."""
        now = self._clock()
        with self._lock:
            queue = self._desk.queue
            for room in queue.rooms:
                state = room_state(queue, room, seq=self._desk.seq(room), now=now)
                self._publish(QueueStateTopic(self._campus, room), state)

    def _publish(self, topic: Topic, body: Body) -> mqtt.MQTTMessageInfo:
        info = self._client.publish(
            topic.topic, self._encode(body), qos=topic.QOS, retain=topic.RETAIN
        )
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.error("message for %s not queued (%s)", topic.topic, mqtt.error_string(info.rc))
        return info

    def _encode(self, body: Body) -> bytes:
        return encode_envelope(build_envelope(body, now=self._clock()))

    def _set_will(self) -> None:
        will = self._status_topic()
        self._client.will_set(
            will.topic, self._encode(self._status(False)), qos=will.QOS, retain=True
        )

    def _status_topic(self) -> DeviceStatusTopic:
        return DeviceStatusTopic(self._campus, self.device_id)

    def _status(self, online: bool) -> DeviceStatus:
        return DeviceStatus(
            device_id=self.device_id,
            kind=DeviceKind.EDGE,
            online=online,
            boot=self._boot,
            version=self._version,
        )

    # -- paho callbacks (network thread) --

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("the broker at %s refused the edge: %s", self._address.url, reason)
            return
        log.info("connected to the broker at %s", self._address.url)
        self.connected.set()
        self._publish(self._status_topic(), self._status(True))
        self.publish_all_rooms()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if self.connected.is_set():
            log.warning("lost the broker at %s (%s); reconnecting", self._address.url, reason)
        self.connected.clear()
        try:  # the next connection is a new session: a new boot in its birth and will
            self._boot = self._boots()
        except Exception:  # a locked index must not stop reconnecting; keep the old number
            log.exception("could not raise the boot counter")
        self._set_will()
