"""The edge's sync agent against a real hub (uvicorn; SQLite, then PostgreSQL) with dcmtk
and pynetdicom as the modality: orders reach the worklist, images and events reach the
hub, and a hub outage loses and repeats nothing."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import ModalityPerformedProcedureStep
from sqlalchemy import func, select, text
from sqlmodel import Session
from sqlmodel import select as sql_select

from edge_gateway.store.models import Instance, ScheduledStep
from edge_gateway.sync.agent import build_agent
from hub.models.archive import ArchiveInstance, SyncEvent
from hub.models.registration import OrderStatus
from shared.dicom import status
from tests.integration.edge.conftest import peer_args, run
from tests.integration.sync.conftest import Hub, SyncedEdge, wait_until
from tests.support.dicom_files import make_ct, make_series
from tests.support.hub_orders import make_order, order_status, set_status

PACS_EDGE = str(Path(sys.executable).parent / "pacs-edge")
_STEP = ScheduledStep.__table__  # type: ignore[attr-defined]
_INSTANCE = Instance.__table__  # type: ignore[attr-defined]


def steps(edge: SyncedEdge) -> dict[str, str]:
    """Accession → status of the edge's scheduled steps."""
    with edge.gateway.engine.connect() as conn:
        return {r.accession: r.status for r in conn.execute(select(_STEP))}


def worklist(edge: SyncedEdge, out: Path, *keys: str) -> list[Dataset]:
    """A modality's worklist query (dcmtk findscu -W), answers as data sets."""
    out.mkdir(parents=True, exist_ok=True)
    base = ["-k", "PatientName", "-k", "PatientID", "-k", "AccessionNumber"]
    base += ["-k", "StudyInstanceUID", "-k", "RequestedProcedureDescription"]
    for key in ("Modality", "ScheduledStationAETitle", "ScheduledStationName"):
        base += ["-k", f"ScheduledProcedureStepSequence[0].{key}"]
    base += ["-k", "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate"]
    result = run(["findscu", "-W", "-X", "-od", str(out), *base, *keys, *peer_args(edge.port)])
    assert result.returncode == 0, result.stdout
    return [dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


def store(edge: SyncedEdge, folder: Path) -> None:
    """Send every file in ``folder`` with dcmtk storescu."""
    files = [str(p) for p in sorted(folder.glob("*.dcm"))]
    result = run(["storescu", *peer_args(edge.port), *files])
    assert result.returncode == 0, result.stdout


def edge_instances(edge: SyncedEdge) -> dict[str, dict[str, Any]]:
    with edge.gateway.engine.connect() as conn:
        return {r.sop_uid: dict(r._mapping) for r in conn.execute(select(_INSTANCE))}


def confirmed(edge: SyncedEdge) -> bool:
    rows = edge_instances(edge).values()
    return bool(rows) and all(r["hub_confirmed_at"] is not None for r in rows)


def backlog_drained(edge: SyncedEdge) -> bool:
    with edge.gateway.engine.connect() as conn:
        left = conn.scalar(text("SELECT count(*) FROM outbox WHERE status != 'DONE'"))
    return left == 0 and confirmed(edge)


def hub_archive(hub: Hub) -> dict[str, ArchiveInstance]:
    with Session(hub.live.ctx.engine) as session:
        return {i.sop_uid: i for i in session.exec(sql_select(ArchiveInstance)).all()}


def assert_hub_holds_edge_files(hub: Hub, edge: SyncedEdge) -> None:
    """Every edge instance is held at the hub: a file on the hub's disk whose sha256 is
    the edge's."""
    held = hub_archive(hub)
    root = hub.live.ctx.settings.archive_dir
    for sop_uid, row in edge_instances(edge).items():
        at_hub = held[sop_uid]
        assert at_hub.state == "held", sop_uid
        data = (root / at_hub.rel_path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"] == at_hub.sha256
        edge_file = edge.gateway.archive.absolute(row["rel_path"])
        assert hashlib.sha256(edge_file.read_bytes()).hexdigest() == row["sha256"]


def test_order_registered_at_the_hub_reaches_the_modality_worklist(
    hub: Hub, edge: SyncedEdge, tmp_path: Path
) -> None:
    slot = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    ref = make_order(hub.live.ctx, name="张三丰", scheduled_at=slot)
    emergency = make_order(hub.live.ctx, name="欧阳娜娜", scheduled_at=None)
    other_campus = make_order(hub.live.ctx, campus="xianhu", name="李四")
    wait_until(
        lambda: {ref.accession, emergency.accession} <= steps(edge).keys(),
        "the hub's orders reaching the edge's worklist",
    )
    items = worklist(
        edge,
        tmp_path / "q1",
        "-k",
        "ScheduledProcedureStepSequence[0].ScheduledStationAETitle=CT1_DG",
    )
    by_accession = {str(i.AccessionNumber): i for i in items}
    assert set(by_accession) == {ref.accession, emergency.accession}
    item = by_accession[ref.accession]
    assert str(item.PatientName) == "Zhang^Sanfeng=张^三丰"  # both groups, as the hub sent
    by_name = worklist(edge, tmp_path / "q3", "-k", "PatientName=张*")
    assert [str(i.AccessionNumber) for i in by_name] == [ref.accession]
    assert item.StudyInstanceUID == ref.study_uid
    assert item.PatientID == ref.patient_id
    assert item.RequestedProcedureDescription == "胸部CT平扫"
    sps = item.ScheduledProcedureStepSequence[0]
    assert sps.ScheduledStationName == "CT1"
    assert sps.ScheduledProcedureStepStartDate == slot.astimezone().strftime("%Y%m%d")
    today = date.today().strftime("%Y%m%d")
    assert (
        by_accession[emergency.accession]
        .ScheduledProcedureStepSequence[0]
        .ScheduledProcedureStepStartDate
        == today
    )
    assert other_campus.accession not in steps(edge)
    # a cancellation at the hub takes the order off the worklist
    set_status(hub.live.ctx, emergency.accession, OrderStatus.CANCELLED, "重复登记")
    wait_until(
        lambda: steps(edge)[emergency.accession] == "DISCONTINUED",
        "the cancellation reaching the edge",
    )
    items = worklist(edge, tmp_path / "q2", "-k", f"AccessionNumber={emergency.accession}")
    assert items == []


def test_images_stored_at_the_edge_reach_the_hub_archive(
    hub: Hub, edge: SyncedEdge, tmp_path: Path
) -> None:
    ref = make_order(hub.live.ctx, name="王五")
    make_series(tmp_path / "series", 12, patient_id=ref.patient_id, accession=ref.accession)
    store(edge, tmp_path / "series")
    assert len(edge_instances(edge)) == 12
    wait_until(lambda: backlog_drained(edge), "the images reaching the hub")
    assert_hub_holds_edge_files(hub, edge)
    with Session(hub.live.ctx.engine) as session:
        kinds = session.execute(
            select(SyncEvent.kind, func.count()).group_by(SyncEvent.kind)  # type: ignore[call-overload]
        ).all()
    assert dict(kinds) == {"study.new": 1, "instance.new": 12}
    metrics = edge.settings.sync_metrics_path
    wait_until(
        lambda: (
            "pacs_edge_unconfirmed_instances 0\n" in metrics.read_text(encoding="utf-8")
            if metrics.exists()
            else False
        ),
        "the metrics file showing no backlog",
    )


def mpps(edge: SyncedEdge, accession: str, study_uid: str, patient_id: str) -> None:
    """A modality's MPPS for ``accession``: IN PROGRESS, then COMPLETED (pynetdicom)."""
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(ModalityPerformedProcedureStep)
    assoc = ae.associate("127.0.0.1", edge.port, ae_title="EDGE")
    assert assoc.is_established
    uid = f"1.2.826.0.1.3680043.10.1.77.{datetime.now(UTC):%H%M%S%f}"
    try:
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 192"
        ssa = Dataset()
        ssa.AccessionNumber = accession
        ssa.StudyInstanceUID = study_uid
        ssa.ScheduledProcedureStepID = accession
        ds.ScheduledStepAttributesSequence = [ssa]
        ds.PatientID = patient_id
        ds.Modality = "CT"
        ds.PerformedStationAETitle = "CT1_DG"
        ds.PerformedProcedureStepStatus = "IN PROGRESS"
        st, _ = assoc.send_n_create(ds, ModalityPerformedProcedureStep, uid)
        assert st.Status == status.SUCCESS
        done = Dataset()
        done.PerformedProcedureStepStatus = "COMPLETED"
        st, _ = assoc.send_n_set(done, ModalityPerformedProcedureStep, uid)
        assert st.Status == status.SUCCESS
    finally:
        assoc.release()


def sync_status(edge: SyncedEdge) -> str:
    result = subprocess.run(
        [PACS_EDGE, "sync", "status", "--data-dir", str(edge.settings.data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def status_value(report: str, label: str) -> str:
    line = next(line for line in report.splitlines() if label in line)
    return line.split(":", 1)[1].split()[0]


def test_hub_outage_loses_nothing_and_repeats_nothing(
    hub: Hub, edge: SyncedEdge, tmp_path: Path
) -> None:
    ref = make_order(hub.live.ctx, name="赵六")
    wait_until(lambda: ref.accession in steps(edge), "the order reaching the edge")
    make_series(tmp_path / "before", 5, patient_id=ref.patient_id, accession=ref.accession)
    store(edge, tmp_path / "before")
    wait_until(lambda: backlog_drained(edge), "the first images reaching the hub")

    hub.stop()
    study_uid = str(dcmread(next((tmp_path / "before").glob("*.dcm"))).StudyInstanceUID)
    series_uid = generate_uid()
    series = [
        make_ct(
            tmp_path / "during" / f"IM{i:04d}.dcm",
            patient_id=ref.patient_id,
            accession=ref.accession,
            study_uid=study_uid,
            series_uid=series_uid,
            instance_number=i + 1,
        )
        for i in range(30)
    ]
    store(edge, tmp_path / "during")  # DICOM keeps working while the hub is away
    mpps(edge, ref.accession, ref.study_uid, ref.patient_id)
    assert steps(edge)[ref.accession] == "COMPLETED"
    items = worklist(edge, tmp_path / "q", "-k", f"PatientID={ref.patient_id}")
    assert items == []  # completed here: off the worklist, hub or no hub
    report = sync_status(edge)
    # 30 instance.new + mpps.in_progress + mpps.completed wait (some may be LOCKED in a
    # failing attempt at this moment)
    waiting = int(status_value(report, "(READY)")) + int(report.split("LOCKED:")[1].split()[0])
    assert waiting == 32, report
    assert status_value(report, "instances not at hub") == "30", report
    assert "never" not in report.split("last hub contact")[1].splitlines()[0]

    hub.start()  # same port, same database, same archive
    wait_until(lambda: backlog_drained(edge), "the backlog draining after the outage", 120)
    assert_hub_holds_edge_files(hub, edge)
    assert {str(d.SOPInstanceUID) for d in series} <= hub_archive(hub).keys()
    with edge.gateway.engine.connect() as conn:
        edge_events = [
            r.event_id for r in conn.execute(text("SELECT event_id FROM outbox ORDER BY id"))
        ]
    with Session(hub.live.ctx.engine) as session:
        hub_events = [
            e
            for (e,) in session.execute(select(SyncEvent.event_id).order_by(SyncEvent.id))  # type: ignore[call-overload]
        ]
    assert len(hub_events) == len(set(hub_events))  # no duplicates
    assert hub_events == edge_events  # nothing lost, in the edge's order
    assert order_status(hub.live.ctx, ref.accession) == OrderStatus.COMPLETED.value
    report = sync_status(edge)
    assert status_value(report, "(READY)") == "0", report
    assert status_value(report, "instances not at hub") == "0", report


def test_a_damaged_file_is_retried_without_holding_up_the_others(
    hub: Hub, edge: SyncedEdge, tmp_path: Path
) -> None:
    ref = make_order(hub.live.ctx, name="钱八")
    make_series(tmp_path / "s", 4, patient_id=ref.patient_id, accession=ref.accession)
    # the edge's copy of one instance is damaged on disk (the index keeps its true
    # sha256), so the hub finds the bytes do not match their Content-Digest
    edge.agent.stop()
    store(edge, tmp_path / "s")
    rows = sorted(edge_instances(edge).values(), key=lambda r: r["id"])
    damaged = edge.gateway.archive.absolute(rows[1]["rel_path"])
    good_bytes = damaged.read_bytes()
    damaged.write_bytes(good_bytes[:-16] + b"\xff" * 16)
    agent = build_agent(edge.settings)
    assert agent is not None
    edge.agent = agent
    agent.start()

    def others_confirmed() -> bool:
        now = edge_instances(edge)
        return all(now[r["sop_uid"]]["hub_confirmed_at"] for r in rows if r is not rows[1])

    wait_until(others_confirmed, "the undamaged instances reaching the hub")

    # listed as waiting for another try, with the hub's reason (between tries: during one
    # the event is LOCKED)
    def listed_for_retry() -> bool:
        report = sync_status(edge)
        return "attempts=" in report and "instance.new READY" in report and "0x0110" in report

    wait_until(listed_for_retry, "the damaged instance being listed for retry")
    assert edge_instances(edge)[rows[1]["sop_uid"]]["hub_confirmed_at"] is None
    assert rows[1]["sop_uid"] not in {s for s, i in hub_archive(hub).items() if i.state == "held"}
    damaged.write_bytes(good_bytes)  # restored from a backup
    wait_until(lambda: backlog_drained(edge), "the repaired instance reaching the hub")
    assert_hub_holds_edge_files(hub, edge)
