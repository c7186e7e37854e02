"""Modality Performed Procedure Step SCP: N-CREATE (IN PROGRESS) and N-SET
(COMPLETED / DISCONTINUED) move the exam's status and write an outbox event."""

from __future__ import annotations

import logging
from typing import Any

from pydicom.dataset import Dataset
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from edge_gateway.dicom.activity import ActivityLog, calling_ae
from edge_gateway.peers import PeerTable, Permission
from edge_gateway.store import mpps as store
from shared.dicom import status
from shared.dicom.charset import text_value
from shared.dicom.uid import UidFactory

log = logging.getLogger(__name__)

NResult = tuple[int, Dataset | None]


def _json(ds: Dataset) -> dict[str, Any]:
    try:
        return dict(ds.to_json_dict())
    except Exception:  # a malformed element must not lose the MPPS itself
        log.warning("MPPS attributes could not be kept as JSON; keeping the keywords only")
        return {e.keyword: str(e.value) for e in ds if e.keyword and e.VR != "SQ"}


class MppsService:
    """Handles ``EVT_N_CREATE`` and ``EVT_N_SET`` for MPPS."""

    def __init__(
        self, engine: Engine, peers: PeerTable, activity: ActivityLog, uids: UidFactory
    ) -> None:
        self.engine = engine
        self.peers = peers
        self.activity = activity
        self.uids = uids

    def create(self, event: Any) -> NResult:
        """N-CREATE. Returns SUCCESS with the created attributes; NOT_AUTHORIZED;
        INVALID_ATTRIBUTE_VALUE unless the status is IN PROGRESS;
        DUPLICATE_SOP_INSTANCE for a UID already created; PROCESSING_FAILURE when the
        index cannot be written."""
        ae = calling_ae(event)
        if not self.peers.allows(ae, Permission.MPPS):
            log.warning("MPPS N-CREATE refused: %s may not send MPPS", ae)
            return status.NOT_AUTHORIZED, None
        ds: Dataset = event.attribute_list
        sop_uid = str(event.request.AffectedSOPInstanceUID or "") or self.uids.new()
        ssa = ds.get("ScheduledStepAttributesSequence") or [Dataset()]
        first = ssa[0]
        record = store.MppsCreate(
            sop_uid=sop_uid,
            status=text_value(ds, "PerformedProcedureStepStatus").strip().upper(),
            accession=text_value(first, "AccessionNumber").strip(),
            sps_id=text_value(first, "ScheduledProcedureStepID").strip(),
            study_uid=text_value(first, "StudyInstanceUID").strip(),
            patient_id=text_value(ds, "PatientID").strip(),
            modality=text_value(ds, "Modality").strip(),
            station_ae=text_value(ds, "PerformedStationAETitle").strip() or ae,
            source_ae=ae,
            attributes=_json(ds),
        )
        try:
            outcome, step_pk = store.create(self.engine, record)
        except SQLAlchemyError as exc:
            log.error("MPPS N-CREATE %s from %s: index error: %s", sop_uid, ae, exc)
            return status.PROCESSING_FAILURE, None
        if outcome is store.MppsOutcome.BAD_STATUS:
            log.warning(
                "MPPS N-CREATE %s from %s: status %r, expected IN PROGRESS",
                sop_uid,
                ae,
                record.status,
            )
            return status.INVALID_ATTRIBUTE_VALUE, None
        if outcome is store.MppsOutcome.DUPLICATE:
            log.warning("MPPS N-CREATE %s from %s: instance exists already", sop_uid, ae)
            return status.DUPLICATE_SOP_INSTANCE, None
        log.info(
            "MPPS IN PROGRESS %s from %s: accession %s (%s)",
            sop_uid,
            ae,
            record.accession or "-",
            "scheduled step found" if step_pk is not None else "unscheduled",
        )
        self.activity.count(event, "mpps-create")
        reply = Dataset()
        reply.SOPInstanceUID = sop_uid
        return status.SUCCESS, reply

    def set(self, event: Any) -> NResult:
        """N-SET. Returns SUCCESS with the modifications; NO_SUCH_SOP_INSTANCE for an
        unknown instance; MPPS_MAY_NO_LONGER_BE_UPDATED once COMPLETED/DISCONTINUED;
        INVALID_ATTRIBUTE_VALUE for an unknown status."""
        ae = calling_ae(event)
        if not self.peers.allows(ae, Permission.MPPS):
            log.warning("MPPS N-SET refused: %s may not send MPPS", ae)
            return status.NOT_AUTHORIZED, None
        mods: Dataset = event.modification_list
        sop_uid = str(event.request.RequestedSOPInstanceUID)
        new_status = text_value(mods, "PerformedProcedureStepStatus").strip().upper() or None
        try:
            outcome, result = store.set_status(
                self.engine, sop_uid=sop_uid, status=new_status, attributes=_json(mods)
            )
        except SQLAlchemyError as exc:
            log.error("MPPS N-SET %s from %s: index error: %s", sop_uid, ae, exc)
            return status.PROCESSING_FAILURE, None
        if outcome is store.MppsOutcome.UNKNOWN:
            log.warning("MPPS N-SET from %s: no such MPPS instance %s", ae, sop_uid)
            return status.NO_SUCH_SOP_INSTANCE, None
        if outcome is store.MppsOutcome.FINAL:
            log.warning("MPPS N-SET from %s: %s is %s already", ae, sop_uid, result)
            return status.MPPS_MAY_NO_LONGER_BE_UPDATED, None
        if outcome is store.MppsOutcome.BAD_STATUS:
            log.warning("MPPS N-SET from %s: unknown status %r", ae, new_status)
            return status.INVALID_ATTRIBUTE_VALUE, None
        log.info("MPPS %s %s from %s", result, sop_uid, ae)
        self.activity.count(event, "mpps-set")
        return status.SUCCESS, mods
