"""The Kivy board window, rendered for real under Xvfb and read back as PNG.

The window runs in a subprocess (board_screenshot_script.py): Kivy's window is process
global. Checked on the pixels: the called ticket and the masked name are drawn, two
different Chinese names give clearly different glyphs (a missing CJK font would draw the
same empty boxes for both), and the broker-lost banner appears.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from PIL import Image

from tests.support.requirements import missing, xvfb_run

SCRIPT = Path(__file__).with_name("board_screenshot_script.py")
ROOT = Path(__file__).resolve().parents[3]
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # as signage.ui.fonts
# (not imported from there: importing signage.ui would initialise Kivy in pytest's process)


def _run_board(out: Path) -> dict[str, Any]:
    if not CJK_FONT.is_file():
        missing(f"{CJK_FONT} not found: install the Debian package 'fonts-wqy-microhei'")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KIVY_", "SDL_"))},
        "KIVY_NO_ARGS": "1",
        "KIVY_HOME": str(out / "kivy-home"),
        "KIVY_LOG_MODE": "PYTHON",
        "PYTHONPATH": str(ROOT),
    }
    # Under Xvfb, as a board PC runs it on its X display (not SDL's offscreen driver).
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    command = [*xvfb_run(), sys.executable, str(SCRIPT), str(out)]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    boxes: dict[str, Any] = json.loads((out / "boxes.json").read_text(encoding="utf-8"))
    return boxes


def _pixels(png: Path, window: list[int], box: list[float]) -> set[tuple[int, int, int, int, int]]:
    """(x, y, r, g, b) of every pixel inside ``box`` (window coordinates, y up)."""
    image = Image.open(png).convert("RGB")
    scale_x, scale_y = image.width / window[0], image.height / window[1]
    x, y, w, h = box
    left, right = int(x * scale_x), int((x + w) * scale_x)
    top, bottom = int(image.height - (y + h) * scale_y), int(image.height - y * scale_y)
    return {
        (px, py, *image.getpixel((px, py)))  # type: ignore[misc]
        for px in range(max(left, 0), min(right, image.width))
        for py in range(max(top, 0), min(bottom, image.height))
    }


def _white(pixels: set[tuple[int, int, int, int, int]]) -> set[tuple[int, int]]:
    return {(x, y) for x, y, r, g, b in pixels if min(r, g, b) > 180}


def _shape(points: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """``points`` moved so their bounding box starts at (0, 0): the banner shifts the
    layout between the two screenshots, the glyphs' shape must be compared, not place."""
    left = min(x for x, _ in points)
    top = min(y for _, y in points)
    return {(x - left, y - top) for x, y in points}


def test_board_draws_ticket_and_chinese_names_and_the_lost_banner(tmp_path: Path) -> None:
    boxes = _run_board(tmp_path)
    first, second = boxes["first"], boxes["second"]
    shot1, shot2 = tmp_path / "first0001.png", tmp_path / "second0001.png"
    assert first["name_text"] == "张*三" and second["name_text"] == "李*四"

    ticket = _pixels(shot1, first["window"], first["ticket"])
    yellow = [p for p in ticket if p[2] > 200 and p[3] > 150 and p[4] < 120]
    assert len(yellow) > 1000, "the called ticket C012 is not drawn"

    name1 = _shape(_white(_pixels(shot1, first["window"], first["name"])))
    name2 = _shape(_white(_pixels(shot2, second["window"], second["name"])))
    assert len(name1) > 500 and len(name2) > 500, "the masked names are not drawn"
    differing = len(name1 ^ name2) / len(name1 | name2)
    assert differing > 0.3, f"张*三 and 李*四 look alike ({differing:.0%} differ): tofu boxes?"

    assert first["banner_text"] == ""
    assert second["banner_text"].startswith("与叫号服务器的连接已中断")
    banner = _pixels(shot2, second["window"], second["banner"])
    red = [p for p in banner if p[2] > 150 and p[3] < 80 and p[4] < 80]
    assert len(red) > 0.5 * len(banner) and len(_white(banner)) > 300
