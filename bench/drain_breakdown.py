"""Where a sync drain's time goes: timers (``bench/profiled.py --timer``) around the
phases of the hub's STOW-RS and event handling and of the edge's sync agent, and the
table ``sync_drain.py --breakdown`` prints from them.

The edge's timers are set back to zero (SIGUSR1) just before the hub starts, so they
cover the drain only, not the failed attempts while the hub was away.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.results import table


@dataclass(frozen=True)
class Phase:
    side: str
    spec: str
    label: str
    depth: int = 0
    """Indentation: a phase is part of the phase above it with a smaller depth."""


HUB_PHASES: tuple[Phase, ...] = (
    Phase("hub", "hub.services.stow:StowReceiver.feed", "multipart parse into temp files", 1),
    Phase("hub", "hub.services.archive_files:ArchiveFiles.new_temp", "temp file creation", 2),
    Phase("hub", "hub.api.routes.dicomweb:store_parts", "store_parts (worker thread)", 1),
    Phase("hub", "hub.services.stow_store:read_meta", "header parse (pydicom read_partial)", 2),
    Phase("hub", "hub.services.stow_store:_store_round", "place files, fsync, index, commit", 2),
    Phase("hub", "hub.services.stow_store:fsync_path", "fsync of each file", 3),
    Phase("hub", "hub.services.stow_store:fsync_dirs", "fsync of the folders", 3),
    Phase("hub", "hub.api.routes.sync:receive_batch", "events: store + apply + commit", 1),
)
EDGE_PHASES: tuple[Phase, ...] = (
    Phase("edge", "edge_gateway.sync.client:HubClient.stow", "STOW-RS request (round trip)"),
    Phase("edge", "edge_gateway.sync.client:HubClient.post_events", "events POST (round trip)"),
    Phase("edge", "edge_gateway.sync.pusher:claim_batch", "claim a batch (UPDATE … RETURNING)"),
    Phase("edge", "edge_gateway.sync.pusher:Pusher._current_files", "look up archive files"),
    Phase("edge", "edge_gateway.sync.pusher:Pusher._confirm", "mark hub_confirmed_at"),
    Phase("edge", "edge_gateway.sync.pusher:mark_done", "mark events DONE"),
    Phase("edge", "edge_gateway.sync.pusher:ready_count", "count the backlog"),
    Phase("edge", "edge_gateway.sync.pusher:record_contact", "record the hub contact"),
)


def wrapper_args(phases: tuple[Phase, ...], timers_out: Path) -> list[str]:
    """``bench/profiled.py`` options timing ``phases`` (no cProfile)."""
    args = ["--no-profile", "--timers-out", str(timers_out)]
    for phase in phases:
        args += ["--timer", phase.spec]
    return args


def read_timers(path: Path) -> dict[str, dict[str, float]]:
    """The timers a process wrote at exit ({} when it wrote none)."""
    try:
        data: dict[str, dict[str, float]] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data


def breakdown(
    hub: dict[str, dict[str, float]],
    edge: dict[str, dict[str, float]],
    *,
    instances: int,
    drained_s: float | None,
) -> list[dict[str, Any]]:
    """One row per phase, edge round trips first, the hub's phases under the STOW-RS
    request, then a derived row for HTTP, framework and everything else of the STOW."""
    rows: list[dict[str, Any]] = []

    def add(phase: Phase, seconds: float, calls: int | None) -> None:
        rows.append(
            {
                "side": phase.side,
                "phase": phase.label,
                "depth": phase.depth,
                "spec": phase.spec,
                "calls": calls,
                "seconds": seconds,
                "ms_per_instance": seconds / instances * 1000 if instances else None,
                "share_of_drain": seconds / drained_s if drained_s else None,
            }
        )

    stow, *rest = EDGE_PHASES
    stow_s = edge.get(stow.spec, {}).get("seconds", 0.0)
    add(stow, stow_s, int(edge.get(stow.spec, {}).get("calls", 0)))
    inside = 0.0
    for phase in HUB_PHASES:
        if phase.spec == "hub.api.routes.sync:receive_batch":
            continue
        t = hub.get(phase.spec, {})
        add(phase, t.get("seconds", 0.0), int(t.get("calls", 0)))
        if phase.depth == 1:
            inside += t.get("seconds", 0.0)
    other = Phase("hub", "", "HTTP, framework, waiting (derived: round trip − the above)", 1)
    add(other, max(0.0, stow_s - inside), None)
    events = rest[0]
    t = edge.get(events.spec, {})
    add(events, t.get("seconds", 0.0), int(t.get("calls", 0)))
    receive = HUB_PHASES[-1]
    t = hub.get(receive.spec, {})
    add(receive, t.get("seconds", 0.0), int(t.get("calls", 0)))
    for phase in rest[1:]:
        t = edge.get(phase.spec, {})
        add(phase, t.get("seconds", 0.0), int(t.get("calls", 0)))
    return rows


def render(db: str, rows: list[dict[str, Any]], drained_s: float | None) -> str:
    """The breakdown as a plain-text table."""
    body = []
    for r in rows:
        share = r["share_of_drain"]
        body.append(
            [
                r["side"],
                "  " * r["depth"] + r["phase"],
                "-" if r["calls"] is None else str(r["calls"]),
                f"{r['seconds']:.2f}",
                "-" if r["ms_per_instance"] is None else f"{r['ms_per_instance']:.3f}",
                "-" if share is None else f"{share * 100:.0f} %",
            ]
        )
    head = (
        f"Where the time goes ({db}; drain {drained_s or 0:.2f} s; "
        "an indented row is part of the row above it)"
    )
    headers = ["side", "phase", "calls", "seconds", "ms/instance", "of drain"]
    return head + "\n" + table(headers, body, right={2, 3, 4, 5})
