"""Sync and archive figures: the edges overview for 信息科 and the Prometheus metrics.

Nothing here names a patient: only campuses, device ids, event kinds and counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from hub.models.archive import (
    ArchiveInstance,
    ArchiveStudy,
    EdgeSyncState,
    InstanceState,
    SyncEventCount,
)
from hub.models.people import Device
from shared.settings import CAMPUSES


@dataclass(frozen=True)
class EdgeOverview:
    device_id: str
    campus: str
    revoked: bool
    last_seen_at: datetime | None
    backlog: int
    """Events waiting at the edge, as it last reported."""
    events_received: int
    last_batch_at: datetime | None
    feed_cursor: int
    feed_at: datetime | None
    instances_held: int
    """Instances from this edge the hub holds (file stored, hash recorded)."""


def edge_overview(*, session: Session, campuses: Sequence[str]) -> list[EdgeOverview]:
    """Every edge device of ``campuses`` with its sync state, by campus then id."""
    devices = session.exec(
        select(Device, EdgeSyncState)
        .outerjoin(EdgeSyncState, col(EdgeSyncState.device_id) == col(Device.device_id))
        .where(Device.kind == "edge", col(Device.campus).in_(list(campuses)))
        .order_by(col(Device.campus), col(Device.device_id))
    ).all()
    held = dict(
        session.exec(
            select(ArchiveInstance.source_device, func.count())
            .where(
                col(ArchiveInstance.source_device).in_([d.device_id for d, _ in devices]),
                ArchiveInstance.state == InstanceState.HELD.value,
            )
            .group_by(col(ArchiveInstance.source_device))
        ).all()
    )
    return [
        EdgeOverview(
            device_id=d.device_id,
            campus=d.campus,
            revoked=d.revoked,
            last_seen_at=d.last_seen_at,
            backlog=s.backlog if s else 0,
            events_received=s.events_received if s else 0,
            last_batch_at=s.last_batch_at if s else None,
            feed_cursor=s.feed_cursor if s else 0,
            feed_at=s.feed_at if s else None,
            instances_held=int(held.get(d.device_id, 0)),
        )
        for d, s in devices
    ]


def prometheus_text(*, session: Session) -> str:
    """The hub's metrics in the Prometheus text exposition format (version 0.0.4)."""
    out: list[str] = []
    backlog = session.exec(
        select(Device.campus, Device.device_id, EdgeSyncState.backlog)
        .outerjoin(EdgeSyncState, col(EdgeSyncState.device_id) == col(Device.device_id))
        .where(Device.kind == "edge", col(Device.revoked).is_(False))
        .order_by(col(Device.campus), col(Device.device_id))
    ).all()
    _family(
        out,
        "pacs_hub_edge_backlog",
        "gauge",
        "Events waiting in an edge's outbox, as the edge last reported.",
        (({"campus": c, "device": d}, b or 0) for c, d, b in backlog),
    )
    held = dict(
        session.exec(
            select(ArchiveStudy.campus, func.sum(ArchiveStudy.num_instances)).group_by(
                col(ArchiveStudy.campus)
            )
        ).all()
    )
    _family(
        out,
        "pacs_hub_archive_instances_total",
        "gauge",
        "Instances held in the hub's archive.",
        (({"campus": c}, held.get(c) or 0) for c in _campuses(held)),
    )
    counts = session.exec(
        select(SyncEventCount.campus, SyncEventCount.kind, SyncEventCount.count).order_by(
            col(SyncEventCount.campus), col(SyncEventCount.kind)
        )
    ).all()
    _family(
        out,
        "pacs_hub_sync_events_total",
        "counter",
        "Edge events stored by the hub (repeats not counted).",
        (({"campus": c, "kind": k}, n) for c, k, n in counts),
    )
    unmatched = dict(
        session.exec(
            select(ArchiveStudy.campus, func.count())
            .where(col(ArchiveStudy.order_pk).is_(None), col(ArchiveStudy.num_instances) > 0)
            .group_by(col(ArchiveStudy.campus))
        ).all()
    )
    _family(
        out,
        "pacs_hub_unmatched_studies",
        "gauge",
        "Studies held with no matching order (to reconcile).",
        (({"campus": c}, unmatched.get(c, 0)) for c in _campuses(unmatched)),
    )
    return "\n".join(out) + "\n"


def _campuses(found: Mapping[str, object]) -> list[str]:
    return sorted(set(CAMPUSES) | set(found))


def _family(
    out: list[str],
    name: str,
    kind: str,
    help_text: str,
    samples: Iterable[tuple[dict[str, str], int | float]],
) -> None:
    out.append(f"# HELP {name} {help_text}")
    out.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        out.append(f"{name}{{{text}}} {int(value)}")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
