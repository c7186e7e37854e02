"""C-MOVE and C-GET: send archived instances as they were received (no transcoding)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import build_context, evt
from pynetdicom.presentation import PresentationContext
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from edge_gateway.dicom.activity import ActivityLog, calling_ae
from edge_gateway.dicom.identifiers import matching_keys
from edge_gateway.dicom.transport import handle_conn_open
from edge_gateway.peers import PeerTable, Permission
from edge_gateway.store.archive import Archive
from edge_gateway.store.query import Level, QueryError, StoredInstance, instances_for
from shared.dicom import status

log = logging.getLogger(__name__)

_MAX_CONTEXTS = 128
_MAX_SUBOPS = 65535


class RetrieveFailed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def storage_contexts(instances: list[StoredInstance]) -> list[PresentationContext]:
    """Presentation contexts to offer a destination: one per (SOP class, stored
    transfer syntax); uncompressed data may also go as explicit/implicit VR LE."""
    pairs: dict[tuple[str, str], None] = {}
    for inst in instances:
        pairs.setdefault((inst.sop_class_uid, inst.transfer_syntax), None)
    contexts: list[PresentationContext] = []
    for sop_class, ts in pairs:
        syntaxes = [ts]
        if not UID(ts).is_compressed and not UID(ts).is_deflated:
            syntaxes += [s for s in (ExplicitVRLittleEndian, ImplicitVRLittleEndian) if s != ts]
        contexts.append(build_context(sop_class, syntaxes))
        if len(contexts) == _MAX_CONTEXTS:
            log.warning("more than %d kinds of object to send; some will fail", _MAX_CONTEXTS)
            break
    return contexts


class RetrieveService:
    """Answers C-MOVE (to allow-listed destinations) and C-GET."""

    def __init__(
        self,
        engine: Engine,
        archive: Archive,
        peers: PeerTable,
        activity: ActivityLog,
    ) -> None:
        self.engine = engine
        self.archive = archive
        self.peers = peers
        self.activity = activity

    def _select(self, event: Any, what: str) -> list[StoredInstance]:
        ae = calling_ae(event)
        if not self.peers.allows(ae, Permission.RETRIEVE):
            raise RetrieveFailed(status.NOT_AUTHORIZED, f"{ae} may not retrieve")
        identifier: Dataset = event.identifier
        level_text = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
        try:
            level = Level(level_text)
            found = instances_for(self.engine, level, matching_keys(identifier), _MAX_SUBOPS)
        except ValueError as exc:  # QueryError or a bad level
            reason = str(exc) if isinstance(exc, QueryError) else f"bad level {level_text!r}"
            raise RetrieveFailed(status.RETRIEVE_IDENTIFIER_MISMATCH, reason) from exc
        except SQLAlchemyError as exc:
            raise RetrieveFailed(status.RETRIEVE_UNABLE_TO_PROCESS, f"index error: {exc}") from exc
        log.info("%s from %s: %d instance(s) at %s level", what, ae, len(found), level)
        return found

    def _datasets(
        self, event: Any, instances: list[StoredInstance]
    ) -> Iterator[tuple[int, Dataset | None]]:
        """Each stored file as a data set in its stored transfer syntax; large values
        stay on disk until they are sent (``defer_size``)."""
        for inst in instances:
            if event.is_cancelled:
                return
            path = self.archive.absolute(inst.rel_path)
            try:
                ds = dcmread(path, defer_size="256 KB")
            except (OSError, InvalidDicomError) as exc:
                # skipped: pynetdicom reports it as a failed sub-operation at the end
                log.error("cannot read archived instance %s at %s: %s", inst.sop_uid, path, exc)
                continue
            yield status.PENDING, ds

    def move(self, event: Any) -> Iterator[Any]:
        """C-MOVE generator, as pynetdicom expects: destination, count, then
        (status, data set) per instance. Unknown destination → MOVE_DESTINATION_UNKNOWN."""
        ae = calling_ae(event)
        dest_name = (
            str(event.move_destination, "ascii", "replace")
            if isinstance(event.move_destination, bytes)
            else str(event.move_destination)
        )
        dest = self.peers.destination(dest_name.strip())
        if dest is None:
            log.warning(
                "C-MOVE from %s: destination %r is not in the peers file with a host and port (%s)",
                ae,
                dest_name.strip(),
                status.status_name(status.MOVE_DESTINATION_UNKNOWN),
            )
            self.activity.count(event, "move-unknown-destination")
            yield None, None
            return
        try:
            instances = self._select(event, "C-MOVE")
        except RetrieveFailed as exc:
            log.warning("C-MOVE from %s refused: %s", ae, exc)
            yield dest.host, dest.port
            yield 1
            yield exc.code, None
            return
        kwargs = {
            "contexts": storage_contexts(instances) or None,
            "evt_handlers": [(evt.EVT_CONN_OPEN, handle_conn_open)],
        }
        yield dest.host, dest.port, kwargs
        yield len(instances)
        self.activity.count(event, "move-instances", len(instances))
        yield from self._datasets(event, instances)
        if event.is_cancelled:
            yield status.CANCEL, None

    def get(self, event: Any) -> Iterator[Any]:
        """C-GET generator: count, then (status, data set) per instance on the same
        association."""
        ae = calling_ae(event)
        try:
            instances = self._select(event, "C-GET")
        except RetrieveFailed as exc:
            log.warning("C-GET from %s refused: %s", ae, exc)
            yield 1
            yield exc.code, None
            return
        yield len(instances)
        self.activity.count(event, "get-instances", len(instances))
        yield from self._datasets(event, instances)
        if event.is_cancelled:
            yield status.CANCEL, None
