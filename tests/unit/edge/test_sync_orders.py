"""Hub orders onto the local worklist (real SQLite index, no hub needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError

from edge_gateway.queue.tables import QueueArrival
from edge_gateway.store import mpps
from edge_gateway.store.database import open_index
from edge_gateway.store.models import ScheduledStep, StepStatus
from edge_gateway.store.worklist import find_steps
from edge_gateway.sync.orders import apply_page, begin_resync, finish_resync, merged_status
from edge_gateway.sync.state import read_cursor
from shared.sync import OrderFeed, WorklistOrder

_STEP = ScheduledStep.__table__  # type: ignore[attr-defined]
SLOT = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)


def order(accession: str = "DG20261125001", seq: int = 1, **kw: Any) -> WorklistOrder:
    values: dict[str, Any] = {
        "accession": accession,
        "campus": "dongge",
        "status": "scheduled",
        "patient_id": "H000123",
        "patient_name": "Zhang^San=张^三",
        "birth_date": "19800102",
        "sex": "M",
        "modality": "CT",
        "procedure_code": "CT-CHEST",
        "procedure_name": "胸部CT平扫",
        "category": "outpatient",
        "study_uid": "1.2.826.0.1.3680043.8.498.1",
        "room": "CT1室",
        "station_ae": "CT1",
        "scheduled_at": SLOT,
        "referring_physician": "Li^Si=李^四",
        "change_seq": seq,
    }
    values.update(kw)
    return WorklistOrder(**values)


def feed(*orders: WorklistOrder) -> OrderFeed:
    cursor = max((o.change_seq for o in orders), default=0)
    return OrderFeed(orders=list(orders), cursor=cursor, more=False)


def step(engine: Engine, accession: str = "DG20261125001") -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(_STEP).where(_STEP.c.accession == accession)).mappings().one()
    return dict(row)


def test_new_order_becomes_a_scheduled_step(engine: Engine) -> None:
    outcome = apply_page(engine, feed(order()), campus="dongge")
    assert (outcome.added, outcome.updated, outcome.skipped) == (1, 0, 0)
    s = step(engine)
    local = SLOT.astimezone()
    assert s["start_date"] == local.strftime("%Y%m%d")
    assert s["start_time"] == local.strftime("%H%M%S")
    assert (s["name_alpha"], s["name_ideo"]) == ("Zhang^San", "张^三")
    assert s["patient_name"] == "Zhang^San=张^三"
    assert s["sps_id"] == s["requested_procedure_id"] == "DG20261125001"
    assert s["requested_procedure_description"] == s["sps_description"] == "胸部CT平扫"
    assert (s["station_ae"], s["station_name"]) == ("CT1", "CT1室")
    assert s["study_uid"] == "1.2.826.0.1.3680043.8.498.1"
    assert s["referring_physician"] == "Li^Si=李^四"
    assert (s["source"], s["status"]) == ("hub", StepStatus.SCHEDULED)
    # matched by the ideographic group as a modality would query it
    rows = find_steps(engine, {"PatientName": "张*"}, {"ScheduledStationAETitle": "CT1"}, 10)
    assert [r["accession"] for r in rows] == ["DG20261125001"]


def test_emergency_order_is_listed_today_at_the_time_received(engine: Engine) -> None:
    received = datetime.now(UTC).replace(microsecond=0)
    apply_page(
        engine, feed(order(scheduled_at=None, category="emergency")), campus="dongge", now=received
    )
    s = step(engine)
    assert (s["start_date"], s["start_time"]) == (
        received.astimezone().strftime("%Y%m%d"),
        received.astimezone().strftime("%H%M%S"),
    )
    later = received + timedelta(minutes=7)
    apply_page(
        engine, feed(order(scheduled_at=None, seq=2, room="CT2")), campus="dongge", now=later
    )
    s = step(engine)
    assert s["station_name"] == "CT2"
    assert s["start_time"] == received.astimezone().strftime("%H%M%S")  # keeps its place


def test_cancelled_order_leaves_the_worklist_and_can_come_back(engine: Engine) -> None:
    apply_page(engine, feed(order()), campus="dongge")
    apply_page(engine, feed(order(seq=2, status="cancelled")), campus="dongge")
    assert step(engine)["status"] == StepStatus.DISCONTINUED
    assert find_steps(engine, {"AccessionNumber": "DG20261125001"}, {}, 10) == []
    apply_page(engine, feed(order(seq=3, status="scheduled")), campus="dongge")
    assert step(engine)["status"] == StepStatus.SCHEDULED


def _mpps_started(engine: Engine) -> str:
    uid = "1.2.826.0.1.3680043.8.498.99"
    outcome, step_pk = mpps.create(
        engine,
        mpps.MppsCreate(
            sop_uid=uid,
            status=mpps.IN_PROGRESS,
            accession="DG20261125001",
            sps_id="DG20261125001",
            study_uid="1.2.826.0.1.3680043.8.498.1",
            patient_id="H000123",
            modality="CT",
            station_ae="CT1",
            source_ae="CT1",
            attributes={},
        ),
    )
    assert outcome is mpps.MppsOutcome.OK and step_pk is not None
    return uid


@pytest.mark.parametrize("older", ["registered", "scheduled", "arrived"])
def test_older_hub_status_does_not_reset_an_exam_started_here(engine: Engine, older: str) -> None:
    apply_page(engine, feed(order()), campus="dongge")
    _mpps_started(engine)
    apply_page(engine, feed(order(seq=2, status=older, room="CT9")), campus="dongge")
    s = step(engine)
    assert s["status"] == StepStatus.IN_PROGRESS
    assert s["station_name"] == "CT9"  # the rest of the order is still taken


def test_completed_here_stays_completed_but_hub_may_move_forward(engine: Engine) -> None:
    apply_page(engine, feed(order()), campus="dongge")
    uid = _mpps_started(engine)
    apply_page(engine, feed(order(seq=2, status="completed")), campus="dongge")
    assert step(engine)["status"] == StepStatus.COMPLETED
    # a late hub "in_progress" (sent before the hub heard of the completion)
    apply_page(engine, feed(order(seq=3, status="in_progress")), campus="dongge")
    assert step(engine)["status"] == StepStatus.COMPLETED
    assert mpps.set_status(engine, sop_uid=uid, status=mpps.COMPLETED, attributes={})[0] is (
        mpps.MppsOutcome.OK
    )
    apply_page(engine, feed(order(seq=4, status="scheduled")), campus="dongge")
    assert step(engine)["status"] == StepStatus.COMPLETED


def test_without_an_mpps_here_the_hub_status_wins(engine: Engine) -> None:
    apply_page(engine, feed(order(status="in_progress")), campus="dongge")
    assert step(engine)["status"] == StepStatus.IN_PROGRESS
    apply_page(engine, feed(order(seq=2, status="scheduled")), campus="dongge")
    assert step(engine)["status"] == StepStatus.SCHEDULED


@pytest.mark.parametrize(
    ("local", "hub", "performed", "expected"),
    [
        (StepStatus.SCHEDULED, StepStatus.DISCONTINUED, False, StepStatus.DISCONTINUED),
        (StepStatus.IN_PROGRESS, StepStatus.SCHEDULED, True, StepStatus.IN_PROGRESS),
        (StepStatus.IN_PROGRESS, StepStatus.COMPLETED, True, StepStatus.COMPLETED),
        (StepStatus.IN_PROGRESS, StepStatus.DISCONTINUED, True, StepStatus.DISCONTINUED),
        (StepStatus.COMPLETED, StepStatus.DISCONTINUED, True, StepStatus.COMPLETED),
        (StepStatus.DISCONTINUED, StepStatus.SCHEDULED, False, StepStatus.SCHEDULED),
        (StepStatus.DISCONTINUED, StepStatus.SCHEDULED, True, StepStatus.DISCONTINUED),
    ],
)
def test_merged_status(
    local: StepStatus, hub: StepStatus, performed: bool, expected: StepStatus
) -> None:
    assert merged_status(local, hub, performed_here=performed) == expected


def test_cursor_is_stored_with_the_page(engine: Engine) -> None:
    apply_page(engine, feed(order(seq=41), order("DG20261125002", seq=42)), campus="dongge")
    with engine.connect() as conn:
        assert read_cursor(conn) == 42


def test_a_page_that_fails_leaves_neither_steps_nor_cursor(engine: Engine) -> None:
    apply_page(engine, feed(order(seq=5)), campus="dongge")
    with engine.begin() as conn:  # the database itself refuses one of the orders
        conn.execute(
            text(
                "CREATE TRIGGER refuse_bad BEFORE INSERT ON scheduled_step "
                "WHEN NEW.accession = 'BAD' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )
    page = feed(order("DG20261125002", seq=6), order("BAD", seq=7))
    with pytest.raises(IntegrityError):
        apply_page(engine, page, campus="dongge")
    with engine.connect() as conn:
        assert read_cursor(conn) == 5
        count = conn.scalar(text("SELECT count(*) FROM scheduled_step"))
    assert count == 1


def test_orders_of_another_campus_or_unknown_status_are_skipped(engine: Engine) -> None:
    outcome = apply_page(
        engine,
        feed(order(campus="xianhu"), order("DG2", seq=2, status="teleported")),
        campus="dongge",
    )
    assert (outcome.added, outcome.skipped) == (0, 2)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM scheduled_step")) == 0
        assert read_cursor(conn) == 2


def test_steps_are_listed_in_the_campus_time_zone(engine: Engine) -> None:
    """A slot at 07:30 Beijing time is 23:30 UTC of the day before: the worklist (read by
    modalities and by the queue's check-in) must list it on the campus's own day."""
    from zoneinfo import ZoneInfo

    shanghai = ZoneInfo("Asia/Shanghai")
    slot = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
    apply_page(engine, feed(order(scheduled_at=slot)), campus="dongge", zone=shanghai)
    s = step(engine)
    assert (s["start_date"], s["start_time"]) == ("20261126", "073000")
    arrived = order(seq=2, status="arrived", scheduled_at=slot)
    apply_page(engine, feed(arrived), campus="dongge", zone=shanghai)
    with engine.connect() as conn:
        handed = conn.execute(select(QueueArrival.__table__)).mappings().all()  # type: ignore[attr-defined]
    assert [(r["accession"], r["handled_at"]) for r in handed] == [("DG20261125001", None)]


def test_category_and_whether_a_slot_was_booked_reach_the_worklist(engine: Engine) -> None:
    apply_page(engine, feed(order()), campus="dongge")
    walk_in = order("DG20261125002", seq=2, category="emergency", scheduled_at=None)
    apply_page(engine, feed(walk_in), campus="dongge")
    assert (step(engine)["category"], step(engine)["booked"]) == ("outpatient", True)
    second = step(engine, "DG20261125002")
    assert (second["category"], second["booked"]) == ("emergency", False)


def test_an_index_from_before_the_new_columns_gets_them(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = open_index(path)
    with old.begin() as conn:  # as release 1 made it
        conn.execute(text("ALTER TABLE scheduled_step DROP COLUMN booked"))
        conn.execute(text("ALTER TABLE scheduled_step DROP COLUMN category"))
    old.dispose()
    engine = open_index(path)
    try:
        apply_page(engine, feed(order(scheduled_at=None)), campus="dongge")
        assert step(engine)["booked"] is False or step(engine)["booked"] == 0
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA user_version")).scalar_one() == 2
    finally:
        engine.dispose()


def test_a_reread_after_a_hub_restore_withdraws_the_steps_it_did_not_bring(engine: Engine) -> None:
    before = datetime.now(UTC) - timedelta(hours=1)
    kept, lost, started = "DG2611250001", "DG2611250002", "DG2611250003"
    apply_page(
        engine, feed(order(kept, 1), order(lost, 2), order(started, 3)), campus="dongge", now=before
    )
    with engine.begin() as conn:  # a modality began the third exam, and a step added by hand
        conn.execute(
            text("UPDATE scheduled_step SET status = 'IN_PROGRESS' WHERE accession = :a"),
            {"a": started},
        )
        conn.execute(
            text("UPDATE scheduled_step SET source = 'local' WHERE accession = :a"), {"a": kept}
        )
    apply_page(engine, feed(order("DG2611250004", 4)), campus="dongge", now=before)
    assert finish_resync(engine) == []  # no re-read going on: nothing happens

    restart = datetime.now(UTC)
    begin_resync(engine, restart)
    begin_resync(engine, restart + timedelta(minutes=5))  # a second restart keeps the first
    # the restored hub re-sends what it still has: only DG…0004 (not DG…0002)
    apply_page(engine, feed(order("DG2611250004", 1)), campus="dongge")
    assert finish_resync(engine) == [lost]
    assert step(engine, lost)["status"] == StepStatus.DISCONTINUED
    assert step(engine, "DG2611250004")["status"] == StepStatus.SCHEDULED
    assert step(engine, started)["status"] == StepStatus.IN_PROGRESS  # images may be coming
    assert step(engine, kept)["status"] == StepStatus.SCHEDULED  # not the hub's to withdraw
    assert finish_resync(engine) == []
