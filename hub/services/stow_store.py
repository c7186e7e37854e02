"""Storing the parts of a STOW-RS request (a worker thread): check each part (its
digest, its header, its UIDs), put its file in place and commit the index, so an
instance is listed as stored only once it is durable on disk and indexed.

Parts are stored in batches of distinct SOP Instance UIDs, each batch under the file
store's stripe locks and in one transaction; when that transaction fails, each
instance is tried alone, and one that still fails is reported 0xA700.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from hub.models.archive import ArchiveInstance, InstanceState
from hub.services import audit
from hub.services.archive import (
    Held,
    HeldInstance,
    apply_deltas,
    current_instances,
    ensure_series,
    ensure_studies,
    order_campuses,
    record_held,
)
from hub.services.archive_files import ArchiveFiles
from hub.services.dicom_header import UnreadablePart, read_meta
from hub.services.multipart import content_type_params
from hub.services.stow import (
    CANNOT_UNDERSTAND,
    DICOM,
    DIGEST_MISMATCH,
    OUT_OF_RESOURCES,
    STUDY_MISMATCH,
    PartResult,
    ReceivedPart,
)
from shared.dicom.instance import InstanceMeta
from shared.durable import fsync_dirs, fsync_path, is_safe_uid

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Uploader:
    """Who sends: an edge device (``device_id`` set, its campus) or a person."""

    actor: audit.Actor
    source: str
    device_id: str | None
    campus: str
    """Campus of new studies that match no order (of ``campuses``)."""
    campuses: frozenset[str]


@dataclass
class _Candidate:
    part: ReceivedPart
    meta: InstanceMeta
    result: PartResult
    placed: tuple[str, Path | None] | None = field(default=None)


def store_parts(
    *,
    engine: Engine,
    files: ArchiveFiles,
    parts: list[ReceivedPart],
    uploader: Uploader,
    study_uid: str | None,
    now: datetime,
) -> list[PartResult]:
    """Check and store every part; one result per part, in order. Temp files are gone
    afterwards. Blocking: run it in a worker thread."""
    results: list[PartResult] = []
    candidates: list[_Candidate] = []
    try:
        for part in parts:
            result = PartResult()
            results.append(result)
            meta = check_part(part, result, study_uid)
            if meta is not None:
                candidates.append(_Candidate(part, meta, result))
        for batch in _rounds(candidates):
            _store_round(engine, files, batch, uploader, now)
    finally:
        for part in parts:
            part.file.discard()
    return results


def check_part(
    part: ReceivedPart, result: PartResult, study_uid: str | None
) -> InstanceMeta | None:
    """Read the part's header into ``result``; the instance's metadata when it may be
    stored, else None with ``result`` failed."""
    media, _ = content_type_params(part.headers.get("content-type", DICOM))
    meta: InstanceMeta | None = None
    reason = ""
    if media != DICOM:
        reason = f"part is {media}, not {DICOM}"
    else:
        try:
            meta = read_meta(part.file.path)
        except UnreadablePart as exc:
            reason = str(exc)
    if meta is not None:
        result.sop_class_uid, result.sop_uid = meta.sop_class_uid, meta.sop_uid
        result.study_uid, result.series_uid = meta.study_uid, meta.series_uid
    else:
        # Unreadable: the sender may still name the instance in the part's Content-ID
        # (``<SOP Instance UID>``), so its failure can be told apart in the answer.
        named = part.headers.get("content-id", "").strip().strip("<>")
        if is_safe_uid(named):
            result.sop_uid = named
    digest_problem = check_digest(part)
    if digest_problem:
        result.fail(DIGEST_MISMATCH, digest_problem)
    elif meta is None:
        result.fail(CANNOT_UNDERSTAND, reason)
    elif study_uid is not None and meta.study_uid != study_uid:
        result.fail(STUDY_MISMATCH, f"instance of study {meta.study_uid}, not {study_uid}")
    else:
        return meta
    return None


def check_digest(part: ReceivedPart) -> str:
    """Why the part's bytes do not match its ``Content-Digest: sha-256=:…:`` ("" when
    they do or the part declares no sha-256 digest)."""
    header = part.headers.get("content-digest")
    if not header:
        return ""
    for member in header.split(","):
        name, _, value = member.strip().partition("=")
        if name.strip().lower() != "sha-256":
            continue
        value = value.strip()
        if len(value) < 2 or value[0] != ":" or value[-1] != ":":
            return "Content-Digest sha-256 value is not :base64:"
        try:
            declared = base64.b64decode(value[1:-1], validate=True)
        except (binascii.Error, ValueError):
            return "Content-Digest sha-256 value is not base64"
        if declared != part.file.digest:
            return "bytes received differ from their Content-Digest (damaged on the way)"
        return ""
    return ""


def _rounds(candidates: list[_Candidate]) -> list[list[_Candidate]]:
    """Split into batches of distinct SOP Instance UIDs (a repeat within one request is
    stored after the earlier one, and replaces it when its bytes differ)."""
    rounds: list[list[_Candidate]] = []
    seen: list[set[str]] = []
    for c in candidates:
        i = next((n for n, uids in enumerate(seen) if c.meta.sop_uid not in uids), len(rounds))
        if i == len(rounds):
            rounds.append([])
            seen.append(set())
        rounds[i].append(c)
        seen[i].add(c.meta.sop_uid)
    return rounds


def _store_round(
    engine: Engine,
    files: ArchiveFiles,
    batch: list[_Candidate],
    uploader: Uploader,
    now: datetime,
) -> None:
    """Store ``batch`` in one transaction; when that fails, one transaction each (a
    concurrent writer of the same instance, a database or disk hiccup), failing with
    0xA700 the instances that still cannot be stored."""
    stripes = sorted({files.stripe_of(c.meta.sop_uid) for c in batch})
    with contextlib.ExitStack() as stack:
        for stripe in stripes:
            stack.enter_context(files.lock(stripe))
        try:
            _store_together(engine, files, batch, uploader, now)
            return
        except (SQLAlchemyError, OSError) as exc:
            log.warning(
                "STOW: storing %d instances together failed (%s); one by one", len(batch), exc
            )
        for c in batch:
            if c.result.failure is not None:
                continue
            try:
                _store_together(engine, files, [c], uploader, now)
            except (SQLAlchemyError, OSError) as exc:
                log.error("STOW: cannot store %s: %s", c.meta.sop_uid, exc)
                c.result.fail(OUT_OF_RESOURCES, "archive unavailable, retry later")


def _store_together(
    engine: Engine,
    files: ArchiveFiles,
    batch: list[_Candidate],
    uploader: Uploader,
    now: datetime,
) -> None:
    """Place the files of ``batch``, fsync their folders, then commit their index rows.
    On a database error every placed file is put back (``undo``) and the error raised."""
    live = [c for c in batch if c.result.failure is None]
    metas = [c.meta for c in live]
    placed: list[_Candidate] = []
    with Session(engine) as session:
        try:
            previous = current_instances(session, [m.sop_uid for m in metas])
            by_study = _campus_by_study(session, metas, uploader)
            studies = ensure_studies(
                session, metas, campus=uploader.campus, campus_by_study=by_study, now=now
            )
            series = ensure_series(session, metas, studies)
            items: list[HeldInstance] = []
            for c in live:
                prev = previous.get(c.meta.sop_uid)
                if _same_file_held(files, prev, c.part.file.sha256):
                    c.result.outcome = "identical"
                    continue
                rel_path = _place(files, c, prev.rel_path if prev and prev.rel_path else None)
                if rel_path is None:
                    continue
                placed.append(c)
                study = studies[c.meta.study_uid]
                held = Held(
                    sha256=c.part.file.sha256,
                    size=c.part.file.size,
                    rel_path=rel_path,
                    campus=uploader.campus if uploader.device_id else study.campus,
                    source=uploader.source,
                    source_device=uploader.device_id,
                )
                items.append(HeldInstance(c.meta, held, study.pk, series[c.meta.series_uid], prev))
                c.result.outcome = "replaced" if prev is not None and prev.sha256 else "new"
            fsync_dirs(files.absolute(c.placed[0]).parent for c in placed if c.placed)
            apply_deltas(session, record_held(session, items, now=now), now=now)
            _audit(session, uploader, placed)
            session.commit()
        except BaseException:
            session.rollback()
            for c in reversed(placed):
                if c.placed is not None:
                    files.undo(c.placed[0], c.placed[1], back_to=c.part.file.path)
                    c.placed = None
                c.result.outcome = ""
            raise


def _same_file_held(files: ArchiveFiles, prev: ArchiveInstance | None, sha256: str) -> bool:
    """True when the index holds these very bytes and the file is there."""
    return (
        prev is not None
        and prev.state == InstanceState.HELD.value
        and prev.sha256 == sha256
        and files.absolute(prev.rel_path).exists()
    )


def _place(files: ArchiveFiles, c: _Candidate, old_rel_path: str | None) -> str | None:
    """Put the candidate's file at its archive path (the older file, if any, moved to
    ``superseded/``; the folder is fsynced by the caller). Its path, or None with the
    result failed when the disk refuses."""
    rel_path = files.relative_path(c.meta.study_uid, c.meta.series_uid, c.meta.sop_uid)
    superseded = None
    try:
        fsync_path(c.part.file.path)
        if old_rel_path is not None:
            superseded = files.move_aside(old_rel_path, c.meta.sop_uid)
        files.place(c.part.file.path, rel_path, sync_dir=False)
    except OSError as exc:
        log.error("STOW: cannot store %s: %s", c.meta.sop_uid, exc)
        if superseded is not None and old_rel_path is not None:
            with contextlib.suppress(OSError):
                files.undo(old_rel_path, superseded, back_to=c.part.file.path)
        c.result.fail(OUT_OF_RESOURCES, f"cannot write the archive file: {exc.strerror}")
        return None
    c.placed = (rel_path, superseded)
    return rel_path


def _campus_by_study(
    session: Session, metas: list[InstanceMeta], uploader: Uploader
) -> dict[str, str]:
    """For a person's upload: new studies take the campus of their order (when the
    person works there); an edge's studies are always its own campus."""
    if uploader.device_id is not None:
        return {}
    campuses = order_campuses(session, [m.accession for m in metas])
    return {
        m.study_uid: campuses[m.accession]
        for m in metas
        if campuses.get(m.accession) in uploader.campuses
    }


def _audit(session: Session, uploader: Uploader, placed: list[_Candidate]) -> None:
    """One record per study (and patient) that received instances."""
    per_study: dict[str, tuple[str, int]] = {}
    for c in placed:
        patient, count = per_study.get(c.meta.study_uid, (c.meta.patient_id, 0))
        per_study[c.meta.study_uid] = (patient, count + 1)
    for study_uid, (patient_id, count) in per_study.items():
        audit.record(
            session,
            uploader.actor,
            action="create",
            resource="archive_instances",
            resource_id=study_uid,
            patient_id=patient_id or None,
            detail={"instances": count, "via": "stow-rs"},
        )
