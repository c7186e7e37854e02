"""C-STORE: every storage SOP class, every transfer syntax, stored as received.

The received data set arrives as a file (pynetdicom's chunked receive) and is never
decoded beyond its header. Success is answered only after the file is durably in the
archive and the index and outbox rows are committed.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from edge_gateway.dicom.activity import ActivityLog, calling_ae
from edge_gateway.dicom.metadata import InvalidInstance, read_instance_meta
from edge_gateway.peers import PeerTable, Permission
from edge_gateway.store.ingest import IngestResult, InstanceIndex
from shared.dicom import status

log = logging.getLogger(__name__)


class StorageService:
    """Handles ``EVT_C_STORE``; returns a DIMSE status (see ``handle_store``)."""

    def __init__(
        self,
        index: InstanceIndex,
        peers: PeerTable,
        activity: ActivityLog,
        default_charset: str | None = None,
    ) -> None:
        self.index = index
        self.peers = peers
        self.activity = activity
        self.default_charset = default_charset

    def handle_store(self, event: Any) -> int:
        """Store one instance.

        Returns SUCCESS (also for an identical repeat), NOT_AUTHORIZED when the peer may
        not store, STORE_CANNOT_UNDERSTAND when the data set cannot be parsed,
        STORE_DATASET_MISMATCH when its UIDs are missing or differ from the command,
        STORE_OUT_OF_RESOURCES when the disk fails and PROCESSING_FAILURE when the index
        cannot be written.
        """
        ae = calling_ae(event)
        request = event.request
        sop_uid = str(request.AffectedSOPInstanceUID)
        if not self.peers.allows(ae, Permission.STORE):
            log.warning("C-STORE refused: %s may not store (instance %s)", ae, sop_uid)
            self.activity.count(event, "store-refused")
            return status.NOT_AUTHORIZED
        path = Path(event.dataset_path)
        # its bytes go to disk while the header is read and the file hashed
        synced = self.index.archive.start_sync(path)
        try:
            meta = read_instance_meta(path, default_charset=self.default_charset)
        except InvalidInstance as exc:
            log.warning("C-STORE from %s: instance %s cannot be parsed: %s", ae, sop_uid, exc)
            self.activity.count(event, "store-failed")
            if exc.unparsable:
                return status.STORE_CANNOT_UNDERSTAND
            return status.STORE_DATASET_MISMATCH
        if meta.sop_uid != sop_uid or meta.sop_class_uid != str(request.AffectedSOPClassUID):
            log.warning(
                "C-STORE from %s: data set UIDs (%s, %s) differ from the command (%s, %s)",
                ae,
                meta.sop_uid,
                meta.sop_class_uid,
                sop_uid,
                request.AffectedSOPClassUID,
            )
            self.activity.count(event, "store-failed")
            return status.STORE_DATASET_MISMATCH
        try:
            outcome = self.index.ingest(path, meta, source_ae=ae, synced=synced)
        except OSError as exc:
            log.error("C-STORE from %s: cannot write instance %s: %s", ae, sop_uid, exc)
            self.activity.count(event, "store-failed")
            return status.STORE_OUT_OF_RESOURCES
        except sqlite3.Error as exc:
            log.error("C-STORE from %s: cannot index instance %s: %s", ae, sop_uid, exc)
            self.activity.count(event, "store-failed")
            return status.PROCESSING_FAILURE
        if outcome.result is IngestResult.REPLACED:
            log.warning(
                "instance %s from %s replaced an older version with different content; "
                "the older file was kept at %s",
                sop_uid,
                ae,
                outcome.superseded,
            )
        elif outcome.result is IngestResult.IDENTICAL:
            log.info("instance %s from %s was already archived (identical)", sop_uid, ae)
        self.activity.count(event, f"store-{outcome.result.value}")
        return status.SUCCESS
