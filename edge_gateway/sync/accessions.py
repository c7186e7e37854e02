"""Telling the hub the highest accession number this edge holds per day, so that a hub
restored from a backup does not hand out again the numbers it gave after that backup
(``POST /api/v1/sync/accessions``; the hub only ever raises its counters).

Which numbers count: those of ``scheduled_step`` rows that came from the hub
(``source = 'hub'``), in the hub's format for this campus (``DG`` + ``YYMMDD`` + four or
more digits), whose day — the day *in the number*, the day the hub registered the order —
is today or up to ``LOOKBACK_DAYS`` before (in the campus's time zone). A later day in a
number counts too (the hub's clock may be ahead of this edge's). The appointment day does
not matter: an order booked for next week was numbered on the day it was registered.
The hub issues numbers for its own today only, so older days cannot collide; the
look-back covers a restore found a few days late and clocks that disagree.

The agent reports when it starts, whenever the hub restarted the order feed from 0 (what
a restored hub does), and every ``REPORT_EVERY`` seconds otherwise. A report that fails
is logged and tried again at the puller's next round; it never holds up the feed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import SQLAlchemyError

from edge_gateway.store.models import ScheduledStep
from edge_gateway.sync.client import HubClient, HubError
from shared.accession import accession_prefix, parse_accession
from shared.sync import MAX_ACCESSION_MARKS, AccessionMark, AccessionReport

log = logging.getLogger(__name__)

_STEP = ScheduledStep.__table__  # type: ignore[attr-defined]

LOOKBACK_DAYS = 7
"""Days before today whose highest numbers are reported."""
REPORT_EVERY = 600.0
"""Seconds between reports while nothing else asks for one."""


def high_water_marks(accessions: Iterable[str], *, prefix: str, since: date) -> list[AccessionMark]:
    """The highest of ``accessions`` per day, for the days from ``since`` on, counting
    only numbers in the hub's format that start with ``prefix``; oldest day first, at
    most ``MAX_ACCESSION_MARKS`` (the newest days)."""
    highest: dict[date, tuple[int, str]] = {}
    for accession in accessions:
        parsed = parse_accession(accession)
        if parsed is None or parsed.prefix != prefix or parsed.day < since:
            continue
        best = highest.get(parsed.day)
        if best is None or parsed.sequence > best[0]:
            highest[parsed.day] = (parsed.sequence, accession)
    days = sorted(highest)[-MAX_ACCESSION_MARKS:]
    return [AccessionMark(day=day, accession=highest[day][1]) for day in days]


def read_marks(
    conn: Connection, *, campus: str, today: date, lookback_days: int = LOOKBACK_DAYS
) -> list[AccessionMark]:
    """:func:`high_water_marks` of the hub's steps on this edge's worklist."""
    prefix = accession_prefix(campus)
    since = today - timedelta(days=lookback_days)
    rows = conn.scalars(
        select(_STEP.c.accession).where(
            _STEP.c.source == "hub",
            _STEP.c.accession.startswith(prefix, autoescape=True),
            _STEP.c.accession >= f"{prefix}{since:%y%m%d}",
        )
    )
    return high_water_marks(rows, prefix=prefix, since=since)


class AccessionReporter:
    """Sends the marks when one is due. The puller's thread calls ``report_if_due``."""

    def __init__(
        self,
        engine: Engine,
        client: HubClient,
        *,
        campus: str,
        zone: tzinfo | None = None,
        every: float = REPORT_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.client = client
        self.campus = campus
        self.zone = zone
        self.every = every
        self.clock = clock
        self._due = True  # the agent's start
        self._last = 0.0
        self._failing = False

    def request(self) -> None:
        """Report at the next ``report_if_due`` (e.g. the hub restarted the feed)."""
        self._due = True

    def report_if_due(self) -> bool:
        """Report when asked to or ``every`` seconds after the last report. Returns True
        when a report was delivered now. A failure is logged, and the report stays due."""
        if not self._due and self.clock() - self._last < self.every:
            return False
        today = datetime.now(self.zone).date()
        try:
            with self.engine.connect() as conn:
                marks = read_marks(conn, campus=self.campus, today=today)
            result = self.client.report_accessions(AccessionReport(marks=marks))
        except (HubError, SQLAlchemyError) as exc:
            self._due = True
            # once per outage at WARNING (the order feed reports the outage itself)
            log.log(
                logging.DEBUG if self._failing else logging.WARNING,
                "sync: cannot report this edge's highest accession numbers to the hub (%s); "
                "trying again at the next round",
                exc,
            )
            self._failing = True
            return False
        self._due = self._failing = False
        self._last = self.clock()
        for raised in result.raised:
            log.warning(
                "sync: the hub's accession counter of %s was behind this edge's numbers "
                "(a restored hub?): raised from %d to %d",
                raised.day,
                raised.previous,
                raised.last,
            )
        log.debug("sync: reported the highest accession numbers of %d day(s)", len(marks))
        return True
