"""Composition root of the edge gateway process: ``build_gateway(settings)``."""

from __future__ import annotations

import logging
import socket
import tempfile
import time
from dataclasses import dataclass, field

from pydicom import config as pydicom_config
from pynetdicom import AE
from pynetdicom import _config as pynetdicom_config
from pynetdicom.transport import ThreadedAssociationServer
from sqlalchemy import Engine

from edge_gateway.config import EdgeSettings
from edge_gateway.dicom.activity import ActivityLog
from edge_gateway.dicom.encoded_identifiers import encode_identifiers_directly
from edge_gateway.dicom.file_meta import write_file_meta_directly
from edge_gateway.dicom.find import QueryService
from edge_gateway.dicom.mpps import MppsService
from edge_gateway.dicom.mwl import WorklistService
from edge_gateway.dicom.retrieve import RetrieveService
from edge_gateway.dicom.server import DicomServices, build_ae, start_server
from edge_gateway.dicom.storage import StorageService
from edge_gateway.dicom.transport import OpenConnections, wake_reactors_on_messages
from edge_gateway.peers import PeerTable, load_peers
from edge_gateway.store.archive import Archive
from edge_gateway.store.database import open_index
from edge_gateway.store.ingest import InstanceIndex
from edge_gateway.store.writer_lock import WriterLock
from shared.dicom.uid import UidFactory
from shared.settings import campus_label

log = logging.getLogger(__name__)


def configure_pynetdicom() -> None:
    """Process-wide pynetdicom options the gateway relies on.

    Received data sets are streamed to a file (never decoded into memory) and
    archived files are sent from disk as they are; identifiers are not decoded
    a second time just for pynetdicom's debug log; storage of any SOP class is
    accepted in the transfer syntax the sender proposes first (see ``build_ae``).

    pydicom's checks of every value it reads or writes (a regular expression per
    element of each command set and header) only ever warn, and cost more than the
    rest of a C-STORE's bookkeeping; the gateway checks what it relies on itself
    (the UIDs of archived instances, query keys), so they are off in its processes.

    pynetdicom's standard logging handlers (run for every PDU and DIMSE message sent or
    received) write only DEBUG and INFO lines to the ``pynetdicom`` logger, which the
    gateway keeps at WARNING (``edge_gateway.logs``): they are not bound. The File Meta
    Information of received files is written straight to bytes
    (:mod:`edge_gateway.dicom.file_meta`), and so are worklist answers
    (:mod:`edge_gateway.dicom.encoded_identifiers`).
    """
    pynetdicom_config.UNRESTRICTED_STORAGE_SERVICE = True
    pynetdicom_config.STORE_RECV_CHUNKED_DATASET = True
    pynetdicom_config.STORE_SEND_CHUNKED_DATASET = True
    pynetdicom_config.LOG_REQUEST_IDENTIFIERS = False
    pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = False
    pynetdicom_config.LOG_HANDLER_LEVEL = "none"
    pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE
    pydicom_config.settings.writing_validation_mode = pydicom_config.IGNORE
    wake_reactors_on_messages()
    write_file_meta_directly()
    encode_identifiers_directly()


class ConfigurationError(ValueError):
    """The gateway cannot start with these settings; the message says what to change."""


@dataclass
class Gateway:
    settings: EdgeSettings
    engine: Engine
    archive: Archive
    index: InstanceIndex
    peers: PeerTable
    uids: UidFactory
    services: DicomServices
    _server: ThreadedAssociationServer | None = field(default=None, repr=False)
    _ae: AE | None = field(default=None, repr=False)
    _previous_tempdir: str | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        """The DICOM port actually bound (useful when configured as 0)."""
        if self._server is None:
            raise RuntimeError("the gateway is not started")
        return int(self._server.server_address[1])

    def start(self, *, clear_tmp: bool = True, listener: socket.socket | None = None) -> None:
        """Clear partial files of a previous crash and start the DICOM services.

        The process's temporary directory becomes ``data_dir/tmp`` until ``stop``:
        pynetdicom streams each received data set to a temporary file, which then sits
        on the archive's file system (a rename places it) and, after a crash, is cleared
        here. Worker processes serve the ``listener`` their supervisor opened and leave
        the clearing to it, which it does before starting them.
        """
        self._previous_tempdir = tempfile.tempdir
        tempfile.tempdir = str(self.archive.tmp)
        if clear_tmp:
            removed = self.archive.clear_tmp()
            if removed:
                log.warning("removed %d partial file(s) left by an interrupted run", removed)
        s = self.settings
        ae = build_ae(
            s.ae_title,
            self.peers,
            max_associations=s.max_associations,
            network_timeout=s.network_timeout,
            max_pdu=s.max_pdu,
        )
        self._server = start_server(ae, s.bind, s.dicom_port, self.services, listener)
        self._ae = ae
        log.info(
            "edge gateway for campus %s: AE %s listening on %s:%d, data in %s (%s)",
            campus_label(s.campus),
            s.ae_title,
            s.bind,
            self.port,
            s.data_dir,
            "any calling AE accepted"
            if self.peers.accept_any
            else f"{len(self.peers.peers)} known peer(s)",
        )

    def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, let running associations finish for up to ``grace``
        seconds, abort the rest, then close the index and the archive."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._ae is not None:
            deadline = time.monotonic() + grace
            for assoc in list(self._ae.active_associations):
                assoc.join(timeout=max(0.0, deadline - time.monotonic()))
                if assoc.is_alive():
                    log.warning(
                        "aborting association with %s at shutdown", assoc.requestor.ae_title
                    )
                    assoc.abort()
            self._ae = None
        self.index.close()
        self.archive.close()
        self.engine.dispose()
        tempfile.tempdir = self._previous_tempdir
        log.info("edge gateway stopped")


def build_gateway(
    settings: EdgeSettings, peers: PeerTable | None = None, *, shared_index: bool = False
) -> Gateway:
    """Wire the gateway from settings. Raises ``ConfigurationError`` or
    ``PeersFileError`` with a sentence an operator can act on. ``shared_index``: other
    worker processes write the same index (``--workers``), so its writers take the
    lock file ``index.lock`` in the data dir first."""
    configure_pynetdicom()
    if peers is None:
        peers = load_peers(settings.peers_file, accept_any=settings.accept_any_ae)
    if not peers.peers and not peers.accept_any:
        raise ConfigurationError(
            "no DICOM peers are configured: give --peers FILE listing the modalities "
            "(see docs/operations.md), or --accept-any-ae while commissioning"
        )
    engine = open_index(settings.index_path)
    archive = Archive(settings.data_dir)
    writers = WriterLock(settings.data_dir / "index.lock") if shared_index else None
    index = InstanceIndex(engine, archive, writers)
    uids = UidFactory(settings.uid_root)
    activity = ActivityLog(peers, settings.max_associations)
    services = DicomServices(
        storage=StorageService(index, peers, activity, settings.default_charset),
        query=QueryService(
            engine, peers, activity, ae_title=settings.ae_title, charset=settings.worklist_charset
        ),
        worklist=WorklistService(engine, peers, activity, charset=settings.worklist_charset),
        retrieve=RetrieveService(engine, archive, peers, activity),
        mpps=MppsService(engine, peers, activity, uids),
        peers=peers,
        activity=activity,
        connections=OpenConnections(),
    )
    return Gateway(settings, engine, archive, index, peers, uids, services)
