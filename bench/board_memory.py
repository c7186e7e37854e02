"""Board memory under many calls: a signage board client in a process of its own, fed
call-outs through Mosquitto, reporting its memory at checkpoints.

The board (:class:`~signage.bus.client.BoardBus` + a silent
:class:`~signage.board.controller.BoardController`, as ``pacs-signage`` runs it without a
window or a voice) runs as ``python bench/board_memory.py --child …``, alone in its process,
so its resident set is the board's own. After connecting and seeing the retained pictures
of its rooms it starts ``tracemalloc`` and prints one JSON line per sample on stdout:
``{"calls": n, "rss_kib": …, "traced_kib": …, "traced_peak_kib": …, "messages": …,
"announced": …}`` — at 0 calls and after each checkpoint (``gc.collect()`` first, so
garbage waiting for the cycle collector does not count as growth), then ``{"done": true}``.

:func:`measure_board_memory` is the parent side: it starts the child, publishes from one
paho client what the edge publishes for each call (the room's retained picture, then the
call-out) at a steady rate, and collects the samples.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

# Run as a script (python bench/board_memory.py): make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.peers import HOST
from shared.masking import mask_name
from shared.mqtt.envelope import build_envelope, encode_envelope
from shared.mqtt.payloads import CallEvent, QueueState, TicketStatus, TicketView
from shared.mqtt.topics import CallTopic, QueueStateTopic
from signage.board.config import BoardConfig
from signage.board.controller import BoardController
from signage.board.state import BoardMessage, CallReceived
from signage.bus.client import BoardBus

CAMPUS = "dongge"
ROOMS = ("ct1", "ct2")
CHILD_READY_TIMEOUT_S = 30.0
SAMPLE_TIMEOUT_S = 120.0
NAMES = ("张^三丰", "李^小龙", "黄^海波", "韦^桂兰", "陈^静", "覃^志强", "梁^丽", "莫^宁")
WAITING_SHOWN = 5
"""Waiting tickets in each published picture (the edge sends up to 30; boards show 3)."""


@dataclass(frozen=True)
class Sample:
    calls: int
    rss_kib: int
    traced_kib: float
    traced_peak_kib: float
    messages: int
    announced: int


# -- the child: the board ---------------------------------------------------------------


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def _emit(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def run_child(broker_url: str, state_dir: Path, checkpoints: list[int]) -> int:
    """The board process (see the module docstring); returns its exit code."""
    config = BoardConfig(
        campus=CAMPUS,
        rooms=ROOMS,
        broker_url=broker_url,
        client_id=f"bench-board-memory-{os.getpid()}",
    )
    controller = BoardController(config)
    ready = threading.Event()
    finished = threading.Event()
    remaining = sorted(checkpoints)
    calls = [0]

    def sample() -> None:
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        counters = controller.counters
        _emit(
            {
                "calls": calls[0],
                "rss_kib": _rss_kib(),
                "traced_kib": current / 1024,
                "traced_peak_kib": peak / 1024,
                "messages": counters.messages,
                "announced": counters.announced,
            }
        )

    def on_message(message: BoardMessage) -> None:
        controller.handle(message)
        if not ready.is_set():
            if all(controller.state.room(r).seq is not None for r in ROOMS):
                ready.set()
            return
        if isinstance(message, CallReceived):
            calls[0] += 1
            if remaining and calls[0] >= remaining[0]:
                remaining.pop(0)
                sample()
                if not remaining:
                    finished.set()

    bus = BoardBus(config, on_message, state_dir=state_dir, broker_url=broker_url)
    bus.start()
    try:
        if not ready.wait(CHILD_READY_TIMEOUT_S):
            _emit({"error": "the board did not receive its rooms' retained pictures"})
            return 2
        tracemalloc.start()
        sample()
        _emit({"ready": True})
        if not finished.wait(SAMPLE_TIMEOUT_S + max(checkpoints) / 50):
            _emit({"error": f"only {calls[0]} calls arrived"})
            return 2
        _emit({"done": True})
        return 0
    finally:
        bus.stop()


# -- the parent: the publisher ----------------------------------------------------------


def _picture(room: str, seq: int, serving: str, now: datetime) -> QueueState:
    waiting = tuple(
        TicketView(
            ticket=f"W{seq + k:05d}",
            masked_name=mask_name(NAMES[(seq + k) % len(NAMES)]),
            exam_label="CT",
            status=TicketStatus.WAITING,
        )
        for k in range(1, WAITING_SHOWN + 1)
    )
    return QueueState(
        campus=CAMPUS,
        room=room,
        room_label=room.upper(),
        seq=seq,
        paused=False,
        now_serving=TicketView(
            ticket=serving,
            masked_name=mask_name(NAMES[seq % len(NAMES)]),
            exam_label="CT",
            status=TicketStatus.CALLED,
        ),
        waiting=waiting,
        updated_at=now,
    )


def _call(room: str, number: str, seq: int, now: datetime) -> CallEvent:
    masked = mask_name(NAMES[seq % len(NAMES)])
    return CallEvent(
        campus=CAMPUS,
        room=room,
        room_label=room.upper(),
        ticket=number,
        masked_name=masked,
        spoken_text=f"请 {number} 号 {masked} 到 {room.upper()} 室检查",
        attempt=1,
        called_at=now,
    )


def _publish(client: mqtt.Client, topic: QueueStateTopic | CallTopic, body: Any) -> None:
    payload = encode_envelope(build_envelope(body, now=datetime.now(UTC)))
    client.publish(topic.topic, payload, qos=topic.QOS, retain=topic.RETAIN)


def _lines(stream: IO[str]) -> Iterator[dict[str, Any]]:
    for line in stream:
        line = line.strip()
        if line.startswith("{"):
            yield json.loads(line)


def measure_board_memory(
    broker_url: str, port: int, workdir: Path, calls: int, checkpoints: list[int], rate: float
) -> tuple[list[Sample], float]:
    """Feed ``calls`` call-outs (each after its room's picture) at ``rate`` calls/s into a
    board process; its samples at 0 calls and at each checkpoint, and the seconds the
    publishing took. Raises RuntimeError when the board reports a problem or exits."""
    workdir.mkdir(parents=True, exist_ok=True)
    stderr = (workdir / "board.log").open("wb")
    child = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            "--broker",
            broker_url,
            "--state-dir",
            str(workdir / "state"),
            "--checkpoints",
            ",".join(str(c) for c in sorted(set(checkpoints))),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        start_new_session=True,
    )
    publisher = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-edge-{uuid.uuid4().hex[:8]}"
    )
    publisher.max_queued_messages_set(0)
    connected = threading.Event()
    publisher.on_connect = lambda *_: connected.set()
    samples: list[Sample] = []
    try:
        publisher.connect(HOST, port)
        publisher.loop_start()
        if not connected.wait(10):
            raise RuntimeError("the memory publisher could not connect to mosquitto")
        now = datetime.now(UTC)
        for index, room in enumerate(ROOMS):
            _publish(publisher, QueueStateTopic(CAMPUS, room), _picture(room, 1, f"S{index}", now))
        assert child.stdout is not None
        lines = _lines(child.stdout)
        elapsed = 0.0
        for data in lines:
            if "error" in data:
                raise RuntimeError(f"the board process: {data['error']}")
            if "calls" in data:
                samples.append(Sample(**data))
            if data.get("ready"):
                elapsed = _feed(publisher, calls, rate)
            if data.get("done"):
                break
        if not samples or samples[-1].calls < max(checkpoints):
            raise RuntimeError(f"the board process ended early (exit {child.poll()})")
        return samples, elapsed
    finally:
        publisher.disconnect()
        publisher.loop_stop()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        stderr.close()


def _feed(publisher: mqtt.Client, calls: int, rate: float) -> float:
    """Publish ``calls`` (picture, call-out) pairs, alternating rooms, ``rate`` per second."""
    start = time.perf_counter()
    for i in range(calls):
        due = start + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)  # pacing the publisher, not waiting for a server
        room = ROOMS[i % len(ROOMS)]
        seq = 2 + i // len(ROOMS)
        number = f"C{i + 1:05d}"
        now = datetime.now(UTC)
        _publish(publisher, QueueStateTopic(CAMPUS, room), _picture(room, seq, number, now))
        _publish(publisher, CallTopic(CAMPUS, room), _call(room, number, seq, now))
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="the board process of bench/queue_calls.py")
    p.add_argument("--child", action="store_true", required=True)
    p.add_argument("--broker", required=True)
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--checkpoints", required=True, help="comma-separated call counts")
    args = p.parse_args(argv)
    checkpoints = [int(c) for c in args.checkpoints.split(",") if c]
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return run_child(args.broker, args.state_dir, checkpoints)


if __name__ == "__main__":
    sys.exit(main())
