"""Benchmark instances made from pydicom's bundled test files — nothing is downloaded.

Two sets, each written once into its own folder and reused while its manifest matches:

- ``small``: copies of ``CT_small.dcm`` (128x128, ~39 KB).
- ``large``: 512x512 16-bit uncompressed CTs (~0.5 MB) built from CT_small's header with
  synthesized pixel data (a round phantom, shifted per instance so no two are identical).

Every instance gets new Study/Series/SOP Instance UIDs: consecutive instances form series
of ``SERIES_SIZE``, ``SERIES_PER_STUDY`` series form a study, each study has its own patient.
"""

from __future__ import annotations

import json
import math
import random
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import UID

from shared.dicom.uid import UidFactory

SERIES_SIZE = 100
SERIES_PER_STUDY = 3
LARGE_SIZE = 512
_MANIFEST = "manifest.json"
_MANIFEST_VERSION = 1


@dataclass(frozen=True)
class InstanceSet:
    """A folder of instances: ``files`` are names relative to ``folder``, in sending order."""

    name: str
    folder: Path
    files: tuple[str, ...]
    sizes: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.files)

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes)

    def chunks(self, parts: int) -> list[tuple[str, ...]]:
        """Split the files into ``parts`` contiguous, nearly equal chunks (none empty)."""
        parts = max(1, min(parts, self.count))
        base, extra = divmod(self.count, parts)
        out: list[tuple[str, ...]] = []
        start = 0
        for i in range(parts):
            end = start + base + (1 if i < extra else 0)
            out.append(self.files[start:end])
            start = end
        return out


def _template() -> Dataset:
    path = get_testdata_file("CT_small.dcm")
    if path is None:
        raise RuntimeError("pydicom's test file CT_small.dcm is missing from this installation")
    return pydicom.dcmread(path)


def _phantom(size: int, pixel_spacing_mm: float) -> bytes:
    """A round water phantom with a bone ring and noise, as signed 16-bit stored values.

    Stored value = HU + 1024 (CT_small's Rescale Intercept is -1024); outside the
    reconstruction circle the Pixel Padding Value -2000 is used.
    """
    rng = random.Random(20261125)
    pixels = array("h", bytes(2 * size * size))
    centre = (size - 1) / 2
    fov_r = size / 2
    body_r = 150.0 / pixel_spacing_mm
    bone_r = 120.0 / pixel_spacing_mm
    for y in range(size):
        dy = y - centre
        row = y * size
        for x in range(size):
            r = math.hypot(x - centre, dy)
            if r > fov_r:
                value = -2000
            elif r > body_r:
                value = 24 + rng.randint(-20, 20)  # air, -1000 HU
            elif r > bone_r:
                value = 2024 + rng.randint(-60, 60)  # bone, +1000 HU
            else:
                value = 1064 + rng.randint(-30, 30)  # soft tissue, +40 HU
            pixels[row + x] = value
    if pixels.itemsize != 2:
        raise RuntimeError("array('h') is not 16-bit on this platform")
    return pixels.tobytes()  # little-endian on every platform this runs on


def _write_set(
    name: str,
    folder: Path,
    count: int,
    ds: Dataset,
    pixel_data: Callable[[int], bytes] | None,
) -> InstanceSet:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.dcm"):
        old.unlink()
    uids = UidFactory()
    files: list[str] = []
    sizes: list[int] = []
    for i in range(count):
        series_index, number_in_series = divmod(i, SERIES_SIZE)
        study_index = series_index // SERIES_PER_STUDY
        if number_in_series == 0:
            if series_index % SERIES_PER_STUDY == 0:
                ds.StudyInstanceUID = uids.new()
                ds.FrameOfReferenceUID = uids.new()
                ds.StudyID = f"{study_index + 1}"
                ds.AccessionNumber = f"BENCH{name[0].upper()}{study_index + 1:06d}"
                ds.PatientID = f"BENCH-{name}-{study_index + 1:05d}"
                ds.PatientName = f"Bench^{name.capitalize()}{study_index + 1:05d}"
            ds.SeriesInstanceUID = uids.new()
            ds.SeriesNumber = series_index % SERIES_PER_STUDY + 1
        sop_uid = UID(uids.new())
        ds.SOPInstanceUID = sop_uid
        ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
        ds.InstanceNumber = number_in_series + 1
        if pixel_data is not None:
            ds.PixelData = pixel_data(i)
        filename = f"{name[0]}{i + 1:06d}.dcm"
        path = folder / filename
        ds.save_as(path, enforce_file_format=True)
        files.append(filename)
        sizes.append(path.stat().st_size)
    manifest = {"version": _MANIFEST_VERSION, "name": name, "files": files, "sizes": sizes}
    (folder / _MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return InstanceSet(name, folder, tuple(files), tuple(sizes))


def _load_existing(name: str, folder: Path, count: int) -> InstanceSet | None:
    try:
        manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("version") != _MANIFEST_VERSION or len(manifest.get("files", ())) != count:
        return None
    files = tuple(str(f) for f in manifest["files"])
    sizes = tuple(int(s) for s in manifest["sizes"])
    for f, s in zip(files, sizes, strict=True):
        p = folder / f
        if not p.is_file() or p.stat().st_size != s:
            return None
    return InstanceSet(name, folder, files, sizes)


def small_set(folder: Path, count: int) -> InstanceSet:
    """``count`` copies of CT_small.dcm (~39 KB each) with new UIDs, in ``folder``."""
    existing = _load_existing("small", folder, count)
    if existing is not None:
        return existing
    return _write_set("small", folder, count, _template(), None)


def large_set(folder: Path, count: int) -> InstanceSet:
    """``count`` 512x512 16-bit uncompressed CTs (~0.5 MB each) with new UIDs, in ``folder``."""
    existing = _load_existing("large", folder, count)
    if existing is not None:
        return existing
    ds = _template()
    scale = ds.Rows / LARGE_SIZE
    spacing = float(ds.PixelSpacing[0]) * scale
    ds.Rows = LARGE_SIZE
    ds.Columns = LARGE_SIZE
    ds.PixelSpacing = [f"{spacing:.6f}", f"{spacing:.6f}"]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.ImageComments = "Synthetic 512x512 benchmark image"
    base = _phantom(LARGE_SIZE, spacing)
    row_bytes = 2 * LARGE_SIZE

    def pixel_data(i: int) -> bytes:
        # Shift the phantom by whole rows so every instance has different pixel data.
        offset = (i % LARGE_SIZE) * row_bytes
        return base[offset:] + base[:offset]

    return _write_set("large", folder, count, ds, pixel_data)
