"""Indexing received instances: patient / study / series / instance rows, counters,
and the outbox rows for every new study and instance, in one transaction.

The C-STORE handler calls :meth:`InstanceIndex.ingest` with the received file; it
returns only after the file is durably in the archive and the index is committed.
"""

from __future__ import annotations

import logging
import threading
import zlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, insert, select, update

from edge_gateway.store.archive import Archive, sha256_file
from edge_gateway.store.models import Instance, Patient, Series, Study
from edge_gateway.store.outbox import add_event

log = logging.getLogger(__name__)

_PATIENT = Patient.__table__  # type: ignore[attr-defined]
_STUDY = Study.__table__  # type: ignore[attr-defined]
_SERIES = Series.__table__  # type: ignore[attr-defined]
_INSTANCE = Instance.__table__  # type: ignore[attr-defined]

_STRIPES = 64
_KEY_CACHE_SIZE = 50_000


@dataclass(frozen=True)
class InstanceMeta:
    """What the index keeps of one instance, decoded to Unicode."""

    sop_uid: str
    sop_class_uid: str
    study_uid: str
    series_uid: str
    transfer_syntax: str
    patient_id: str = ""
    patient_name: str = ""
    name_alpha: str = ""
    name_ideo: str = ""
    birth_date: str = ""
    sex: str = ""
    study_date: str = ""
    study_time: str = ""
    accession: str = ""
    study_id: str = ""
    study_description: str = ""
    referring_physician: str = ""
    modality: str = ""
    series_number: int | None = None
    series_description: str = ""
    body_part: str = ""
    instance_number: int | None = None


class IngestResult(StrEnum):
    NEW = "new"
    IDENTICAL = "identical"
    REPLACED = "replaced"


@dataclass(frozen=True)
class IngestOutcome:
    result: IngestResult
    path: Path
    sha256: str
    size: int
    superseded: Path | None = None


class InstanceIndex:
    """Puts received files into the archive and the index. Thread-safe: one writer at
    a time for the database, and instances with the same SOP Instance UID serialised."""

    def __init__(self, engine: Engine, archive: Archive) -> None:
        self.engine = engine
        self.archive = archive
        self._write_lock = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]
        # Primary keys of recently seen patients, studies and series, so that the
        # instances of one series cost no look-ups. Filled only after a commit;
        # guarded by the write lock. Anything that deletes or merges these rows
        # must call ``forget_cached_keys``.
        self._keys: dict[tuple[str, str], int] = {}
        self._pending: dict[tuple[str, str], int] = {}

    def ingest(self, source: Path, meta: InstanceMeta, *, source_ae: str) -> IngestOutcome:
        """Store the complete file ``source`` (a DICOM Part 10 file) as ``meta`` describes.

        Same SOP Instance UID again with identical bytes → IDENTICAL, nothing changes;
        with different bytes → the newer replaces the older, which is moved to
        ``superseded/``. Raises ``OSError`` (disk) or a database error; then nothing
        has been acknowledged and the caller answers a failure status.
        """
        sha = sha256_file(source)
        size = source.stat().st_size
        rel_path = self.archive.relative_path(meta.study_uid, meta.series_uid, meta.sop_uid)
        stripe = self._stripes[zlib.crc32(meta.sop_uid.encode()) % _STRIPES]
        with stripe:
            existing = self._lookup(meta.sop_uid)
            if existing is not None and existing["sha256"] == sha:
                current = self.archive.absolute(existing["rel_path"])
                if not current.exists():
                    log.warning("re-placing missing file of indexed instance %s", meta.sop_uid)
                    self.archive.place(source, existing["rel_path"])
                return IngestOutcome(IngestResult.IDENTICAL, current, sha, size)
            superseded = None
            if existing is not None:
                superseded = self.archive.move_aside(existing["rel_path"], meta.sop_uid)
            final = self.archive.place(source, rel_path)
            now = datetime.now(UTC)
            with self._write_lock:
                self._pending.clear()
                with self.engine.begin() as conn:
                    if existing is not None:
                        self._remove_instance(conn, existing)
                    self._add_instance(conn, meta, rel_path, sha, size, source_ae, now)
                    if existing is not None:
                        add_event(
                            conn,
                            kind="instance.replaced",
                            subject=meta.sop_uid,
                            payload={
                                "sop_uid": meta.sop_uid,
                                "old_sha256": existing["sha256"],
                                "new_sha256": sha,
                                "superseded_path": str(superseded) if superseded else None,
                            },
                        )
                self._remember(self._pending)
        result = IngestResult.REPLACED if existing is not None else IngestResult.NEW
        return IngestOutcome(result, final, sha, size, superseded)

    def forget_cached_keys(self) -> None:
        """Drop the key cache (after rows were deleted or merged elsewhere)."""
        with self._write_lock:
            self._keys.clear()

    def _remember(self, keys: dict[tuple[str, str], int]) -> None:
        if len(self._keys) > _KEY_CACHE_SIZE:
            self._keys.clear()
        self._keys.update(keys)

    def _cached(self, kind: str, key: str) -> int | None:
        return self._keys.get((kind, key))

    def _lookup(self, sop_uid: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(
                        _INSTANCE.c.id,
                        _INSTANCE.c.sha256,
                        _INSTANCE.c.rel_path,
                        _INSTANCE.c.size_bytes,
                        _INSTANCE.c.series_pk,
                        _INSTANCE.c.study_pk,
                    ).where(_INSTANCE.c.sop_uid == sop_uid)
                )
                .mappings()
                .first()
            )
        return dict(row) if row is not None else None

    def _add_instance(
        self,
        conn: Connection,
        meta: InstanceMeta,
        rel_path: str,
        sha: str,
        size: int,
        source_ae: str,
        now: datetime,
    ) -> None:
        patient_pk = self._upsert_patient(conn, meta, now)
        study_pk, new_study = self._upsert_study(conn, meta, patient_pk, now)
        series_pk = self._upsert_series(conn, meta, study_pk, now)
        conn.execute(
            insert(_INSTANCE).values(
                sop_uid=meta.sop_uid,
                series_pk=series_pk,
                study_pk=study_pk,
                sop_class_uid=meta.sop_class_uid,
                instance_number=meta.instance_number,
                transfer_syntax=meta.transfer_syntax,
                rel_path=rel_path,
                size_bytes=size,
                sha256=sha,
                received_at=now,
                source_ae=source_ae,
            )
        )
        conn.execute(
            update(_SERIES)
            .where(_SERIES.c.id == series_pk)
            .values(
                num_instances=_SERIES.c.num_instances + 1,
                size_bytes=_SERIES.c.size_bytes + size,
            )
        )
        conn.execute(
            update(_STUDY)
            .where(_STUDY.c.id == study_pk)
            .values(
                num_instances=_STUDY.c.num_instances + 1,
                size_bytes=_STUDY.c.size_bytes + size,
                updated_at=now,
            )
        )
        body = asdict(meta)
        if new_study:
            add_event(conn, kind="study.new", subject=meta.study_uid, payload=_study_payload(body))
        body.update(
            sha256=sha,
            size=size,
            rel_path=rel_path,
            source_ae=source_ae,
            received_at=now.isoformat(),
        )
        add_event(conn, kind="instance.new", subject=meta.sop_uid, payload=body)

    def _remove_instance(self, conn: Connection, existing: dict[str, Any]) -> None:
        size = int(existing["size_bytes"])
        conn.execute(_INSTANCE.delete().where(_INSTANCE.c.id == existing["id"]))
        conn.execute(
            update(_SERIES)
            .where(_SERIES.c.id == existing["series_pk"])
            .values(
                num_instances=_SERIES.c.num_instances - 1,
                size_bytes=_SERIES.c.size_bytes - size,
            )
        )
        conn.execute(
            update(_STUDY)
            .where(_STUDY.c.id == existing["study_pk"])
            .values(
                num_instances=_STUDY.c.num_instances - 1,
                size_bytes=_STUDY.c.size_bytes - size,
            )
        )

    def _upsert_patient(self, conn: Connection, meta: InstanceMeta, now: datetime) -> int:
        cached = self._cached("patient", f"{meta.patient_id}\x00{meta.patient_name}")
        if cached is not None:
            return cached
        pk = self._write_patient(conn, meta, now)
        self._pending[("patient", f"{meta.patient_id}\x00{meta.patient_name}")] = pk
        return pk

    def _write_patient(self, conn: Connection, meta: InstanceMeta, now: datetime) -> int:
        row = conn.execute(
            select(_PATIENT.c.id, _PATIENT.c.patient_name).where(
                _PATIENT.c.patient_id == meta.patient_id
            )
        ).first()
        values = {
            "patient_name": meta.patient_name,
            "name_alpha": meta.name_alpha,
            "name_ideo": meta.name_ideo,
            "birth_date": meta.birth_date,
            "sex": meta.sex,
            "updated_at": now,
        }
        if row is None:
            result = conn.execute(insert(_PATIENT).values(patient_id=meta.patient_id, **values))
            return _pk(result)
        if meta.patient_name and row.patient_name != meta.patient_name:
            log.warning(
                "patient %s: name in new instance differs from the index; keeping the newer",
                meta.patient_id,
            )
            conn.execute(update(_PATIENT).where(_PATIENT.c.id == row.id).values(**values))
        return int(row.id)

    def _upsert_study(
        self, conn: Connection, meta: InstanceMeta, patient_pk: int, now: datetime
    ) -> tuple[int, bool]:
        cached = self._cached("study", meta.study_uid)
        if cached is not None:
            return cached, False
        row = conn.execute(select(_STUDY.c.id).where(_STUDY.c.study_uid == meta.study_uid)).first()
        if row is not None:
            self._pending[("study", meta.study_uid)] = int(row.id)
            return int(row.id), False
        result = conn.execute(
            insert(_STUDY).values(
                study_uid=meta.study_uid,
                patient_pk=patient_pk,
                study_date=meta.study_date,
                study_time=meta.study_time,
                accession=meta.accession,
                study_id=meta.study_id,
                description=meta.study_description,
                referring_physician=meta.referring_physician,
                modalities="",
                received_at=now,
                updated_at=now,
            )
        )
        pk = _pk(result)
        self._pending[("study", meta.study_uid)] = pk
        return pk, True

    def _upsert_series(
        self, conn: Connection, meta: InstanceMeta, study_pk: int, now: datetime
    ) -> int:
        cached = self._cached("series", meta.series_uid)
        if cached is not None:
            return cached
        row = conn.execute(
            select(_SERIES.c.id).where(_SERIES.c.series_uid == meta.series_uid)
        ).first()
        if row is not None:
            self._pending[("series", meta.series_uid)] = int(row.id)
            return int(row.id)
        result = conn.execute(
            insert(_SERIES).values(
                series_uid=meta.series_uid,
                study_pk=study_pk,
                modality=meta.modality,
                series_number=meta.series_number,
                description=meta.series_description,
                body_part=meta.body_part,
            )
        )
        study = conn.execute(select(_STUDY.c.modalities).where(_STUDY.c.id == study_pk)).one()
        modalities = [m for m in study.modalities.split("\\") if m]
        if meta.modality and meta.modality not in modalities:
            modalities.append(meta.modality)
        conn.execute(
            update(_STUDY)
            .where(_STUDY.c.id == study_pk)
            .values(num_series=_STUDY.c.num_series + 1, modalities="\\".join(modalities))
        )
        pk = _pk(result)
        self._pending[("series", meta.series_uid)] = pk
        return pk


def _study_payload(meta: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "study_uid",
        "patient_id",
        "patient_name",
        "birth_date",
        "sex",
        "study_date",
        "study_time",
        "accession",
        "study_id",
        "study_description",
        "referring_physician",
    )
    return {k: meta[k] for k in keys}


def _pk(result: CursorResult[Any]) -> int:
    """The primary key of the row an INSERT just made."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])
