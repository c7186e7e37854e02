"""DICOMweb: STOW-RS into the hub's archive, for edge gateways and 信息科, and WADO-RS
retrieve from it, for the people who may read the archive.

``POST /dicomweb/studies`` and ``POST /dicomweb/studies/{study_uid}`` take
``multipart/related; type="application/dicom"`` (PS3.18 §10.5) and answer DICOM JSON:
200 all stored, 202 some failed, 409 all failed; 400 malformed body, 413 too large,
415 another media type.

``GET /dicomweb/studies/{study}``, ``…/series/{series}`` and
``…/series/{series}/instances/{sop}`` (PS3.18 §10.4) answer
``multipart/related; type="application/dicom"`` with the instances as stored (the
RetrieveURLs of STOW's answer); 404 unknown (or another campus's) study, series or
instance, 406 an ``Accept`` the hub cannot honour. Each retrieve is audited.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import AnyHttpUrl
from starlette.concurrency import run_in_threadpool

from hub.api.deps import ContextDep, Principal, RequireRoles, RequireRolesOrDevice, SessionDep
from hub.context import HubContext
from hub.models.base import utcnow
from hub.models.people import Device
from hub.security.roles import ARCHIVE_READERS, Role
from hub.services import audit
from hub.services.archive_files import ArchiveFiles
from hub.services.audit import Actor
from hub.services.stow import (
    DICOM_JSON,
    StowReceiver,
    StowRefused,
    boundary_of,
    stow_answer,
    too_large,
)
from hub.services.stow_store import Uploader, store_parts
from hub.services.wado import find_retrieval
from hub.services.wado_accept import NotAcceptable, acceptable_syntaxes, require_syntaxes
from hub.services.wado_stream import (
    ArchiveFileMissing,
    answer_content_type,
    check_present,
    multipart_body,
    new_boundary,
)

log = logging.getLogger(__name__)

router = APIRouter(prefix="/dicomweb", tags=["dicomweb"])

Caller = Annotated[
    Principal | Device, Depends(RequireRolesOrDevice(roles=[Role.IT_ADMIN], kinds=["edge"]))
]
Reader = Annotated[Principal, Depends(RequireRoles(*ARCHIVE_READERS))]
Accept = Annotated[str | None, Header()]


async def archive_files(request: Request, ctx: ContextDep) -> ArchiveFiles:
    """The process's archive file store (async: made in the event loop, see ``_files``)."""
    return _files(request, ctx)


Files = Annotated[ArchiveFiles, Depends(archive_files)]

_ANSWER = {
    200: {"content": {DICOM_JSON: {}}, "description": "all instances stored"},
    202: {"content": {DICOM_JSON: {}}, "description": "some instances failed"},
    409: {"content": {DICOM_JSON: {}}, "description": "every instance failed"},
}


@router.post("/studies", response_class=Response, responses=_ANSWER)  # type: ignore[arg-type]
async def store_instances(
    request: Request,
    caller: Caller,
    session: SessionDep,
    ctx: ContextDep,
    campus: str | None = None,
) -> Response:
    """Store the instances of the request. ``campus`` (people only): the campus of new
    studies that match no order (default: the person's first campus)."""
    return await _stow(request, caller, session, ctx, None, campus)


@router.post("/studies/{study_uid}", response_class=Response, responses=_ANSWER)  # type: ignore[arg-type]
async def store_study_instances(
    study_uid: str,
    request: Request,
    caller: Caller,
    session: SessionDep,
    ctx: ContextDep,
    campus: str | None = None,
) -> Response:
    """As ``POST /studies``; instances of another study fail (0xA900)."""
    return await _stow(request, caller, session, ctx, study_uid, campus)


async def _stow(
    request: Request,
    caller: Principal | Device,
    session: SessionDep,
    ctx: HubContext,
    study_uid: str | None,
    campus: str | None,
) -> Response:
    uploader = _uploader(caller, campus)
    await run_in_threadpool(session.close)  # hold no connection while receiving
    max_bytes = ctx.settings.stow_max_bytes
    try:
        boundary = boundary_of(request.headers.get("content-type"))
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise StowRefused(status.HTTP_413_CONTENT_TOO_LARGE, too_large(max_bytes))
    except StowRefused as exc:
        raise HTTPException(exc.status, exc.detail) from exc
    receiver = StowReceiver(_files(request, ctx), boundary, max_bytes)
    try:
        async for chunk in request.stream():
            receiver.feed(chunk)
        parts = receiver.finish()
    except StowRefused as exc:
        receiver.discard()
        raise HTTPException(exc.status, exc.detail) from exc
    except BaseException:
        receiver.discard()
        raise
    results = await run_in_threadpool(
        lambda: store_parts(
            engine=ctx.engine,
            files=receiver.files,
            parts=parts,
            uploader=uploader,
            study_uid=study_uid,
            now=utcnow(),
        )
    )
    for r in results:
        if r.failure is not None:
            log.warning(
                "STOW from %s: %s failed 0x%04X: %s",
                uploader.source,
                r.sop_uid,
                r.failure,
                r.reason,
            )
    root = _dicomweb_root(request, ctx.settings.public_url)
    code, body = stow_answer(results, base_url=root, study_uid=study_uid)
    return Response(json.dumps(body), status_code=code, media_type=DICOM_JSON)


_RETRIEVED = {
    200: {
        "content": {'multipart/related; type="application/dicom"': {}},
        "description": "the instances as stored, one part each",
    },
    206: {"description": "the instances the hub holds so far; a Warning says how many not"},
    404: {"description": "no such study, series or instance in your campuses"},
    406: {"description": "the Accept header cannot be honoured"},
}


@router.get("/studies/{study_uid}", response_class=StreamingResponse, responses=_RETRIEVED)  # type: ignore[arg-type]
def retrieve_study(
    study_uid: str, reader: Reader, session: SessionDep, files: Files, accept: Accept = None
) -> StreamingResponse:
    """Every instance of the study that the hub holds."""
    return _retrieve(reader, session, files, accept, study_uid)


@router.get(
    "/studies/{study_uid}/series/{series_uid}",
    response_class=StreamingResponse,
    responses=_RETRIEVED,  # type: ignore[arg-type]
)
def retrieve_series(
    study_uid: str,
    series_uid: str,
    reader: Reader,
    session: SessionDep,
    files: Files,
    accept: Accept = None,
) -> StreamingResponse:
    """Every instance of the series that the hub holds."""
    return _retrieve(reader, session, files, accept, study_uid, series_uid)


@router.get(
    "/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}",
    response_class=StreamingResponse,
    responses=_RETRIEVED,  # type: ignore[arg-type]
)
def retrieve_instance(
    study_uid: str,
    series_uid: str,
    sop_uid: str,
    reader: Reader,
    session: SessionDep,
    files: Files,
    accept: Accept = None,
) -> StreamingResponse:
    """The one instance, as a multipart answer of one part."""
    return _retrieve(reader, session, files, accept, study_uid, series_uid, sop_uid)


def _retrieve(
    reader: Principal,
    session: SessionDep,
    files: ArchiveFiles,
    accept: str | None,
    study_uid: str,
    series_uid: str | None = None,
    sop_uid: str | None = None,
) -> StreamingResponse:
    """Negotiate, find (404 via NotFound), check the files are there (500 when one is
    not), audit the read, then stream the files with the session closed."""
    try:
        wanted = acceptable_syntaxes(accept)
    except NotAcceptable as exc:
        raise HTTPException(status.HTTP_406_NOT_ACCEPTABLE, exc.detail) from exc
    found = find_retrieval(
        session=session,
        campuses=reader.user.campus_list,
        study_uid=study_uid,
        series_uid=series_uid,
        sop_uid=sop_uid,
    )
    try:
        require_syntaxes(wanted, (i.transfer_syntax for i in found.instances))
        check_present(files, found.instances)
    except NotAcceptable as exc:
        raise HTTPException(status.HTTP_406_NOT_ACCEPTABLE, exc.detail) from exc
    except ArchiveFileMissing as exc:
        log.error("WADO-RS for %s: %s", reader.user.username, exc)
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, str(exc)) from exc
    audit.record(
        session,
        reader.actor,
        action="read",
        resource="archive_instances",
        resource_id=study_uid,
        patient_id=found.patient_id or None,
        detail={
            "via": "wado-rs",
            "series": series_uid,
            "instance": sop_uid,
            "instances": len(found.instances),
        },
    )
    session.commit()
    session.close()  # hold no connection while streaming
    boundary = new_boundary()
    headers = {}
    if found.not_yet_held:  # PS3.18 §10.4.3: a partial answer is 206 with a Warning
        headers["Warning"] = (
            f'299 pacs-hub "{found.not_yet_held} of '
            f"{found.not_yet_held + len(found.instances)} instances are not at the hub yet: "
            'the campus gateway is still sending them"'
        )
    return StreamingResponse(
        multipart_body(files, found.instances, boundary),
        status_code=status.HTTP_206_PARTIAL_CONTENT if found.not_yet_held else status.HTTP_200_OK,
        media_type=answer_content_type(boundary),
        headers=headers,
    )


def _uploader(caller: Principal | Device, campus: str | None) -> Uploader:
    if isinstance(caller, Device):
        return Uploader(
            actor=Actor(name=caller.device_id, role=f"device:{caller.kind}"),
            source=f"device:{caller.device_id}",
            device_id=caller.device_id,
            campus=caller.campus,
            campuses=frozenset({caller.campus}),
        )
    campuses = caller.user.campus_list
    if campus is not None:
        caller.require_campus(campus)
    return Uploader(
        actor=caller.actor,
        source=f"user:{caller.user.username}",
        device_id=None,
        campus=campus or campuses[0],
        campuses=frozenset(campuses),
    )


def _files(request: Request, ctx: HubContext) -> ArchiveFiles:
    """The process's file store (made on first use; this runs in the event loop, so
    there is no race between two first requests)."""
    files = getattr(request.app.state, "archive_files", None)
    if not isinstance(files, ArchiveFiles):
        files = ArchiveFiles(ctx.settings.archive_dir)
        request.app.state.archive_files = files
    return files


def _dicomweb_root(request: Request, public_url: AnyHttpUrl | None) -> str:
    """``http://host/api/v1/dicomweb``: under the configured public address, else as the
    caller reached it."""
    if public_url is None:
        url = str(request.url.replace(query="", fragment=""))
    else:
        url = str(public_url).rstrip("/") + request.url.path
    return url[: url.rindex("/studies")]
