"""The issue's end-to-end checks with a real hub and a real edge: a registrar's order
(through the hub's HTTP API) answered to dcmtk ``findscu -W`` at the campus, and the hub
stopped in the middle of a 500-instance upload and started again → every instance exactly
once at the hub, with the edge's bytes."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

from sqlalchemy import func, select, text
from sqlmodel import Session

from hub.models.archive import ArchiveInstance
from tests.integration.hub import factories
from tests.integration.sync.conftest import Hub, SyncedEdge, wait_until
from tests.integration.sync.test_sync_with_hub import (
    backlog_drained,
    edge_instances,
    store,
    worklist,
)
from tests.support.dicom_files import make_series

UPLOAD = 500


def test_registration_through_the_api_reaches_findscu_worklist(
    hub: Hub, edge: SyncedEdge, tmp_path: Path
) -> None:
    live = hub.live
    factories.load_catalogue(live)
    factories.create_room(live, campus="dongge", code="CT1", modality="CT", station_ae="CT1")
    factories.generate_slots(live, campus="dongge", room="CT1")
    patient = factories.create_patient(live, name="欧阳娜娜", sex="F", birth_date="1992-07-08")
    order = factories.create_order(live, patient["patient_id"], campus="dongge")
    slot = factories.free_slots(live, campus="dongge", modality="CT")[0]
    factories.book(live, order["accession"], slot["id"])
    # the order reaches the edge when registered, and again once booked on CT1's scanner
    wait_until(
        lambda: _station(edge, order["accession"]) == "CT1",
        "the booked order reaching the edge",
        30,
    )

    answers = worklist(edge, tmp_path / "wl", "-k", f"AccessionNumber={order['accession']}")
    assert len(answers) == 1
    item = answers[0]
    assert str(item.PatientName) == "Ouyang^Nana=欧阳^娜娜"
    assert item.PatientID == patient["patient_id"]
    sps = item.ScheduledProcedureStepSequence[0]
    assert sps.Modality == "CT" and sps.ScheduledStationAETitle == "CT1"
    assert item.StudyInstanceUID == order["study_uid"]


def test_hub_stopped_in_the_middle_of_a_500_instance_upload(
    hub: Hub, edge: SyncedEdge, tmp_path: Path
) -> None:
    make_series(tmp_path / "series", UPLOAD, patient_id="P-UPLOAD", accession="")
    engine = hub.live.ctx.engine

    def held() -> int:
        with Session(engine) as session:
            return int(session.scalar(select(func.count()).select_from(ArchiveInstance)) or 0)

    # The hub is stopped by a watcher as soon as it holds the first tenth of the upload,
    # while storescu is still sending to the edge and the agent uploading.
    stopped_at: list[int] = []

    def stop_mid_upload() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            count = held()
            if count >= UPLOAD // 10:
                hub.stop()
                stopped_at.append(count)
                return
            time.sleep(0.01)  # poll interval of the watcher

    watcher = threading.Thread(target=stop_mid_upload)
    watcher.start()
    store(edge, tmp_path / "series")
    watcher.join()
    assert stopped_at, "the upload never reached the hub"
    sent = sum(1 for r in edge_instances(edge).values() if r["hub_confirmed_at"] is not None)
    assert sent < UPLOAD, "the upload finished before the hub could be stopped"

    hub.start()
    wait_until(lambda: backlog_drained(edge), "the rest of the upload after the restart", 180)
    with Session(hub.live.ctx.engine) as session:
        rows = list(session.scalars(select(ArchiveInstance)).all())
    by_uid = {row.sop_uid: row for row in rows}
    assert len(rows) == UPLOAD and len(by_uid) == UPLOAD  # each exactly once
    archive = hub.live.ctx.settings.archive_dir
    for sop_uid, local in edge_instances(edge).items():
        row = by_uid[sop_uid]
        assert row.sha256 == local["sha256"]
        data = (archive / row.rel_path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == local["sha256"]


def test_a_file_the_hub_cannot_read_is_kept_failed_not_retried_forever(
    hub: Hub, edge: SyncedEdge, tmp_path: Path
) -> None:
    hub.stop()
    sent = make_series(tmp_path / "s", 3, patient_id="P-BAD", accession="")
    store(edge, tmp_path / "s")
    bad = str(sent[1].SOPInstanceUID)
    # The edge's copy rots on disk into something that is not DICOM, and its index is
    # made to agree (so the digest matches): the hub cannot understand it (0xC000).
    local = edge_instances(edge)[bad]
    path = edge.settings.data_dir / "archive" / local["rel_path"]
    garbage = b"not a DICOM file at all" * 100
    path.write_bytes(garbage)
    with edge.gateway.engine.begin() as conn:
        conn.execute(
            text("UPDATE instance SET sha256 = :sha WHERE sop_uid = :uid"),
            {"sha": hashlib.sha256(garbage).hexdigest(), "uid": bad},
        )
    hub.start()

    def settled() -> bool:
        with edge.gateway.engine.connect() as conn:
            states = dict(
                conn.execute(
                    text("SELECT subject, status FROM outbox WHERE kind = 'instance.new'")
                ).all()
            )
        return states.get(bad) == "FAILED" and all(
            s == "DONE" for uid, s in states.items() if uid != bad
        )

    wait_until(settled, "the unreadable file's event marked FAILED, the others DONE", 60)
    with edge.gateway.engine.connect() as conn:
        reason = conn.execute(
            text("SELECT last_error FROM outbox WHERE subject = :uid"), {"uid": bad}
        ).scalar_one()
    # FAILED is never claimed again (only READY is): it waits for an operator.
    assert "0xC000" in reason and "pacs-edge sync retry" in reason
    assert bad not in hub_held(hub)


def hub_held(hub: Hub) -> set[str]:
    with Session(hub.live.ctx.engine) as session:
        return {
            uid
            for (uid,) in session.execute(
                select(ArchiveInstance.sop_uid).where(ArchiveInstance.state == "held")  # type: ignore[arg-type]
            )
        }


def _station(edge: SyncedEdge, accession: str) -> str | None:
    """The Scheduled Station AE of the edge's step for ``accession`` (None: no step yet)."""
    with edge.gateway.engine.connect() as conn:
        return conn.scalar(
            text("SELECT station_ae FROM scheduled_step WHERE accession = :a"), {"a": accession}
        )
