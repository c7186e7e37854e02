"""The board on a real (private) Mosquitto: retained state, calls, a broker restart,
a malformed payload, and its birth / offline status."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.mqtt.topics import CallTopic
from signage.board.announcements import Done, Effect
from signage.board.config import BoardConfig
from signage.board.controller import BoardController
from signage.board.state import BoardState
from signage.bus.client import BoardBus
from tests.integration.signage.mqtt_peer import (
    EdgePeer,
    broker_folder,
    call_event,
    queue_state,
    wait_for,
)
from tests.support.mosquitto import PrivateBroker, private_broker

CONFIG = BoardConfig(campus="dongge", rooms=("ct1", "ct2"), chime=False, repeats=1, max_backlog=100)


class Board:
    """Controller (silent: every announcement completes at once) + bus, with records."""

    def __init__(self, url: str, state_dir: Path) -> None:
        self.controller = BoardController(CONFIG)
        self.announced: list[str] = []
        self.states: list[BoardState] = []
        self._lock = threading.Lock()
        self.controller.subscribe_effects(self._effect)
        self.controller.subscribe(self.states.append)
        self.bus = BoardBus(CONFIG, self.controller.handle, state_dir=state_dir, broker_url=url)

    def _effect(self, effect: Effect) -> None:
        if isinstance(effect, Done):
            with self._lock:
                self.announced.append(effect.announcement.ticket)

    def tickets(self) -> list[str]:
        with self._lock:
            return list(self.announced)


@pytest.fixture
def broker() -> Iterator[PrivateBroker]:
    with broker_folder() as folder, private_broker(folder) as running:
        yield running


@pytest.fixture
def board(broker: PrivateBroker, tmp_path: Path) -> Iterator[Board]:
    made = Board(broker.url, tmp_path / "state")
    made.bus.start()
    yield made
    made.bus.stop()


def test_retained_state_then_calls_in_order(broker: PrivateBroker, tmp_path: Path) -> None:
    edge = EdgePeer(broker.url)
    edge.state(queue_state(1, ("C011", "赵*"), (("C012", "张*三"), ("C013", "李*"))))
    board = Board(broker.url, tmp_path / "state")
    board.bus.start()
    try:
        wait_for(lambda: board.controller.state.room("ct1").seq == 1, what="retained state")
        picture = board.controller.state.room("ct1")
        assert picture.calling is not None and picture.calling.ticket == "C011"
        assert [v.ticket for v in picture.next] == ["C012", "C013"]
        assert board.controller.state.connected
        for code in ("C012", "C013", "C014"):
            edge.call(call_event(code))
        wait_for(lambda: len(board.tickets()) == 3, what="three announcements")
        assert board.tickets() == ["C012", "C013", "C014"]
        assert [r.ticket for r in board.controller.state.recent] == ["C014", "C013", "C012"]
    finally:
        board.bus.stop()
        edge.close()


def test_broker_restart_loses_no_call_and_shows_the_outage(
    broker: PrivateBroker, board: Board
) -> None:
    edge = EdgePeer(broker.url, client_id="edge-dongge-test")
    wait_for(lambda: board.bus.connected, what="the board to connect")
    edge.state(queue_state(1, ("C001", "张*")))
    sent: list[str] = []
    for n in range(1, 11):
        sent.append(f"C{n:03d}")
        edge.call(call_event(sent[-1]))
    wait_for(lambda: len(board.tickets()) == 10, what="the first ten calls")

    broker.stop()
    wait_for(lambda: board.controller.state.connection_lost, what="the board to see the outage")
    wait_for(lambda: not edge.connected, what="the publisher to see the outage")
    # published while the broker is down: paho keeps QoS 1 messages until it reconnects
    for n in range(11, 21):
        sent.append(f"C{n:03d}")
        edge.call(call_event(sent[-1]))
    edge.state(queue_state(2, ("C020", "王*"), (("C021", "赵*"),)))
    broker.start()
    wait_for(lambda: board.bus.connected and edge.connected, what="both to reconnect")
    for n in range(21, 31):
        sent.append(f"C{n:03d}")
        edge.call(call_event(sent[-1]))

    wait_for(
        lambda: len(board.tickets()) >= 30, timeout=30, what=f"all thirty calls {board.tickets()}"
    )
    assert sorted(board.tickets()) == sorted(sent)  # none lost, none spoken twice
    wait_for(lambda: board.controller.state.room("ct1").seq == 2, what="the newer snapshot")
    picture = board.controller.state.room("ct1")
    assert picture.calling is not None and picture.calling.ticket == "C020"
    assert picture.fresh and not board.controller.state.connection_lost
    lost = [s for s in board.states if s.connection_lost]
    assert lost, "the board never showed the connection as lost"
    edge.close()


def test_a_malformed_payload_is_dropped_and_the_board_goes_on(
    broker: PrivateBroker, board: Board, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="signage.bus.client")
    edge = EdgePeer(broker.url)
    wait_for(lambda: board.bus.connected, what="the board to connect")
    topic = CallTopic("dongge", "ct1").topic
    edge.publish_raw(topic, b"{not json")
    edge.publish_raw(topic, b'{"v": 1, "type": "queue.call", "id": "x", "body": {"ticket": 1}}')
    edge.call(call_event("C050"))
    wait_for(lambda: board.tickets() == ["C050"], what="the good call after the bad ones")
    dropped = [r for r in caplog.records if "dropped an unusable message" in r.getMessage()]
    assert len(dropped) == 2
    assert all("\n" not in r.getMessage() for r in dropped)
    edge.close()


def test_status_is_online_then_offline_on_stop(broker: PrivateBroker, tmp_path: Path) -> None:
    edge = EdgePeer(broker.url)
    edge.watch_status("dongge", CONFIG.device_id)
    board = Board(broker.url, tmp_path / "state")
    board.bus.start()
    wait_for(lambda: any(s.online for s in edge.statuses), what="the board's birth")
    birth = next(s for s in edge.statuses if s.online)
    assert birth.device_id == "board-dongge-ct1" and birth.boot == board.bus.boot >= 1
    board.bus.stop()
    wait_for(lambda: not edge.statuses[-1].online, what="the offline status")
    assert edge.statuses[-1].boot == birth.boot
    again = Board(broker.url, tmp_path / "state")
    again.bus.start()
    wait_for(lambda: edge.statuses[-1].online, what="the second birth")
    assert edge.statuses[-1].boot > birth.boot
    again.bus.stop()
    edge.close()


def test_mqtt_3_1_1_when_the_url_asks_for_it(broker: PrivateBroker, tmp_path: Path) -> None:
    edge = EdgePeer(broker.url)
    board = Board(broker.url + "?protocol=3.1.1", tmp_path / "state")
    board.bus.start()
    try:
        wait_for(lambda: board.bus.connected, what="the board to connect over 3.1.1")
        edge.call(call_event("C077"))
        wait_for(lambda: board.tickets() == ["C077"], what="a call over 3.1.1")
    finally:
        board.bus.stop()
        edge.close()
    assert "as board-dongge-ct1 (p2, c0" in broker.log  # Mosquitto: p2 = 3.1.1, c0 = kept
