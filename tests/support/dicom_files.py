"""Test DICOM files made from pydicom's bundled test data (nothing is downloaded)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pydicom import dcmread
from pydicom.data import get_testdata_files
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from tests.support.requirements import dcmtk_program


def bundled(name: str) -> Path:
    """Path of one of pydicom's locally bundled test files (never downloads)."""
    for path in get_testdata_files():
        if os.path.basename(path) == name:
            return Path(path)
    raise FileNotFoundError(f"{name} is not among pydicom's bundled test files")


# Transfer syntax → (bundled file, storescu proposal option). JPEG lossless SV1 is
# made with dcmtk's dcmcjpeg from CT_small (see ``jpeg_lossless``).
COMPRESSED: dict[str, tuple[str, str]] = {
    "1.2.840.10008.1.2.4.50": ("SC_rgb_small_odd_jpeg.dcm", "-xy"),
    "1.2.840.10008.1.2.4.51": ("JPEG-lossy.dcm", "-xx"),
    "1.2.840.10008.1.2.4.80": ("MR_small_jpeg_ls_lossless.dcm", "-xt"),
    "1.2.840.10008.1.2.4.90": ("MR_small_jp2klossless.dcm", "-xv"),
    "1.2.840.10008.1.2.4.91": ("SC_rgb_gdcm_KY.dcm", "-xw"),
    "1.2.840.10008.1.2.5": ("MR_small_RLE.dcm", "-xr"),
    "1.2.840.10008.1.2.1.99": ("image_dfl.dcm", "-xd"),
}


def renew_uids(ds: Dataset, *, study_uid: str | None = None, series_uid: str | None = None) -> None:
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID


def make_ct(
    path: Path,
    *,
    patient_name: str = "TEST^PATIENT",
    patient_id: str = "P0001",
    charset: str | list[str] = "ISO_IR 192",
    accession: str = "ACC0001",
    study_uid: str | None = None,
    series_uid: str | None = None,
    study_date: str = "20261125",
    instance_number: int = 1,
) -> Dataset:
    """Write a CT instance (CT_small with new UIDs and the given patient) to ``path``."""
    ds = dcmread(bundled("CT_small.dcm"))
    renew_uids(ds, study_uid=study_uid, series_uid=series_uid)
    ds.SpecificCharacterSet = charset
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.AccessionNumber = accession
    ds.StudyDate = study_date
    ds.InstanceNumber = instance_number
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return ds


def make_series(folder: Path, count: int, **kwargs: object) -> list[Dataset]:
    """``count`` CT instances of one new study and series in ``folder``."""
    study_uid = generate_uid()
    series_uid = generate_uid()
    return [
        make_ct(
            folder / f"IM{i:04d}.dcm",
            study_uid=study_uid,
            series_uid=series_uid,
            instance_number=i + 1,
            **kwargs,  # type: ignore[arg-type]
        )
        for i in range(count)
    ]


def make_compressed(folder: Path, transfer_syntax: str) -> tuple[Path, Dataset]:
    """A copy of the bundled file for ``transfer_syntax`` with new UIDs, kept compressed."""
    name, _ = COMPRESSED[transfer_syntax]
    ds = dcmread(bundled(name))
    renew_uids(ds)
    ds.PatientID = ds.get("PatientID") or "PCOMP"
    path = folder / f"{transfer_syntax}.dcm"
    folder.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path, ds


def jpeg_lossless(folder: Path) -> tuple[Path, Dataset]:
    """CT_small compressed to JPEG Lossless SV1 (1.2.840.10008.1.2.4.70) by dcmcjpeg."""
    source = folder / "ct-plain.dcm"
    make_ct(source)
    target = folder / "ct-jpeg-ll.dcm"
    subprocess.run(
        [dcmtk_program("dcmcjpeg"), "+e1", str(source), str(target)], check=True, timeout=60
    )
    return target, dcmread(target, stop_before_pixels=True)
