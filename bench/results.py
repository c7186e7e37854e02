"""Results of the ingest benchmark: measurements, ratios, goals, the printed tables and JSON.

A measurement is one (round, set, associations, receiver) cell, run ``repeat`` times with a
fresh receiver each time. Its figures are the median wall time over the runs and the rates
derived from it; a cell with any failed run has no figures (the failure is printed instead).
"""

from __future__ import annotations

import statistics
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

MB = 1_000_000
SCALING_GOAL = 1.5
DEFAULT_SOCKETS_GOAL = 10.0


@dataclass
class Run:
    """One send: wall time from launching the storescu processes to all of them exiting."""

    wall_s: float
    exit_codes: list[int]
    received: int | None
    peak_rss_kib: int | None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Measurement:
    round: str
    set: str
    assocs: int
    receiver: str
    images: int
    bytes: int
    runs: list[Run] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.ok for r in self.runs)

    @property
    def wall_s(self) -> float | None:
        return statistics.median(r.wall_s for r in self.runs) if self.ok else None

    @property
    def images_per_s(self) -> float | None:
        wall = self.wall_s
        return self.images / wall if wall else None

    @property
    def mb_per_s(self) -> float | None:
        wall = self.wall_s
        return self.bytes / MB / wall if wall else None

    @property
    def peak_rss_kib(self) -> int | None:
        values = [r.peak_rss_kib for r in self.runs if r.peak_rss_kib is not None]
        return max(values) if values else None

    @property
    def status(self) -> str:
        if not self.runs:
            return "not run"
        failed = sum(1 for r in self.runs if not r.ok)
        if failed:
            return f"FAILED {failed}/{len(self.runs)}"
        return "ok (warning)" if any(r.warnings for r in self.runs) else "ok"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            ok=self.ok,
            status=self.status,
            median_wall_s=self.wall_s,
            images_per_s=self.images_per_s,
            mb_per_s=self.mb_per_s,
            peak_rss_kib=self.peak_rss_kib,
        )
        for run_json, run in zip(data["runs"], self.runs, strict=True):
            run_json["ok"] = run.ok
        return data


class Results:
    """All measurements of a benchmark, looked up by (round, set, assocs, receiver)."""

    def __init__(self, measurements: list[Measurement]) -> None:
        self.measurements = measurements

    def rate(self, round_: str, set_: str, assocs: int, receiver: str) -> float | None:
        for m in self.measurements:
            if (m.round, m.set, m.assocs, m.receiver) == (round_, set_, assocs, receiver):
                return m.images_per_s
        return None

    def _keys(self) -> list[tuple[str, str, int]]:
        return list(dict.fromkeys((m.round, m.set, m.assocs) for m in self.measurements))

    def ratios(self) -> list[dict[str, Any]]:
        """edge/Orthanc and edge/storescp in images/s, per (round, set, assocs)."""
        out = []
        for round_, set_, assocs in self._keys():
            edge = self.rate(round_, set_, assocs, "edge")
            out.append(
                {
                    "round": round_,
                    "set": set_,
                    "assocs": assocs,
                    "edge_over_orthanc": _ratio(edge, self.rate(round_, set_, assocs, "orthanc")),
                    "edge_over_storescp": _ratio(edge, self.rate(round_, set_, assocs, "storescp")),
                }
            )
        return out

    def scaling(self) -> list[dict[str, Any]]:
        """images/s with n associations over images/s with one, per receiver, for n > 1."""
        out = []
        keys = dict.fromkeys((m.round, m.set, m.assocs) for m in self.measurements if m.assocs > 1)
        receivers = list(dict.fromkeys(m.receiver for m in self.measurements))
        for round_, set_, assocs in keys:
            row: dict[str, Any] = {"round": round_, "set": set_, "assocs": assocs}
            for rx in receivers:
                row[rx] = _ratio(
                    self.rate(round_, set_, assocs, rx), self.rate(round_, set_, 1, rx)
                )
            out.append(row)
        return out

    def goals(self) -> list[dict[str, Any]]:
        """The issue's goals, each PASS, FAIL or n/a (a figure is missing or failed)."""
        sets = list(dict.fromkeys(m.set for m in self.measurements))
        out: list[dict[str, Any]] = []
        for set_ in sets:
            edge = self.rate("nodelay", set_, 1, "edge")
            ortc = self.rate("nodelay", set_, 1, "orthanc")
            out.append(
                _goal(
                    f"TCP_NODELAY everywhere, 1 association, {set_}: edge >= Orthanc",
                    edge,
                    ortc,
                    1.0,
                    "Orthanc",
                )
            )
        for round_, set_, assocs in self._keys():
            if round_ != "default":
                continue
            out.append(
                _goal(
                    f"default sockets, {assocs} association(s), {set_}: "
                    f"edge >= {DEFAULT_SOCKETS_GOAL:g}x Orthanc",
                    self.rate(round_, set_, assocs, "edge"),
                    self.rate(round_, set_, assocs, "orthanc"),
                    DEFAULT_SOCKETS_GOAL,
                    "Orthanc",
                )
            )
        for row in self.scaling():
            round_, set_, assocs = row["round"], row["set"], row["assocs"]
            out.append(
                _goal(
                    f"{round_}, {set_}: edge with {assocs} associations "
                    f">= {SCALING_GOAL:g}x one association",
                    self.rate(round_, set_, assocs, "edge"),
                    self.rate(round_, set_, 1, "edge"),
                    SCALING_GOAL,
                    "1 assoc",
                )
            )
        return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _goal(
    text: str, value: float | None, reference: float | None, factor: float, ref_name: str
) -> dict[str, Any]:
    if value is None or not reference:
        ratio = None
        verdict = "n/a"
        detail = "a figure is missing or its measurement failed"
    else:
        ratio = value / reference
        verdict = "PASS" if ratio >= factor else "FAIL"
        detail = f"edge {value:.1f} img/s vs {ref_name} {reference:.1f} img/s = {ratio:.2f}x"
    return {"goal": text, "verdict": verdict, "ratio": ratio, "needed": factor, "detail": detail}


# -- plain-text rendering -------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    """A plain-text table; ``right`` holds the indexes of right-aligned columns."""
    widths = [max([_width(h)] + [_width(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        padded = []
        for i, c in enumerate(cells):
            pad = " " * (widths[i] - _width(c))
            padded.append(pad + c if i in right else c + pad)
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def render(results: Results, header: str) -> str:
    """The full plain-text report: figures, ratios, scaling, goals, failures."""
    parts = [header, ""]
    rows = []
    for m in results.measurements:
        rss = m.peak_rss_kib
        rows.append(
            [
                m.round,
                m.set,
                str(m.assocs),
                m.receiver,
                str(m.images),
                _fmt(m.bytes / MB),
                _fmt(m.wall_s, 2),
                _fmt(m.images_per_s),
                _fmt(m.mb_per_s),
                "-" if rss is None else _fmt(rss / 1024),
                m.status,
            ]
        )
    parts.append(
        table(
            [
                "round",
                "set",
                "assocs",
                "receiver",
                "images",
                "MB",
                "wall s",
                "img/s",
                "MB/s",
                "peak RSS MiB",
                "status",
            ],
            rows,
            right={2, 4, 5, 6, 7, 8, 9},
        )
    )
    ratio_rows = [
        [
            r["round"],
            r["set"],
            str(r["assocs"]),
            _fmt_ratio(r["edge_over_orthanc"]),
            _fmt_ratio(r["edge_over_storescp"]),
        ]
        for r in results.ratios()
    ]
    parts += [
        "",
        "Ratios of images/s",
        table(["round", "set", "assocs", "edge/Orthanc", "edge/storescp"], ratio_rows, {2, 3, 4}),
    ]
    scaling = results.scaling()
    if scaling:
        receivers = [k for k in scaling[0] if k not in ("round", "set", "assocs")]
        rows = [
            [s["round"], s["set"], f"{s['assocs']} vs 1"] + [_fmt_ratio(s[r]) for r in receivers]
            for s in scaling
        ]
        parts += [
            "",
            "Scaling: images/s with n parallel associations over one association",
            table(
                ["round", "set", "assocs", *receivers],
                rows,
                set(range(2, 3 + len(receivers))),
            ),
        ]
    parts += ["", "Goals"]
    for g in results.goals():
        parts.append(f"  [{g['verdict']:>4}] {g['goal']}: {g['detail']}")
    notes = []
    for m in results.measurements:
        for i, run in enumerate(m.runs, 1):
            for text in run.problems:
                notes.append(
                    f"  FAILED  {m.round}/{m.set}/{m.assocs}x/{m.receiver} run {i}: {text}"
                )
            for text in run.warnings:
                notes.append(
                    f"  warning {m.round}/{m.set}/{m.assocs}x/{m.receiver} run {i}: {text}"
                )
    if notes:
        parts += ["", "Problems", *notes]
    return "\n".join(parts)
