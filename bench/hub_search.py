"""Patient search at the hub: 100,000 patients and 300,000 orders, the real search
endpoint over HTTP, latency per kind of search.

Goal (from the issue): p95 <= 50 ms on PostgreSQL for patient-ID, name-prefix and
pinyin-prefix searches.

    .venv/bin/python bench/hub_search.py --json bench/out/hub-search.json
    .venv/bin/python bench/hub_search.py --quick
    .venv/bin/python bench/hub_search.py --db postgresql --queries 200

For each database (a fresh PostgreSQL database created and dropped by the benchmark;
SQLite, a file, for comparison):

1. ``hub.migrate.upgrade``, the shipped procedure catalogue, then the patients and their
   orders written directly (PostgreSQL: ``COPY``; SQLite: multi-row INSERTs), not through
   the API, then ``ANALYZE`` — data from ``bench/names.py``: Chinese names by surname
   frequency, pinyin and initials from the hub's own ``pinyin_key``, 10-digit patient
   IDs, births, phones; 3 orders per patient over both campuses and three years.
2. ``pacs-hub serve`` (a subprocess) and a registrar signed in.
3. ``GET /api/v1/patients`` with each kind's parameter, the first page (the API's default
   page size, 50), one request at a time on a kept-alive connection; ``--queries`` timed
   requests per kind after 10 untimed ones, every kind's terms taken from random
   patients (so frequent surnames come up as often as at a registration desk), the kinds
   interleaved. Each request is checked: 200, and at least the patient the term came from
   is counted. Every search also writes one audit record per patient shown, as in use.
4. ``EXPLAIN (ANALYZE, BUFFERS)`` (PostgreSQL) / ``EXPLAIN QUERY PLAN`` (SQLite) of the
   statements ``hub.services.patients.search_patients`` runs for the slowest request of
   each kind (a line per kind, all plans of the slowest kind), now and with the proposed
   prefix indexes where the schema lacks them (``bench/search_plans.py``; rolled back).

It prints figures and is never part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Run as a script (python bench/hub_search.py): make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.hubproc import ICU_LOCALE, HubProcess, database
from bench.names import GeneratedPatient, make_patients
from bench.peers import progress, run_in_workdir, write_json
from bench.results import table
from bench.search_data import fill
from bench.search_plans import explain_all
from hub.services.names import name_syllables

GOAL_P95_MS = 50.0
SEARCH_DATABASES = ("postgresql", "postgresql-icu", "sqlite")
"""postgresql: a database with the server's default collation (C.UTF-8 here);
postgresql-icu: one whose default collation is ICU zh-Hans-CN (production databases
created under zh_CN/en_US locales have a non-C collation too); sqlite: the hub's default."""
WARMUP = 10
SEARCH_PATH = "/api/v1/patients"


@dataclass(frozen=True)
class Kind:
    key: str
    label: str
    params: Callable[[GeneratedPatient], dict[str, str]]
    in_goal: bool = True


def _pinyin_prefix(p: GeneratedPatient) -> str:
    """Surname pinyin + first letter of the given name (``zhangw``)."""
    family, given = name_syllables(p.name)
    return "".join(family) + (given[0][:1] if given else "")


KINDS: tuple[Kind, ...] = (
    Kind("id", "patient ID, exact (patient_id=)", lambda p: {"patient_id": p.patient_id}),
    Kind("name1", "name prefix, 1 character (name=张)", lambda p: {"name": p.name[:1]}),
    Kind("name2", "name prefix, 2 characters (name=张伟)", lambda p: {"name": p.name[:2]}),
    Kind("pinyin", "pinyin prefix (pinyin=zhangw)", lambda p: {"pinyin": _pinyin_prefix(p)}),
    Kind("initials", "initials prefix (initials=zw)", lambda p: {"initials": p.initials[:2]}),
    Kind("q_id", "search box: patient ID (q=…)", lambda p: {"q": p.patient_id}, False),
    Kind("q_name2", "search box: 2 characters (q=张伟)", lambda p: {"q": p.name[:2]}, False),
    Kind("q_pinyin", "search box: pinyin (q=zhangw)", lambda p: {"q": _pinyin_prefix(p)}, False),
    Kind("q_initials", "search box: initials (q=zw)", lambda p: {"q": p.initials[:2]}, False),
)


@dataclass
class Cell:
    """The timed requests of one (database, kind)."""

    db: str
    kind: str
    samples_ms: list[float] = field(default_factory=list)
    matches: list[int] = field(default_factory=list)
    slowest: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def pct(self, q: float) -> float | None:
        """Nearest-rank percentile (``q`` in 0..100)."""
        if not self.samples_ms:
            return None
        ordered = sorted(self.samples_ms)
        return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]

    def to_json(self) -> dict[str, Any]:
        return {
            "db": self.db,
            "kind": self.kind,
            "n": len(self.samples_ms),
            "p50_ms": self.pct(50),
            "p95_ms": self.pct(95),
            "p99_ms": self.pct(99),
            "max_ms": max(self.samples_ms, default=None),
            "mean_ms": statistics.fmean(self.samples_ms) if self.samples_ms else None,
            "matches_median": statistics.median(self.matches) if self.matches else None,
            "matches_max": max(self.matches, default=None),
            "slowest": self.slowest,
            "problems": self.problems,
            "samples_ms": [round(x, 3) for x in self.samples_ms],
        }


def measure(
    args: argparse.Namespace, db: str, patients: list[GeneratedPatient], rundir: Path
) -> tuple[dict[str, Cell], dict[str, Any]]:
    """Fill a fresh database of kind ``db``, serve it, time every kind; (cells, info)."""
    rundir.mkdir(parents=True, exist_ok=False)
    info: dict[str, Any] = {}
    with database(db, rundir / "hub") as url:
        progress(
            f"[{db}] filling {len(patients):,} patients, {args.orders_per_patient} orders each"
        )
        info["fill"] = fill(url, patients, args.orders_per_patient)
        progress(f"[{db}] filled: {info['fill']}")
        hub = HubProcess(
            rundir / "hub",
            url,
            rundir / "hub.log",
            log_level=args.hub_log_level,
            settings={"PACS_HUB_TOKEN_MINUTES": "600"},
        )
        hub.add_user("registrar1", "registrar")
        with hub:
            token = hub.login("registrar1")
            cells = _timed(args, db, hub, token, patients)
        timed = [c for c in cells.values() if c.samples_ms]
        if timed:
            info["slowest_kind"] = max(timed, key=lambda c: c.pct(95) or 0.0).kind
        progress(f"[{db}] explaining the slowest request of each kind")
        info["plans"] = explain_all(url, {k: c.slowest for k, c in cells.items() if c.slowest})
    return cells, info


def _timed(
    args: argparse.Namespace,
    db: str,
    hub: HubProcess,
    token: str,
    patients: list[GeneratedPatient],
) -> dict[str, Cell]:
    rng = random.Random(args.seed)
    kinds = [k for k in KINDS if k.key in args.kinds]
    cells = {k.key: Cell(db, k.key) for k in kinds}
    plan = [(k, rng.choice(patients)) for k in kinds for _ in range(WARMUP + args.queries)]
    rng.shuffle(plan)  # kinds interleaved; each kind's first WARMUP requests are untimed
    seen: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {token}"}
    slowest: dict[str, float] = {}
    with httpx.Client(base_url=hub.base_url, headers=headers, timeout=60) as client:
        started = time.perf_counter()
        for n, (kind, patient) in enumerate(plan, 1):
            params = kind.params(patient)
            t0 = time.perf_counter()
            r = client.get(SEARCH_PATH, params=params)
            ms = (time.perf_counter() - t0) * 1000
            cell = cells[kind.key]
            seen[kind.key] = seen.get(kind.key, 0) + 1
            problem = _check(r, patient)
            if problem:
                cell.problems.append(f"{params}: {problem}")
                continue
            if seen[kind.key] <= WARMUP:
                continue
            cell.samples_ms.append(ms)
            cell.matches.append(int(r.json()["count"]))
            if ms > slowest.get(kind.key, -1.0):
                slowest[kind.key] = ms
                cell.slowest = params
            if n % 1000 == 0:
                progress(f"[{db}] {n}/{len(plan)} requests, {time.perf_counter() - started:.0f} s")
    return cells


def _check(r: httpx.Response, patient: GeneratedPatient) -> str:
    if r.status_code != 200:
        return f"HTTP {r.status_code}: {r.text[:200]}"
    body = r.json()
    if int(body.get("count", 0)) < 1:
        return f"no match, though patient {patient.patient_id} ({patient.name}) fits"
    return ""


# -- report ---------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(
    results: dict[str, dict[str, Cell]], infos: dict[str, dict[str, Any]], meta: dict[str, Any]
) -> str:
    dbs = list(results)
    parts = [
        f"Hub patient search benchmark, {meta['date']} on {meta['host']} ({meta['cpus']} CPUs; "
        f"load average {meta['loadavg_at_start'][0]} at start, {meta['loadavg_at_end'][0]} at end)",
        f"  {meta['patients']:,} patients, {meta['orders']:,} orders; {meta['queries']} timed "
        f"requests per kind (after {WARMUP} untimed), first page of GET {SEARCH_PATH}",
    ]
    for db in dbs:
        fill_info = infos[db]["fill"]
        parts.append(
            f"  {db}: filled in {fill_info['seconds']:.1f} s ({fill_info['method']}); "
            f"{fill_info.get('server', '')}"
        )
    headers = ["kind", "matches (median)"]
    for db in dbs:
        headers += [f"{db} p50", "p95", "p99", "max ms"]
    headers.append("goal")
    rows = []
    for kind in KINDS:
        if kind.key not in results[dbs[0]]:
            continue
        first = results[dbs[0]][kind.key]
        matches = statistics.median(first.matches) if first.matches else None
        row = [kind.label, "-" if matches is None else f"{matches:,.0f}"]
        for db in dbs:
            c = results[db][kind.key]
            row += [
                _ms(c.pct(50)),
                _ms(c.pct(95)),
                _ms(c.pct(99)),
                _ms(max(c.samples_ms, default=None)),
            ]
        row.append(_verdict(results, kind) if kind.in_goal else "(not in goal)")
        rows.append(row)
    parts += ["", table(headers, rows, right=set(range(1, len(headers) - 1)))]
    parts += [
        "",
        f"Goal: p95 <= {GOAL_P95_MS:.0f} ms on PostgreSQL for ID, name-prefix, pinyin-prefix "
        "(verdicts for " + " / ".join(d for d in dbs if d.startswith("postgresql")) + ")",
    ]
    problems = [
        f"  {c.db}/{c.kind}: {len(c.problems)} failed request(s), e.g. {c.problems[0]}"
        for cells in results.values()
        for c in cells.values()
        if c.problems
    ]
    if problems:
        parts += ["", "Problems", *problems]
    for db in dbs:
        parts += ["", *_plan_lines(db, infos[db])]
    return "\n".join(parts)


def _plan_lines(db: str, info: dict[str, Any]) -> list[str]:
    """Per kind: the service call's time and the plan summary, now and with the fix;
    the full plans of the slowest kind."""
    plans: dict[str, Any] = info.get("plans", {})
    if not plans:
        return []
    note = next(iter(plans.values()))["what_if"]["note"]
    lines = [
        f"Query plans ({db}), the slowest request of each kind: search_patients() in-process "
        "ms; each statement alone [ms]",
    ]
    for key, plan in plans.items():
        lines.append(f"  {key:10s} {plan['service_ms']:6.1f} ms  now:  {plan['summary']}")
        if not plan["what_if"]["same"]:
            lines.append(f"  {'':10s} {'':9s}  fix:  {plan['what_if']['summary']}")
    lines.append(f"  fix = {note}")
    slow = info.get("slowest_kind")
    if slow in plans:
        lines += ["", f"  slowest kind on {db}: {slow}, {plans[slow]['params']}"]
        shown = [("now", plans[slow]["statements"])]
        if not plans[slow]["what_if"]["same"]:
            shown.append(("with the fix", plans[slow]["what_if"]["statements"]))
        for label, statements in shown:
            for stmt in statements:
                lines.append(f"    -- {label}: {stmt['sql_short']}")
                lines += [f"    {line}" for line in stmt["plan"]]
    return lines


def _verdict(results: dict[str, dict[str, Cell]], kind: Kind) -> str:
    verdicts = []
    for db in ("postgresql", "postgresql-icu"):
        cell = results.get(db, {}).get(kind.key)
        if cell is None:
            continue
        p95 = cell.pct(95)
        ok = p95 is not None and not cell.problems and p95 <= GOAL_P95_MS
        verdicts.append(("PASS" if ok else "FAIL") if p95 is not None else "n/a")
    return "/".join(verdicts) or "n/a"


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Patient search at the hub with 100,000 patients and 300,000 orders: "
        "p50/p95/p99/max per kind of search over HTTP, PostgreSQL and SQLite.",
    )
    p.add_argument("--patients", type=int, default=100_000)
    p.add_argument("--orders-per-patient", type=int, default=3)
    p.add_argument("--queries", type=int, default=500, help="timed requests per kind")
    p.add_argument(
        "--db",
        default=",".join(SEARCH_DATABASES),
        help="comma-separated: postgresql (server default collation), postgresql-icu "
        f"(ICU {ICU_LOCALE} collation), sqlite (default: all three)",
    )
    p.add_argument(
        "--kinds",
        default=",".join(k.key for k in KINDS),
        help="comma-separated kinds: " + ", ".join(k.key for k in KINDS),
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 5,000 patients, 30 queries")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--hub-log-level", default="INFO", help="pacs-hub --log-level (default INFO)")
    p.add_argument("--workdir", type=Path, help="SQLite file and logs (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--json", type=Path, help="also write the results as JSON to this path")
    args = p.parse_args(argv)
    if args.quick:
        args.patients, args.queries = min(args.patients, 5000), min(args.queries, 30)
    args.db = [d.strip() for d in args.db.split(",") if d.strip()]
    if not args.db or set(args.db) - set(SEARCH_DATABASES):
        p.error(f"--db: expected some of {', '.join(SEARCH_DATABASES)}")
    args.kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = set(args.kinds) - {k.key for k in KINDS}
    if unknown or not args.kinds:
        p.error(f"unknown kinds {sorted(unknown)}; known: {', '.join(k.key for k in KINDS)}")
    if args.patients < 10 or args.queries < 1 or args.orders_per_patient < 0:
        p.error("--patients >= 10, --queries >= 1, --orders-per-patient >= 0")
    return args


def run(args: argparse.Namespace, workdir: Path) -> int:
    dbs = [d for d in SEARCH_DATABASES if d in args.db]  # the goal's databases first
    started = time.perf_counter()
    patients = make_patients(args.patients)
    progress(f"{len(patients):,} patients generated in {time.perf_counter() - started:.1f} s")
    meta: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "patients": len(patients),
        "orders": len(patients) * args.orders_per_patient,
        "distinct_names": len({p.name for p in patients}),
        "queries": args.queries,
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    results: dict[str, dict[str, Cell]] = {}
    infos: dict[str, dict[str, Any]] = {}
    for db in dbs:
        results[db], infos[db] = measure(args, db, patients, workdir / "runs" / db)
        if args.json:
            _write(args.json, meta, results, infos, complete=False)
    meta["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(render(results, infos, meta))
    if args.json:
        _write(args.json, meta, results, infos, complete=True)
        progress(f"JSON written to {args.json}")
    failed = any(
        c.problems or not c.samples_ms for cells in results.values() for c in cells.values()
    )
    return 1 if failed else 0


def _write(
    path: Path,
    meta: dict[str, Any],
    results: dict[str, dict[str, Cell]],
    infos: dict[str, dict[str, Any]],
    complete: bool,
) -> None:
    write_json(
        path,
        {
            "benchmark": "hub_search",
            "complete": complete,
            "goal_p95_ms": GOAL_P95_MS,
            "meta": meta,
            "kinds": {k.key: {"label": k.label, "in_goal": k.in_goal} for k in KINDS},
            "cells": [c.to_json() for cells in results.values() for c in cells.values()],
            "databases": infos,
        },
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_workdir(
        functools.partial(run, args),
        prefix="pacs-bench-search-",
        workdir=args.workdir,
        keep=args.keep,
        fresh=("runs",),
    )


if __name__ == "__main__":
    sys.exit(main())
