"""``pacs-signage --text`` end to end: a real broker, the real program in a subprocess."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.signage.mqtt_peer import (
    EdgePeer,
    broker_folder,
    call_event,
    queue_state,
    wait_for,
)
from tests.support.mosquitto import PrivateBroker, private_broker
from tests.support.requirements import require_tool, xvfb_run

PROGRAM = Path(sys.executable).with_name("pacs-signage")
DEVICE_ID = "board-dongge-ct1"


@pytest.fixture
def broker() -> Iterator[PrivateBroker]:
    with broker_folder() as folder, private_broker(folder) as running:
        yield running


class Running:
    """The board program with its standard output read line by line."""

    def __init__(
        self, config: Path, broker: PrivateBroker, state_dir: Path, *, voice: bool = False
    ) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        self.process = subprocess.Popen(
            [
                *(str(PROGRAM), "--config", str(config), "--broker", broker.url),
                *("--text", "--state-dir", str(state_dir)),
                *(() if voice else ("--no-voice",)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.seen: list[str] = []
        assert self.process.stdout is not None
        stdout = self.process.stdout

        def read() -> None:
            for line in stdout:
                self.lines.put(line.rstrip("\n"))

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()

    def rest(self) -> list[str]:
        """After the program ended: every line it printed that no ``expect`` consumed."""
        self._reader.join(timeout=10)
        lines = []
        while not self.lines.empty():
            lines.append(self.lines.get_nowait())
        return lines

    def expect(self, text: str, timeout: float = 20.0) -> str:
        """The first line (from now on) containing ``text``."""
        deadline_lines: list[str] = []
        try:
            while True:
                line = self.lines.get(timeout=timeout)
                self.seen.append(line)
                deadline_lines.append(line)
                if text in line:
                    return line
        except queue.Empty:
            raise AssertionError(f"no line with {text!r}; got {deadline_lines}") from None

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "board.toml"
    path.write_text('[board]\ncampus = "dongge"\nrooms = ["ct1"]\n', encoding="utf-8")
    return path


def test_text_mode_prints_rooms_and_calls_then_status_goes_offline_when_killed(
    broker: PrivateBroker, tmp_path: Path
) -> None:
    if not PROGRAM.exists():
        pytest.fail(f"{PROGRAM} is missing: install the project (pip install -e .)")
    edge = EdgePeer(broker.url)
    edge.watch_status("dongge", DEVICE_ID)
    edge.state(queue_state(1, ("C011", "赵*"), (("C012", "张*三"),)))
    board = Running(_config(tmp_path), broker, tmp_path / "state")
    try:
        board.expect("已连接叫号服务器")
        assert board.expect("CT1: ") == "CT1: 呼叫 C011 赵*；等候 C012 张*三"
        wait_for(lambda: any(s.online for s in edge.statuses), what="the board's birth")
        edge.call(call_event("C012"))
        assert board.expect("叫号 / call") == "叫号 / call: 请 C012 号 张*三 到 CT1 室检查"
        edge.state(queue_state(2, None, paused=True))
        assert board.expect("CT1: ") == "CT1: 暂停服务 / paused"
        birth = next(s for s in edge.statuses if s.online)
        board.process.send_signal(signal.SIGKILL)  # no clean disconnect: the will must fire
        wait_for(lambda: not edge.statuses[-1].online, what="the last will")
        assert edge.statuses[-1].boot == birth.boot
        assert all("张三" not in line for line in board.seen)
    finally:
        board.close()
        edge.close()


def test_sigterm_stops_cleanly_with_an_offline_status(
    broker: PrivateBroker, tmp_path: Path
) -> None:
    edge = EdgePeer(broker.url)
    edge.watch_status("dongge", DEVICE_ID)
    board = Running(_config(tmp_path), broker, tmp_path / "state")
    try:
        board.expect("已连接叫号服务器")
        wait_for(lambda: any(s.online for s in edge.statuses), what="the board's birth")
        board.process.send_signal(signal.SIGTERM)
        assert board.process.wait(timeout=15) == 0
        wait_for(lambda: not edge.statuses[-1].online, what="the offline status")
    finally:
        board.close()
        edge.close()


def test_a_config_error_exits_2_with_a_sentence(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(PROGRAM), "--config", str(tmp_path / "absent.toml"), "--text"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "找不到配置文件" in done.stderr and "not found" in done.stderr
    bad = _config(tmp_path)
    done = subprocess.run(
        [str(PROGRAM), "--config", str(bad), "--broker", "http://x", "--text"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "--broker 无效" in done.stderr


def test_with_voice_standard_output_carries_only_the_boards_lines(
    broker: PrivateBroker, tmp_path: Path
) -> None:
    """The speech engine renders every call (pyttsx3 prints "Audio saved to …" while doing
    so); the board's own lines must stay clean for whoever reads them."""
    require_tool("espeak-ng", package="espeak-ng")
    edge = EdgePeer(broker.url)
    edge.state(queue_state(1, ("C011", "赵*"), ()))
    board = Running(_config(tmp_path), broker, tmp_path / "state", voice=True)
    try:
        board.expect("CT1: ")  # the retained picture came: the subscriptions are in place
        edge.call(call_event("C012"))
        board.expect("叫号 / call")
        edge.call(call_event("C013"))
        board.expect("叫号 / call")
        board.process.send_signal(signal.SIGTERM)
        assert board.process.wait(timeout=30) == 0
        printed = board.seen + board.rest()
        assert not [line for line in printed if "Audio saved" in line], printed
    finally:
        board.close()
        edge.close()


def test_window_mode_starts_on_a_display_and_stops_on_sigterm(
    broker: PrivateBroker, tmp_path: Path
) -> None:
    """The real window mode, as a board PC runs it (here on Xvfb): Kivy must not take the
    program's own options (--config, --state-dir) for its own."""
    xvfb = xvfb_run()
    edge = EdgePeer(broker.url)
    edge.watch_status("dongge", DEVICE_ID)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KIVY_", "SDL_")) and k not in ("DISPLAY", "WAYLAND_DISPLAY")
    }
    # Not under tmp_path: Kivy treats any argument containing "pytest" as a sign that it
    # runs under a test and then skips its own argument parsing, hiding exactly the bug
    # this test is for.
    folder = Path(tempfile.mkdtemp(prefix="pacs-board-window-"))
    env["KIVY_HOME"] = str(folder / "kivy-home")
    process = subprocess.Popen(
        [
            *xvfb,
            *(str(PROGRAM), "--config", str(_config(folder)), "--broker", broker.url),
            *("--no-voice", "--state-dir", str(folder / "state")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    errors: list[str] = []
    opened = threading.Event()

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            errors.append(line)
            if "the board window is open" in line:
                opened.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        wait_for(
            lambda: opened.is_set() or process.poll() is not None,
            timeout=60,
            what="the board window",
        )
        assert opened.is_set(), "".join(errors)[-3000:]
        wait_for(lambda: any(s.online for s in edge.statuses), what="the board online")
        board_pid = _python_child(process.pid)
        os.kill(board_pid, signal.SIGTERM)  # the board itself (xvfb-run is a shell)
        assert process.wait(timeout=30) == 0, "".join(errors)[-3000:]  # its exit status
        wait_for(lambda: not edge.statuses[-1].online, what="the offline status")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        edge.close()
        shutil.rmtree(folder, ignore_errors=True)


def _python_child(parent: int) -> int:
    """The pid of the Python process (the board) among the descendants of ``parent``."""
    wait_for(lambda: bool(_descendants_running_python(parent)), what="the board's process")
    return _descendants_running_python(parent)[0]


def _descendants_running_python(parent: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    result, todo = [], [parent]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            todo.append(child)
            try:
                argv0 = (Path("/proc") / str(child) / "cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if b"python" in argv0:
                result.append(child)
    return result
