"""Modality Worklist C-FIND: scheduled procedure steps of this campus."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pynetdicom.sop_class import ModalityWorklistInformationFind
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from edge_gateway.dicom.activity import ActivityLog, calling_ae
from edge_gateway.dicom.encoded_identifiers import (
    EncodedIdentifier,
    identifiers_encoded_directly,
    plain_syntax,
)
from edge_gateway.dicom.identifiers import fill_response, loggable, matching_keys
from edge_gateway.dicom.worklist_items import ItemLayout
from edge_gateway.peers import PeerTable, Permission
from edge_gateway.store.worklist import STEP_ATTRIBUTES, TOP_ATTRIBUTES, find_steps
from shared.dicom import status

log = logging.getLogger(__name__)

WORKLIST_FIND = str(ModalityWorklistInformationFind)

FindResult = tuple[int, Dataset | None]

TOP_KEYWORDS = frozenset(TOP_ATTRIBUTES)
STEP_KEYWORDS = frozenset(STEP_ATTRIBUTES)


def top_values(row: dict[str, Any]) -> dict[str, Any]:
    """A scheduled step's values for the item's top level, by keyword."""
    return {keyword: row[column] for keyword, (column, _) in TOP_ATTRIBUTES.items()}


def step_values(row: dict[str, Any]) -> dict[str, Any]:
    """A scheduled step's values for the step item, by keyword (the status as its text)."""
    values = {keyword: row[column] for keyword, (column, _) in STEP_ATTRIBUTES.items()}
    values["ScheduledProcedureStepStatus"] = str(values["ScheduledProcedureStepStatus"])
    return values


class WorklistService:
    """Answers Modality Worklist queries from the local scheduled steps."""

    def __init__(
        self,
        engine: Engine,
        peers: PeerTable,
        activity: ActivityLog,
        *,
        charset: str,
        max_results: int = 2000,
    ) -> None:
        self.engine = engine
        self.peers = peers
        self.activity = activity
        self.charset = charset
        self.max_results = max_results

    def find(self, event: Any) -> Iterator[FindResult]:
        """Yield (PENDING, item) per matching scheduled step; NOT_AUTHORIZED or
        FIND_UNABLE_TO_PROCESS as a final status on failure."""
        ae = calling_ae(event)
        if not self.peers.allows(ae, Permission.WORKLIST):
            log.warning("worklist query refused: %s may not query the worklist", ae)
            yield status.NOT_AUTHORIZED, None
            return
        identifier: Dataset = event.identifier
        top = matching_keys(identifier)
        sps_query: Dataset | None = None
        sps_seq = identifier.get("ScheduledProcedureStepSequence")
        if sps_seq:
            sps_query = sps_seq[0]
        sps_keys = matching_keys(sps_query) if sps_query is not None else {}
        try:
            rows = find_steps(self.engine, top, sps_keys, self.max_results)
        except SQLAlchemyError as exc:
            log.error("worklist query from %s failed in the index: %s", ae, exc)
            yield status.FIND_UNABLE_TO_PROCESS, None
            return
        log.info(
            "worklist query from %s: %d item(s) for %s",
            ae,
            len(rows),
            loggable({**top, **{f"SPS.{k}": v for k, v in sps_keys.items()}}),
        )
        self.activity.count(event, "worklist-find")
        # the requested attributes, looked at once for all the items
        requested = [e for e in identifier if e.keyword != "SpecificCharacterSet"]
        wanted = list(sps_query) if sps_query is not None else []
        sps_requested = sps_seq is not None
        layout = self._layout(event, requested, sps_requested, wanted)
        for row in rows:
            if event.is_cancelled:
                yield status.CANCEL, None
                return
            yield status.PENDING, self._response(layout, requested, sps_requested, wanted, row)

    def _response(
        self,
        layout: ItemLayout | None,
        requested: list[DataElement],
        sps_requested: bool,
        wanted: list[DataElement],
        row: dict[str, Any],
    ) -> Dataset:
        if layout is not None:
            encoded = layout.encode(top_values(row), step_values(row))
            if encoded is not None:
                return EncodedIdentifier(encoded, implicit_vr=layout.implicit)
        return self._item(requested, sps_requested, wanted, row)

    def _layout(
        self,
        event: Any,
        requested: list[DataElement],
        sps_requested: bool,
        wanted: list[DataElement],
    ) -> ItemLayout | None:
        """How this query's items are written straight to bytes
        (:mod:`edge_gateway.dicom.worklist_items`); None: as pydicom Datasets."""
        if not identifiers_encoded_directly():
            return None
        implicit = plain_syntax(str(event.context.transfer_syntax))
        if implicit is None:
            return None
        return ItemLayout.for_query(
            charset=self.charset,
            implicit=implicit,
            requested=requested,
            top_keywords=TOP_KEYWORDS,
            step_requested=sps_requested,
            step_wanted=wanted,
            step_keywords=STEP_KEYWORDS,
        )

    def _item(
        self,
        requested: list[DataElement],
        sps_requested: bool,
        wanted: list[DataElement],
        row: dict[str, Any],
    ) -> Dataset:
        ds = Dataset()
        ds.SpecificCharacterSet = self.charset
        fill_response(ds, requested, top_values(row))
        if sps_requested:
            item = Dataset()
            values = step_values(row)
            if wanted:
                fill_response(item, wanted, values)
            else:
                for keyword in STEP_ATTRIBUTES:
                    if values.get(keyword):
                        setattr(item, keyword, values[keyword])
            ds.ScheduledProcedureStepSequence = [item]
        return ds
