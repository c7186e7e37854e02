"""Indexing received instances: patient / study / series / instance rows, counters,
and the outbox rows for every new study and instance, in one transaction.

The C-STORE handler calls :meth:`InstanceIndex.ingest` with the received file; it
returns only after the file is durably in the archive and the index is committed.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import zlib
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from edge_gateway.store.archive import Archive, sha256_file
from edge_gateway.store.outbox import INSERT_SQL, event_row, sqlite_timestamp
from edge_gateway.store.writer_lock import WriterLock
from shared.dicom.instance import STUDY_FIELDS, InstanceMeta

log = logging.getLogger(__name__)

_STRIPES = 64
_KEY_CACHE_SIZE = 50_000


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
    a time for the database, and instances with the same SOP Instance UID serialised.

    The index is written through one dedicated SQLite connection in SQLite's own SQL:
    this is the hot path of every C-STORE, and statement compilation would cost more
    than the writes themselves.
    """

    def __init__(self, engine: Engine, archive: Archive, writers: WriterLock | None = None) -> None:
        """``writers``: the lock shared with the other worker processes that write this
        index (:mod:`edge_gateway.store.writer_lock`); None when no other process does."""
        self.engine = engine
        self.archive = archive
        self.writers = writers
        self._write_lock = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]
        self._raw = engine.raw_connection()
        db = self._raw.driver_connection
        assert isinstance(db, sqlite3.Connection)
        db.isolation_level = None  # explicit BEGIN / COMMIT below
        self._db: sqlite3.Connection = db
        # Primary keys of recently seen patients, studies and series, so that the
        # instances of one series cost no look-ups. Filled only after a commit;
        # guarded by the write lock. Rows are never deleted or merged yet; the data
        # correction that will do so must clear this cache.
        self._keys: dict[tuple[str, str], int] = {}
        self._pending: dict[tuple[str, str], int] = {}

    def close(self) -> None:
        """Give the writer connection back (the engine is disposed by the caller)."""
        with self._write_lock:
            self._raw.close()
        if self.writers is not None:
            self.writers.close()

    def ingest(
        self,
        source: Path,
        meta: InstanceMeta,
        *,
        source_ae: str,
        synced: Future[None] | None = None,
    ) -> IngestOutcome:
        """Store the complete file ``source`` (a DICOM Part 10 file) as ``meta`` describes.

        Same SOP Instance UID again with identical bytes → IDENTICAL, nothing changes;
        with different bytes → the newer replaces the older, which is moved to
        ``superseded/``. ``synced``: the fsync of ``source`` the caller started with
        ``archive.start_sync`` when the file arrived. Raises ``OSError`` (disk) or
        ``sqlite3.Error``; then nothing has been acknowledged and the caller answers a
        failure status.
        """
        sha = sha256_file(source)
        size = source.stat().st_size
        rel_path = self.archive.relative_path(meta.study_uid, meta.series_uid, meta.sop_uid)
        stripe = self._stripes[zlib.crc32(meta.sop_uid.encode()) % _STRIPES]
        with stripe:
            with self._write_lock:
                existing = self._lookup(meta.sop_uid)
            if existing is not None and existing.sha256 == sha:
                current = self.archive.absolute(existing.rel_path)
                if not current.exists():
                    log.warning("re-placing missing file of indexed instance %s", meta.sop_uid)
                    self.archive.place(source, existing.rel_path, synced)
                return IngestOutcome(IngestResult.IDENTICAL, current, sha, size)
            superseded = None
            if existing is not None:
                superseded = self.archive.move_aside(existing.rel_path, meta.sop_uid)
            final = self.archive.place(source, rel_path, synced)
            with self._write_lock, self.writers or contextlib.nullcontext():
                self._write(meta, rel_path, sha, size, source_ae, existing, superseded)
        result = IngestResult.REPLACED if existing is not None else IngestResult.NEW
        return IngestOutcome(result, final, sha, size, superseded)

    def _write(
        self,
        meta: InstanceMeta,
        rel_path: str,
        sha: str,
        size: int,
        source_ae: str,
        existing: _Existing | None,
        superseded: Path | None,
    ) -> None:
        """One transaction: rows, counters and outbox events; committed (and, with
        ``synchronous=FULL``, on disk) when this returns. Call with the write lock."""
        self._pending.clear()
        cur = self._db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            # The row as it is now: another worker process may have indexed this
            # instance since our look-up.
            existing = self._lookup(meta.sop_uid)
            if existing is not None:
                self._remove_instance(cur, existing)
            self._add_instance(cur, meta, rel_path, sha, size, source_ae)
            if existing is not None:
                cur.execute(
                    INSERT_SQL,
                    event_row(
                        kind="instance.replaced",
                        subject=meta.sop_uid,
                        payload={
                            "sop_uid": meta.sop_uid,
                            "old_sha256": existing.sha256,
                            "new_sha256": sha,
                            "superseded_path": str(superseded) if superseded else None,
                        },
                    ),
                )
            cur.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()
        if len(self._keys) > _KEY_CACHE_SIZE:
            self._keys.clear()
        self._keys.update(self._pending)

    def _lookup(self, sop_uid: str) -> _Existing | None:
        row = self._db.execute(
            "SELECT id, sha256, rel_path, size_bytes, series_pk, study_pk "
            "FROM instance WHERE sop_uid = ?",
            (sop_uid,),
        ).fetchone()
        return _Existing(*row) if row is not None else None

    def _add_instance(
        self,
        cur: sqlite3.Cursor,
        meta: InstanceMeta,
        rel_path: str,
        sha: str,
        size: int,
        source_ae: str,
    ) -> None:
        now = sqlite_timestamp(datetime.now(UTC))
        patient_pk = self._upsert_patient(cur, meta, now)
        study_pk, new_study = self._upsert_study(cur, meta, patient_pk, now)
        series_pk = self._upsert_series(cur, meta, study_pk)
        cur.execute(
            "INSERT INTO instance (sop_uid, series_pk, study_pk, sop_class_uid, "
            "instance_number, transfer_syntax, rel_path, size_bytes, sha256, received_at, "
            "source_ae) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                meta.sop_uid,
                series_pk,
                study_pk,
                meta.sop_class_uid,
                meta.instance_number,
                meta.transfer_syntax,
                rel_path,
                size,
                sha,
                now,
                source_ae,
            ),
        )
        cur.execute(
            "UPDATE series SET num_instances = num_instances + 1, size_bytes = size_bytes + ? "
            "WHERE id = ?",
            (size, series_pk),
        )
        cur.execute(
            "UPDATE study SET num_instances = num_instances + 1, size_bytes = size_bytes + ?, "
            "updated_at = ? WHERE id = ?",
            (size, now, study_pk),
        )
        body = asdict(meta)
        if new_study:
            cur.execute(
                INSERT_SQL,
                event_row(kind="study.new", subject=meta.study_uid, payload=_study_payload(body)),
            )
        body.update(sha256=sha, size=size, rel_path=rel_path, source_ae=source_ae, received_at=now)
        cur.execute(INSERT_SQL, event_row(kind="instance.new", subject=meta.sop_uid, payload=body))

    def _remove_instance(self, cur: sqlite3.Cursor, existing: _Existing) -> None:
        cur.execute("DELETE FROM instance WHERE id = ?", (existing.id,))
        cur.execute(
            "UPDATE series SET num_instances = num_instances - 1, size_bytes = size_bytes - ? "
            "WHERE id = ?",
            (existing.size_bytes, existing.series_pk),
        )
        cur.execute(
            "UPDATE study SET num_instances = num_instances - 1, size_bytes = size_bytes - ? "
            "WHERE id = ?",
            (existing.size_bytes, existing.study_pk),
        )

    def _upsert_patient(self, cur: sqlite3.Cursor, meta: InstanceMeta, now: str) -> int:
        key = ("patient", f"{meta.patient_id}\x00{meta.patient_name}")
        cached = self._keys.get(key)
        if cached is not None:
            return cached
        values = (
            meta.patient_name,
            meta.name_alpha,
            meta.name_ideo,
            meta.birth_date,
            meta.sex,
            now,
        )
        row = cur.execute(
            "SELECT id, patient_name FROM patient WHERE patient_id = ?", (meta.patient_id,)
        ).fetchone()
        if row is None:
            cur.execute(
                "INSERT INTO patient (patient_name, name_alpha, name_ideo, birth_date, sex, "
                "updated_at, patient_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*values, meta.patient_id),
            )
            pk = _last_id(cur)
        else:
            pk = int(row[0])
            if meta.patient_name and row[1] != meta.patient_name:
                log.warning(
                    "patient %s: name in new instance differs from the index; keeping the newer",
                    meta.patient_id,
                )
                cur.execute(
                    "UPDATE patient SET patient_name = ?, name_alpha = ?, name_ideo = ?, "
                    "birth_date = ?, sex = ?, updated_at = ? WHERE id = ?",
                    (*values, pk),
                )
        self._pending[key] = pk
        return pk

    def _upsert_study(
        self, cur: sqlite3.Cursor, meta: InstanceMeta, patient_pk: int, now: str
    ) -> tuple[int, bool]:
        key = ("study", meta.study_uid)
        cached = self._keys.get(key)
        if cached is not None:
            return cached, False
        row = cur.execute("SELECT id FROM study WHERE study_uid = ?", (meta.study_uid,)).fetchone()
        new = row is None
        if row is None:
            cur.execute(
                "INSERT INTO study (study_uid, patient_pk, study_date, study_time, accession, "
                "study_id, description, referring_physician, modalities, num_series, "
                "num_instances, size_bytes, received_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', 0, 0, 0, ?, ?)",
                (
                    meta.study_uid,
                    patient_pk,
                    meta.study_date,
                    meta.study_time,
                    meta.accession,
                    meta.study_id,
                    meta.study_description,
                    meta.referring_physician,
                    now,
                    now,
                ),
            )
            pk = _last_id(cur)
        else:
            pk = int(row[0])
        self._pending[key] = pk
        return pk, new

    def _upsert_series(self, cur: sqlite3.Cursor, meta: InstanceMeta, study_pk: int) -> int:
        key = ("series", meta.series_uid)
        cached = self._keys.get(key)
        if cached is not None:
            return cached
        row = cur.execute(
            "SELECT id FROM series WHERE series_uid = ?", (meta.series_uid,)
        ).fetchone()
        if row is not None:
            pk = int(row[0])
        else:
            cur.execute(
                "INSERT INTO series (series_uid, study_pk, modality, series_number, "
                "description, body_part, num_instances, size_bytes) "
                "VALUES (?, ?, ?, ?, ?, ?, 0, 0)",
                (
                    meta.series_uid,
                    study_pk,
                    meta.modality,
                    meta.series_number,
                    meta.series_description,
                    meta.body_part,
                ),
            )
            pk = _last_id(cur)
            (modalities,) = cur.execute(
                "SELECT modalities FROM study WHERE id = ?", (study_pk,)
            ).fetchone()
            listed = [m for m in str(modalities).split("\\") if m]
            if meta.modality and meta.modality not in listed:
                listed.append(meta.modality)
            cur.execute(
                "UPDATE study SET num_series = num_series + 1, modalities = ? WHERE id = ?",
                ("\\".join(listed), study_pk),
            )
        self._pending[key] = pk
        return pk


@dataclass(frozen=True)
class _Existing:
    """The index row of an instance already archived."""

    id: int
    sha256: str
    rel_path: str
    size_bytes: int
    series_pk: int
    study_pk: int


def _last_id(cur: sqlite3.Cursor) -> int:
    assert cur.lastrowid is not None
    return int(cur.lastrowid)


def _study_payload(meta: dict[str, Any]) -> dict[str, Any]:
    """The ``study.new`` payload: the study's UID and its study-level fields."""
    return {k: meta[k] for k in ("study_uid", *STUDY_FIELDS)}
