"""Q/R C-FIND (patient and study root, every level), C-MOVE and C-GET with dcmtk."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from edge_gateway.gateway import Gateway
from edge_gateway.peers import ALL_PERMISSIONS, Peer
from tests.integration.edge.conftest import StartEdge, default_peers, peer_args, run
from tests.support.dicom_files import make_compressed, make_ct, make_series
from tests.support.net import free_port, wait_for_port
from tests.support.requirements import dcmtk_program


@pytest.fixture
def archive(
    dcmtk: None, start_edge: StartEdge, tmp_path: Path
) -> tuple[Gateway, dict[str, list[Dataset]]]:
    """A gateway holding three patients: two CT studies and one MR."""
    dest_port = free_port()
    peers = default_peers(
        [Peer("DEST", "127.0.0.1", dest_port, frozenset()), Peer("GETTER", allow=ALL_PERMISSIONS)]
    )
    gateway = start_edge(peers)
    gateway.dest_port = dest_port  # type: ignore[attr-defined]
    sets = {
        "zhang": make_series(
            tmp_path / "zhang",
            3,
            patient_name="张^三丰",
            patient_id="P001",
            accession="A001",
            study_date="20261120",
        ),
        "ouyang": make_series(
            tmp_path / "ouyang",
            2,
            patient_name="欧阳^娜娜",
            patient_id="P002",
            accession="A002",
            study_date="20261124",
        ),
        "li": make_series(
            tmp_path / "li",
            1,
            patient_name="LI^SI",
            patient_id="P003",
            accession="A003",
            study_date="20261001",
        ),
    }
    for name in sets:
        result = run(["storescu", "+sd", *peer_args(gateway), str(tmp_path / name)])
        assert result.returncode == 0, result.stdout
    return gateway, sets


def find(gateway: Gateway, out: Path, *args: str, calling: str = "VIEWER") -> list[Dataset]:
    """Run findscu, extract every response to files, and read them back."""
    out.mkdir(parents=True, exist_ok=True)
    result = run(["findscu", "-X", "-od", str(out), *args, *peer_args(gateway, calling)])
    assert result.returncode == 0, result.stdout
    return [dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


def test_study_root_study_level_with_counts(archive, tmp_path: Path) -> None:
    gateway, _ = archive
    rsp = find(
        gateway,
        tmp_path / "q1",
        "-S",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        "PatientName",
        "-k",
        "PatientID",
        "-k",
        "StudyInstanceUID",
        "-k",
        "NumberOfStudyRelatedInstances",
        "-k",
        "NumberOfStudyRelatedSeries",
        "-k",
        "ModalitiesInStudy",
        "-k",
        "AccessionNumber",
    )
    by_id = {str(r.PatientID): r for r in rsp}
    assert set(by_id) == {"P001", "P002", "P003"}
    assert str(by_id["P001"].PatientName) == "张^三丰"
    assert int(by_id["P001"].NumberOfStudyRelatedInstances) == 3
    assert int(by_id["P002"].NumberOfStudyRelatedSeries) == 1
    assert by_id["P001"].ModalitiesInStudy == "CT"
    assert by_id["P001"].RetrieveAETitle == "EDGE"
    assert by_id["P002"].SpecificCharacterSet == "ISO_IR 192"


def test_patient_root_patient_level_counts(archive, tmp_path: Path) -> None:
    gateway, _ = archive
    rsp = find(
        gateway,
        tmp_path / "q",
        "-P",
        "-k",
        "QueryRetrieveLevel=PATIENT",
        "-k",
        "PatientID=P001",
        "-k",
        "PatientName",
        "-k",
        "NumberOfPatientRelatedStudies",
        "-k",
        "NumberOfPatientRelatedInstances",
    )
    assert len(rsp) == 1
    assert int(rsp[0].NumberOfPatientRelatedStudies) == 1
    assert int(rsp[0].NumberOfPatientRelatedInstances) == 3


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("PatientName=张*", {"P001"}),
        ("PatientName=欧阳*", {"P002"}),
        ("PatientName=L?^SI", {"P003"}),
        ("PatientName=*", {"P001", "P002", "P003"}),
        ("StudyDate=20261101-20261130", {"P001", "P002"}),
        ("StudyDate=-20261020", {"P003"}),
        ("StudyDate=20261124-", {"P002"}),
        ("StudyDate=20261120", {"P001"}),
        ("AccessionNumber=A00?", {"P001", "P002", "P003"}),
        ("AccessionNumber=A002", {"P002"}),
        ("ModalitiesInStudy=MR", set()),
        ("ModalitiesInStudy=CT", {"P001", "P002", "P003"}),
    ],
)
def test_study_matching(archive, tmp_path: Path, key: str, expected: set[str]) -> None:
    gateway, _ = archive
    rsp = find(
        gateway,
        tmp_path / "q",
        "-S",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        key,
        "-k",
        "PatientID",
        "-k",
        "SpecificCharacterSet=ISO_IR 192",
    )
    assert {str(r.PatientID) for r in rsp} == expected


def test_uid_list_matching_at_study_level(archive, tmp_path: Path) -> None:
    gateway, sets = archive
    uids = [sets["zhang"][0].StudyInstanceUID, sets["li"][0].StudyInstanceUID]
    rsp = find(
        gateway,
        tmp_path / "q",
        "-S",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        f"StudyInstanceUID={chr(92).join(uids)}",
        "-k",
        "PatientID",
    )
    assert {str(r.PatientID) for r in rsp} == {"P001", "P003"}


def test_series_and_image_levels(archive, tmp_path: Path) -> None:
    gateway, sets = archive
    study = sets["zhang"][0].StudyInstanceUID
    series = find(
        gateway,
        tmp_path / "s",
        "-S",
        "-k",
        "QueryRetrieveLevel=SERIES",
        "-k",
        f"StudyInstanceUID={study}",
        "-k",
        "SeriesInstanceUID",
        "-k",
        "Modality",
        "-k",
        "NumberOfSeriesRelatedInstances",
    )
    assert len(series) == 1
    assert int(series[0].NumberOfSeriesRelatedInstances) == 3
    images = find(
        gateway,
        tmp_path / "i",
        "-S",
        "-k",
        "QueryRetrieveLevel=IMAGE",
        "-k",
        f"StudyInstanceUID={study}",
        "-k",
        f"SeriesInstanceUID={series[0].SeriesInstanceUID}",
        "-k",
        "SOPInstanceUID",
        "-k",
        "InstanceNumber",
    )
    assert sorted(int(i.InstanceNumber) for i in images) == [1, 2, 3]
    assert {i.SOPInstanceUID for i in images} == {d.SOPInstanceUID for d in sets["zhang"]}


def test_patient_level_refused_in_study_root(archive, tmp_path: Path) -> None:
    gateway, _ = archive
    result = run(
        [
            "findscu",
            "-v",
            "-S",
            "-k",
            "QueryRetrieveLevel=PATIENT",
            "-k",
            "PatientID",
            *peer_args(gateway, "VIEWER"),
        ]
    )
    assert "Received Final Find Response (Error: DataSetDoesNotMatchSOPClass)" in result.stdout


def test_query_refused_for_store_only_peer(archive, tmp_path: Path) -> None:
    gateway, _ = archive
    result = run(
        [
            "findscu",
            "-v",
            "-S",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            "PatientID",
            *peer_args(gateway, "STOREONLY"),
        ]
    )
    assert "Received Final Find Response" in result.stdout
    assert "Pending" not in result.stdout


@pytest.fixture
def storescp(archive, tmp_path: Path) -> Iterator[Path]:
    gateway, _ = archive
    out = tmp_path / "received"
    out.mkdir()
    port = gateway.dest_port
    proc = subprocess.Popen(
        [dcmtk_program("storescp"), "-aet", "DEST", "-od", str(out), "+xa", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process=proc)
        yield out
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_move_study_to_known_destination(archive, storescp: Path) -> None:
    gateway, sets = archive
    study = sets["zhang"][0].StudyInstanceUID
    result = run(
        [
            "movescu",
            "-v",
            "-S",
            "-aem",
            "DEST",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            f"StudyInstanceUID={study}",
            *peer_args(gateway, "VIEWER"),
        ]
    )
    assert result.returncode == 0, result.stdout
    received = {dcmread(p).SOPInstanceUID for p in storescp.iterdir()}
    assert received == {d.SOPInstanceUID for d in sets["zhang"]}


def test_move_compressed_instance_as_stored(archive, storescp: Path, tmp_path: Path) -> None:
    gateway, _ = archive
    path, ds = make_compressed(tmp_path / "c", "1.2.840.10008.1.2.4.90")
    assert run(["storescu", "-xv", *peer_args(gateway), str(path)]).returncode == 0
    result = run(
        [
            "movescu",
            "-S",
            "-aem",
            "DEST",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            f"StudyInstanceUID={ds.StudyInstanceUID}",
            *peer_args(gateway, "VIEWER"),
        ]
    )
    assert result.returncode == 0, result.stdout
    files = list(storescp.iterdir())
    assert len(files) == 1
    got = dcmread(files[0])
    assert got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"
    assert got.PixelData == ds.PixelData


def test_move_to_unknown_destination_fails_clearly(archive) -> None:
    gateway, sets = archive
    result = run(
        [
            "movescu",
            "-v",
            "-S",
            "-aem",
            "NOWHERE",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            f"StudyInstanceUID={sets['li'][0].StudyInstanceUID}",
            *peer_args(gateway, "VIEWER"),
        ]
    )
    assert "MoveDestinationUnknown" in result.stdout or "a801" in result.stdout.lower()


def test_get_series(archive, tmp_path: Path) -> None:
    gateway, sets = archive
    out = tmp_path / "got"
    out.mkdir()
    series = sets["ouyang"][0].SeriesInstanceUID
    result = run(
        [
            "getscu",
            "-S",
            "-od",
            str(out),
            "-k",
            "QueryRetrieveLevel=SERIES",
            "-k",
            f"StudyInstanceUID={sets['ouyang'][0].StudyInstanceUID}",
            "-k",
            f"SeriesInstanceUID={series}",
            *peer_args(gateway, "GETTER"),
        ]
    )
    assert result.returncode == 0, result.stdout
    got = [dcmread(p) for p in out.iterdir()]
    assert {g.SOPInstanceUID for g in got} == {d.SOPInstanceUID for d in sets["ouyang"]}
    assert str(got[0].PatientName) == "欧阳^娜娜"


def test_make_ct_helper_is_valid(tmp_path: Path) -> None:
    ds = make_ct(tmp_path / "x.dcm")
    assert dcmread(tmp_path / "x.dcm").SOPInstanceUID == ds.SOPInstanceUID
