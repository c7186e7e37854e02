"""The presenter: board state to display strings, Chinese first, masked names only."""

from __future__ import annotations

from signage.board.presenter import (
    CONNECTED,
    CONNECTION_LOST,
    NO_DATA,
    PAUSED,
    connection_line,
    present,
    room_line,
)
from signage.board.state import BrokerConnected, BrokerDisconnected, apply_all, initial_state
from tests.unit.signage.builders import call, config, snapshot


def test_rooms_show_called_ticket_masked_name_and_next_n() -> None:
    cfg = config(next_count=2)
    state = apply_all(
        initial_state(cfg),
        [BrokerConnected(), snapshot(3, serving="C012", waiting=("C013", "C014", "C015"))],
    )
    view = present(state)
    ct1, ct2 = view.rooms
    assert (ct1.label, ct1.calling_ticket, ct1.calling_name) == ("CT1", "C012", "张*")
    assert ct1.next_lines == ("C013 张*", "C014 张*") and ct1.next_text == "C013 张*\nC014 张*"
    assert ct1.status == "" and ct1.calling_caption == "正在呼叫"
    assert ct2.status == NO_DATA and ct2.calling_ticket == "—"
    assert view.banner == ""
    assert room_line(ct1) == "CT1: 呼叫 C012 张*；等候 C013 张*, C014 张*"


def test_paused_room_and_lost_broker_are_chinese_first() -> None:
    state = apply_all(
        initial_state(config()),
        [BrokerConnected(), snapshot(1, paused=True), BrokerDisconnected()],
    )
    view = present(state)
    assert view.rooms[0].status == PAUSED == "暂停服务 / paused"
    assert view.banner == CONNECTION_LOST
    assert view.banner.startswith("与叫号服务器的连接已中断")
    assert view.banner.endswith("connection lost, reconnecting")
    assert room_line(view.rooms[0]) == "CT1: 暂停服务 / paused"
    assert connection_line(state) == CONNECTION_LOST
    assert connection_line(apply_all(state, [BrokerConnected()])) == CONNECTED


def test_recent_strip_and_bilingual_captions() -> None:
    state = apply_all(
        initial_state(config()),
        [call("C001", minute=1), call("D002", room="ct2", minute=2, name="李*")],
    )
    view = present(state, "zh-en")
    assert view.recent_lines == ("D002 李* → CT2", "C001 张*三 → CT1")
    assert view.recent_caption == "最近呼叫 Last calls"
    assert view.rooms[0].calling_caption == "正在呼叫 Now calling"
