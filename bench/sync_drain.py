"""Sync drain benchmark: instances queued at an edge while the hub is away, then the hub
returns; how fast the edge's backlog drains into the hub.

Goal (from the issue): at least 200 instances/s on loopback.

    .venv/bin/python bench/sync_drain.py --json bench/out/sync-drain.json
    .venv/bin/python bench/sync_drain.py --quick
    .venv/bin/python bench/sync_drain.py --db postgresql --batch-events 500

For each hub database (SQLite file, fresh PostgreSQL database created and dropped by the
benchmark):

1. ``pacs-hub db upgrade`` and ``pacs-hub device add`` (the edge's token); the hub is NOT
   started.
2. ``pacs-edge serve --hub-url … --hub-token-file …`` (its defaults otherwise: one worker
   process per core, the sync agent in the supervisor); its agent fails to reach the hub
   and backs off.
3. dcmtk ``storescu`` (``TCP_NODELAY=1``) sends N instances with distinct UIDs (one
   association); the edge answers each after it is durable and indexed and queues an
   ``instance.new`` event per instance and a ``study.new`` per study.
4. ``pacs-hub serve`` starts (a subprocess, as in production). From the moment its port
   accepts connections, the edge's index is polled read-only every 50 ms until its outbox
   holds no READY/LOCKED event and every instance has ``hub_confirmed_at``.
5. Checks: the hub holds exactly N instances (state ``held``, no duplicate SOP Instance
   UIDs, the same UIDs as the edge); for a sample, the sha256 recorded by the edge, the
   one recorded by the hub and those of both files on disk agree.

The edge's retry cap is set to 1 s (``PACS_EDGE_SYNC_RETRY_CAP_SECONDS``) so the drain
starts within a second of the hub's return; its default (300 s) would add up to five
minutes of waiting that has nothing to do with throughput. It prints figures and is
never part of the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import hashlib
import os
import platform
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

# Run as a script (python bench/sync_drain.py): make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from bench import drain_breakdown
from bench.dataset import InstanceSet, large_set, small_set
from bench.drain_results import GOAL_PER_S, Drain, medians, render
from bench.hubproc import DATABASES, HubProcess, database
from bench.ingest import send
from bench.peers import Edge, progress, round_env, run_in_workdir, write_json
from bench.results import MB
from hub.db import make_engine

POLL_S = 0.05
EDGE_CAMPUS = "dongge"
PROFILED = Path(__file__).resolve().parent / "profiled.py"


class SyncedEdge(Edge):
    """``pacs-edge serve`` pointed at a hub (which may not be running yet)."""

    name: ClassVar[str] = "edge"

    def __init__(
        self,
        storage: Path,
        logfile: Path,
        env: dict[str, str],
        *,
        hub_url: str,
        token_file: Path,
        wrapper: list[str] | None = None,
    ) -> None:
        super().__init__(storage, logfile, env)
        self.hub_url = hub_url
        self.token_file = token_file
        self.wrapper = wrapper
        """Options of ``bench/profiled.py`` to run the edge under (timers, cProfile)."""
        self.log_mark = 0
        """Size of the log when the hub was started (cycles after it are the drain's)."""

    def _command(self) -> list[str]:
        cmd = [*super()._command(), "--hub-url", self.hub_url]
        cmd += ["--hub-token-file", str(self.token_file)]
        if self.wrapper is None:
            return cmd
        target = ["edge_gateway.cli:main", "--", *cmd[1:]]
        return [sys.executable, str(PROFILED), *self.wrapper, *target]

    @property
    def index_path(self) -> Path:
        return self.storage / "edge.sqlite"

    def _stop(self, process: subprocess.Popen[bytes]) -> None:
        """As the edge's own stop (SIGINT, SIGKILL after the grace time), and SIGKILL at
        once when interrupted while waiting, so Ctrl-C leaves no edge behind."""
        try:
            super()._stop(process)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


# -- watching the edge's index -------------------------------------------------------------


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the edge's SQLite index (WAL: never blocks the edge)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        yield conn
    finally:
        conn.close()


def backlog(conn: sqlite3.Connection) -> tuple[int, int]:
    """(outbox events READY or LOCKED, instances without hub_confirmed_at)."""
    pending = conn.execute(
        "SELECT count(*) FROM outbox WHERE status IN ('READY', 'LOCKED')"
    ).fetchone()[0]
    unconfirmed = conn.execute(
        "SELECT count(*) FROM instance WHERE hub_confirmed_at IS NULL"
    ).fetchone()[0]
    return int(pending), int(unconfirmed)


def outbox_counts(conn: sqlite3.Connection) -> dict[str, int]:
    rows = conn.execute("SELECT kind || ':' || status, count(*) FROM outbox GROUP BY 1")
    return {str(k): int(n) for k, n in rows}


# -- one drain -------------------------------------------------------------------------------


def edge_env(args: argparse.Namespace) -> dict[str, str]:
    """TCP_NODELAY=1 for storescu; the edge's sync settings (nothing inherited)."""
    env = {k: v for k, v in round_env(nodelay=True).items() if not k.startswith("PACS_EDGE_")}
    env["PACS_EDGE_SYNC_RETRY_CAP_SECONDS"] = f"{args.retry_cap:g}"
    if args.batch_events is not None:
        env["PACS_EDGE_SYNC_BATCH_EVENTS"] = str(args.batch_events)
    if args.batch_mb is not None:
        env["PACS_EDGE_SYNC_BATCH_BYTES"] = str(int(args.batch_mb * MB))
    return env


def measure(
    args: argparse.Namespace, db: str, run: int, instances: InstanceSet, rundir: Path
) -> Drain:
    """Queue ``instances`` at an edge with the hub down, start the hub, time the drain."""
    rundir.mkdir(parents=True, exist_ok=False)
    result = Drain(db, run, instances.count, instances.total_bytes)
    env = edge_env(args)
    result.settings = {k: v for k, v in env.items() if k.startswith("PACS_EDGE_")}
    with database(db, rundir / "hub") as url:
        hub = HubProcess(
            rundir / "hub",
            url,
            rundir / "hub.log",
            log_level=args.hub_log_level,
            wrapper=_wrapper(args, "hub", rundir),
        )
        hub.upgrade()
        token_file = rundir / "edge.token"
        token_file.write_text(hub.add_device(EDGE_CAMPUS) + "\n", encoding="utf-8")
        edge = SyncedEdge(
            rundir / "edge",
            rundir / "edge.log",
            env,
            hub_url=hub.base_url,
            token_file=token_file,
            wrapper=_wrapper(args, "edge", rundir),
        )
        with edge:
            progress(f"[{db}] hub down; sending {instances.count} instances to the edge")
            wall, _codes, problems = send(edge, instances, 1, env, rundir)
            result.send_s = wall
            if problems:
                result.problems += problems
                return result
            with read_only(edge.index_path) as conn:
                counts = outbox_counts(conn)
            result.events = sum(n for k, n in counts.items() if not k.endswith(":DONE"))
            result.checks["outbox_before"] = counts
            progress(
                f"[{db}] sent in {wall:.1f} s ({instances.count / wall:.0f}/s); outbox {counts}"
            )
            try:
                _drain(args, hub, edge, result)
            finally:
                hub.stop()
            result.cycles = edge_cycles(edge.logfile, edge.log_mark)
            verify(args, url, hub, edge, result)
    if args.breakdown:
        result.breakdown = drain_breakdown.breakdown(
            drain_breakdown.read_timers(rundir / "hub.timers.json"),
            drain_breakdown.read_timers(rundir / "edge.timers.json"),
            instances=result.instances,
            drained_s=result.drained_s,
        )
    return result


def _wrapper(args: argparse.Namespace, side: str, rundir: Path) -> list[str] | None:
    """How ``side`` (hub or edge) runs under ``bench/profiled.py``, or None: plainly."""
    if args.breakdown:
        phases = drain_breakdown.HUB_PHASES if side == "hub" else drain_breakdown.EDGE_PHASES
        return drain_breakdown.wrapper_args(phases, rundir / f"{side}.timers.json")
    if args.profile:
        out = ["--out", str(rundir / f"{side}.prof")]
        # the edge: its sync agent's threads only (the DICOM workers are forked)
        return out if side == "hub" else [*out, "--threads", "sync-", "--no-main"]
    return None


def _drain(args: argparse.Namespace, hub: HubProcess, edge: SyncedEdge, result: Drain) -> None:
    edge.log_mark = edge.logfile.stat().st_size
    if args.breakdown:
        os.kill(edge.pid, signal.SIGUSR1)  # the edge's timers start over: the drain only
    launched = time.perf_counter()
    hub.launch()
    hub.wait_ready()
    start = time.perf_counter()
    result.hub_startup_s = start - launched
    progress(f"[{result.db}] hub listening after {result.hub_startup_s:.2f} s; draining")
    deadline = start + args.timeout
    with read_only(edge.index_path) as conn:
        while True:
            pending, unconfirmed = backlog(conn)
            now = time.perf_counter() - start
            result.timeline.append((round(now, 3), pending, unconfirmed))
            if result.first_confirmation_s is None and unconfirmed < result.instances:
                result.first_confirmation_s = now
            if pending == 0 and unconfirmed == 0:
                result.drained_s = now
                break
            if time.perf_counter() > deadline:
                result.problems.append(
                    f"not drained after {args.timeout:.0f} s: {pending} events waiting, "
                    f"{unconfirmed} instances unconfirmed"
                )
                break
            if hub.process is None or hub.process.poll() is not None:
                result.problems.append(f"the hub died while draining: {hub.log_tail(5)}")
                break
            time.sleep(POLL_S)
        result.checks["outbox_after"] = outbox_counts(conn)
    rate = result.instances_per_s
    progress(
        f"[{result.db}] drained in {result.drained_s or float('nan'):.2f} s"
        + (f" = {rate:.0f} instances/s" if rate else "")
    )


_CYCLE = re.compile(
    r"^(\S+ \S+?)Z INFO \S+: sync: sent (\d+) event\(s\) \((\d+) image\(s\), ([\d.]+) MB\)"
)


def edge_cycles(logfile: Path, since: int) -> list[dict[str, Any]]:
    """The sync agent's successful cycles logged after byte ``since`` of the edge's log:
    time (UTC), events, images, MB each."""
    with logfile.open("rb") as fh:
        fh.seek(since)
        lines = fh.read().decode("utf-8", errors="replace").splitlines()
    cycles = []
    for line in lines:
        m = _CYCLE.match(line)
        if m:
            at = dt.datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f")
            cycles.append(
                {"at": at.isoformat(), "events": int(m[2]), "images": int(m[3]), "mb": float(m[4])}
            )
    return cycles


def verify(
    args: argparse.Namespace, url: str, hub: HubProcess, edge: SyncedEdge, result: Drain
) -> None:
    """Compare what the hub holds with what the edge sent (counts, UIDs, sampled sha256)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT sop_uid, state, sha256, rel_path FROM archive_instance")
            ).all()
    finally:
        engine.dispose()
    with read_only(edge.index_path) as conn:
        edge_rows = {
            str(r[0]): (str(r[1]), str(r[2]))
            for r in conn.execute("SELECT sop_uid, sha256, rel_path FROM instance")
        }
    hub_rows = {str(r.sop_uid): r for r in rows}
    held = [r for r in rows if r.state == "held"]
    checks = result.checks
    checks.update(
        hub_rows=len(rows),
        hub_distinct_sop_uids=len(hub_rows),
        hub_held=len(held),
        edge_instances=len(edge_rows),
        same_uids=set(hub_rows) == set(edge_rows),
    )
    if len(rows) != result.instances or len(held) != result.instances:
        result.problems.append(
            f"the hub holds {len(held)} instances ({len(rows)} rows), {result.instances} were sent"
        )
    if len(hub_rows) != len(rows):
        result.problems.append(
            f"{len(rows) - len(hub_rows)} duplicate SOP Instance UIDs at the hub"
        )
    if not checks["same_uids"]:
        result.problems.append("the hub's SOP Instance UIDs differ from the edge's")
    sample = random.Random(7).sample(sorted(edge_rows), min(args.sample, len(edge_rows)))
    mismatches = []
    for uid in sample:
        edge_sha, edge_rel = edge_rows[uid]
        row = hub_rows.get(uid)
        if row is None:
            mismatches.append(f"{uid}: not at the hub")
            continue
        on_edge = _sha256(edge.storage / "archive" / edge_rel)
        on_hub = _sha256(hub.data_dir / "archive" / str(row.rel_path))
        if not edge_sha == row.sha256 == on_edge == on_hub:
            mismatches.append(f"{uid}: edge {edge_sha[:12]} hub {str(row.sha256)[:12]}")
    checks.update(sha256_sampled=len(sample), sha256_mismatches=mismatches)
    if mismatches:
        result.problems.append(f"sha256 differs for {len(mismatches)} of {len(sample)} sampled")


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        return f"unreadable ({exc.strerror})"


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Sync drain: instances queued at an edge while the hub is away, then "
        "the hub returns; instances/s until drained, on SQLite and PostgreSQL.",
    )
    p.add_argument("--count", type=int, default=2000, help="instances (default 2000)")
    p.add_argument(
        "--size",
        choices=("small", "large"),
        default="small",
        help="small: ~39 KB CT (default); large: ~0.5 MB CT",
    )
    p.add_argument("--db", choices=(*DATABASES, "both"), help="default: both (--quick: sqlite)")
    p.add_argument("--repeat", type=int, default=1, help="runs per database; medians printed")
    p.add_argument(
        "--quick", action="store_true", help="smoke run: 200 instances (SQLite only unless --db)"
    )
    p.add_argument("--batch-events", type=int, help="PACS_EDGE_SYNC_BATCH_EVENTS (default 200)")
    p.add_argument(
        "--batch-mb", type=float, help="PACS_EDGE_SYNC_BATCH_BYTES in MB (default 32 MiB)"
    )
    p.add_argument(
        "--retry-cap",
        type=float,
        default=1.0,
        help="PACS_EDGE_SYNC_RETRY_CAP_SECONDS (default 1; the edge's own is 300)",
    )
    p.add_argument("--sample", type=int, default=100, help="instances whose sha256 is checked")
    p.add_argument("--timeout", type=float, default=900.0, help="give up draining after (s)")
    p.add_argument("--hub-log-level", default="INFO", help="pacs-hub --log-level (default INFO)")
    p.add_argument(
        "--breakdown",
        action="store_true",
        help="time the phases of hub and edge (bench/drain_breakdown.py) and print where "
        "the time goes",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="run hub and edge under cProfile (bench/profiled.py); slower",
    )
    p.add_argument("--workdir", type=Path, help="instances and runs (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--json", type=Path, help="also write the results as JSON to this path")
    args = p.parse_args(argv)
    if args.quick:
        args.count = min(args.count, 200)
    if args.db is None:
        args.db = "sqlite" if args.quick else "both"
    if args.count < 1 or args.repeat < 1:
        p.error("--count and --repeat must be at least 1")
    return args


def run(args: argparse.Namespace, workdir: Path) -> int:
    dbs = list(DATABASES) if args.db == "both" else [args.db]
    progress(f"work directory: {workdir}")
    make = small_set if args.size == "small" else large_set
    instances = make(workdir / "instances" / args.size, args.count)
    meta: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "count": instances.count,
        "size": args.size,
        "mb": instances.total_bytes / MB,
        "edge_settings": {k: v for k, v in edge_env(args).items() if k.startswith("PACS_EDGE_")},
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    drains: list[Drain] = []
    for db in dbs:
        for k in range(1, args.repeat + 1):
            drains.append(measure(args, db, k, instances, workdir / "runs" / f"{db}-{k}"))
            if args.json:
                _write(args.json, meta, drains, complete=False)
    meta["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(render(drains, meta))
    for d in drains:
        if d.breakdown:
            print("\n" + drain_breakdown.render(d.label, d.breakdown, d.drained_s))
    if args.profile:
        progress(f"profiles: {workdir / 'runs'}/*/{{hub,edge}}.prof (use --keep)")
    if args.json:
        _write(args.json, meta, drains, complete=True)
        progress(f"JSON written to {args.json}")
    return 0 if all(d.ok for d in drains) else 1


def _write(path: Path, meta: dict[str, Any], drains: list[Drain], complete: bool) -> None:
    write_json(
        path,
        {
            "benchmark": "sync_drain",
            "complete": complete,
            "goal_instances_per_s": GOAL_PER_S,
            "meta": meta,
            "drains": [d.to_json() for d in drains],
            "medians": medians(drains),
        },
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_workdir(
        functools.partial(run, args),
        prefix="pacs-bench-drain-",
        workdir=args.workdir,
        keep=args.keep,
        fresh=("runs",),
    )


if __name__ == "__main__":
    sys.exit(main())
