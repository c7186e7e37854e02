"""The sync agent: two threads beside the DICOM services of one edge.

``sync-pull`` long-polls the hub's order feed into the worklist; ``sync-push`` drains
the outbox (images by STOW-RS, then events). Neither is ever waited for by a DICOM
handler: they share only the SQLite index (short transactions), so when the hub is
away for hours the modalities notice nothing — the worklist is served from the cached
steps and events queue in the outbox until the hub answers again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from edge_gateway.config import EdgeSettings
from edge_gateway.gateway import ConfigurationError
from edge_gateway.store.archive import Archive
from edge_gateway.store.database import open_index
from edge_gateway.store.outbox import prune_done, recover_stale
from edge_gateway.sync.accessions import AccessionReporter
from edge_gateway.sync.backoff import Backoff, BackoffPolicy
from edge_gateway.sync.client import HubClient
from edge_gateway.sync.metrics import read_backlog, render, write_textfile
from edge_gateway.sync.puller import Puller
from edge_gateway.sync.pusher import Pusher
from edge_gateway.sync.state import HUB_URL, ensure_schema, write_state
from shared.sync import MAX_ORDERS_PER_PAGE

log = logging.getLogger(__name__)

METRICS_EVERY = 15.0
"""Seconds between metric files while idle (after every batch otherwise)."""
STALE_CHECK_EVERY = 60.0
PRUNE_EVERY = 3600.0


class SyncAgent:
    """Starts and stops the two sync threads of one edge."""

    def __init__(
        self,
        settings: EdgeSettings,
        engine: Engine,
        client: HubClient,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.client = client
        self._stop = threading.Event()
        rng = rng or random.Random()
        policy = BackoffPolicy(base=1.0, cap=settings.sync_retry_cap_seconds)
        zone = ZoneInfo(settings.timezone)
        self.pusher = Pusher(
            engine,
            Archive(settings.data_dir).root,
            client,
            max_events=settings.sync_batch_events,
            max_bytes=settings.sync_batch_bytes,
            backoff=Backoff(policy, random.Random(rng.random())),
        )
        self.puller = Puller(
            engine,
            client,
            campus=settings.campus,
            wait=settings.sync_wait_seconds,
            limit=MAX_ORDERS_PER_PAGE,
            backoff=Backoff(policy, random.Random(rng.random())),
            stopping=self._stopping,
            zone=zone,
            reporter=AccessionReporter(engine, client, campus=settings.campus, zone=zone),
        )
        self._threads: list[threading.Thread] = []
        self._last_metrics = 0.0
        self._last_stale_check = 0.0
        self._last_prune = 0.0

    def start(self) -> None:
        """Give back claims of a previous run, then start both threads."""
        ensure_schema(self.engine)
        with self.engine.begin() as conn:
            write_state(conn, HUB_URL, self.settings.hub_url or "")
        recovered = recover_stale(self.engine, locked_before=datetime.now(UTC))
        if recovered:
            log.warning("sync: %d event(s) claimed by an earlier run are ready again", recovered)
        self._last_stale_check = time.monotonic()
        self._stop.clear()
        for name, step in (("sync-pull", self.puller.pull_once), ("sync-push", self._push_step)):
            thread = threading.Thread(target=self._loop, args=(name, step), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info(
            "sync agent started: hub %s, campus %s", self.settings.hub_url, self.settings.campus
        )

    def stop(self, grace: float = 10.0) -> None:
        """Stop both threads: the pusher finishes its batch (up to ``grace`` seconds),
        a pending long-poll is abandoned (it changes nothing). Claims left behind by a
        batch cut short return to READY at the next start."""
        self._stop.set()
        deadline = time.monotonic() + grace
        for thread in self._threads:
            # a held long-poll cannot be interrupted; it is abandoned (the thread is a
            # daemon and applies nothing once stopping)
            limit = 0.2 if thread.name == "sync-pull" else deadline - time.monotonic()
            thread.join(timeout=max(0.1, limit))
            if thread.is_alive() and thread.name == "sync-pull":
                log.debug("sync: leaving a held order-feed request behind")
            elif thread.is_alive():
                log.warning(
                    "sync: still sending at shutdown; the events of that batch go again "
                    "at the next start"
                )
        self._threads.clear()
        self.client.close()
        self.engine.dispose()
        log.info("sync agent stopped")

    def _stopping(self) -> bool:
        return self._stop.is_set()

    def _loop(self, name: str, step: Callable[[], float]) -> None:
        failures = Backoff(BackoffPolicy(base=1.0, cap=self.settings.sync_retry_cap_seconds))
        while not self._stop.is_set():
            try:
                wait = step()
                failures.succeeded()
            except Exception:
                if self._stop.is_set():  # e.g. the client closed under a held request
                    log.debug("sync: %s ended while stopping", name, exc_info=True)
                    return
                wait = failures.failed()
                log.exception("sync: %s failed unexpectedly; retrying in %.1f s", name, wait)
            if wait > 0:
                self._stop.wait(wait)

    def _push_step(self) -> float:
        """One pusher cycle plus housekeeping; the seconds to wait before the next."""
        self._housekeeping()
        cycle = self.pusher.run_cycle()
        if cycle is not None or time.monotonic() - self._last_metrics >= METRICS_EVERY:
            self.write_metrics()
        if cycle is None:
            return self.settings.sync_poll_seconds
        return cycle.wait

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_stale_check >= STALE_CHECK_EVERY:
            self._last_stale_check = now
            stale = timedelta(seconds=self.settings.sync_stale_lock_seconds)
            recovered = recover_stale(self.engine, locked_before=datetime.now(UTC) - stale)
            if recovered:
                log.warning("sync: %d stale claim(s) released", recovered)
        if now - self._last_prune >= PRUNE_EVERY:
            self._last_prune = now
            keep = timedelta(days=self.settings.sync_keep_done_days)
            pruned = prune_done(self.engine, created_before=datetime.now(UTC) - keep)
            if pruned:
                log.info("sync: deleted %d delivered event(s) older than %s", pruned, keep)

    def write_metrics(self) -> None:
        """Rewrite the Prometheus text file of the backlog (a failure is only logged)."""
        self._last_metrics = time.monotonic()
        try:
            with self.engine.connect() as conn:
                backlog = read_backlog(conn)
            write_textfile(self.settings.sync_metrics_path, render(backlog))
        except OSError as exc:
            log.warning("sync: cannot write %s: %s", self.settings.sync_metrics_path, exc)


def build_agent(settings: EdgeSettings) -> SyncAgent | None:
    """The agent for ``settings``, or None when no hub is configured (the edge runs
    alone). Raises ``ConfigurationError`` with a sentence an operator can act on."""
    if settings.hub_url is None:
        return None
    token_file = settings.hub_token_file
    if token_file is None:
        raise ConfigurationError(
            "--hub-url needs --hub-token-file FILE holding this edge's device token "
            "(from pacs-hub device add)"
        )
    if not token_file.is_file():
        raise ConfigurationError(
            f"令牌文件 {token_file} 不存在 / the hub token file {token_file} does not exist: "
            "save the token from pacs-hub device add there"
        )
    engine = open_index(settings.index_path)
    ensure_schema(engine)
    # No connection stays open: ``serve --workers`` forks after this, and an SQLite
    # connection must not cross a fork. The pool opens new ones in ``start``.
    engine.dispose()
    client = HubClient(
        settings.hub_url,
        token_file,
        timeout=settings.sync_timeout_seconds,
        ca_file=settings.hub_ca_file,
    )
    return SyncAgent(settings, engine, client)
