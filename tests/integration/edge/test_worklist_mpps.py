"""Modality Worklist (findscu -W) and MPPS (pynetdicom SCU) against the gateway."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import ModalityPerformedProcedureStep
from sqlalchemy import select

from edge_gateway.gateway import Gateway
from edge_gateway.store.models import OutboxEvent, PerformedStep, ScheduledStep
from edge_gateway.store.worklist import StepIn, add_step
from shared.dicom import status
from shared.dicom.uid import UidFactory
from tests.integration.edge.conftest import peer_args, run

PACS_EDGE = str(Path(sys.executable).parent / "pacs-edge")
TODAY = date.today()


def add(gateway: Gateway, **kw: str) -> subprocess.CompletedProcess[str]:
    args = [PACS_EDGE, "worklist", "add", "--data-dir", str(gateway.settings.data_dir)]
    for key, value in kw.items():
        args += [f"--{key.replace('_', '-')}", value]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def schedule(gateway: Gateway, **kw: str) -> None:
    """Put a step on the worklist as ``pacs-edge worklist add`` does, in this process
    (the command itself, a new interpreter each time, is tested on its own below)."""
    add_step(
        gateway.engine,
        StepIn.model_validate(kw),
        UidFactory(gateway.settings.uid_root),
    )


@pytest.fixture
def worklist(edge: Gateway) -> Gateway:
    today = TODAY.isoformat()
    rows = [
        ("P001", "张^三丰", "CT", "DG001", "CT1", f"{today}T09:30", "胸部CT平扫"),
        ("P002", "欧阳^娜娜", "CT", "DG002", "CT1", f"{today}T10:00", "头颅CT平扫"),
        ("P003", "单^雄信", "MR", "DG003", "MR1", f"{today}T10:30", "头颅MR平扫"),
        ("P004", "LI^SI", "CT", "DG004", "CT2", "2026-01-05T08:00", "腹部CT"),
    ]
    for pid, name, mod, acc, station, when, proc in rows:
        schedule(
            edge,
            patient_id=pid,
            patient_name=name,
            modality=mod,
            accession=acc,
            station_ae=station,
            scheduled=when,
            procedure=proc,
        )
    return edge


def mwl(gateway: Gateway, out: Path, *keys: str) -> list[Dataset]:
    out.mkdir(parents=True, exist_ok=True)
    base = [
        "-k",
        "PatientName",
        "-k",
        "PatientID",
        "-k",
        "AccessionNumber",
        "-k",
        "StudyInstanceUID",
        "-k",
        "RequestedProcedureDescription",
        "-k",
        "ScheduledProcedureStepSequence[0].Modality",
        "-k",
        "ScheduledProcedureStepSequence[0].ScheduledStationAETitle",
        "-k",
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate",
        "-k",
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime",
        "-k",
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepDescription",
        "-k",
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepID",
    ]
    result = run(["findscu", "-W", "-X", "-od", str(out), *base, *keys, *peer_args(gateway)])
    assert result.returncode == 0, result.stdout
    return [dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


def test_station_today_query_returns_chinese_names(worklist: Gateway, tmp_path: Path) -> None:
    result = add(  # the operator's command, as a modality's booking clerk would run it
        worklist,
        patient_id="P005",
        patient_name="司马^光",
        modality="CT",
        accession="DG005",
        station_ae="CT1",
        scheduled=f"{TODAY.isoformat()}T11:00",
        procedure="腹部CT增强",
    )
    assert result.returncode == 0, result.stderr
    assert "accession DG005" in result.stdout
    items = mwl(
        worklist,
        tmp_path / "q",
        "-k",
        "ScheduledProcedureStepSequence[0].Modality=CT",
        "-k",
        "ScheduledProcedureStepSequence[0].ScheduledStationAETitle=CT1",
        "-k",
        f"ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate={TODAY:%Y%m%d}",
    )
    assert [str(i.AccessionNumber) for i in items] == ["DG001", "DG002", "DG005"]
    assert str(items[0].PatientName) == "张^三丰"
    assert str(items[1].PatientName) == "欧阳^娜娜"
    assert str(items[2].PatientName) == "司马^光"
    assert items[2].ScheduledProcedureStepSequence[0].ScheduledProcedureStepDescription == (
        "腹部CT增强"
    )
    assert items[0].SpecificCharacterSet == "ISO_IR 192"
    sps = items[0].ScheduledProcedureStepSequence[0]
    assert sps.Modality == "CT"
    assert sps.ScheduledProcedureStepStartTime == "093000"
    assert sps.ScheduledProcedureStepDescription == "胸部CT平扫"
    assert items[0].StudyInstanceUID


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["-k", "PatientID=P003"], ["DG003"]),
        (["-k", "PatientName=张*"], ["DG001"]),
        (["-k", "PatientName=欧阳娜娜"], ["DG002"]),
        (["-k", "AccessionNumber=DG004"], ["DG004"]),
        (["-k", "ScheduledProcedureStepSequence[0].Modality=MR"], ["DG003"]),
        (
            [
                "-k",
                "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=20260101-20260131",
            ],
            ["DG004"],
        ),
        (
            [
                "-k",
                f"ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate={TODAY:%Y%m%d}",
                "-k",
                "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime=0945-",
            ],
            ["DG002", "DG003"],
        ),
    ],
)
def test_worklist_matching(
    worklist: Gateway, tmp_path: Path, keys: list[str], expected: list[str]
) -> None:
    items = mwl(worklist, tmp_path / "q", *keys)
    assert sorted(str(i.AccessionNumber) for i in items) == expected


def test_worklist_answer_in_gb18030_when_configured(
    dcmtk: None, start_edge, tmp_path: Path
) -> None:
    gateway = start_edge(worklist_charset="GB18030")
    assert (
        add(
            gateway,
            patient_id="P9",
            patient_name="曾^小贤",
            modality="DX",
            accession="X9",
            scheduled=f"{TODAY}T08:00",
        ).returncode
        == 0
    )
    items = mwl(gateway, tmp_path / "q", "-k", "PatientID=P9")
    assert items[0].SpecificCharacterSet == "GB18030"
    assert str(items[0].PatientName) == "曾^小贤"
    raw = next((tmp_path / "q").glob("rsp*.dcm")).read_bytes()
    assert "曾".encode("gb18030") in raw


@pytest.mark.parametrize("syntax", ["-xi", "-xe"], ids=["implicit", "explicit"])
@pytest.mark.parametrize("charset", ["ISO_IR 192", "ISO 2022 IR 58"], ids=["utf8", "gb2312"])
def test_worklist_answers_in_each_transfer_syntax_and_charset(
    dcmtk: None, start_edge, tmp_path: Path, syntax: str, charset: str
) -> None:
    """UTF-8 answers are written straight to bytes, GB2312 with ISO 2022 escapes by
    pydicom (``worklist_items``); both read back the same, in either syntax."""
    gateway = start_edge(worklist_charset=charset)
    schedule(
        gateway,
        patient_id="P8",
        patient_name="黄^小明",
        modality="CT",
        accession="X8",
        scheduled=f"{TODAY}T08:00",
        procedure="胸部CT平扫",
    )
    items = mwl(gateway, tmp_path / "q", syntax, "-k", "PatientID=P8", "-k", "PatientSex")
    assert len(items) == 1
    assert items[0].SpecificCharacterSet == charset
    assert str(items[0].PatientName) == "黄^小明"
    assert items[0].PatientSex == ""
    step = items[0].ScheduledProcedureStepSequence[0]
    assert step.ScheduledProcedureStepDescription == "胸部CT平扫"
    assert step.ScheduledProcedureStepStartTime == "080000"


def test_worklist_add_rejects_bad_input_with_a_sentence(edge: Gateway) -> None:
    result = add(
        edge,
        patient_id="P1",
        patient_name="王^五",
        modality="C T",
        accession="B1",
        scheduled=f"{TODAY}T08:00",
    )
    assert result.returncode == 2
    assert "modality" in result.stderr and "DICOM modality code" in result.stderr
    result = add(
        edge,
        patient_id="P1",
        patient_name="王^五",
        modality="CT",
        accession="B1",
        scheduled="tomorrow morning",
    )
    assert result.returncode == 2
    assert "2026-11-25T09:30" in result.stderr
    ok = dict(
        patient_id="P1",
        patient_name="王^五",
        modality="CT",
        accession="B2",
        scheduled=f"{TODAY}T08:00",
    )
    assert add(edge, **ok).returncode == 0
    again = add(edge, **ok)
    assert again.returncode == 2 and "already on the worklist" in again.stderr


def mpps_assoc(gateway: Gateway, calling: str = "MODALITY"):  # type: ignore[no-untyped-def]
    ae = AE(ae_title=calling)
    ae.add_requested_context(ModalityPerformedProcedureStep)
    assoc = ae.associate("127.0.0.1", gateway.port, ae_title="EDGE")
    assert assoc.is_established
    return assoc


def in_progress(item: Dataset) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ssa = Dataset()
    ssa.AccessionNumber = item.AccessionNumber
    ssa.StudyInstanceUID = item.StudyInstanceUID
    ssa.ScheduledProcedureStepID = item.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID
    ds.ScheduledStepAttributesSequence = [ssa]
    ds.PatientName = item.PatientName
    ds.PatientID = item.PatientID
    ds.Modality = "CT"
    ds.PerformedStationAETitle = "CT1"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepStartDate = f"{TODAY:%Y%m%d}"
    ds.PerformedProcedureStepStartTime = "093500"
    return ds


def step_status(gateway: Gateway, accession: str) -> str:
    with gateway.engine.connect() as conn:
        return str(
            conn.scalar(select(ScheduledStep.status).where(ScheduledStep.accession == accession))  # type: ignore[call-overload]
        )


def events(gateway: Gateway) -> list[tuple[str, dict[str, object]]]:
    with gateway.engine.connect() as conn:
        rows = conn.execute(select(OutboxEvent.kind, OutboxEvent.payload).order_by(OutboxEvent.id))  # type: ignore[call-overload]
        return [(k, json.loads(p)) for k, p in rows if k.startswith("mpps")]


def test_mpps_moves_the_exam_and_leaves_the_worklist(worklist: Gateway, tmp_path: Path) -> None:
    item = mwl(worklist, tmp_path / "q", "-k", "AccessionNumber=DG001")[0]
    uid = "1.2.826.0.1.3680043.10.1.99.1"
    assoc = mpps_assoc(worklist)
    try:
        st, _ = assoc.send_n_create(in_progress(item), ModalityPerformedProcedureStep, uid)
        assert st.Status == status.SUCCESS
        assert step_status(worklist, "DG001") == "IN PROGRESS"
        again, _ = assoc.send_n_create(in_progress(item), ModalityPerformedProcedureStep, uid)
        assert again.Status == status.DUPLICATE_SOP_INSTANCE
        done = Dataset()
        done.PerformedProcedureStepStatus = "COMPLETED"
        done.PerformedProcedureStepEndDate = f"{TODAY:%Y%m%d}"
        done.PerformedProcedureStepEndTime = "094500"
        st, _ = assoc.send_n_set(done, ModalityPerformedProcedureStep, uid)
        assert st.Status == status.SUCCESS
        assert step_status(worklist, "DG001") == "COMPLETED"
        late, _ = assoc.send_n_set(done, ModalityPerformedProcedureStep, uid)
        assert late.Status == status.MPPS_MAY_NO_LONGER_BE_UPDATED
    finally:
        assoc.release()
    assert [k for k, _ in events(worklist)] == ["mpps.in_progress", "mpps.completed"]
    assert events(worklist)[1][1]["accession"] == "DG001"
    remaining = mwl(
        worklist, tmp_path / "q2", "-k", "ScheduledProcedureStepSequence[0].Modality=CT"
    )
    assert "DG001" not in {str(i.AccessionNumber) for i in remaining}
    with worklist.engine.connect() as conn:
        attrs = json.loads(conn.scalar(select(PerformedStep.attributes_json)))  # type: ignore[call-overload]
    assert "00400250" in attrs  # PerformedProcedureStepEndDate kept


def test_mpps_discontinued(worklist: Gateway, tmp_path: Path) -> None:
    item = mwl(worklist, tmp_path / "q", "-k", "AccessionNumber=DG002")[0]
    uid = "1.2.826.0.1.3680043.10.1.99.2"
    assoc = mpps_assoc(worklist)
    try:
        assert (
            assoc.send_n_create(in_progress(item), ModalityPerformedProcedureStep, uid)[0].Status
            == 0
        )
        stop = Dataset()
        stop.PerformedProcedureStepStatus = "DISCONTINUED"
        assert assoc.send_n_set(stop, ModalityPerformedProcedureStep, uid)[0].Status == 0
    finally:
        assoc.release()
    assert step_status(worklist, "DG002") == "DISCONTINUED"
    assert events(worklist)[-1][0] == "mpps.discontinued"


def test_mpps_set_for_unknown_instance(worklist: Gateway) -> None:
    assoc = mpps_assoc(worklist)
    try:
        done = Dataset()
        done.PerformedProcedureStepStatus = "COMPLETED"
        st, _ = assoc.send_n_set(done, ModalityPerformedProcedureStep, "1.2.3.4.5.6.7")
        assert st.Status == status.NO_SUCH_SOP_INSTANCE
    finally:
        assoc.release()
    assert events(worklist) == []


def test_mpps_create_must_be_in_progress(worklist: Gateway, tmp_path: Path) -> None:
    item = mwl(worklist, tmp_path / "q", "-k", "AccessionNumber=DG003")[0]
    ds = in_progress(item)
    ds.PerformedProcedureStepStatus = "COMPLETED"
    assoc = mpps_assoc(worklist)
    try:
        st, _ = assoc.send_n_create(ds, ModalityPerformedProcedureStep, "1.2.3.4.5.6.8")
        assert st.Status == status.INVALID_ATTRIBUTE_VALUE
    finally:
        assoc.release()
    assert step_status(worklist, "DG003") == "SCHEDULED"


def test_unscheduled_mpps_is_kept(worklist: Gateway) -> None:
    ds = Dataset()
    ds.ScheduledStepAttributesSequence = [Dataset()]
    ds.PatientID = "WALKIN"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    assoc = mpps_assoc(worklist)
    try:
        st, _ = assoc.send_n_create(ds, ModalityPerformedProcedureStep, "1.2.3.4.5.6.9")
        assert st.Status == status.SUCCESS
    finally:
        assoc.release()
    assert events(worklist)[-1][1]["scheduled"] is False
