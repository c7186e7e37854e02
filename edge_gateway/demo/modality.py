"""A simulated CT scanner for the demo: a pynetdicom SCU that does what a real modality
does for each exam on its worklist.

1. ``query_worklist``: Modality Worklist C-FIND for its own AE title, modality and day;
2. ``start_mpps``: MPPS N-CREATE with status IN PROGRESS, referring to the scheduled step;
3. ``send_images``: C-STORE of CT images made from pydicom's bundled ``CT_small.dcm``,
   carrying the patient and study of the worklist item (Specific Character Set ISO_IR 192);
4. ``complete_mpps``: MPPS N-SET COMPLETED listing the series and images sent.

Each step opens its own association (as scanners do) with ``TCP_NODELAY`` set by
``handle_conn_open``. A step that fails raises :class:`ModalityError` with a sentence
naming the DIMSE status; nothing is printed here (the demo narrates).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_context, evt
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (
    ModalityPerformedProcedureStep,
    ModalityWorklistInformationFind,
)

from edge_gateway.dicom.transport import handle_conn_open
from shared.dicom import status
from shared.dicom.charset import UTF8, person_name, text_value
from shared.dicom.uid import UidFactory

TEMPLATE_FILE = "CT_small.dcm"
"""pydicom's bundled CT image the simulated images are made from."""

IN_PROGRESS = "IN PROGRESS"
COMPLETED = "COMPLETED"

# Attributes of the template that describe its original patient or site, not ours.
_DROPPED = (
    "OtherPatientIDsSequence",
    "PatientAge",
    "PatientWeight",
    "AdditionalPatientHistory",
    "ImageComments",
    "InstanceCreatorUID",
    "DataSetTrailingPadding",
    "TimezoneOffsetFromUTC",
)
_SLICE_SPACING_MM = 5.0


class ModalityError(RuntimeError):
    """A step of the simulated modality failed; the message says which and why."""


@dataclass(frozen=True)
class WorklistItem:
    """One scheduled procedure step as the gateway's worklist answered it (decoded text)."""

    accession: str
    patient_name: str
    """DICOM Person Name, e.g. ``张^三``."""
    patient_id: str
    birth_date: str
    sex: str
    study_uid: str
    requested_procedure_id: str
    procedure: str
    sps_id: str
    sps_description: str
    modality: str
    station_ae: str
    start_date: str
    start_time: str

    @classmethod
    def from_response(cls, ds: Dataset) -> WorklistItem:
        """Read a worklist C-FIND response (missing attributes become '')."""
        sps_seq = ds.get("ScheduledProcedureStepSequence")
        sps: Dataset = sps_seq[0] if sps_seq else Dataset()
        return cls(
            accession=text_value(ds, "AccessionNumber").strip(),
            patient_name=person_name(ds, "PatientName").strip(),
            patient_id=text_value(ds, "PatientID").strip(),
            birth_date=text_value(ds, "PatientBirthDate").strip(),
            sex=text_value(ds, "PatientSex").strip(),
            study_uid=text_value(ds, "StudyInstanceUID").strip(),
            requested_procedure_id=text_value(ds, "RequestedProcedureID").strip(),
            procedure=text_value(ds, "RequestedProcedureDescription").strip(),
            sps_id=text_value(sps, "ScheduledProcedureStepID").strip(),
            sps_description=text_value(sps, "ScheduledProcedureStepDescription").strip(),
            modality=text_value(sps, "Modality").strip(),
            station_ae=text_value(sps, "ScheduledStationAETitle").strip(),
            start_date=text_value(sps, "ScheduledProcedureStepStartDate").strip(),
            start_time=text_value(sps, "ScheduledProcedureStepStartTime").strip(),
        )


@dataclass(frozen=True)
class SentSeries:
    """What ``send_images`` sent: one series, the instances the gateway accepted and the
    statuses of those it refused."""

    series_uid: str
    series_number: int
    description: str
    sop_class_uid: str
    stored: tuple[str, ...]
    """SOP Instance UIDs answered with a success status."""
    failed: tuple[int, ...]
    """DIMSE statuses of the instances that were refused."""

    @property
    def attempted(self) -> int:
        return len(self.stored) + len(self.failed)


@dataclass(frozen=True)
class MppsStarted:
    uid: str
    """SOP Instance UID of the performed procedure step."""
    status: int


class SimulatedModality:
    """A CT scanner with AE title ``ae_title`` that talks to the gateway at
    ``host:port`` (called AE ``gateway_ae``)."""

    def __init__(
        self,
        *,
        ae_title: str,
        host: str,
        port: int,
        gateway_ae: str,
        uids: UidFactory,
        station_name: str = "",
        institution: str = "",
        timeout: float = 30.0,
    ) -> None:
        self.ae_title = ae_title
        self.host = host
        self.port = port
        self.gateway_ae = gateway_ae
        self.uids = uids
        self.station_name = station_name or ae_title
        self.institution = institution
        self._ae = AE(ae_title=ae_title)
        self._ae.acse_timeout = timeout
        self._ae.dimse_timeout = timeout
        self._ae.network_timeout = timeout
        self._template: Dataset | None = None
        self._series_counter = 0

    # -- the four steps -----------------------------------------------------------------
    def query_worklist(
        self, *, modality: str, date: str, any_station: bool = False
    ) -> list[WorklistItem]:
        """C-FIND the worklist for this station (every station when ``any_station``: steps
        not yet assigned to a room, such as emergencies, too), ``modality`` and ``date``
        (YYYYMMDD or a range YYYYMMDD-YYYYMMDD).

        Returns the open items in the gateway's order. Raises ``ModalityError`` when the
        association fails or the query ends with a failure status.
        """
        query = Dataset()
        query.SpecificCharacterSet = UTF8
        for keyword in (
            "PatientName",
            "PatientID",
            "PatientBirthDate",
            "PatientSex",
            "AccessionNumber",
            "StudyInstanceUID",
            "RequestedProcedureID",
            "RequestedProcedureDescription",
            "ReferringPhysicianName",
        ):
            setattr(query, keyword, "")
        sps = Dataset()
        sps.Modality = modality
        sps.ScheduledStationAETitle = "" if any_station else self.ae_title
        sps.ScheduledProcedureStepStartDate = date
        for keyword in (
            "ScheduledProcedureStepStartTime",
            "ScheduledProcedureStepDescription",
            "ScheduledProcedureStepID",
            "ScheduledProcedureStepStatus",
        ):
            setattr(sps, keyword, "")
        query.ScheduledProcedureStepSequence = [sps]

        items: list[WorklistItem] = []
        with self._association(
            _context(ModalityWorklistInformationFind), "worklist query"
        ) as assoc:
            final: int | None = None
            for status_ds, identifier in assoc.send_c_find(query, ModalityWorklistInformationFind):
                code = _status(status_ds)
                if code is None:
                    break
                if code in (status.PENDING, status.PENDING_WARNING):
                    if identifier is not None:
                        items.append(WorklistItem.from_response(identifier))
                    continue
                final = code
        if final is None:
            raise ModalityError("worklist query: the gateway did not answer (no final status)")
        if final != status.SUCCESS:
            raise ModalityError(f"worklist query failed: {status.status_name(final)}")
        return items

    def start_mpps(self, item: WorklistItem, *, when: datetime | None = None) -> MppsStarted:
        """N-CREATE an MPPS IN PROGRESS for ``item``. Raises ``ModalityError`` unless
        the gateway answers with a success status."""
        when = when or datetime.now()
        mpps_uid = self.uids.new()
        ds = self._mpps_create_attributes(item, when)
        with self._association(_context(ModalityPerformedProcedureStep), "MPPS N-CREATE") as assoc:
            status_ds, _ = assoc.send_n_create(ds, ModalityPerformedProcedureStep, mpps_uid)
        code = _status(status_ds)
        if code is None or not status.is_success(code):
            raise ModalityError(f"MPPS N-CREATE for {item.accession} failed: {_name(code)}")
        return MppsStarted(mpps_uid, code)

    def send_images(
        self, item: WorklistItem, count: int, *, mpps_uid: str, when: datetime | None = None
    ) -> SentSeries:
        """C-STORE ``count`` CT images of one new series for ``item``.

        Returns what was stored and the statuses of refusals; raises ``ModalityError``
        when no association can be made or the gateway stops answering.
        """
        when = when or datetime.now()
        self._series_counter += 1
        series_uid = self.uids.new()
        frame_uid = self.uids.new()
        description = item.sps_description or item.procedure
        stored: list[str] = []
        failed: list[int] = []
        contexts = _context(CTImageStorage)
        with self._association(contexts, "sending images") as assoc:
            for number in range(1, count + 1):
                image = self._image(item, series_uid, frame_uid, number, mpps_uid, when)
                code = _status(assoc.send_c_store(image))
                if code is None:
                    raise ModalityError(
                        f"sending images for {item.accession}: the gateway stopped answering "
                        f"after {len(stored) + len(failed)} image(s)"
                    )
                if status.is_success(code):
                    stored.append(str(image.SOPInstanceUID))
                else:
                    failed.append(code)
        return SentSeries(
            series_uid=series_uid,
            series_number=self._series_counter,
            description=description,
            sop_class_uid=str(CTImageStorage),
            stored=tuple(stored),
            failed=tuple(failed),
        )

    def complete_mpps(
        self,
        mpps_uid: str,
        series: Sequence[SentSeries],
        *,
        when: datetime | None = None,
    ) -> int:
        """N-SET the MPPS to COMPLETED with its performed series; return the status.
        Raises ``ModalityError`` unless the gateway answers with a success status."""
        when = when or datetime.now()
        mods = Dataset()
        mods.SpecificCharacterSet = UTF8
        mods.PerformedProcedureStepStatus = COMPLETED
        mods.PerformedProcedureStepEndDate = when.strftime("%Y%m%d")
        mods.PerformedProcedureStepEndTime = when.strftime("%H%M%S")
        mods.PerformedSeriesSequence = [self._performed_series(s) for s in series]
        with self._association(_context(ModalityPerformedProcedureStep), "MPPS N-SET") as assoc:
            status_ds, _ = assoc.send_n_set(mods, ModalityPerformedProcedureStep, mpps_uid)
        code = _status(status_ds)
        if code is None or not status.is_success(code):
            raise ModalityError(f"MPPS N-SET COMPLETED of {mpps_uid} failed: {_name(code)}")
        return code

    # -- helpers ------------------------------------------------------------------------
    @contextmanager
    def _association(self, contexts: list[PresentationContext], purpose: str) -> Iterator[Any]:
        assoc = self._ae.associate(
            self.host,
            self.port,
            contexts=contexts,
            ae_title=self.gateway_ae,
            evt_handlers=[(evt.EVT_CONN_OPEN, handle_conn_open)],
        )
        if not assoc.is_established:
            if assoc.is_rejected:
                why = f"it rejected calling AE {self.ae_title} (is it in the peers table?)"
            else:
                why = "no association could be made (is the gateway running?)"
            raise ModalityError(
                f"{purpose}: gateway {self.gateway_ae} at {self.host}:{self.port}: {why}"
            )
        try:
            yield assoc
        finally:
            if assoc.is_established:
                assoc.release()

    def _mpps_create_attributes(self, item: WorklistItem, when: datetime) -> Dataset:
        step = Dataset()
        step.AccessionNumber = item.accession
        step.StudyInstanceUID = item.study_uid
        step.ReferencedStudySequence = []
        step.RequestedProcedureID = item.requested_procedure_id
        step.RequestedProcedureDescription = item.procedure
        step.ScheduledProcedureStepID = item.sps_id
        step.ScheduledProcedureStepDescription = item.sps_description
        step.ScheduledProtocolCodeSequence = []

        ds = Dataset()
        ds.SpecificCharacterSet = UTF8
        ds.ScheduledStepAttributesSequence = [step]
        ds.PatientName = item.patient_name
        ds.PatientID = item.patient_id
        ds.PatientBirthDate = item.birth_date
        ds.PatientSex = item.sex
        ds.ReferencedPatientSequence = []
        ds.PerformedProcedureStepID = _pps_id(item)
        ds.PerformedStationAETitle = self.ae_title
        ds.PerformedStationName = self.station_name
        ds.PerformedLocation = self.institution
        ds.PerformedProcedureStepStartDate = when.strftime("%Y%m%d")
        ds.PerformedProcedureStepStartTime = when.strftime("%H%M%S")
        ds.PerformedProcedureStepStatus = IN_PROGRESS
        ds.PerformedProcedureStepDescription = item.sps_description or item.procedure
        ds.PerformedProcedureTypeDescription = item.procedure
        ds.ProcedureCodeSequence = []
        ds.PerformedProcedureStepEndDate = None
        ds.PerformedProcedureStepEndTime = None
        ds.Modality = item.modality or "CT"
        ds.StudyID = item.requested_procedure_id[:16]
        ds.PerformedProtocolCodeSequence = []
        ds.PerformedSeriesSequence = []
        return ds

    def _performed_series(self, series: SentSeries) -> Dataset:
        item = Dataset()
        item.PerformingPhysicianName = None
        item.OperatorsName = None
        item.ProtocolName = series.description
        item.SeriesInstanceUID = series.series_uid
        item.SeriesDescription = series.description
        item.RetrieveAETitle = None
        refs = []
        for sop_uid in series.stored:
            ref = Dataset()
            ref.ReferencedSOPClassUID = series.sop_class_uid
            ref.ReferencedSOPInstanceUID = sop_uid
            refs.append(ref)
        item.ReferencedImageSequence = refs
        item.ReferencedNonImageCompositeSOPInstanceSequence = []
        return item

    def _load_template(self) -> Dataset:
        if self._template is None:
            path = get_testdata_file(TEMPLATE_FILE)
            if path is None:
                raise ModalityError(
                    f"pydicom's test file {TEMPLATE_FILE} is missing: reinstall pydicom"
                )
            template = dcmread(path)
            template.remove_private_tags()
            for keyword in _DROPPED:
                if keyword in template:
                    delattr(template, keyword)
            self._template = template
        return self._template

    def _image(
        self,
        item: WorklistItem,
        series_uid: str,
        frame_uid: str,
        number: int,
        mpps_uid: str,
        when: datetime,
    ) -> Dataset:
        ds = copy.deepcopy(self._load_template())
        sop_uid = self.uids.new()
        date, time = when.strftime("%Y%m%d"), when.strftime("%H%M%S")
        ds.SpecificCharacterSet = UTF8
        ds.SOPInstanceUID = sop_uid
        ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid)
        ds.file_meta.SourceApplicationEntityTitle = self.ae_title
        ds.PatientName = item.patient_name
        ds.PatientID = item.patient_id
        ds.PatientBirthDate = item.birth_date
        ds.PatientSex = item.sex
        ds.StudyInstanceUID = item.study_uid
        ds.AccessionNumber = item.accession
        ds.StudyID = item.requested_procedure_id[:16]
        ds.StudyDescription = item.procedure
        ds.ReferringPhysicianName = ""
        for prefix in ("Study", "Series", "Acquisition", "Content", "InstanceCreation"):
            setattr(ds, f"{prefix}Date", date)
            setattr(ds, f"{prefix}Time", time)
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = self._series_counter
        ds.SeriesDescription = item.sps_description or item.procedure
        ds.FrameOfReferenceUID = frame_uid
        ds.InstanceNumber = number
        ds.AcquisitionNumber = 1
        x, y, z0 = (float(v) for v in ds.ImagePositionPatient)
        z = round(z0 - _SLICE_SPACING_MM * (number - 1), 3)
        ds.ImagePositionPatient = [x, y, z]
        ds.SliceLocation = z
        ds.StationName = self.station_name
        ds.InstitutionName = self.institution
        ds.Manufacturer = "Campus PACS"
        ds.ManufacturerModelName = "Simulated CT"
        request = Dataset()
        request.AccessionNumber = item.accession
        request.RequestedProcedureID = item.requested_procedure_id
        request.RequestedProcedureDescription = item.procedure
        request.ScheduledProcedureStepID = item.sps_id
        request.ScheduledProcedureStepDescription = item.sps_description
        ds.RequestAttributesSequence = [request]
        pps = Dataset()
        pps.ReferencedSOPClassUID = ModalityPerformedProcedureStep
        pps.ReferencedSOPInstanceUID = mpps_uid
        ds.ReferencedPerformedProcedureStepSequence = [pps]
        ds.PerformedProcedureStepID = _pps_id(item)
        return ds


def _context(sop_class: str) -> list[PresentationContext]:
    return [build_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])]


def _status(status_ds: Dataset | None) -> int | None:
    """The Status of a response, or None when there was no response (association lost)."""
    if status_ds is None or "Status" not in status_ds:
        return None
    return int(status_ds.Status)


def _name(code: int | None) -> str:
    return "no answer (association lost)" if code is None else status.status_name(code)


def _pps_id(item: WorklistItem) -> str:
    """Performed Procedure Step ID (SH, at most 16 characters)."""
    return f"P{item.sps_id or item.accession}"[:16]
