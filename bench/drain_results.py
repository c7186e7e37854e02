"""Results of the sync drain benchmark: one ``Drain`` per (database, run), the printed
table with medians over repeated runs, the checks and the goal."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.results import MB, table

GOAL_PER_S = 200.0


@dataclass
class Drain:
    """One database's run. Times are seconds from the hub's port accepting connections."""

    db: str
    run: int
    instances: int
    bytes: int
    events: int = 0
    send_s: float | None = None
    hub_startup_s: float | None = None
    first_confirmation_s: float | None = None
    drained_s: float | None = None
    cycles: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[tuple[float, int, int]] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)
    breakdown: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.db} #{self.run}"

    @property
    def ok(self) -> bool:
        return self.drained_s is not None and not self.problems

    def rate(self, amount: float, steady: bool = False) -> float | None:
        if self.drained_s is None:
            return None
        span = self.drained_s - ((self.first_confirmation_s or 0.0) if steady else 0.0)
        return amount / span if span > 0 else None

    @property
    def instances_per_s(self) -> float | None:
        return self.rate(self.instances)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["timeline"] = [list(t) for t in self.timeline]
        data.update(
            ok=self.ok,
            instances_per_s=self.instances_per_s,
            events_per_s=self.rate(self.events),
            mb_per_s=self.rate(self.bytes / MB),
            steady_instances_per_s=self.rate(self.instances, steady=True),
        )
        return data


# -- report ---------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render(drains: list[Drain], meta: dict[str, Any]) -> str:
    parts = [
        f"Sync drain benchmark, {meta['date']} on {meta['host']} ({meta['cpus']} CPUs; load "
        f"average {meta['loadavg_at_start'][0]} at start, {meta['loadavg_at_end'][0]} at end)",
        f"  {meta['count']} {meta['size']} instances ({meta['mb']:.1f} MB) + study.new events "
        "queued at the edge with the hub down; edge settings: "
        + (", ".join(f"{k}={v}" for k, v in meta["edge_settings"].items()) or "defaults"),
        "  times from the hub's port accepting connections; 'steady' = from the first "
        "confirmation to drained",
        "",
    ]
    rows = []
    for d in drains:
        cycles = d.cycles
        per_cycle = sum(c["images"] for c in cycles) / len(cycles) if cycles else None
        rows.append(
            [
                d.label,
                str(d.instances),
                str(d.events),
                _fmt(d.hub_startup_s, 2),
                _fmt(d.first_confirmation_s, 2),
                _fmt(d.drained_s, 2),
                _fmt(d.instances_per_s),
                _fmt(d.rate(d.events)),
                _fmt(d.rate(d.bytes / MB), 2),
                _fmt(d.rate(d.instances, steady=True)),
                f"{len(cycles)} × {per_cycle:.0f}" if per_cycle else "-",
                "ok" if d.ok else "FAILED",
            ]
        )
    headers = [
        "database", "instances", "events", "hub start s", "first conf. s", "drained s",
        "inst/s", "events/s", "MB/s", "steady inst/s", "batches × img", "status",
    ]  # fmt: skip
    for db, values in medians(drains).items():
        if len(values["runs"]) > 1:
            rows.append(
                [f"{db} median", "", "", "", "", "",
                 _fmt(values["instances_per_s"]), "", "", _fmt(values["steady_per_s"]), "", ""]
            )  # fmt: skip
    parts.append(table(headers, rows, right=set(range(1, 11))))
    parts += ["", "Checks"]
    for d in drains:
        c = d.checks
        if "hub_held" in c:
            parts.append(
                f"  {d.label}: hub holds {c['hub_held']} instances ({c['hub_rows']} rows, "
                f"{c['hub_distinct_sop_uids']} distinct UIDs, same UIDs as the edge: "
                f"{c['same_uids']}); sha256 edge = hub = files on disk for "
                f"{c['sha256_sampled'] - len(c['sha256_mismatches'])}/{c['sha256_sampled']} sampled"
            )
        for p in d.problems:
            parts.append(f"  {d.label}: FAILED {p}")
    parts += ["", "Goal"]
    for db, values in medians(drains).items():
        rate = values["instances_per_s"]
        verdict = "n/a" if rate is None else ("PASS" if rate >= GOAL_PER_S else "FAIL")
        runs = values["runs"]
        what = "median of " + ", ".join(_fmt(r) for r in runs) if len(runs) > 1 else "one run"
        parts.append(
            f"  [{verdict:>4}] {db}: >= {GOAL_PER_S:.0f} instances/s until drained: "
            f"{_fmt(rate)} instances/s ({what})"
        )
    return "\n".join(parts)


def medians(drains: list[Drain]) -> dict[str, dict[str, Any]]:
    """Per database: the median drain time and rates over its successful runs (None
    when a run failed: a database with a failed run has no figure)."""
    out: dict[str, dict[str, Any]] = {}
    for db in dict.fromkeys(d.db for d in drains):
        runs = [d for d in drains if d.db == db]
        ok = all(d.ok for d in runs)
        out[db] = {
            "runs": [d.instances_per_s for d in runs if d.instances_per_s is not None],
            "drained_s": statistics.median(d.drained_s or 0.0 for d in runs) if ok else None,
            "instances_per_s": statistics.median(d.instances_per_s or 0.0 for d in runs)
            if ok
            else None,
            "steady_per_s": statistics.median(d.rate(d.instances, steady=True) or 0.0 for d in runs)
            if ok
            else None,
        }
    return out
