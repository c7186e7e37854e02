"""Association logging: who connected, what they did, what failed.

One line when an association is accepted, rejected, released or aborted, with a
summary of its operations; handlers add to the summary and log failures at once.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

from edge_gateway.peers import PeerTable

log = logging.getLogger("edge_gateway.dicom.activity")


def calling_ae(event: Any) -> str:
    return str(event.assoc.requestor.ae_title).strip()


def peer_address(event: Any) -> str:
    requestor = event.assoc.requestor
    return f"{requestor.address}:{requestor.port}"


class ActivityLog:
    """Counts operations per association and logs a summary when it ends."""

    def __init__(self, peers: PeerTable, max_associations: int) -> None:
        self.peers = peers
        self.max_associations = max_associations
        self._lock = threading.Lock()
        self._counts: dict[int, Counter[str]] = {}

    def count(self, event: Any, what: str, n: int = 1) -> None:
        with self._lock:
            self._counts.setdefault(id(event.assoc), Counter())[what] += n

    def on_accepted(self, event: Any) -> None:
        log.info(
            "association accepted: %s from %s → %s",
            calling_ae(event),
            peer_address(event),
            str(event.assoc.acceptor.ae_title).strip(),
        )

    def on_rejected(self, event: Any) -> None:
        ae = calling_ae(event)
        if self.peers.accept_any or self.peers.is_known(ae):
            log.warning(
                "association rejected: %s from %s is a known peer, but the gateway is busy "
                "(at most %d associations at once) or the request was malformed",
                ae,
                peer_address(event),
                self.max_associations,
            )
            return
        log.warning(
            "association rejected: calling AE %r from %s is not allowed "
            "(add it to the peers file, or run with --accept-any-ae)",
            ae,
            peer_address(event),
        )

    def on_released(self, event: Any) -> None:
        self._finish(event, "released")

    def on_aborted(self, event: Any) -> None:
        self._finish(event, "aborted")

    def _finish(self, event: Any, how: str) -> None:
        with self._lock:
            counts = self._counts.pop(id(event.assoc), Counter())
        summary = ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "nothing"
        level = logging.WARNING if how == "aborted" else logging.INFO
        log.log(
            level,
            "association %s: %s from %s did %s",
            how,
            calling_ae(event),
            peer_address(event),
            summary,
        )
