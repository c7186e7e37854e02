"""``pacs-signage``: the waiting-room call-out board.

    pacs-signage --config board.toml [--broker URL] [--text] [--no-voice] [--state-dir DIR]

Builds, in order: the configuration (``--broker`` overrides ``[broker] url``), the
speech worker (unless ``--no-voice``; when the engine cannot start the board logs a
warning and runs silent), the :class:`~signage.board.controller.BoardController`, and the
:class:`~signage.bus.client.BoardBus`. Then it shows the board:

* ``--text``, or no display (neither ``DISPLAY`` nor ``WAYLAND_DISPLAY`` nor an explicit
  ``SDL_VIDEODRIVER``): no Kivy at all; each announcement and each change of a room or of
  the broker connection is printed as one line on standard output (masked names only)
  until SIGINT or SIGTERM.
* otherwise the Kivy window (imported only here), until it is closed or SIGINT/SIGTERM.

Exit status: 0 after a normal stop; 2 with a sentence (Chinese first) on standard error
when the configuration, broker URL, password file or font is unusable.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TextIO

from shared.mqtt.broker import BrokerUrlError
from signage.board.announcements import Dropped, Effect, Speak, Stale
from signage.board.config import BoardConfig, BoardConfigError, check_broker_url, load_config
from signage.board.controller import BoardController, TimedEffect
from signage.board.presenter import connection_line, present, room_line
from signage.board.state import BoardState
from signage.bus.boot import default_state_dir
from signage.bus.client import BoardBus, BusError

log = logging.getLogger("signage")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pacs-signage", description="叫号屏 / the waiting-room call-out board"
    )
    parser.add_argument("--config", type=Path, required=True, help="board TOML file")
    parser.add_argument("--broker", help="broker URL, overrides [broker] url")
    parser.add_argument("--text", action="store_true", help="print lines instead of a window")
    parser.add_argument("--no-voice", action="store_true", help="do not speak calls")
    parser.add_argument("--state-dir", type=Path, default=None, help="folder for the boot counter")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING …")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the board; return the exit status (see the module docstring)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = load_config(args.config)
        if args.broker is not None:
            config = replace(config, broker_url=check_broker_url(args.broker, "--broker"))
    except (BoardConfigError, BrokerUrlError) as exc:
        print(f"pacs-signage: {exc}", file=sys.stderr)
        return 2
    text_mode = args.text or not display_available()
    if not args.text and text_mode:
        log.warning("没有显示器，改用文字模式 / no display found: running in text mode")
    speech = None if args.no_voice else start_speech(config)
    controller = BoardController(config, speak=speech.submit if speech is not None else None)
    if speech is not None:
        speech.on_finished(controller.speech_finished)
    try:
        bus = BoardBus(
            config,
            controller.handle,
            state_dir=args.state_dir or default_state_dir(),
            detail={"voice": "ok" if speech is not None else "off"},
        )
    except (BusError, BrokerUrlError) as exc:
        print(f"pacs-signage: {exc}", file=sys.stderr)
        if speech is not None:
            speech.stop()
        return 2
    try:
        if text_mode:
            return run_text(controller, bus)
        return run_window(controller, bus, config)
    finally:
        if speech is not None:
            speech.stop()


def display_available() -> bool:
    """True when a window can be opened: X11, Wayland, or an SDL driver chosen explicitly
    (e.g. ``kmsdrm`` on a kiosk without X, ``offscreen`` in tests)."""
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"))


class _Speech:
    """The speech worker, with its completion callback bound after the controller exists."""

    def __init__(self, config: BoardConfig) -> None:
        from signage.speech.worker import SpeechSettings, SpeechWorker

        self._finished: Callable[[], None] | None = None
        self.worker = SpeechWorker(SpeechSettings.from_board(config), self._completed)

    def on_finished(self, callback: Callable[[], None]) -> None:
        self._finished = callback

    def submit(self, effect: TimedEffect) -> None:
        self.worker.submit(effect)

    def stop(self) -> None:
        self.worker.stop()

    def _completed(self, _: object) -> None:
        if self._finished is not None:
            self._finished()


def start_speech(config: BoardConfig) -> _Speech | None:
    """A started speech worker, or None (logged, Chinese first) when it cannot start."""
    try:
        speech = _Speech(config)
        speech.worker.start()
    except Exception as exc:
        log.warning(
            "语音引擎无法启动（%s），叫号屏将静音运行 / the speech engine could not start (%s): "
            "the board runs silent",
            exc,
            exc,
        )
        return None
    return speech


class TextPrinter:
    """Prints the board as lines: announcements, room changes, connection changes."""

    def __init__(self, language: str, out: TextIO) -> None:
        self._language = language
        self._out = out
        self._rooms: dict[str, str] = {}
        self._connection: str | None = None
        self._lock = threading.Lock()

    def state_changed(self, state: BoardState) -> None:
        lines: list[str] = []
        with self._lock:
            connection = connection_line(state)
            if connection != self._connection:
                self._connection = connection
                lines.append(connection)
            for room in present(state, self._language).rooms:
                line = room_line(room)
                if self._rooms.get(room.room) != line:
                    self._rooms[room.room] = line
                    lines.append(line)
            self._write(lines)

    def effect(self, effect: Effect) -> None:
        if isinstance(effect, Speak) and effect.repeat == 1:
            line = f"叫号 / call: {effect.text}"
        elif isinstance(effect, Stale):
            line = f"过时未播 / too old, not spoken: {effect.announcement.words.display}"
        elif isinstance(effect, Dropped):
            line = f"积压过多未播 / backlog full, dropped: {effect.announcement.words.display}"
        else:
            return
        with self._lock:
            self._write([line])

    def _write(self, lines: list[str]) -> None:
        for line in lines:
            print(line, file=self._out, flush=True)


def run_text(controller: BoardController, bus: BoardBus) -> int:
    """Print the board until SIGINT/SIGTERM; return 0. Standard output carries the board's
    lines only: whatever a library prints (pyttsx3's espeak driver announces every file it
    renders) goes to standard error from here on."""
    printer = TextPrinter(controller.config.language, sys.stdout)
    sys.stdout = sys.stderr  # for the rest of the process: speech may outlive this loop
    controller.subscribe(printer.state_changed)
    controller.subscribe_effects(printer.effect)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        bus.start()
        while not stop.wait(1.0):
            pass
    finally:
        bus.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def run_window(controller: BoardController, bus: BoardBus, config: BoardConfig) -> int:
    """Show the Kivy window until it closes or SIGINT/SIGTERM; return 0 (2 without the
    Chinese font)."""
    # Kivy parses sys.argv at import unless told not to: it would take pacs-signage's own
    # options (--config, --state-dir) for its own and stop.
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from signage.ui.app import BoardApp
    from signage.ui.fonts import FontMissingError

    app = BoardApp(controller, config)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        from kivy.clock import Clock  # type: ignore[import-untyped]

        Clock.schedule_once(lambda _: app.stop(), 0)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    bus.start()
    try:
        app.run()
    except FontMissingError as exc:
        print(f"pacs-signage: {exc}", file=sys.stderr)
        return 2
    finally:
        bus.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
