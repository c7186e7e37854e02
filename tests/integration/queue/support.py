"""A running campus queue (in-process, as ``pacs-edge serve`` runs it) and a broker listener."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_gateway.config import EdgeSettings
from edge_gateway.queue_runtime import QueueRuntime, build_queue_runtime
from edge_gateway.store.worklist import StepIn, add_step
from shared.dicom.uid import UidFactory
from shared.mqtt.broker import parse_broker_url
from shared.mqtt.envelope import Envelope, decode_envelope
from shared.mqtt.topics import parse_topic
from tests.support.waiting import wait_until  # noqa: F401  (re-exported for the queue tests)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def runtime(data_dir: Path, **settings: Any) -> QueueRuntime:
    """A started queue runtime of campus dongge with the default rooms, console on a free
    port; stop it at the end."""
    values: dict[str, Any] = {
        "campus": "dongge",
        "data_dir": data_dir,
        "console_port": 0,
        "bind": "127.0.0.1",
        "accept_any_ae": True,
    }
    values.update(settings)
    built = build_queue_runtime(EdgeSettings(**values))
    built.start()
    return built


def schedule(
    rt: QueueRuntime,
    patient_id: str,
    name: str,
    accession: str,
    modality: str = "CT",
    minutes_from_now: int = 5,
    station_ae: str = "CT1",
) -> None:
    """A step on today's worklist, due in a few minutes (so the patient is on time)."""
    when = datetime.now(SHANGHAI) + timedelta(minutes=minutes_from_now)
    add_step(
        rt.engine,
        StepIn(
            patient_id=patient_id,
            patient_name=name,
            modality=modality,
            accession=accession,
            station_ae=station_ae,
            scheduled=when.replace(tzinfo=None),
            procedure="胸部CT平扫",
        ),
        UidFactory(None),
    )


@dataclass
class Heard:
    topic: str
    envelope: Envelope
    retained: bool
    raw: bytes


@dataclass
class Listener:
    """A paho client (MQTT 5, persistent session) recording every message under a filter."""

    url: str
    pattern: str
    client_id: str = "test-listener"
    heard: list[Heard] = field(default_factory=list)

    def __post_init__(self) -> None:
        address = parse_broker_url(self.url)
        self._lock = threading.Lock()
        self.connected = threading.Event()
        v5 = address.protocol == "5"
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
        )
        self._client.on_message = self._on_message
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = lambda *_: self.connected.clear()
        self._client.reconnect_delay_set(1, 2)
        properties = None
        if v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = 3600
        self._client.connect(
            address.host,
            address.port,
            clean_start=False if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )
        self._client.loop_start()
        assert self.connected.wait(10), "listener could not connect"

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        client.subscribe(self.pattern, qos=1)
        self.connected.set()

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        kind = parse_topic(message.topic).KIND
        envelope = decode_envelope(message.payload, kind=kind)
        with self._lock:
            self.heard.append(
                Heard(message.topic, envelope, message.retain, bytes(message.payload))
            )

    def messages(self, type_name: str | None = None) -> list[Heard]:
        with self._lock:
            return [h for h in self.heard if type_name is None or h.envelope.type == type_name]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
