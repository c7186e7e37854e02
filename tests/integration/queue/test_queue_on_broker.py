"""The campus queue on a real Mosquitto: check-in from the worklist, pictures and calls on
the broker with masked names only, MPPS and hub check-ins followed, broker restarts."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from edge_gateway.queue.desk import RoomAction
from edge_gateway.queue.errors import QueueError
from edge_gateway.queue.model import TicketState
from edge_gateway.queue.tables import QueueArrival
from shared.mqtt.payloads import CallEvent, DeviceStatus, QueueState
from shared.mqtt.topics import CallTopic, DeviceStatusTopic, campus_filter
from tests.integration.queue.support import (
    SHANGHAI,
    Listener,
    runtime,
    schedule,
    wait_until,
)
from tests.support.mosquitto import PrivateBroker, private_broker


@pytest.fixture
def broker(tmp_path: Path):
    with private_broker(tmp_path / "mosquitto") as started:
        yield started


def test_check_in_and_calls_reach_the_broker_masked(tmp_path: Path, broker: PrivateBroker) -> None:
    listener = Listener(broker.url, campus_filter("dongge").pattern)
    rt = runtime(tmp_path / "edge", mqtt_url=broker.url)
    try:
        schedule(rt, "P1", "ZHANG^SANFENG=张^三丰", "ACC1")
        schedule(rt, "P2", "ZHANG^SAN=张^三", "ACC2")
        schedule(rt, "P3", "OUYANG^NANA=欧阳^娜娜", "ACC3")
        first = rt.desk.check_in(patient_id="P1", room="ct1")
        rt.desk.check_in(accession="ACC2", room="ct1")
        rt.desk.check_in(patient_id="P3", room="ct1")
        assert first[0].new and first[0].ticket.number == "C001"
        assert rt.desk.check_in(patient_id="P1")[0].new is False  # a repeat is harmless

        rt.desk.act(RoomAction.CALL_NEXT, room="ct1")
        rt.desk.act(RoomAction.RECALL, ticket="C001")

        wait_until(lambda: len(listener.messages("queue.call")) == 2, what="two calls")
        calls = [h.envelope.body_as(CallEvent) for h in listener.messages("queue.call")]
        assert [(c.ticket, c.attempt, c.room_label) for c in calls] == [
            ("C001", 1, "CT1"),
            ("C001", 2, "CT1"),
        ]
        assert calls[0].masked_name == "张*丰"
        assert calls[0].spoken_text == "请 C001 号 张*丰 到 CT1 室检查"

        def ct1_states() -> list[QueueState]:
            return [
                h.envelope.body_as(QueueState)
                for h in listener.messages("queue.state")
                if h.topic.endswith("/ct1/state")
            ]

        wait_until(lambda: any(s.now_serving for s in ct1_states()), what="ct1 serving")
        latest = max(ct1_states(), key=lambda s: s.seq)
        assert latest.now_serving is not None and latest.now_serving.ticket == "C001"
        assert [(v.ticket, v.masked_name) for v in latest.waiting] == [
            ("C002", "张*"),
            ("C003", "欧阳*娜"),
        ]
        assert max(s.seq for s in ct1_states()) == rt.desk.seq("ct1")

        everything = b"".join(h.raw for h in listener.messages())
        for full in ("张三丰", "张三", "欧阳娜娜", "SANFENG", "NANA"):
            assert full.encode() not in everything
        status = [h for h in listener.messages("device.status") if "edge-dongge" in h.topic]
        assert status and status[-1].envelope.body_as(DeviceStatus).online
        # the hub hears of the arrival
        with rt.engine.connect() as conn:
            arrived = (
                conn.execute(
                    text("SELECT subject FROM outbox WHERE kind='exam.checked_in' ORDER BY id")
                )
                .scalars()
                .all()
            )
        assert arrived == ["ACC1", "ACC2", "ACC3"]
    finally:
        rt.stop()
        listener.close()


def test_check_in_goes_to_the_room_of_the_booked_scanner(
    tmp_path: Path, broker: PrivateBroker
) -> None:
    """Rooms named with their scanner's AE title in the queue file get the patients booked
    on that scanner (its worklist query by station AE finds them there)."""
    queue_file = tmp_path / "queue.toml"
    queue_file.write_text(
        "".join(
            f'[[room]]\nroom = "{room}"\nlabel = "{room.upper()}"\nmodality = "CT"\n'
            f'station_ae = "DG_{room.upper()}"\n\n'
            for room in ("ct1", "ct2")
        ),
        encoding="utf-8",
    )
    listener = Listener(broker.url, campus_filter("dongge").pattern)
    rt = runtime(tmp_path / "edge", mqtt_url=broker.url, queue_config=queue_file)
    try:
        for patient, station in (("P1", "DG_CT1"), ("P2", "DG_CT2"), ("P3", "DG_CT2")):
            schedule(rt, patient, "LI^SI=李^四", f"ACC{patient}", station_ae=station)
        rooms = [rt.desk.check_in(patient_id=p)[0].ticket.room for p in ("P1", "P2", "P3")]
        assert rooms == ["ct1", "ct2", "ct2"]
        rt.desk.act(RoomAction.CALL_NEXT, room="ct2")
        wait_until(lambda: bool(listener.messages("queue.call")), what="the call")
        call = listener.messages("queue.call")[0].envelope.body_as(CallEvent)
        assert (call.ticket, call.room_label) == ("C002", "CT2")
    finally:
        rt.stop()
        listener.close()


def test_refusals_are_sentences_and_change_nothing(tmp_path: Path, broker: PrivateBroker) -> None:
    rt = runtime(tmp_path / "edge", mqtt_url=broker.url)
    try:
        with pytest.raises(QueueError, match="今天没有找到您的检查预约"):
            rt.desk.check_in(patient_id="NOBODY")
        with pytest.raises(QueueError, match="nobody is waiting"):
            rt.desk.act(RoomAction.CALL_NEXT, room="ct1")
        with pytest.raises(QueueError, match="choose a ticket"):
            rt.desk.act(RoomAction.RECALL)
        assert rt.desk.seq("ct1") == 0
    finally:
        rt.stop()


def test_mpps_and_hub_check_ins_move_the_queue(tmp_path: Path, broker: PrivateBroker) -> None:
    rt = runtime(tmp_path / "edge", mqtt_url=broker.url)
    try:
        schedule(rt, "P1", "LI^SI=李^四", "ACC1")
        schedule(rt, "P2", "WANG^WU=王^五", "ACC2")
        rt.desk.check_in(patient_id="P1", room="ct1")
        rt.desk.act(RoomAction.CALL_NEXT, room="ct1")
        # the DICOM side writes MPPS rows to the outbox (as StorageService/MppsService do)
        _mpps_event(rt, "mpps.in_progress", "ACC1")
        wait_until(
            lambda: rt.desk.queue.tickets["C001"].status is TicketState.IN_EXAM, what="in exam"
        )
        _mpps_event(rt, "mpps.completed", "ACC1")
        wait_until(lambda: rt.desk.queue.tickets["C001"].status is TicketState.DONE, what="done")
        # an exam the modality stops (MPPS DISCONTINUED) leaves the room free
        schedule(rt, "P9", "ZHAO^JIU=赵^九", "ACC9")
        rt.desk.check_in(patient_id="P9", room="ct1")
        rt.desk.act(RoomAction.CALL_NEXT, room="ct1")
        _mpps_event(rt, "mpps.in_progress", "ACC9")
        wait_until(
            lambda: rt.desk.queue.tickets["C002"].status is TicketState.IN_EXAM, what="P9 in exam"
        )
        _mpps_event(rt, "mpps.discontinued", "ACC9")
        wait_until(
            lambda: rt.desk.queue.tickets["C002"].status is TicketState.CANCELLED,
            what="discontinued",
        )
        assert rt.desk.queue.rooms["ct1"].serving is None
        # a registrar's 报到 at the hub, delivered by the order feed
        with rt.engine.begin() as conn:
            conn.execute(
                insert(QueueArrival.__table__).values(  # type: ignore[attr-defined]
                    accession="ACC2", patient_id="P2", requested_at=datetime.now(UTC)
                )
            )
        # the follower issues the ticket, then records the outcome in its own transaction
        wait_until(lambda: _outcome(rt, "ACC2") != "", what="hub check-in handled")
        assert _outcome(rt, "ACC2") == "C003"
        assert any(t.patient_id == "P2" for t in rt.desk.queue.tickets.values())
        # the hub echoes the edge's own check-in back as arrived: nothing happens twice
        with rt.engine.begin() as conn:
            conn.execute(
                insert(QueueArrival.__table__).values(  # type: ignore[attr-defined]
                    accession="ACC1", patient_id="P1", requested_at=datetime.now(UTC)
                )
            )
        wait_until(lambda: _outcome(rt, "ACC1") != "", what="echo handled")
        assert _outcome(rt, "ACC1") == "held by C001"
        assert len(rt.desk.queue.tickets) == 3
        # 报到 at the hub 90 minutes before the appointment: too early; tried again later
        schedule(rt, "P3", "ZHOU^QI=周^七", "ACC3", minutes_from_now=90)
        with rt.engine.begin() as conn:
            conn.execute(
                insert(QueueArrival.__table__).values(  # type: ignore[attr-defined]
                    accession="ACC3", patient_id="P3", requested_at=datetime.now(UTC)
                )
            )
        wait_until(lambda: _outcome(rt, "ACC3").startswith("waiting:"), what="postponed")
        assert "too early" in _outcome(rt, "ACC3") or "早" in _outcome(rt, "ACC3")
        with rt.engine.begin() as conn:  # the appointment comes near; the retry is due
            conn.execute(
                text("UPDATE scheduled_step SET start_time = :t WHERE accession = 'ACC3'"),
                {"t": (datetime.now(SHANGHAI) + timedelta(minutes=5)).strftime("%H%M%S")},
            )
            conn.execute(text("UPDATE queue_arrival SET next_try_at = NULL"))
        wait_until(lambda: _outcome(rt, "ACC3") == "C004", what="checked in on retry")
    finally:
        rt.stop()


def _outcome(rt, accession: str) -> str:
    with rt.engine.connect() as conn:
        found = conn.execute(
            text("SELECT outcome FROM queue_arrival WHERE accession = :a"), {"a": accession}
        ).scalar_one()
    return str(found)


def _mpps_event(rt, kind: str, accession: str) -> None:
    from edge_gateway.store.outbox import add_event

    with rt.engine.begin() as conn:
        add_event(conn, kind=kind, subject=f"1.2.3.{accession}", payload={"accession": accession})


def test_no_call_lost_across_a_broker_restart(tmp_path: Path, broker: PrivateBroker) -> None:
    listener = Listener(broker.url, CallTopic.filter("dongge").pattern)
    rt = runtime(tmp_path / "edge", mqtt_url=broker.url)
    try:
        for i in range(1, 7):
            schedule(rt, f"P{i}", f"ZHAO^{i}=赵^{'一二三四五六'[i - 1]}", f"ACC{i}")
            rt.desk.check_in(patient_id=f"P{i}", room="ct1")
        assert rt.bus is not None
        wait_until(rt.bus.connected.is_set, what="edge connected")
        called: list[str] = []

        def call_and_complete() -> None:
            applied = rt.desk.act(RoomAction.CALL_NEXT, room="ct1")
            number = next(t.ticket for t in applied.transitions if t.ticket)
            called.append(number)
            rt.desk.act(RoomAction.COMPLETE, ticket=number)

        call_and_complete()
        wait_until(lambda: len(listener.messages()) == 1, what="first call")
        broker.stop()
        bus = rt.bus
        wait_until(lambda: not bus.connected.is_set(), what="edge sees the broker gone")
        for _ in range(3):  # calls made while the broker is down
            call_and_complete()
        broker.start()
        for _ in range(2):
            call_and_complete()
        wait_until(lambda: len(listener.messages()) >= 6, timeout=30, what="all six calls")
        heard = [h.envelope.body_as(CallEvent).ticket for h in listener.messages()]
        assert sorted(set(heard)) == sorted(called) == [f"C00{i}" for i in range(1, 7)]
    finally:
        rt.stop()
        listener.close()


def test_last_will_says_the_edge_is_gone(tmp_path: Path, broker: PrivateBroker) -> None:
    listener = Listener(broker.url, DeviceStatusTopic.filter("dongge").pattern)
    rt = runtime(tmp_path / "edge", mqtt_url=broker.url)
    try:
        wait_until(lambda: bool(listener.messages()), what="birth")
        birth = listener.messages()[-1].envelope.body_as(DeviceStatus)
        assert birth.online and birth.device_id == "edge-dongge"
        assert rt.bus is not None
        # the link dies without a DISCONNECT (shutdown: both ends see it at once)
        rt.bus._client._sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
        wait_until(
            lambda: any(not h.envelope.body_as(DeviceStatus).online for h in listener.messages()),
            timeout=40,
            what="last will",
        )
        will = [h.envelope.body_as(DeviceStatus) for h in listener.messages()]
        offline = next(s for s in will if not s.online)
        assert offline.boot == birth.boot

        # After reconnecting, paho may first re-send the old birth if its PUBACK was lost
        # with the link (same boot as the will); the new birth follows with a higher boot,
        # which supersedes both.
        def statuses() -> list[DeviceStatus]:
            return [h.envelope.body_as(DeviceStatus) for h in listener.messages()]

        wait_until(
            lambda: any(s.online and s.boot > birth.boot for s in statuses()),
            timeout=40,
            what="new birth",
        )
        latest = next(s for s in statuses() if s.online and s.boot > birth.boot)
        assert latest.supersedes(offline) and not offline.supersedes(latest)
    finally:
        rt.stop()
        listener.close()


def test_serve_stops_with_a_sentence_when_the_embedded_broker_port_is_taken(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                str(Path(sys.executable).with_name("pacs-edge")),
                *("serve", "--data-dir", str(tmp_path / "edge"), "--dicom-port", "0"),
                *("--bind", "127.0.0.1", "--accept-any-ae", "--console-port", "0"),
                *("--mqtt-embedded-port", str(port)),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1, done.stderr
    assert "内置消息服务器无法在端口" in done.stderr and "Traceback" not in done.stderr
