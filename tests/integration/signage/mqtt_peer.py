"""A test-side MQTT peer (the edge's role): publishes queue state and calls, watches the
board's status. A real paho client (callbacks API 2, MQTT 5, persistent session), no mocks."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from shared.mqtt.broker import parse_broker_url
from shared.mqtt.envelope import Envelope, build_envelope, decode_envelope, encode_envelope
from shared.mqtt.payloads import (
    CallEvent,
    DeviceStatus,
    QueueState,
    TicketStatus,
    TicketView,
)
from shared.mqtt.topics import CallTopic, DeviceStatusTopic, QueueStateTopic
from tests.support.waiting import wait_until


@contextmanager
def broker_folder() -> Iterator[Path]:
    """A folder Mosquitto can write its persistence file and log to.

    Started as root, Mosquitto drops to the ``mosquitto`` user, which cannot enter
    pytest's private (0700) ``tmp_path``: persistence would silently be off and a restart
    would lose every session. So the broker gets an open folder of its own here.
    """
    base = Path(tempfile.mkdtemp(prefix="pacs-board-broker-"))
    try:
        os.chmod(base, 0o777)
        folder = base / "broker"
        folder.mkdir()
        os.chmod(folder, 0o777)
        yield folder
    finally:
        shutil.rmtree(base, ignore_errors=True)


wait_for = wait_until
"""The signage tests' name for :func:`tests.support.waiting.wait_until`."""


class EdgePeer:
    """Publishes like the edge gateway; records device statuses it hears."""

    def __init__(self, url: str, client_id: str | None = None) -> None:
        address = parse_broker_url(url)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"edge-test-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.reconnect_delay_set(1, 2)
        self.statuses: list[DeviceStatus] = []
        self._connected = threading.Event()
        self._subscriptions: list[str] = []
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 3600
        self.client.connect_async(
            address.host, address.port, keepalive=10, clean_start=False, properties=properties
        )
        self.client.loop_start()
        wait_for(self._connected.is_set, what="the test publisher to connect")

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def watch_status(self, campus: str, device_id: str) -> None:
        topic = DeviceStatusTopic(campus, device_id).topic
        self._subscriptions.append(topic)
        self.client.subscribe(topic, qos=1)

    def publish(self, topic: str, envelope: Envelope, *, retain: bool = False) -> None:
        self.client.publish(topic, encode_envelope(envelope), qos=1, retain=retain)

    def publish_raw(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1)

    def state(self, snapshot: QueueState) -> None:
        topic = QueueStateTopic(snapshot.campus, snapshot.room).topic
        self.publish(topic, build_envelope(snapshot), retain=True)

    def call(self, event: CallEvent) -> Envelope:
        envelope = build_envelope(event)
        self.publish(CallTopic(event.campus, event.room).topic, envelope)
        return envelope

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        for topic in self._subscriptions:
            client.subscribe(topic, qos=1)
        self._connected.set()

    def _on_disconnect(self, *args: Any) -> None:
        self._connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        envelope = decode_envelope(msg.payload)
        if isinstance(envelope.body, DeviceStatus):
            self.statuses.append(envelope.body)


def ticket(code: str, name: str, status: TicketStatus = TicketStatus.WAITING) -> TicketView:
    return TicketView(ticket=code, masked_name=name, exam_label="CT 平扫", status=status)


def queue_state(
    seq: int,
    serving: tuple[str, str] | None,
    waiting: tuple[tuple[str, str], ...] = (),
    *,
    room: str = "ct1",
    paused: bool = False,
) -> QueueState:
    return QueueState(
        campus="dongge",
        room=room,
        room_label=room.upper(),
        seq=seq,
        paused=paused,
        now_serving=ticket(*serving, status=TicketStatus.CALLED) if serving else None,
        waiting=tuple(ticket(*w) for w in waiting),
        updated_at=datetime.now(UTC),
    )


def call_event(code: str, name: str = "张*三", *, room: str = "ct1") -> CallEvent:
    return CallEvent(
        campus="dongge",
        room=room,
        room_label=room.upper(),
        ticket=code,
        masked_name=name,
        spoken_text=f"请 {code} 号到 {room.upper()} 室检查",
        attempt=1,
        called_at=datetime.now(UTC),
    )
