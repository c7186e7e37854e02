"""C-FIND for Query/Retrieve (Patient Root and Study Root, every level)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
)
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from edge_gateway.dicom.activity import ActivityLog, calling_ae
from edge_gateway.dicom.identifiers import (
    fill_response,
    loggable,
    matching_keys,
    requested_elements,
)
from edge_gateway.peers import PeerTable, Permission
from edge_gateway.store.query import Level, QueryError, find
from shared.dicom import status

log = logging.getLogger(__name__)

PATIENT_ROOT_FIND = str(PatientRootQueryRetrieveInformationModelFind)
STUDY_ROOT_FIND = str(StudyRootQueryRetrieveInformationModelFind)

FindResult = tuple[int, Dataset | None]


class QueryService:
    """Answers Q/R C-FIND requests from the index."""

    def __init__(
        self,
        engine: Engine,
        peers: PeerTable,
        activity: ActivityLog,
        *,
        ae_title: str,
        charset: str,
        max_results: int = 5000,
    ) -> None:
        self.engine = engine
        self.peers = peers
        self.activity = activity
        self.ae_title = ae_title
        self.charset = charset
        self.max_results = max_results

    def find(self, event: Any) -> Iterator[FindResult]:
        """Yield (PENDING, match) per match; failures as a single final status:
        NOT_AUTHORIZED, FIND_IDENTIFIER_MISMATCH (bad level or keys),
        FIND_UNABLE_TO_PROCESS (index error); CANCEL when the peer cancels."""
        ae = calling_ae(event)
        if not self.peers.allows(ae, Permission.QUERY):
            log.warning("C-FIND refused: %s may not query", ae)
            yield status.NOT_AUTHORIZED, None
            return
        identifier: Dataset = event.identifier
        model = str(event.request.AffectedSOPClassUID)
        level_text = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
        try:
            level = Level(level_text)
        except ValueError:
            log.warning("C-FIND from %s: bad Query/Retrieve Level %r", ae, level_text)
            yield status.FIND_IDENTIFIER_MISMATCH, None
            return
        if model == STUDY_ROOT_FIND and level is Level.PATIENT:
            log.warning("C-FIND from %s: PATIENT level is not part of Study Root", ae)
            yield status.FIND_IDENTIFIER_MISMATCH, None
            return
        keys = matching_keys(identifier)
        requested = requested_elements(identifier)
        try:
            rows = list(find(self.engine, level, keys, self.max_results))
        except QueryError as exc:
            log.warning("C-FIND from %s: %s", ae, exc)
            yield status.FIND_IDENTIFIER_MISMATCH, None
            return
        except SQLAlchemyError as exc:
            log.error("C-FIND from %s failed in the index: %s", ae, exc)
            yield status.FIND_UNABLE_TO_PROCESS, None
            return
        log.info(
            "C-FIND %s level from %s: %d match(es) for %s", level, ae, len(rows), loggable(keys)
        )
        self.activity.count(event, "find")
        for row in rows:
            if event.is_cancelled:
                yield status.CANCEL, None
                return
            yield status.PENDING, self._response(level, requested, row)

    def _response(self, level: Level, requested: list[Any], row: dict[str, Any]) -> Dataset:
        ds = Dataset()
        ds.SpecificCharacterSet = self.charset
        ds.QueryRetrieveLevel = level.value
        fill_response(ds, requested, row)
        ds.RetrieveAETitle = self.ae_title
        if "InstanceAvailability" in ds:
            ds.InstanceAvailability = "ONLINE"
        return ds
