"""Down: long-polling the hub's order feed and applying each page to the worklist."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

from sqlalchemy import Engine

from edge_gateway.sync.accessions import AccessionReporter
from edge_gateway.sync.backoff import Backoff
from edge_gateway.sync.client import HubClient, HubError, HubRefused
from edge_gateway.sync.orders import apply_page, begin_resync, finish_resync
from edge_gateway.sync.outage import Outage
from edge_gateway.sync.state import read_cursor, record_contact

log = logging.getLogger(__name__)

MIN_EMPTY_PAUSE = 1.0
"""Pause after an empty page that came back early (a hub that does not hold the poll)."""


class Puller:
    """Fetches order pages after the stored cursor. One thread calls ``pull_once``."""

    def __init__(
        self,
        engine: Engine,
        client: HubClient,
        *,
        campus: str,
        wait: float,
        limit: int,
        backoff: Backoff,
        stopping: Callable[[], bool] = lambda: False,
        zone: tzinfo | None = None,
        reporter: AccessionReporter | None = None,
    ) -> None:
        self.zone = zone
        self.reporter = reporter
        self.engine = engine
        self.client = client
        self.campus = campus
        self.wait = wait
        self.limit = limit
        self.backoff = backoff
        self.stopping = stopping
        self.outage = Outage("order feed", log)

    def pull_once(self) -> float:
        """Fetch and apply one page; return how long to wait before the next request
        (0 when the hub has more, a back-off after a failure).

        The accession report goes first when it is due, and again at once after a page
        the hub says it read from 0 instead of the cursor sent (or whose cursor is below
        it): a hub restored from a backup restarts the feed
        (``hub.services.feed.start_cursor``). The edge then reads every order again; at
        the end of that re-read, hub steps it did not bring leave the worklist
        (:func:`~edge_gateway.sync.orders.finish_resync`)."""
        if self.reporter is not None:
            self.reporter.report_if_due()
        with self.engine.connect() as conn:
            cursor = read_cursor(conn)
        started = time.monotonic()
        asked_at = datetime.now(UTC)
        try:
            feed = self.client.orders(cursor, wait=self.wait, limit=self.limit)
        except HubRefused as exc:
            delay = self.backoff.longest()
            self.outage.failed(str(exc), delay, logging.ERROR)
            return delay
        except HubError as exc:
            delay = self.backoff.failed()
            self.outage.failed(str(exc), delay)
            return delay
        if self.stopping():
            return 0.0  # a page that arrived during shutdown is fetched again next run
        outcome = apply_page(self.engine, feed, campus=self.campus, zone=self.zone)
        record_contact(self.engine)
        self.backoff.succeeded()
        self.outage.succeeded()
        if feed.restarted or feed.cursor < cursor:
            log.warning(
                "sync: the hub restarted the order feed (cursor %d, was %d): restored "
                "from a backup? reading every order again",
                feed.cursor,
                cursor,
            )
            begin_resync(self.engine, asked_at)
            if self.reporter is not None:
                self.reporter.request()
                self.reporter.report_if_due()
        if feed.orders:
            log.info(
                "sync: %d order(s) from the hub: %d new, %d updated, %d skipped; cursor %d",
                len(feed.orders),
                outcome.added,
                outcome.updated,
                outcome.skipped,
                feed.cursor,
            )
        if feed.more:
            return 0.0
        withdrawn = finish_resync(self.engine)
        if withdrawn:
            log.warning(
                "sync: %d step(s) left the worklist: the restored hub no longer has their "
                "orders (register them again at the hub): %s",
                len(withdrawn),
                ", ".join(withdrawn[:50]) + (" …" if len(withdrawn) > 50 else ""),
            )
        if not feed.orders and time.monotonic() - started < MIN_EMPTY_PAUSE:
            return MIN_EMPTY_PAUSE
        return 0.0
