"""Down: long-polling the hub's order feed and applying each page to the worklist."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import tzinfo

from sqlalchemy import Engine

from edge_gateway.sync.accessions import AccessionReporter
from edge_gateway.sync.backoff import Backoff
from edge_gateway.sync.client import HubClient, HubError, HubRefused
from edge_gateway.sync.orders import apply_page
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
        whose cursor is below the one sent: the hub restarted the feed from 0, as a hub
        restored from a backup does (``hub.services.feed.read_feed``)."""
        if self.reporter is not None:
            self.reporter.report_if_due()
        with self.engine.connect() as conn:
            cursor = read_cursor(conn)
        started = time.monotonic()
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
        if feed.cursor < cursor:
            log.warning(
                "sync: the hub restarted the order feed (cursor %d, was %d): restored "
                "from a backup? reading every order again",
                feed.cursor,
                cursor,
            )
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
        if not feed.orders and time.monotonic() - started < MIN_EMPTY_PAUSE:
            return MIN_EMPTY_PAUSE
        return 0.0
