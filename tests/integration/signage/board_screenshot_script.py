"""Run in a subprocess by test_board_window.py: render the board, take screenshots.

Usage: ``python board_screenshot_script.py OUT_DIR``. Shows a board whose room ct1 calls
C012 (张*三), screenshots it (``first0001.png``), then makes ct1 call C012 for 李*四 and
loses the broker, screenshots again (``second0001.png``), and writes ``boxes.json``: for
each screenshot the window size and the window boxes (x, y from the bottom, w, h) of the
ticket, name and banner labels. Kivy is set up by the environment the test gives
(KIVY_NO_ARGS, KIVY_HOME, SDL_VIDEODRIVER or DISPLAY).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kivy.config import Config  # type: ignore[import-untyped]

Config.set("graphics", "width", "1280")
Config.set("graphics", "height", "720")

from kivy.clock import Clock  # type: ignore[import-untyped]  # noqa: E402
from kivy.core.window import Window  # type: ignore[import-untyped]  # noqa: E402
from kivy.uix.widget import Widget  # type: ignore[import-untyped]  # noqa: E402

from shared.mqtt.payloads import QueueState, TicketStatus, TicketView  # noqa: E402
from signage.board.config import BoardConfig  # noqa: E402
from signage.board.controller import BoardController  # noqa: E402
from signage.board.state import BrokerConnected, BrokerDisconnected  # noqa: E402
from signage.ui.app import BoardApp  # noqa: E402

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def snapshot(seq: int, name: str) -> QueueState:
    return QueueState(
        campus="dongge",
        room="ct1",
        room_label="CT1",
        seq=seq,
        paused=False,
        now_serving=TicketView(
            ticket="C012", masked_name=name, exam_label="CT", status=TicketStatus.CALLED
        ),
        waiting=(
            TicketView(
                ticket="C013", masked_name="王*", exam_label="CT", status=TicketStatus.WAITING
            ),
        ),
        updated_at=T0,
    )


def box(widget: Widget) -> list[float]:
    x, y = widget.to_window(*widget.pos)
    return [x, y, widget.width, widget.height]


def main(out: Path) -> None:
    config = BoardConfig(campus="dongge", rooms=("ct1", "ct2"))
    controller = BoardController(config)
    controller.handle(BrokerConnected())
    controller.handle(snapshot(1, "张*三"))
    app = BoardApp(controller, config)
    boxes: dict[str, Any] = {}

    def record(name: str) -> None:
        assert app.screen is not None
        panel = app.screen.panels[0]
        boxes[name] = {
            "window": list(Window.size),
            "ticket": box(panel.ids["ticket"]),
            "name": box(panel.ids["name"]),
            "banner": box(app.screen.ids["banner"]),
            "name_text": panel.calling_name,
            "banner_text": app.screen.banner_text,
        }
        Window.screenshot(name=str(out / f"{name}.png"))

    def first(_: float) -> None:
        record("first")
        controller.handle(snapshot(2, "李*四"))
        controller.handle(BrokerDisconnected())
        Clock.schedule_once(second, 0.5)

    def second(_: float) -> None:
        record("second")
        (out / "boxes.json").write_text(json.dumps(boxes), encoding="utf-8")
        app.stop()

    def when_laid_out(_: float) -> bool:
        assert app.screen is not None
        if app.screen.panels[0].ids["name"].width == 100:  # Kivy's size before layout
            return True
        Clock.schedule_once(first, 0.3)  # a few frames to draw the laid-out board
        return False

    Clock.schedule_interval(when_laid_out, 0.05)
    app.run()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
