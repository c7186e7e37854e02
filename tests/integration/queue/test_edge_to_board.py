"""Edge to board through the real Mosquitto: technician console actions (HTTP) change the
board's picture and its announcement queue; a broker restart in the middle of calling
loses no call and leaves the board's picture right."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edge_gateway.console.users import ConsoleUsers
from edge_gateway.queue_runtime import QueueRuntime
from signage.board.announcements import Speak
from signage.board.config import BoardConfig
from signage.board.controller import BoardController
from signage.board.state import CallReceived
from signage.bus.client import BoardBus
from tests.integration.queue.support import runtime, schedule, wait_until
from tests.support.mosquitto import PrivateBroker, private_broker

PASSWORD = "Console-Passw0rd"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    with private_broker(tmp_path / "mosquitto") as started:
        yield started


class Board:
    """A headless board (bus + controller) recording what it would say."""

    def __init__(self, url: str, state_dir: Path) -> None:
        config = BoardConfig(campus="dongge", rooms=("ct1", "ct2"), broker_url=url)
        self.controller = BoardController(config)
        self.spoken: list[str] = []
        self.calls: list[CallReceived] = []
        self.controller.subscribe_effects(self._effect)
        self.bus = BoardBus(config, self._message, state_dir=state_dir)
        self.bus.start()
        assert self.bus.wait_connected(10)

    def _message(self, message: object) -> None:
        if isinstance(message, CallReceived):
            self.calls.append(message)
        self.controller.handle(message)  # type: ignore[arg-type]

    def _effect(self, effect: object) -> None:
        if isinstance(effect, Speak) and effect.repeat == 1:
            self.spoken.append(effect.text)

    def serving(self, room: str) -> str | None:
        picture = self.controller.state.room(room)
        return picture.calling.ticket if picture.calling else None

    def stop(self) -> None:
        self.bus.stop()


def _signed_in(rt: QueueRuntime) -> httpx.Client:
    """A console client signed in as a technician known to this edge (cached sign-in)."""
    users = ConsoleUsers(rt.engine, "dongge", None)
    users._remember(  # what a successful hub sign-in leaves behind
        "tech1", PASSWORD, {"role": "technician", "campuses": ["dongge"], "display_name": "李"}
    )
    assert rt.console is not None
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{rt.console.port}", headers={"Accept": "application/json"}
    )
    answer = client.post("/console/login", data={"username": "tech1", "password": PASSWORD})
    assert answer.status_code in (200, 303)
    return client


def _act(client: httpx.Client, action: str, ticket: str = "", room: str = "ct1") -> list[str]:
    answer = client.post(
        f"/console/rooms/{room}/actions", data={"action": action, "ticket": ticket}
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["tickets"])


def test_console_actions_reach_the_board(tmp_path: Path, broker: PrivateBroker) -> None:
    rt = runtime(tmp_path / "edge", mqtt_url=broker.url)
    board = Board(broker.url, tmp_path / "board")
    client = _signed_in(rt)
    try:
        for i, name in enumerate(("SHAN^XIN=单^信", "ZHANG^SAN=张^三", "LI^SI=李^四"), 1):
            schedule(rt, f"P{i}", name, f"ACC{i}")
            assert client.post("/console/rooms/ct1/check-in", data={"patient_id": f"P{i}"}).json()[
                "ok"
            ]
        wait_until(lambda: len(board.controller.state.room("ct1").next) == 3, what="3 waiting")
        assert [v.masked_name for v in board.controller.state.room("ct1").next] == [
            "单*",
            "张*",
            "李*",
        ]
        assert _act(client, "call_next") == ["C001"]
        wait_until(lambda: board.serving("ct1") == "C001", what="board shows C001 called")
        wait_until(lambda: len(board.spoken) == 1, what="announcement")
        assert board.spoken == ["请 C001 号 单* 到 CT1 室检查"]
        _act(client, "recall", "C001")
        wait_until(lambda: len(board.spoken) == 2, what="recall announced")
        _act(client, "skip", "C001")  # 过号: the room is free again, nobody called
        wait_until(lambda: board.serving("ct1") is None, what="C001 off the screen")
        _act(client, "pause")
        wait_until(lambda: board.controller.state.room("ct1").paused, what="paused shown")
        _act(client, "resume")
        _act(client, "call_next")
        wait_until(lambda: board.serving("ct1") == "C002", what="C002 called")
        wait_until(lambda: len(board.spoken) == 3, what="third announcement")
        assert board.spoken[2] == "请 C002 号 张* 到 CT1 室检查"
        recent = board.controller.state.recent
        assert [(r.ticket, r.attempt) for r in recent][:2] == [("C002", 1), ("C001", 2)]
    finally:
        client.close()
        board.stop()
        rt.stop()


def test_broker_restart_mid_stream_loses_no_call(tmp_path: Path, broker: PrivateBroker) -> None:
    rt = runtime(tmp_path / "edge", mqtt_url=broker.url)
    board = Board(broker.url, tmp_path / "board")
    client = _signed_in(rt)
    total = 12
    try:
        for i in range(1, total + 1):
            schedule(rt, f"P{i}", f"WU^{i}=吴^{i}", f"ACC{i}")
            rt.desk.check_in(patient_id=f"P{i}", room="ct1")
        called: list[str] = []

        def call_one() -> None:
            (number,) = _act(client, "call_next")
            called.append(number)
            _act(client, "complete", number)

        for _ in range(4):
            call_one()
        wait_until(lambda: len(board.calls) == 4, what="first four calls")
        broker.stop()
        wait_until(lambda: board.controller.state.connection_lost, what="board sees it lost")
        for _ in range(4):  # the technician goes on calling while the broker is down
            call_one()
        broker.start()
        for _ in range(4):
            call_one()
        wait_until(
            lambda: len({c.call.ticket for c in board.calls}) == total,
            timeout=40,
            what="every call on the board",
        )
        assert sorted({c.call.ticket for c in board.calls}) == sorted(called)
        wait_until(lambda: not board.controller.state.connection_lost, what="reconnected")
        wait_until(
            lambda: board.controller.state.room("ct1").seq == rt.desk.seq("ct1"),
            what="the board's picture is the edge's latest",
        )
        picture = board.controller.state.room("ct1")
        assert picture.calling is None and picture.next == () and picture.fresh
        # announced once each, in call order (re-deliveries are not spoken twice)
        spoken = [text.split()[1] for text in board.spoken]
        assert spoken == sorted(spoken) and len(spoken) == len(set(spoken))
    finally:
        client.close()
        board.stop()
        rt.stop()
