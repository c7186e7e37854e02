"""Ingest benchmark: dcmtk storescu → storescp / Orthanc / the edge gateway, in one run.

Prints images/s and MB/s per receiver, the ratios edge/Orthanc and edge/storescp, scaling
with parallel associations, the edge's peak RSS and the issue's goals; ``--json`` also
writes everything as JSON. It prints figures and is never part of the test suite.

    .venv/bin/python bench/ingest.py --json bench/out/ingest.json
    .venv/bin/python bench/ingest.py --small 100 --large 20 --receivers storescp,orthanc

Rounds: ``nodelay`` runs every dcmtk process (storescu, storescp, Orthanc) with
``TCP_NODELAY=1``; ``default`` runs them all with default sockets. The edge sets
TCP_NODELAY itself either way. Each receiver starts fresh, with empty storage, for every
run. Timing is wall time from launching the storescu processes to all of them exiting.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run as a script (python bench/ingest.py): make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dataset import (
    LARGE_SIZE,
    SERIES_PER_STUDY,
    SERIES_SIZE,
    InstanceSet,
    large_set,
    small_set,
)
from bench.peers import (
    HOST,
    RECEIVERS,
    Edge,
    Orthanc,
    Receiver,
    dcmtk_tool,
    progress,
    round_env,
    run_in_workdir,
    wait_exactly,
    write_json,
)
from bench.results import MB, Measurement, Results, Run, render

ROUNDS = ("nodelay", "default")
# Builds a receiver from (storage dir, log file, environment, smallest instance size).
ReceiverFactory = Callable[[Path, Path, dict[str, str], int], Receiver]
SETS = ("small", "large")
SEND_TIMEOUT_S = 3600.0


def _csv(allowed: tuple[str, ...]) -> Any:
    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {', '.join(allowed)}; got {text!r}"
            )
        return list(dict.fromkeys(items))

    return parse


def _assocs(text: str) -> list[int]:
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers like 1,4; got {text!r}")
    return sorted(set(values))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="C-STORE ingest benchmark: dcmtk storescu into storescp, Orthanc and the "
        "edge gateway, with and without TCP_NODELAY, on 1 and n parallel associations.",
    )
    p.add_argument("--small", type=int, default=1000, help="~39 KB CT instances (default 1000)")
    p.add_argument("--large", type=int, default=300, help="~0.5 MB CT instances (default 300)")
    p.add_argument(
        "--rounds",
        type=_csv(ROUNDS),
        default=list(ROUNDS),
        help="nodelay (TCP_NODELAY=1 for every dcmtk process) and/or default sockets",
    )
    p.add_argument(
        "--receivers",
        type=_csv(tuple(RECEIVERS)),
        default=list(RECEIVERS),
        help="any of storescp,orthanc,edge (default all three)",
    )
    p.add_argument(
        "--assocs",
        type=_assocs,
        default=[1, 4],
        help="parallel associations (storescu processes), e.g. 1,4 (default)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per cell, the receivers taking turns run by run; the median is taken",
    )
    p.add_argument("--workdir", type=Path, help="where instances and receivers live (temp dir)")
    p.add_argument("--keep", action="store_true", help="keep instances, receiver storage, logs")
    p.add_argument("--json", type=Path, help="also write the results as JSON to this path")
    p.add_argument(
        "--edge-bin",
        type=Path,
        default=Edge.DEFAULT_EXECUTABLE,
        help="the edge gateway's CLI (default: the repository's .venv/bin/pacs-edge)",
    )
    args = p.parse_args(argv)
    if args.small < 0 or args.large < 0 or args.small + args.large == 0:
        p.error("--small and --large must be >= 0 and not both 0")
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    return args


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    return " | ".join(text.splitlines()[-lines:])


def send(
    rx: Receiver, instances: InstanceSet, assocs: int, env: dict[str, str], logdir: Path
) -> tuple[float, list[int], list[str]]:
    """Send ``instances`` to ``rx`` with ``assocs`` storescu processes, each a contiguous share.

    storescu proposes only the presentation contexts the files need (``-R``), with its default
    max PDU (16 KB), and halts on the first unsuccessful C-STORE (non-zero exit). Returns
    (wall seconds, exit codes, problems); every non-zero exit is a problem.
    """
    storescu = dcmtk_tool("storescu")
    chunks = instances.chunks(assocs)
    logs = [(logdir / f"storescu-{i + 1}.log").open("wb") for i in range(len(chunks))]
    procs: list[subprocess.Popen[bytes]] = []
    problems: list[str] = []
    try:
        start = time.perf_counter()
        for i, chunk in enumerate(chunks):
            cmd = [storescu, "-R", "-aet", f"BENCH{i + 1}", "-aec", rx.ae_title, HOST]
            procs.append(
                subprocess.Popen(
                    [*cmd, str(rx.port), *chunk],
                    cwd=instances.folder,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=logs[i],
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = start + SEND_TIMEOUT_S
        for proc in procs:
            if not wait_exactly(proc, deadline - time.perf_counter()):
                problems.append(f"storescu did not finish within {SEND_TIMEOUT_S:.0f} s")
                break
        wall = time.perf_counter() - start
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()
    codes = [p.returncode for p in procs]
    for i, code in enumerate(codes):
        if code != 0:
            tail = _tail(logdir / f"storescu-{i + 1}.log")
            problems.append(
                f"storescu #{i + 1} ({len(chunks[i])} files) exited with {code}: {tail}"
            )
    return wall, codes, problems


def measure_once(
    make: ReceiverFactory,
    instances: InstanceSet,
    assocs: int,
    env: dict[str, str],
    rundir: Path,
    keep: bool,
) -> Run:
    """Start a fresh receiver, send, check what it stored, read its peak RSS, stop it."""
    rundir.mkdir(parents=True, exist_ok=False)
    storage = rundir / "storage"
    rx = make(storage, rundir / "receiver.log", env, min(instances.sizes) * 9 // 10)
    try:
        with rx:
            wall, codes, problems = send(rx, instances, assocs, env, rundir)
            warnings: list[str] = []
            if rx.process is None or rx.process.poll() is not None:
                problems.append(f"{rx.name} died during the send: {rx.log_tail(5)}")
                received, rss = None, None
            else:
                try:
                    received = rx.stored_count()
                except OSError as exc:
                    problems.append(f"could not ask {rx.name} how many instances it holds: {exc}")
                    received = None
                rss = rx.peak_rss_kib()  # right before stopping it
            if received is not None and received != instances.count:
                text = f"{rx.name} holds {received} instances, {instances.count} were sent"
                if rx.stored_count_exact:
                    problems.append(text)
                else:
                    warnings.append(f"{text} (counted DICOM files >= 90% of the smallest instance)")
        if rx.exit_code is not None and rx.exit_code not in rx.clean_exit_codes:
            warnings.append(f"{rx.name} exited with {rx.exit_code} when stopped")
        return Run(wall, codes, received, rss, problems, warnings)
    finally:
        if not keep:
            shutil.rmtree(storage, ignore_errors=True)


def _header(args: argparse.Namespace, sets: dict[str, InstanceSet], meta: dict[str, Any]) -> str:
    lines = [
        f"Ingest benchmark, {meta['date']} on {meta['host']} ({meta['cpus']} CPUs; load average"
        f" {meta['loadavg_at_start'][0]} at start, {meta['loadavg_at_end'][0]} at end)",
        f"  {meta['dcmtk']}; Orthanc {meta.get('orthanc', '-')}; edge: {meta['edge']}",
    ]
    for s in sets.values():
        lines.append(
            f"  {s.name}: {s.count} instances, {s.total_bytes / MB:.1f} MB "
            f"(mean {s.total_bytes / max(1, s.count) / 1000:.1f} KB)"
        )
    lines += [
        "  rounds: nodelay = TCP_NODELAY=1 for every dcmtk process (Orthanc included),",
        "          default = default sockets everywhere (the edge sets TCP_NODELAY itself)",
        f"  median of {args.repeat} run(s), each on a fresh receiver; MB = 10^6 bytes;"
        " peak RSS = VmHWM before stopping",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace, workdir: Path) -> int:
    factories: dict[str, ReceiverFactory] = {name: RECEIVERS[name] for name in args.receivers}
    meta: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "dcmtk": _version([dcmtk_tool("storescu"), "--version"])
        .strip("$ ")
        .removeprefix("dcmtk: "),
        "edge": "not measured",
        "storescu_options": "-R (only the presentation contexts needed), default max PDU 16384",
        "series_size": SERIES_SIZE,
        "series_per_study": SERIES_PER_STUDY,
        "large_matrix": LARGE_SIZE,
    }
    if "edge" in factories:
        ok, why = Edge.available(args.edge_bin)
        if not ok:
            print(
                f"The edge gateway cannot be started: {why}.\n"
                "Install it (make venv) or leave it out: --receivers storescp,orthanc",
                file=sys.stderr,
            )
            return 2
        meta["edge"] = f"{args.edge_bin} serve"
        factories["edge"] = functools.partial(Edge, executable=args.edge_bin)
    if "orthanc" in factories:
        meta["orthanc"] = _version([Orthanc.binary(), "--version"]).split()[-1]

    progress(f"work directory: {workdir}")
    started = time.perf_counter()
    sets: dict[str, InstanceSet] = {}
    if args.small:
        sets["small"] = small_set(workdir / "instances" / "small", args.small)
    if args.large:
        sets["large"] = large_set(workdir / "instances" / "large", args.large)
    progress(f"instances ready in {time.perf_counter() - started:.1f} s")
    meta["sets"] = {
        name: {"count": s.count, "bytes": s.total_bytes, "folder": str(s.folder)}
        for name, s in sets.items()
    }
    meta["options"] = {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "json"
    }

    measurements: list[Measurement] = []
    groups = [(r, s, a) for r in args.rounds for s in sets for a in args.assocs]
    total = len(groups) * len(factories)
    for g, (round_, set_name, assocs) in enumerate(groups):
        instances = sets[set_name]
        env = round_env(nodelay=round_ == "nodelay")
        cell = {
            receiver: Measurement(
                round_, set_name, assocs, receiver, instances.count, instances.total_bytes
            )
            for receiver in factories
        }
        measurements.extend(cell.values())
        # The receivers take turns run by run (storescp-1, orthanc-1, edge-1, storescp-2 …),
        # so that a host getting slower or faster during a cell weighs on all of them alike.
        for k in range(1, args.repeat + 1):
            for r, (receiver, m) in enumerate(cell.items()):
                label = f"{round_}-{set_name}-{assocs}x-{receiver}-{k}"
                result = measure_once(
                    factories[receiver], instances, assocs, env, workdir / "runs" / label, args.keep
                )
                m.runs.append(result)
                rate = instances.count / result.wall_s if result.wall_s else 0.0
                state = "ok" if result.ok else "FAILED: " + "; ".join(result.problems)
                progress(
                    f"[{g * len(factories) + r + 1}/{total}] {label}: {instances.count} in "
                    f"{result.wall_s:.2f} s = {rate:.1f} img/s, {state}"
                )
        if args.json:
            _write_json(args.json, meta, Results(measurements), complete=False)

    meta["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results = Results(measurements)
    print(render(results, _header(args, sets, meta)))
    if args.json:
        _write_json(args.json, meta, results, complete=True)
        progress(f"JSON written to {args.json}")
    return 0 if all(m.ok for m in measurements) else 1


def _write_json(path: Path, meta: dict[str, Any], results: Results, complete: bool) -> None:
    data = {
        "benchmark": "ingest",
        "complete": complete,
        "meta": meta,
        "measurements": [m.to_json() for m in results.measurements],
        "ratios": results.ratios(),
        "scaling": results.scaling(),
        "goals": results.goals(),
    }
    write_json(path, data)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_workdir(
        functools.partial(run, args),
        prefix="pacs-bench-ingest-",
        workdir=args.workdir,
        keep=args.keep,
        fresh=("runs",),
    )


if __name__ == "__main__":
    sys.exit(main())
