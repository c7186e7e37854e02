"""Call-out latency and board memory: the technician console's "call next" (HTTP) until a
signage board holds the call, through Mosquitto; and a board's memory over many calls.

Goal (from issue 4): p99 <= 50 ms on loopback over 1,000 calls; board memory flat after
10,000 calls.

    .venv/bin/python bench/queue_calls.py
    .venv/bin/python bench/queue_calls.py --calls 1000 --memory-calls 10000 --repeat 3 \\
        --json bench/out/queue-calls.json

In one run: a private Mosquitto on a free port; Mosquitto's own QoS 1 round trip
(paho publisher → paho subscriber, :func:`bench.mosquitto.raw_round_trip`) as the floor;
then, per ``--repeat``, a fresh edge — ``pacs-edge serve`` as a subprocess, its index filled
beforehand with today's worklist (``add_step``) and a cached console user — a board client
in this process (``BoardBus`` + a silent ``BoardController``) and an HTTP client (httpx,
one kept-alive connection) signed in to the console. For each call, untimed: check one
more patient in (the room keeps ``--waiting`` patients waiting), complete the previous
ticket and wait until the board shows the room free; then timed: ``POST call_next`` until
the board's controller has applied the call of the ticket the answer names. Last, the
board's memory (:mod:`bench.board_memory`): a board in a process of its own fed
``--memory-calls`` calls through Mosquitto, its RSS and ``tracemalloc`` size sampled.

It prints figures and is never part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib.metadata
import math
import os
import platform
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# Run as a script (python bench/queue_calls.py): make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.board_memory import Sample, measure_board_memory
from bench.mosquitto import Mosquitto, mosquitto_version, raw_round_trip
from bench.peers import HOST, Edge, free_port, progress, run_in_workdir, wait_for_port, write_json
from edge_gateway.console.sessions import COOKIE
from edge_gateway.console.users import ConsoleUsers
from edge_gateway.store.database import open_index
from edge_gateway.store.worklist import StepIn, add_step
from shared.dicom.uid import UidFactory
from signage.board.config import BoardConfig
from signage.board.controller import BoardController
from signage.board.state import BoardMessage, CallReceived
from signage.bus.client import BoardBus

GOAL_P99_MS = 50.0
CAMPUS = "dongge"
ROOM = "ct1"
USER = "bench-tech"
PASSWORD = "Bench-Passw0rd-2026!"
SHANGHAI = ZoneInfo("Asia/Shanghai")
WARMUP_CALLS = 10
BOARD_TIMEOUT_S = 10.0
QUEUE_CONFIG = "[queue]\nnumber_width = 4\n"
NAMES = (
    "张^三丰",
    "李^小龙",
    "黄^海波",
    "韦^桂兰",
    "陈^静",
    "覃^志强",
    "梁^丽",
    "莫^宁",
    "欧阳^娜",
)


# -- figures ------------------------------------------------------------------------------


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty list."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass
class Series:
    """One timed quantity of one run, in milliseconds."""

    what: str
    samples_ms: list[float] = field(default_factory=list)

    def figures(self) -> dict[str, float]:
        s = self.samples_ms
        return {
            "p50": percentile(s, 50),
            "p95": percentile(s, 95),
            "p99": percentile(s, 99),
            "max": max(s),
            "mean": statistics.fmean(s),
        }


@dataclass
class Run:
    index: int
    floor: Series
    board: Series
    http: Series
    edge_rss_kib: int | None = None
    problems: list[str] = field(default_factory=list)


# -- the edge -----------------------------------------------------------------------------


class QueueEdge(Edge):
    """``pacs-edge serve`` with the queue on: broker, console port and queue config given;
    its data dir prepared beforehand. Ready when both the DICOM and the console port
    accept connections."""

    def __init__(
        self,
        storage: Path,
        logfile: Path,
        env: dict[str, str],
        *,
        mqtt_url: str,
        queue_config: Path,
        executable: Path | None = None,
    ) -> None:
        super().__init__(storage, logfile, env, executable=executable)
        self.mqtt_url = mqtt_url
        self.queue_config = queue_config
        self.console_port = free_port()
        while self.console_port == self.port:
            self.console_port = free_port()

    def _command(self) -> list[str]:
        return [
            *super()._command(),
            "--mqtt-url",
            self.mqtt_url,
            "--console-port",
            str(self.console_port),
            "--queue-config",
            str(self.queue_config),
        ]

    def _wait_ready(self, process: Any) -> None:
        wait_for_port(self.port, process, "pacs-edge serve (DICOM)")
        wait_for_port(self.console_port, process, "pacs-edge serve (console)")

    def start(self) -> None:
        self.launch()

    def rss_kib(self) -> int | None:
        if self.process is None:
            return None
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except (OSError, ValueError):
            return None
        return None


def patient_id(i: int) -> str:
    return f"BQ{i:06d}"


def prepare_edge(data_dir: Path, patients: int) -> float:
    """Today's worklist (one CT step per patient, due in 5 minutes, Shanghai time) and a
    cached technician in a new edge index; the seconds taken."""
    start = time.perf_counter()
    engine = open_index(data_dir / "edge.sqlite")
    try:
        when = (dt.datetime.now(SHANGHAI) + dt.timedelta(minutes=5)).replace(tzinfo=None)
        uids = UidFactory(None)
        for i in range(patients):
            step = StepIn(
                patient_id=patient_id(i),
                patient_name=NAMES[i % len(NAMES)],
                modality="CT",
                accession=f"BQA{i:06d}",
                station_ae="CT1",
                scheduled=when,
                procedure="胸部CT平扫",
            )
            add_step(engine, step, uids)
        # What a sign-in through the hub leaves behind (no hub in this benchmark).
        users = ConsoleUsers(engine, CAMPUS, None)
        users._remember(
            USER, PASSWORD, {"role": "technician", "campuses": [CAMPUS], "display_name": "压测"}
        )
    finally:
        engine.dispose()
    return time.perf_counter() - start


# -- the board ----------------------------------------------------------------------------


class TimedBoard:
    """A silent board in this process; records when its controller has applied each call."""

    def __init__(self, broker_url: str, state_dir: Path, client_id: str) -> None:
        config = BoardConfig(
            campus=CAMPUS, rooms=("ct1", "ct2"), broker_url=broker_url, client_id=client_id
        )
        self.controller = BoardController(config)
        self._changed = threading.Condition()
        self._arrivals: dict[str, float] = {}
        self.bus = BoardBus(config, self._on_message, state_dir=state_dir, broker_url=broker_url)

    def _on_message(self, message: BoardMessage) -> None:
        self.controller.handle(message)
        now = time.perf_counter()
        with self._changed:
            if isinstance(message, CallReceived):
                self._arrivals.setdefault(message.call.ticket, now)
            self._changed.notify_all()

    def wait(self, predicate: Any, timeout: float, what: str) -> None:
        with self._changed:
            if not self._changed.wait_for(predicate, timeout):
                raise TimeoutError(f"the board did not {what} within {timeout:.0f} s")

    def arrival(self, tickets: list[str], timeout: float) -> float:
        """When the first of ``tickets`` was applied (waiting for it up to ``timeout``)."""
        found: list[float] = []

        def seen() -> bool:
            found[:] = [self._arrivals[t] for t in tickets if t in self._arrivals]
            return bool(found)

        self.wait(seen, timeout, f"receive the call of {', '.join(tickets)}")
        return min(found)

    def room_free(self) -> bool:
        picture = self.controller.state.room(ROOM)
        return picture.seq is not None and picture.calling is None and bool(picture.next)

    def __enter__(self) -> TimedBoard:
        self.bus.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.bus.stop()


# -- the console client -------------------------------------------------------------------


class Console:
    """The technician's browser, reduced to the requests that matter: one httpx client
    (one kept-alive connection), signed in, asking for JSON answers."""

    def __init__(self, port: int) -> None:
        self.http = httpx.Client(
            base_url=f"http://{HOST}:{port}",
            headers={"Accept": "application/json"},
            timeout=30.0,
        )
        r = self.http.post("/console/login", data={"username": USER, "password": PASSWORD})
        if r.status_code != 303 or COOKIE not in self.http.cookies:
            raise RuntimeError(f"console sign-in failed: {r.status_code} {r.text[:300]}")

    def close(self) -> None:
        self.http.close()

    def post(self, path: str, **form: str) -> list[str]:
        r = self.http.post(path, data=form)
        try:
            answer = r.json()
        except ValueError:
            answer = {"ok": False, "message": r.text[:300]}
        if r.status_code != 200 or not answer.get("ok"):
            raise RuntimeError(f"POST {path} {form}: {r.status_code} {answer.get('message')}")
        return [str(t) for t in answer.get("tickets", [])]

    def check_in(self, pid: str) -> list[str]:
        return self.post(f"/console/rooms/{ROOM}/check-in", patient_id=pid)

    def act(self, action: str, ticket: str = "") -> list[str]:
        return self.post(f"/console/rooms/{ROOM}/actions", action=action, ticket=ticket)


# -- one run ------------------------------------------------------------------------------


def latency_run(args: argparse.Namespace, broker: Mosquitto, workdir: Path, index: int) -> Run:
    """Floor, then the edge's call-outs (see the module docstring)."""
    floor = Series("Mosquitto raw QoS 1, paho → paho (floor)")
    progress(f"run {index}: Mosquitto's raw QoS 1 round trip, {args.calls} messages")
    # A call-out's size: the floor carries the same number of bytes as one CallEvent.
    floor.samples_ms = raw_round_trip(broker.port, args.calls, b"x" * 420)
    run = Run(
        index,
        floor,
        Series("console call_next → board holds the call"),
        Series("console call_next, HTTP answer"),
    )
    root = workdir / f"run{index}"
    config = root / "queue.toml"
    root.mkdir(parents=True, exist_ok=True)
    config.write_text(QUEUE_CONFIG, encoding="utf-8")
    patients = WARMUP_CALLS + args.calls + args.waiting
    fill_s = prepare_edge(root / "edge", patients)
    progress(f"run {index}: {patients} worklist steps and a console user written in {fill_s:.1f} s")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACS_EDGE_")}
    edge = QueueEdge(
        root / "edge",
        root / "edge.log",
        env,
        mqtt_url=broker.url,
        queue_config=config,
        executable=args.edge_bin,
    )
    board = TimedBoard(broker.url, root / "board", f"bench-board-latency-{index}")
    with edge, board:
        # The edge publishes every room's retained picture once connected: seeing them
        # means the edge, the broker and the board's subscription are all in place.
        board.wait(
            lambda: all(p.seq is not None for p in board.controller.state.rooms),
            30,
            "receive the edge's retained room pictures",
        )
        console = Console(edge.console_port)
        try:
            _call_loop(args, console, board, run, patients)
        finally:
            console.close()
            run.edge_rss_kib = edge.rss_kib()
    return run


def _call_loop(
    args: argparse.Namespace, console: Console, board: TimedBoard, run: Run, patients: int
) -> None:
    checked_in = 0
    while checked_in < args.waiting:
        console.check_in(patient_id(checked_in))
        checked_in += 1
    previous: str | None = None
    total = WARMUP_CALLS + args.calls
    for i in range(total):
        if checked_in < patients:  # untimed: keep the waiting list topped up
            console.check_in(patient_id(checked_in))
            checked_in += 1
        if previous is not None:  # untimed: the previous patient's exam ends
            console.act("complete", previous)
        board.wait(board.room_free, BOARD_TIMEOUT_S, f"show {ROOM} free")
        start = time.perf_counter()
        called = console.act("call_next")
        answered = time.perf_counter()
        if len(called) != 1:
            run.problems.append(f"call {i}: the answer names {called}")
        if not called:
            raise RuntimeError(f"call {i}: call_next named no ticket")
        arrived = board.arrival(called, BOARD_TIMEOUT_S)
        previous = called[0]
        if i >= WARMUP_CALLS:
            run.board.samples_ms.append((arrived - start) * 1000)
            run.http.samples_ms.append((answered - start) * 1000)
        if (i + 1) % 250 == 0:
            progress(f"run {run.index}: {i + 1 - WARMUP_CALLS} calls timed")
    applied = board.controller.counters.calls
    if applied < total:
        run.problems.append(f"the board applied {applied} calls of {total}")


# -- report -------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.1f}"


def render(meta: dict[str, Any], runs: list[Run], memory: list[Sample], feed_s: float) -> str:
    from bench.results import table

    lines = [
        f"Call-out latency and board memory, {meta['date']} on {meta['host']}",
        f"  {meta['machine']}",
        f"  Mosquitto {meta['mosquitto']}, paho-mqtt {meta['paho']}, httpx {meta['httpx']}; "
        f"edge: {meta['edge']}",
        f"  {meta['calls']} timed calls per run after {WARMUP_CALLS} untimed, room {ROOM} with "
        f"{meta['waiting']} patients waiting; nearest-rank percentiles",
        f"  load average at start {meta['load_start']}, at end {meta['load_end']}",
        "",
    ]
    rows = []
    for run in runs:
        for series in (run.floor, run.board, run.http):
            f = series.figures()
            rows.append(
                [str(run.index), series.what, str(len(series.samples_ms))]
                + [_ms(f[k]) for k in ("p50", "p95", "p99", "max", "mean")]
            )
    lines.append(
        table(
            ["run", "path", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "mean ms"],
            rows,
            right={0, 2, 3, 4, 5, 6, 7},
        )
    )
    lines.append("")
    for run in runs:
        floor, board = run.floor.figures(), run.board.figures()
        lines.append(
            f"run {run.index}: ours above the floor: p50 +{board['p50'] - floor['p50']:.1f} ms, "
            f"p99 +{board['p99'] - floor['p99']:.1f} ms; edge RSS after the run "
            f"{'-' if run.edge_rss_kib is None else f'{run.edge_rss_kib / 1024:.0f} MiB'}"
        )
    lines += ["", "call_next → board by position in the day (tickets the queue holds grow):"]
    for run in runs:
        lines.append(f"  run {run.index}: " + "; ".join(_tranches(run.board.samples_ms)))
    p99s = [run.board.figures()["p99"] for run in runs]
    p99 = statistics.median(p99s)
    verdict = "PASS" if p99 <= GOAL_P99_MS else "MISS"
    label = "median of the runs' p99" if len(runs) > 1 else "p99"
    lines.append(f"[{verdict}] call_next → board, {label} {p99:.1f} ms (goal <= {GOAL_P99_MS:g})")
    if memory:
        lines += [
            "",
            f"Board memory: {meta['memory_calls']} calls (each after its room's picture) "
            f"published at {meta['memory_rate']:g}/s, fed in {feed_s:.1f} s; a board process "
            "of its own, gc.collect() before each sample",
        ]
        base = memory[0]
        mem_rows = [
            [
                f"{s.calls:,}",
                f"{s.messages:,}",
                f"{s.rss_kib / 1024:.1f}",
                f"{(s.rss_kib - base.rss_kib) / 1024:+.1f}",
                f"{s.traced_kib:.0f}",
                f"{s.traced_peak_kib:.0f}",
            ]
            for s in memory
        ]
        lines.append(
            table(
                ["calls", "messages", "RSS MiB", "RSS vs 0", "tracemalloc KiB", "traced peak KiB"],
                mem_rows,
                right={0, 1, 2, 3, 4, 5},
            )
        )
    notes = [f"  run {r.index}: {p}" for r in runs for p in r.problems]
    if notes:
        lines += ["", "Problems", *notes]
    return "\n".join(lines)


def _tranches(samples: list[float], parts: int = 4) -> list[str]:
    """p50 / p99 of each consecutive ``parts``-th of ``samples`` (calls in order)."""
    size = max(1, math.ceil(len(samples) / parts))
    out = []
    for start in range(0, len(samples), size):
        chunk = samples[start : start + size]
        out.append(
            f"calls {start + 1}-{start + len(chunk)}: p50 {percentile(chunk, 50):.1f} / "
            f"p99 {percentile(chunk, 99):.1f} ms"
        )
    return out


def _machine() -> str:
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GB"
    except OSError:
        pass
    distro = "?"
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                distro = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {mem}, {distro}, Python {platform.python_version()}"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Console call_next → signage board latency through Mosquitto (goal p99 "
        f"<= {GOAL_P99_MS:g} ms), with Mosquitto's raw QoS 1 round trip as the floor, and a "
        "board's memory over many calls.",
    )
    p.add_argument("--calls", type=int, default=1000, help="timed calls per run (1000)")
    p.add_argument("--repeat", type=int, default=1, help="latency runs, each a fresh edge (1)")
    p.add_argument("--waiting", type=int, default=20, help="patients kept waiting (20)")
    p.add_argument(
        "--memory-calls", type=int, default=10_000, help="calls fed to the board (10000; 0: skip)"
    )
    p.add_argument(
        "--memory-rate", type=float, default=500.0, help="calls per second fed to the board"
    )
    p.add_argument("--json", type=Path, help="also write the results as JSON to this path")
    p.add_argument("--workdir", type=Path, help="where data dirs and logs live (default: temp)")
    p.add_argument("--keep", action="store_true", help="keep the data dirs and logs")
    p.add_argument(
        "--edge-bin",
        type=Path,
        default=Edge.DEFAULT_EXECUTABLE,
        help="the edge gateway's CLI (default: the repository's .venv/bin/pacs-edge)",
    )
    args = p.parse_args(argv)
    if args.calls < 1 or args.repeat < 1 or args.waiting < 1 or args.memory_calls < 0:
        p.error("--calls, --repeat and --waiting must be >= 1, --memory-calls >= 0")
    if args.memory_rate <= 0:
        p.error("--memory-rate must be > 0")
    return args


def checkpoints(total: int) -> list[int]:
    """1,000 / 5,000 / 10,000 (those up to ``total``) and ``total`` itself."""
    return sorted({c for c in (1000, 5000, 10_000) if c <= total} | {total})


def run(args: argparse.Namespace, workdir: Path) -> int:
    ok, why = Edge.available(args.edge_bin)
    if not ok:
        raise FileNotFoundError(f"the edge gateway cannot be started: {why} (run make venv)")
    meta: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "machine": _machine(),
        "mosquitto": mosquitto_version(),
        "paho": importlib.metadata.version("paho-mqtt"),
        "httpx": importlib.metadata.version("httpx"),
        "edge": f"{args.edge_bin.name} serve (campus-pacs "
        f"{importlib.metadata.version('campus-pacs')}), a subprocess",
        "calls": args.calls,
        "waiting": args.waiting,
        "memory_calls": args.memory_calls,
        "memory_rate": args.memory_rate,
        "load_start": _load(),
    }
    progress(f"work directory: {workdir}")
    runs: list[Run] = []
    memory: list[Sample] = []
    feed_s = 0.0
    with Mosquitto(workdir / "mosquitto") as broker:
        progress(f"mosquitto {meta['mosquitto']} on {broker.url}")
        for index in range(1, args.repeat + 1):
            runs.append(latency_run(args, broker, workdir, index))
            f = runs[-1].board.figures()
            progress(f"run {index}: call_next → board p50 {f['p50']:.1f} ms, p99 {f['p99']:.1f} ms")
        if args.memory_calls:
            progress(f"board memory: {args.memory_calls} calls at {args.memory_rate:g}/s")
            memory, feed_s = measure_board_memory(
                broker.url,
                broker.port,
                workdir / "memory",
                args.memory_calls,
                checkpoints(args.memory_calls),
                args.memory_rate,
            )
    meta["load_end"] = _load()
    print(render(meta, runs, memory, feed_s))
    if args.json:
        write_json(
            args.json,
            {
                "benchmark": "queue_calls",
                "goal_p99_ms": GOAL_P99_MS,
                "meta": meta,
                "runs": [
                    {
                        "run": r.index,
                        "edge_rss_kib": r.edge_rss_kib,
                        "problems": r.problems,
                        **{
                            key: {"what": s.what, **s.figures(), "samples_ms": s.samples_ms}
                            for key, s in (("floor", r.floor), ("board", r.board), ("http", r.http))
                        },
                    }
                    for r in runs
                ],
                "memory": {"feed_s": feed_s, "samples": [asdict(s) for s in memory]},
            },
        )
        progress(f"JSON written to {args.json}")
    return 0 if not any(r.problems for r in runs) else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_workdir(
        functools.partial(run, args),
        prefix="pacs-bench-queue-",
        workdir=args.workdir,
        keep=args.keep,
        fresh=("mosquitto", "memory", *(f"run{i}" for i in range(1, args.repeat + 1))),
    )


if __name__ == "__main__":
    sys.exit(main())
