"""STOW-RS (DICOM PS3.18 §10.5): receiving a ``multipart/related;
type="application/dicom"`` request and storing its instances in the hub's archive.

Receiving (:class:`StowReceiver`, in the event loop) streams each part into a temp
file under ``archive/tmp``, hashing it on the way. Storing
(``hub.services.stow_store.store_parts``, in a worker thread) checks each part, puts
its file in place (fsync, rename, fsync of the directory) and commits the index; only
then is the instance reported as stored. :func:`stow_answer` builds the DICOM JSON
answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.services.archive_files import ArchiveFiles, TempFile
from hub.services.multipart import MultipartError, MultipartParser, content_type_params
from shared.dicom.status import (
    PROCESSING_FAILURE,
    STORE_CANNOT_UNDERSTAND,
    STORE_DATASET_MISMATCH,
    STORE_OUT_OF_RESOURCES,
)

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"

# Failure Reasons (0008,1197) of the FailedSOPSequence, named after PS3.4 B.2.3 statuses:
CANNOT_UNDERSTAND = STORE_CANNOT_UNDERSTAND
"""0xC000: the part is not a DICOM object the hub can read, or lacks its SOP Class,
SOP Instance, Study or Series UID. Sending the same bytes again cannot help."""
OUT_OF_RESOURCES = STORE_OUT_OF_RESOURCES
"""0xA700: writing the file or its index row failed (disk full, database away). The
object is fine: the sender retries later."""
DIGEST_MISMATCH = PROCESSING_FAILURE
"""0x0110: the bytes received differ from the part's ``Content-Digest`` (or that header
cannot be read). The object was damaged on the way, it is not a bad object: resend it."""
STUDY_MISMATCH = STORE_DATASET_MISMATCH
"""0xA900: ``POST /studies/{uid}`` carried an instance of another study; PS3.18 has
the origin server fail that instance (the data set does not match the request)."""


class StowRefused(Exception):
    """The whole request is refused: HTTP ``status`` with ``detail`` for a person."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def boundary_of(content_type: str | None) -> str:
    """The multipart boundary of a STOW-RS request's Content-Type. Raises
    :class:`StowRefused` 415 for another media type, 400 without a boundary."""
    media, params = content_type_params(content_type or "")
    if media != "multipart/related":
        raise StowRefused(
            415,
            '请以 multipart/related; type="application/dicom" 发送影像 / '
            'send instances as multipart/related; type="application/dicom"',
        )
    if params.get("type", DICOM).lower() != DICOM:
        raise StowRefused(
            415,
            f'只接受 DICOM 文件 (type="{DICOM}") / only type="{DICOM}" is accepted',
        )
    boundary = params.get("boundary", "")
    if not boundary:
        raise StowRefused(400, "multipart 请求缺少 boundary / the request has no boundary")
    return boundary


@dataclass
class ReceivedPart:
    headers: dict[str, str]
    file: TempFile


class StowReceiver:
    """Feed the request body; collects the parts as complete temp files. Raises
    :class:`StowRefused` 413 past ``max_bytes`` and 400 for a malformed body; call
    :meth:`discard` when giving up."""

    def __init__(self, files: ArchiveFiles, boundary: str, max_bytes: int) -> None:
        self.files = files
        self.max_bytes = max_bytes
        self.parts: list[ReceivedPart] = []
        self.received = 0
        self._parser = MultipartParser(boundary, self._begin, self._end)

    def feed(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.max_bytes:
            raise StowRefused(413, too_large(self.max_bytes))
        try:
            self._parser.feed(chunk)
        except MultipartError as exc:
            raise StowRefused(400, f"multipart 格式错误 / malformed multipart body: {exc}") from exc

    def finish(self) -> list[ReceivedPart]:
        try:
            self._parser.close()
        except MultipartError as exc:
            raise StowRefused(400, f"multipart 格式错误 / malformed multipart body: {exc}") from exc
        if not self.parts:
            raise StowRefused(400, "请求中没有影像 / the request holds no instances")
        return self.parts

    def discard(self) -> None:
        for part in self.parts:
            part.file.discard()

    def _begin(self, headers: dict[str, str]) -> TempFile:
        temp = self.files.new_temp()
        self.parts.append(ReceivedPart(headers, temp))
        return temp

    def _end(self, sink: object) -> None:
        assert isinstance(sink, TempFile)
        sink.close(sync=False)  # fsynced by the worker thread before it is placed


def too_large(max_bytes: int) -> str:
    return (
        f"请求超过 {max_bytes // (1024 * 1024)} MB，请分批发送 / "
        f"request larger than {max_bytes} bytes: send fewer instances per request"
    )


@dataclass
class PartResult:
    """What became of one part: stored (``failure`` None; ``outcome`` new, identical or
    replaced) or failed with a Failure Reason and why."""

    sop_class_uid: str = ""
    sop_uid: str = ""
    study_uid: str = ""
    series_uid: str = ""
    failure: int | None = None
    reason: str = ""
    outcome: str = ""

    def fail(self, code: int, reason: str) -> None:
        self.failure, self.reason = code, reason


def stow_answer(
    results: list[PartResult], *, base_url: str, study_uid: str | None
) -> tuple[int, dict[str, object]]:
    """(HTTP status, DICOM JSON body): 200 when every instance was stored, 202 when some
    failed, 409 when all failed. ``base_url`` is the DICOMweb root (…/dicomweb); the
    RetrieveURLs are the hub's WADO-RS routes (``GET …/studies/{study}`` and
    ``…/series/{series}/instances/{sop}``, in ``hub.api.routes.dicomweb``)."""
    stored = [r for r in results if r.failure is None]
    failed = [r for r in results if r.failure is not None]
    body: dict[str, object] = {}
    studies = {r.study_uid for r in stored}
    if study_uid is None and len(studies) == 1:
        study_uid = next(iter(studies))
    if study_uid is not None:
        body["00081190"] = {"vr": "UR", "Value": [f"{base_url}/studies/{study_uid}"]}
    if stored:
        body["00081199"] = {"vr": "SQ", "Value": [_referenced(r, base_url) for r in stored]}
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": [_failed(r) for r in failed]}
    if not failed:
        return 200, body
    return (202 if stored else 409), body


def _ui(value: str) -> dict[str, object]:
    return {"vr": "UI", "Value": [value]} if value else {"vr": "UI"}


def _referenced(r: PartResult, base_url: str) -> dict[str, object]:
    url = f"{base_url}/studies/{r.study_uid}/series/{r.series_uid}/instances/{r.sop_uid}"
    return {
        "00081150": _ui(r.sop_class_uid),
        "00081155": _ui(r.sop_uid),
        "00081190": {"vr": "UR", "Value": [url]},
    }


def _failed(r: PartResult) -> dict[str, object]:
    assert r.failure is not None
    return {
        "00081150": _ui(r.sop_class_uid),
        "00081155": _ui(r.sop_uid),
        "00081197": {"vr": "US", "Value": [r.failure]},
    }
