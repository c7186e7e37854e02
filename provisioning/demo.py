"""``pacs demo``: the whole system on one machine — the hub and the edge gateways of both
campuses (东葛 dongge, 仙葫 xianhu), each a process of its own, as in production.

The hub demo (``pacs-hub demo``) seeds itself, writes one token file per campus edge and
registers demo patients once the edges are connected; each edge demo
(``pacs-edge demo --hub-url … --mqtt-port P``) pulls its campus's orders into its
worklist, checks each patient in to the campus queue and calls them (on its built-in
broker), lets a simulated CT do the CT exams, and sends images and events up. A
waiting-room board per campus (``pacs-signage``) shows and says the calls: a window when
there is a display, its announcements printed as text otherwise. Their narration is shown
here, each line prefixed with the part it comes from. Ctrl-C stops all three.

This module only starts programs: it imports no other part of the project.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from shared.settings import CAMPUSES

USAGE = """用法 / usage: pacs demo [--images N] [--data-dir DIR]

演示：中心服务器加东葛、仙葫两个院区的边缘网关，各带一台模拟CT。
The hub and the edge gateways of both campuses, each with a simulated CT, as separate
processes: pacs-hub demo, and pacs-edge demo --campus C --hub-url URL for each campus.

  --images N      每个检查的图像数 / images per simulated exam (default 4)
  --data-dir DIR  保留演示数据 / keep the demo data here (default: a temporary folder)

PACS_DEMO_EXIT_AFTER_RUN=1 ends the demo when the story is told; otherwise Ctrl-C stops it."""

READY = re.compile(r"^READY (http://\S+)$")
START_TIMEOUT_S = 120.0


class Part:
    """One child process whose output lines are relayed with a prefix."""

    def __init__(self, label: str, command: list[str], on_line: Callable[[str], None]) -> None:
        self.label = label
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            env={**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONUNBUFFERED": "1"},
        )
        self._on_line = on_line
        self._thread = threading.Thread(target=self._relay, name=f"relay-{label}", daemon=True)
        self._thread.start()

    def _relay(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            line = line.rstrip("\n")
            shown = line[len(self.label) :].lstrip() if line.startswith(self.label) else line
            print(f"{self.label} {shown}", flush=True)
            self._on_line(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float | None = None) -> int:
        code = self.process.wait(timeout=timeout)
        self._thread.join(timeout=5)
        return code


def run(argv: Sequence[str], programs: Callable[[str], Path | None]) -> int:
    """Run the joined demo; 0 when every part ended well, 1 otherwise, 127 when a program
    is missing. ``programs`` finds a console script by name."""
    if "-h" in argv or "--help" in argv:
        print(USAGE)
        return 0
    hub_program, edge_program = programs("pacs-hub"), programs("pacs-edge")
    board_program = programs("pacs-signage")
    if hub_program is None or edge_program is None:
        print(
            "pacs demo: 找不到 pacs-hub 或 pacs-edge，请运行 make venv / "
            "pacs-hub or pacs-edge is not installed: run `make venv`",
            file=sys.stderr,
        )
        return 127
    images = _option(argv, "--images", "4")
    with tempfile.TemporaryDirectory(prefix="pacs-demo-") as tmp:
        root = Path(_option(argv, "--data-dir", tmp))
        hub_url: list[str] = []
        ready = threading.Event()

        def on_hub_line(line: str) -> None:
            match = READY.match(line.strip())
            if match and not ready.is_set():
                hub_url.append(match.group(1))
                ready.set()

        print(
            "== 院区 PACS 演示：中心服务器 + 东葛、仙葫两个院区 / Campus PACS demo: the hub "
            "and the edge gateways of both campuses ==",
            flush=True,
        )
        hub = Part(
            "[中心 hub]",
            [
                str(hub_program),
                "--log-level",
                "WARNING",
                "demo",
                "--data-dir",
                str(root / "hub"),
                "--token-dir",
                str(root / "tokens"),
            ],
            on_hub_line,
        )
        parts = [hub]
        interrupted = threading.Event()

        def on_signal(_signum: int, _frame: object) -> None:
            interrupted.set()
            for part in parts:
                part.stop()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not ready.wait(0.2):
                if hub.process.poll() is not None or time.monotonic() > deadline:
                    print("pacs demo: 中心服务器未能启动 / the hub did not start", file=sys.stderr)
                    hub.stop()
                    return 1
            for campus in CAMPUSES:
                broker_port = free_port()
                if board_program is not None:
                    parts.append(
                        _board(board_program, root, campus, broker_port, lambda _line: None)
                    )
                parts.append(
                    Part(
                        f"[{CAMPUSES[campus]} {campus}]",
                        [
                            str(edge_program),
                            "demo",
                            "--campus",
                            campus,
                            "--data-dir",
                            str(root / f"edge-{campus}"),
                            "--hub-url",
                            hub_url[0],
                            "--hub-token-file",
                            str(root / "tokens" / f"edge-{campus}.token"),
                            "--images",
                            images,
                            "--mqtt-port",
                            str(broker_port),
                        ],
                        lambda _line: None,
                    )
                )
            edges = [p for p in parts[1:] if not p.label.startswith("[叫号屏")]
            boards = [p for p in parts[1:] if p.label.startswith("[叫号屏")]
            codes = [part.wait() for part in edges]
            for board in boards:
                board.stop()
                codes.append(board.wait(timeout=30))
            if os.environ.get("PACS_DEMO_EXIT_AFTER_RUN", "") != "1" and not interrupted.is_set():
                codes.append(hub.wait())
            else:
                codes.append(hub.wait(timeout=240))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for part in parts:
                part.stop()
    ok = all(code == 0 for code in codes) or interrupted.is_set()
    print(
        "== 演示结束 / demo finished ==" if ok else "== 演示有步骤失败，见上文 / a step failed ==",
        flush=True,
    )
    return 0 if ok else 1


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago (for a campus's demo broker)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _board(
    program: Path, root: Path, campus: str, port: int, on_line: Callable[[str], None]
) -> Part:
    """The campus's waiting-room board (CT1 and CT2) on the edge's demo broker: a window
    with voice when there is a display, else its announcements printed as text."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / f"board-{campus}.toml"
    config.write_text(
        "[board]\n"
        f'campus = "{campus}"\n'
        'rooms = ["ct1", "ct2"]\n'
        'language = "zh-en"\n'
        "[broker]\n"
        f'url = "mqtt://127.0.0.1:{port}?protocol=3.1.1"\n'
        f'client_id = "board-{campus}-demo"\n',
        encoding="utf-8",
    )
    display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    command = [
        str(program),
        "--config",
        str(config),
        "--state-dir",
        str(root / f"board-{campus}-state"),
        "--log-level",
        "WARNING",
    ]
    command += [] if display else ["--text", "--no-voice"]
    return Part(f"[叫号屏 board {CAMPUSES[campus]}]", command, on_line)


def _option(argv: Sequence[str], name: str, default: str) -> str:
    args = list(argv)
    if name in args and args.index(name) + 1 < len(args):
        return args[args.index(name) + 1]
    return default
