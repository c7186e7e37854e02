"""Draining the outbox to the hub: images by STOW-RS first, then the events, in ``id``
order, each claimed row settled exactly once (DONE, FAILED, or READY to retry).

One cycle: claim a batch (bounded by event count and file bytes); send the current
archive file of every ``instance.new``/``instance.replaced`` subject in one STOW-RS
request and mark ``hub_confirmed_at`` for those the hub lists as stored; post the
events whose files are at the hub (events of a subject whose upload failed, and later
events of that subject, wait); settle each from the hub's answer. When the hub cannot
be reached, everything still claimed goes back to READY for one shared retry time, so
the backlog drains in its original order once the hub returns.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, bindparam, select, text

from edge_gateway.store.models import Instance
from edge_gateway.store.outbox import (
    ClaimedEvent,
    claim_batch,
    mark_done,
    mark_failed,
    ready_count,
    release,
    retry_later,
    sqlite_timestamp,
)
from edge_gateway.sync.backoff import Backoff
from edge_gateway.sync.client import HubClient, HubError, HubRefused, HubRejected
from edge_gateway.sync.multipart import StowResult, UploadFile
from edge_gateway.sync.outage import Outage
from edge_gateway.sync.state import record_contact
from shared.sync import EdgeEvent, EventBatch, EventBatchResult

log = logging.getLogger(__name__)

_INSTANCE = Instance.__table__  # type: ignore[attr-defined]

MISSING_INSTANCE = "实例已不在本地索引中 / the instance is no longer in the local index"
HOPELESS = (
    "；重发无效，请检查该文件后运行 pacs-edge sync retry / sending it again cannot help: "
    "check the file, then run pacs-edge sync retry"
)
MISSING_FILE = (
    "本地存档文件丢失 / the archive file is missing: restore it, then run pacs-edge sync retry"
)


@dataclass
class Cycle:
    """What one push cycle did (counts only: logs carry no names)."""

    claimed: int = 0
    images: int = 0
    image_bytes: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    retrying: int = 0
    backlog: int = 0
    wait: float = 0.0
    """Seconds to wait before the next cycle (a back-off after a failure)."""


@dataclass
class Batch:
    """The claimed events of one cycle that are not settled yet."""

    events: dict[int, ClaimedEvent]
    retry_reasons: dict[int, str] = field(default_factory=dict)

    def take(self, ids: Iterable[int]) -> list[int]:
        taken = [i for i in ids if i in self.events]
        for i in taken:
            del self.events[i]
        return taken


class Pusher:
    """Drains the outbox through ``client``. One cycle at a time (one thread)."""

    def __init__(
        self,
        engine: Engine,
        archive_root: Path,
        client: HubClient,
        *,
        max_events: int,
        max_bytes: int,
        backoff: Backoff,
    ) -> None:
        self.engine = engine
        self.archive_root = archive_root
        self.client = client
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.backoff = backoff
        self.outage = Outage("upload", log)

    def run_cycle(self) -> Cycle | None:
        """Claim and send one batch; return what happened, or None when nothing is due.

        When sending fails (the hub cannot be reached, refuses the token, or anything
        unexpected), every event not settled yet goes back to READY with attempts + 1
        and one shared next attempt, ``cycle.wait`` seconds from now (the loop's
        back-off), so the backlog keeps its order.
        """
        claimed = claim_batch(self.engine, max_events=self.max_events, max_bytes=self.max_bytes)
        if not claimed:
            return None
        batch = Batch({e.id: e for e in claimed})
        cycle = Cycle(claimed=len(claimed))
        try:
            self._send(batch, cycle)
        except HubRefused as exc:
            failure = str(exc)
            cycle.wait = self.backoff.longest()
            self.outage.failed(failure, cycle.wait, logging.ERROR)
        except HubError as exc:
            failure = str(exc)
            cycle.wait = self.backoff.failed()
            self.outage.failed(failure, cycle.wait)
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
            cycle.wait = self.backoff.failed()
            log.exception("sync: unexpected error while sending a batch")
        else:
            self.backoff.succeeded()
            self.outage.succeeded()
            record_contact(self.engine)
            _log_cycle(cycle)
            return cycle
        at = datetime.now(UTC) + timedelta(seconds=cycle.wait)
        retry_later(self.engine, [(i, at, failure) for i in sorted(batch.events)])
        cycle.retrying += len(batch.events)
        return cycle

    def _send(self, batch: Batch, cycle: Cycle) -> None:
        uploads = [e for e in batch.events.values() if e.uploads_file]
        if uploads:
            self._upload(batch, uploads, cycle)
        blocked = {batch.events[i].subject for i in batch.retry_reasons}
        held = [
            e.id
            for e in batch.events.values()
            if e.subject in blocked and e.id not in batch.retry_reasons
        ]
        release(self.engine, batch.take(held))
        if batch.retry_reasons:
            self._retry(batch, sorted(batch.retry_reasons), "", cycle)
        to_post = sorted(batch.events.values(), key=lambda e: e.id)
        if to_post:
            with self.engine.connect() as conn:
                cycle.backlog = ready_count(conn)
            result = self.client.post_events(
                EventBatch(events=[_edge_event(e) for e in to_post], backlog=cycle.backlog)
            )
            self._settle(batch, result, cycle)

    def _upload(self, batch: Batch, uploads: Sequence[ClaimedEvent], cycle: Cycle) -> None:
        current = self._current_files({e.subject for e in uploads})
        files: dict[str, UploadFile] = {}
        gone: list[tuple[int, str]] = []
        for event in uploads:
            found, _size = current.get(event.subject, (None, 0))
            if found is None:
                gone.append((event.id, MISSING_INSTANCE))
            elif not found.path.is_file():
                gone.append((event.id, MISSING_FILE))
            else:
                files.setdefault(event.subject, found)
        if gone:
            log.error("sync: %d event(s) without their archive file marked FAILED", len(gone))
            mark_failed(self.engine, [(i, r) for i, r in gone])
            batch.take(i for i, _ in gone)
        if not files:
            return
        result = self._stow(list(files.values()))
        self._confirm([files[uid] for uid in result.stored if uid in files])
        hopeless = [
            (e.id, result.failed.get(e.subject, "") + HOPELESS)
            for e in uploads
            if e.id in batch.events and e.subject in result.permanent
        ]
        if hopeless:
            log.error(
                "sync: the hub cannot read %d file(s); their events are FAILED "
                "(see pacs-edge sync status)",
                len(hopeless),
            )
            mark_failed(self.engine, hopeless)
            batch.take(i for i, _ in hopeless)
        cycle.images = len(result.stored & files.keys())
        cycle.image_bytes = sum(current[uid][1] for uid in result.stored if uid in current)
        for event in uploads:
            if event.id in batch.events and event.subject not in result.stored:
                batch.retry_reasons[event.id] = result.failed.get(
                    event.subject, "中心未确认收到该图像 / the hub did not confirm this instance"
                )

    def _stow(self, files: list[UploadFile]) -> StowResult:
        try:
            return self.client.stow(files)
        except HubRejected as exc:
            log.warning("sync: the hub refused an image upload of %d file(s): %s", len(files), exc)
            failed = {f.sop_uid: str(exc) for f in files}
            # A single file refused as a whole (e.g. larger than the hub accepts) will be
            # refused again: keep it for an operator rather than retrying forever.
            permanent = frozenset(failed) if len(files) == 1 else frozenset()
            return StowResult(frozenset(), failed, permanent)

    def _current_files(self, sop_uids: set[str]) -> dict[str, tuple[UploadFile, int]]:
        """The current archive file, sha256 and size of each SOP instance (a replacement
        may have superseded the file the event was written for)."""
        stmt = select(
            _INSTANCE.c.sop_uid, _INSTANCE.c.rel_path, _INSTANCE.c.sha256, _INSTANCE.c.size_bytes
        ).where(_INSTANCE.c.sop_uid.in_(bindparam("uids", expanding=True)))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt, {"uids": sorted(sop_uids)}).all()
        return {
            str(r.sop_uid): (
                UploadFile(str(r.sop_uid), self.archive_root / r.rel_path, str(r.sha256)),
                int(r.size_bytes),
            )
            for r in rows
        }

    def _confirm(self, stored: Sequence[UploadFile]) -> None:
        """Mark the instances the hub holds — only while the index still has the very
        file that was sent (same sha256)."""
        if not stored:
            return
        now = sqlite_timestamp(datetime.now(UTC))
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE instance SET hub_confirmed_at = :now "
                    "WHERE sop_uid = :sop AND sha256 = :sha AND hub_confirmed_at IS NULL"
                ),
                [{"now": now, "sop": f.sop_uid, "sha": f.sha256} for f in stored],
            )

    def _retry(self, batch: Batch, ids: Sequence[int], default_reason: str, cycle: Cycle) -> None:
        """Back to READY with attempts + 1 and each event's own back-off (full jitter)."""
        now = datetime.now(UTC)
        retries = []
        for i in ids:
            event = batch.events[i]
            wait = self.backoff.policy.delay(event.attempts + 1, self.backoff.rng)
            reason = batch.retry_reasons.get(i, default_reason)
            retries.append((i, now + timedelta(seconds=wait), reason))
        retry_later(self.engine, retries)
        batch.take(ids)
        cycle.retrying += len(retries)

    def _settle(self, batch: Batch, result: EventBatchResult, cycle: Cycle) -> None:
        ids = {e.event_id: e.id for e in batch.events.values()}
        done = [ids[x] for x in [*result.accepted, *result.duplicates] if x in ids]
        failed = [(ids[r.event_id], r.reason) for r in result.rejected if r.event_id in ids]
        mark_done(self.engine, batch.take(done))
        mark_failed(self.engine, failed)
        batch.take(i for i, _ in failed)
        cycle.accepted = len([x for x in result.accepted if x in ids])
        cycle.duplicates = len([x for x in result.duplicates if x in ids])
        cycle.rejected = len(failed)
        if failed:
            log.error(
                "sync: the hub rejected %d event(s); they are kept as FAILED "
                "(see pacs-edge sync status)",
                len(failed),
            )
        if batch.events:
            log.warning("sync: the hub did not answer for %d event(s); retrying", len(batch.events))
            self._retry(batch, list(batch.events), "中心未答复 / no answer from the hub", cycle)


def _edge_event(event: ClaimedEvent) -> EdgeEvent:
    return EdgeEvent(
        event_id=event.event_id,
        kind=event.kind,
        subject=event.subject,
        payload=event.payload,
        created_at=event.created_at,
    )


def _log_cycle(cycle: Cycle) -> None:
    log.info(
        "sync: sent %d event(s) (%d image(s), %.1f MB): %d accepted, %d duplicate(s), "
        "%d rejected, %d to retry; %d waiting",
        cycle.accepted + cycle.duplicates + cycle.rejected,
        cycle.images,
        cycle.image_bytes / 1e6,
        cycle.accepted,
        cycle.duplicates,
        cycle.rejected,
        cycle.retrying,
        cycle.backlog,
    )
