"""A private Mosquitto for a benchmark, and Mosquitto's own QoS 1 round trip as the floor.

- :class:`Mosquitto`: ``mosquitto -c CONFIG`` on a free loopback port, with persistence as
  a campus broker has it; a context manager (stopped on leaving, whatever happened).
- :func:`raw_round_trip`: a paho publisher and a paho subscriber (two clients, one process,
  each with its own network thread, as the edge and a board have) on that broker; one
  QoS 1 message at a time, timed from ``publish()`` to the subscriber's ``on_message``.
  That is the least any call-out can take through this broker on this machine.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import IO

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.peers import HOST, LoggedProcess, _terminate, free_port, wait_for_port

CONNECT_TIMEOUT_S = 10.0
MESSAGE_TIMEOUT_S = 5.0


def mosquitto_binary() -> str:
    """The Mosquitto broker's path; FileNotFoundError with an install hint when absent."""
    for path in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if path and Path(path).exists():
            return path
    raise FileNotFoundError("mosquitto not found: install the Debian package 'mosquitto'")


def mosquitto_version() -> str:
    try:
        out = subprocess.run(
            [mosquitto_binary(), "-h"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired, FileNotFoundError):
        return "unknown"
    first = (out.stdout or out.stderr).strip().splitlines()[:1]
    return first[0].removeprefix("mosquitto version ").strip() if first else "unknown"


class Mosquitto(LoggedProcess):
    """One Mosquitto on ``HOST:port`` with its config, persistence and log in ``folder``.

    Anonymous access on loopback; ``persistence true`` as Debian's default config has it
    (Mosquitto 2 writes it at autosave and exit, not per message). ``user root`` keeps a
    broker started as root from switching to the ``mosquitto`` user, which could not write
    in ``folder`` (without root the setting has no effect).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"mqtt://{HOST}:{self.port}"
        self.logfile = folder / "mosquitto.log"
        self.config = folder / "mosquitto.conf"
        self.process: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            f"listener {self.port} {HOST}\n"
            "allow_anonymous true\n"
            "user root\n"
            "persistence true\n"
            f"persistence_location {self.folder}/\n"
            f"log_dest file {self.logfile}\n"
            "max_queued_messages 100000\n",
            encoding="utf-8",
        )
        self._out = (self.folder / "mosquitto.out").open("wb")
        self.process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_port(self.port, self.process, "mosquitto")
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}; its log {self.logfile} ends:\n{self.log_tail()}") from exc

    def stop(self) -> None:
        process, self.process = self.process, None
        try:
            if process is not None and process.poll() is None:
                _terminate(process, grace_s=15.0)
        finally:
            if self._out is not None:
                self._out.close()
                self._out = None


def _client(name: str) -> mqtt.Client:
    return mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"bench-{name}-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv5,
    )


def _connect(client: mqtt.Client, port: int, what: str) -> None:
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.connect(HOST, port)
    client.loop_start()
    if not connected.wait(CONNECT_TIMEOUT_S):
        client.loop_stop()
        raise TimeoutError(f"the {what} could not connect to mosquitto on {HOST}:{port}")


def raw_round_trip(port: int, count: int, payload: bytes, warmup: int = 20) -> list[float]:
    """Milliseconds from ``publish()`` (QoS 1) to the subscriber's ``on_message`` for
    ``count`` messages of ``payload``, one at a time, after ``warmup`` untimed ones.
    Raises TimeoutError when a message does not arrive within 5 s."""
    topic = f"bench/floor/{uuid.uuid4().hex[:8]}"
    arrived = threading.Event()
    arrival = [0.0]

    def on_message(_c: object, _u: object, _m: mqtt.MQTTMessage) -> None:
        arrival[0] = time.perf_counter()
        arrived.set()

    subscribed = threading.Event()
    sub = _client("floor-sub")
    sub.on_message = on_message
    sub.on_subscribe = lambda *_: subscribed.set()
    pub = _client("floor-pub")
    _connect(sub, port, "floor subscriber")
    try:
        sub.subscribe(topic, qos=1)
        if not subscribed.wait(CONNECT_TIMEOUT_S):
            raise TimeoutError("mosquitto did not acknowledge the floor subscription")
        _connect(pub, port, "floor publisher")
        samples: list[float] = []
        for i in range(warmup + count):
            arrived.clear()
            start = time.perf_counter()
            pub.publish(topic, payload, qos=1)
            if not arrived.wait(MESSAGE_TIMEOUT_S):
                raise TimeoutError(f"floor message {i} did not arrive within {MESSAGE_TIMEOUT_S} s")
            if i >= warmup:
                samples.append((arrival[0] - start) * 1000)
        return samples
    finally:
        for client in (pub, sub):
            client.disconnect()
            client.loop_stop()
