"""Check-in levels from what the hub's order says: an emergency order is called first, an
order without an appointment slot is a walk-in (not a late patient), a booked one on time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from edge_gateway.queue.actions import room_order
from edge_gateway.queue.model import Level
from edge_gateway.sync.orders import apply_page
from shared.sync import OrderFeed, WorklistOrder
from tests.integration.queue.support import runtime

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _order(accession: str, patient: str, seq: int, **fields: object) -> WorklistOrder:
    values: dict[str, object] = {
        "accession": accession,
        "campus": "dongge",
        "status": "scheduled",
        "patient_id": patient,
        "patient_name": f"WU^{patient}=吴^{patient}",
        "modality": "CT",
        "procedure_code": "CT-CHEST",
        "procedure_name": "胸部CT平扫",
        "category": "outpatient",
        "study_uid": f"1.2.826.0.1.3680043.8.498.{seq}",
        "scheduled_at": datetime.now(UTC) + timedelta(minutes=5),
        "change_seq": seq,
    }
    values.update(fields)
    return WorklistOrder.model_validate(values)


def test_levels_come_from_the_hub_order(tmp_path: Path) -> None:
    rt = runtime(tmp_path / "edge")
    try:
        earlier = datetime.now(UTC) - timedelta(minutes=40)  # unbooked: listed when received
        orders = [
            _order("DG1", "P1", 1, status="registered", scheduled_at=None),
            _order("DG2", "P2", 2),
            _order("DG3", "P3", 3, category="emergency", scheduled_at=None),
        ]
        apply_page(
            rt.engine,
            OrderFeed(orders=orders, cursor=3, more=False),
            campus="dongge",
            now=earlier,
            zone=SHANGHAI,
        )
        for patient in ("P1", "P2", "P3"):
            rt.desk.check_in(patient_id=patient, room="ct1")
        tickets = {t.patient_id: t for t in rt.desk.queue.tickets.values()}
        assert tickets["P1"].level is Level.WALK_IN and not tickets["P1"].late
        assert tickets["P2"].level is Level.ON_TIME
        assert tickets["P3"].level is Level.EMERGENCY
        assert [t.patient_id for t in room_order(rt.desk.queue, "ct1")] == ["P3", "P2", "P1"]
    finally:
        rt.stop()
