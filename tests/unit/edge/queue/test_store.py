"""The queue's persistence on a real SQLite index file: restart, outbox, seq, threads, crash."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from edge_gateway.queue.actions import room_order
from edge_gateway.queue.errors import QueueError
from edge_gateway.queue.model import PrepState, QueueConfig, TicketState
from edge_gateway.queue.store import QueueService, StaleQueueError, encode_queue, encode_ticket
from edge_gateway.store.database import open_index
from tests.unit.edge.queue.support import Clock, at, config, request


def service(path: Path, clock: Clock, cfg: QueueConfig | None = None) -> QueueService:
    """A freshly loaded service on its own engine, as after a restart of the gateway."""
    svc = QueueService(open_index(path), cfg or config(), clock)
    svc.load()
    return svc


def engine_of(svc: QueueService) -> Engine:
    return svc._engine


def rows(engine: Engine, sql: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def outbox(engine: Engine, like: str = "queue.%") -> list[tuple[str, str, dict[str, object]]]:
    """Outbox events whose kind matches ``like`` (the queue's own events by default)."""
    found = rows(
        engine,
        f"SELECT kind, subject, payload FROM outbox WHERE kind LIKE '{like}' ORDER BY id",
    )
    return [(str(k), str(s), json.loads(str(p))) for k, s, p in found]


def waiting(svc: QueueService, room: str = "ct1") -> list[str]:
    return [t.number for t in room_order(svc.queue, room)]


def check_in(svc: QueueService, clock: Clock, patient: str, room: str = "ct1") -> str:
    clock.tick()
    applied = svc.check_in(request(patient, room=room, accessions=(f"A{patient}",)))
    number = applied.transitions[0].ticket
    assert number is not None
    return number


def busy_morning(svc: QueueService, clock: Clock) -> list[str]:
    """Tickets in every state a restart must preserve; returns the numbers issued."""
    numbers = [check_in(svc, clock, p) for p in ("p1", "p2", "p3", "p4", "p5")]
    clock.tick()
    svc.call_next("ct1")  # p1 called
    svc.skip(numbers[0])  # missed
    svc.call_next("ct1")  # p2 called
    svc.recall(numbers[1])
    svc.start_exam(numbers[1])
    svc.send_to_prep(numbers[2], reason="喝水")
    svc.return_missed(numbers[0])  # pinned by the recall rule
    svc.transfer(numbers[4], "ct2")
    clock.tick(12)
    svc.complete(numbers[1])
    svc.pause("mr1")
    return numbers


def test_state_survives_restart_and_numbers_continue(tmp_path: Path) -> None:
    clock = Clock(at(8))
    first = service(tmp_path / "index.db", clock)
    numbers = busy_morning(first, clock)

    again = service(tmp_path / "index.db", clock)

    assert again.queue == first.queue
    assert waiting(again) == waiting(first)
    assert waiting(again, "ct2") == [numbers[4]]
    assert again.queue.tickets[numbers[2]].prep is PrepState.OUT
    assert again.queue.tickets[numbers[0]].pin is not None
    assert again.queue.rooms["mr1"].paused
    assert again.queue.rooms["ct1"].durations == (720.0,)
    assert check_in(again, clock, "p6") == "C006"


def test_seq_rises_per_changed_room_and_survives_restart(tmp_path: Path) -> None:
    clock = Clock(at(8))
    first = service(tmp_path / "index.db", clock)
    number = check_in(first, clock, "p1")
    assert (first.seq("ct1"), first.seq("ct2"), first.seq("mr1")) == (1, 0, 0)
    applied = first.transfer(number, "ct2")
    assert applied.seqs == {"ct1": 2, "ct2": 1}
    first.pause("mr1")

    again = service(tmp_path / "index.db", clock)
    assert (again.seq("ct1"), again.seq("ct2"), again.seq("mr1")) == (2, 1, 1)
    assert again.call_next("ct2").seqs == {"ct2": 2}
    assert rows(engine_of(again), "SELECT room, seq FROM queue_room_seq ORDER BY room") == [
        ("ct1", 2),
        ("ct2", 2),
        ("mr1", 1),
    ]


def test_one_outbox_event_and_log_row_per_transition_without_names(tmp_path: Path) -> None:
    clock = Clock(at(8))
    svc = service(tmp_path / "index.db", clock)
    numbers = busy_morning(svc, clock)
    engine = engine_of(svc)

    events = outbox(engine)
    history = sorted((h for t in svc.queue.tickets.values() for h in t.history), key=lambda h: h.at)
    assert len(events) == len(history) + 1  # + the pause of mr1
    kinds = [k for k, _, _ in events]
    assert kinds[:6] == ["queue.check_in"] * 5 + ["queue.call"]
    assert kinds[-2:] == ["queue.complete", "queue.pause"]
    assert events[-1][1] == "mr1" and events[-1][2]["ticket"] is None
    _, subject, payload = events[0]
    assert subject == numbers[0]
    assert payload["campus"] == "dongge" and payload["room"] == "ct1"
    assert payload["action"] == "check_in" and payload["patient_id"] == "p1"
    assert payload["accessions"] == ["Ap1"]
    assert datetime.fromisoformat(str(payload["at"])) == at(8, 1)
    assert all("患者" not in json.dumps(p, ensure_ascii=False) for _, _, p in events)
    log = rows(
        engine, "SELECT q.action, o.kind FROM queue_transition q JOIN outbox o USING (event_id)"
    )
    assert len(log) == len(events)
    assert all(f"queue.{action}" == kind for action, kind in log)


def test_check_in_reports_each_exam_arrived_to_the_hub(tmp_path: Path) -> None:
    clock = Clock(at(8))
    svc = service(tmp_path / "index.db", clock)
    clock.tick()
    applied = svc.check_in(request("p1", accessions=("A1", "A2")))
    number = applied.transitions[0].ticket
    arrivals = outbox(engine_of(svc), "exam.%")
    assert [(k, s) for k, s, _ in arrivals] == [
        ("exam.checked_in", "A1"),
        ("exam.checked_in", "A2"),
    ]
    payload = arrivals[0][2]
    assert payload["ticket"] == number and payload["room"] == "ct1"
    assert payload["patient_id"] == "p1" and "患者" not in json.dumps(payload, ensure_ascii=False)
    svc.call_next("ct1")
    assert len(outbox(engine_of(svc), "exam.%")) == 2  # only check-in reports arrival


def test_refused_action_writes_nothing(tmp_path: Path) -> None:
    clock = Clock(at(8))
    svc = service(tmp_path / "index.db", clock)
    number = check_in(svc, clock, "p1")
    engine = engine_of(svc)
    before = rows(engine, "SELECT version, state FROM queue_snapshot")

    with pytest.raises(QueueError, match="nobody is waiting"):
        svc.call_next("ct2")
    with pytest.raises(QueueError, match="has not been called"):
        svc.complete(number)
    assert svc.complete_by_accession("NO-SUCH").transitions == ()
    assert svc.discontinue_by_accession("NO-SUCH").transitions == ()

    assert rows(engine, "SELECT version, state FROM queue_snapshot") == before
    assert len(outbox(engine)) == 1
    assert rows(engine, "SELECT count(*) FROM queue_transition") == [(1,)]
    assert (svc.seq("ct1"), svc.seq("ct2")) == (1, 0)


def test_two_threads_calling_two_rooms_stay_consistent(tmp_path: Path) -> None:
    clock = Clock(at(8))
    svc = service(tmp_path / "index.db", clock)
    per_room = 15
    for i in range(per_room):
        check_in(svc, clock, f"a{i}", "ct1")
        check_in(svc, clock, f"b{i}", "ct2")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(room: str) -> None:
        try:
            barrier.wait()
            for _ in range(per_room):
                called = svc.call_next(room).transitions[0].ticket
                assert called is not None
                svc.complete(called)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(r,)) for r in ("ct1", "ct2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert all(t.status is TicketState.DONE for t in svc.queue.tickets.values())
    assert (svc.seq("ct1"), svc.seq("ct2")) == (3 * per_room, 3 * per_room)
    again = service(tmp_path / "index.db", clock)
    assert again.queue == svc.queue
    assert (again.seq("ct1"), again.seq("ct2")) == (3 * per_room, 3 * per_room)
    assert len(outbox(engine_of(again))) == 6 * per_room


def test_dropped_service_loses_nothing_acknowledged(tmp_path: Path) -> None:
    clock = Clock(at(8))
    svc = service(tmp_path / "index.db", clock)
    numbers = busy_morning(svc, clock)
    expected, order = svc.queue, waiting(svc)
    del svc  # no close, no dispose: the next service opens the file beside the old engine

    again = service(tmp_path / "index.db", clock)
    assert again.queue == expected
    assert waiting(again) == order
    assert numbers[-1] == "C005" and check_in(again, clock, "p9") == "C006"


_CRASHING_WRITER = """
import os, sys
from pathlib import Path
from edge_gateway.queue.store import QueueService
from edge_gateway.store.database import open_index
from tests.unit.edge.queue.support import Clock, at, config, request
svc = QueueService(open_index(Path(sys.argv[1])), config(), Clock(at(9)))
svc.load()
svc.check_in(request("p1", room="ct1"))
svc.call_next("ct1")
os._exit(0)  # the process dies at once: no close, no dispose, no atexit
"""


def test_process_killed_after_actions_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    subprocess.run(
        [sys.executable, "-c", _CRASHING_WRITER, str(path)],
        check=True,
        cwd=Path(__file__).resolve().parents[4],
    )
    again = service(path, Clock(at(9, 5)))
    assert again.queue.rooms["ct1"].serving == "C001"
    assert again.queue.tickets["C001"].status is TicketState.CALLED
    assert again.seq("ct1") == 2
    assert [k for k, _, _ in outbox(engine_of(again))] == ["queue.check_in", "queue.call"]


def test_next_business_day_starts_afresh_with_seq_still_rising(tmp_path: Path) -> None:
    clock = Clock(at(8))
    first = service(tmp_path / "index.db", clock)
    check_in(first, clock, "p1")
    check_in(first, clock, "p2")
    assert first.seq("ct1") == 2

    clock.now = at(8, day=26)
    again = service(tmp_path / "index.db", clock)
    assert again.queue.tickets == {}
    assert again.seq("ct1") == 3  # the emptied picture is itself a change
    assert check_in(again, clock, "p1") == "C001"
    assert again.seq("ct1") == 4
    days = rows(engine_of(again), "SELECT day FROM queue_snapshot ORDER BY day")
    assert [date.fromisoformat(str(d)) for (d,) in days] == [date(2026, 11, 25), date(2026, 11, 26)]


def test_second_writer_on_same_campus_is_refused(tmp_path: Path) -> None:
    clock = Clock(at(8))
    first = service(tmp_path / "index.db", clock)
    check_in(first, clock, "p1")
    stale = service(tmp_path / "index.db", clock)
    check_in(first, clock, "p2")
    engine = engine_of(first)
    before = outbox(engine, "%")

    with pytest.raises(StaleQueueError):
        stale.call_next("ct1")

    assert outbox(engine, "%") == before
    assert stale.queue.rooms["ct1"].serving is None
    assert service(tmp_path / "index.db", clock).queue == first.queue


def test_refresh_day_clears_yesterday_once_and_raises_the_seqs(tmp_path: Path) -> None:
    clock = Clock(at(17))
    svc = service(tmp_path / "index.db", clock)
    check_in(svc, clock, "p1")
    assert svc.refresh_day().seqs == {}  # same day: nothing to do, nothing written
    before = svc.seq("ct1")
    clock.now = at(7, day=26)  # the next morning, after the reset time
    applied = svc.refresh_day()
    assert applied.transitions == () and applied.seqs["ct1"] == before + 1
    assert svc.queue.tickets == {}
    assert svc.refresh_day().seqs == {}
    again = service(tmp_path / "index.db", clock)  # the new day survives a restart
    assert again.queue.tickets == {} and again.seq("ct1") == before + 1


def test_an_action_rewrites_only_the_tickets_it_changed(tmp_path: Path) -> None:
    clock = Clock(at(8))
    svc = service(tmp_path / "index.db", clock)
    numbers = [check_in(svc, clock, f"p{i}") for i in range(40)]
    clock.tick()
    svc.call_next("ct1")
    stamp = clock.now.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    touched = rows(
        engine_of(svc),
        f"SELECT number FROM queue_ticket WHERE updated_at LIKE '{stamp[:19]}%'",
    )
    assert touched == [(numbers[0],)]
    assert rows(engine_of(svc), "SELECT count(*) FROM queue_ticket") == [(40,)]
    snapshot = rows(engine_of(svc), "SELECT state FROM queue_snapshot")[0][0]
    assert "患者" not in str(snapshot)  # names live in the ticket rows only
    again = service(tmp_path / "index.db", clock)
    assert again.queue == svc.queue


def test_a_snapshot_written_before_ticket_rows_is_read_and_converted(tmp_path: Path) -> None:
    """Gateways that ran the queue before tickets had rows of their own keep their day."""
    clock = Clock(at(8))
    svc = service(tmp_path / "index.db", clock)
    for patient in ("p1", "p2"):
        check_in(svc, clock, patient)
    engine = engine_of(svc)
    old_format = json.loads(encode_queue(svc.queue))
    old_format["tickets"] = [json.loads(encode_ticket(t)) for t in svc.queue.tickets.values()]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM queue_ticket"))
        conn.execute(
            text("UPDATE queue_snapshot SET state = :s"),
            {"s": json.dumps(old_format, ensure_ascii=False)},
        )
    again = service(tmp_path / "index.db", clock)
    assert again.queue == svc.queue
    clock.tick()
    again.call_next("ct1")
    assert rows(engine, "SELECT count(*) FROM queue_ticket") == [(2,)]
    assert service(tmp_path / "index.db", clock).queue == again.queue
