"""The board's Chinese font, registered as Kivy's default before any label is made.

Kivy's bundled Roboto has no Hanzi (names would show as empty boxes). WenQuanYi Micro Hei
(Debian ``fonts-wqy-microhei``) is Simplified Chinese; Noto CJK's ``.ttc`` opens on its
Japanese face in SDL_ttf, so it is not used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from kivy.core.text import DEFAULT_FONT, LabelBase  # type: ignore[import-untyped]

CJK_FONT: Final = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


class FontMissingError(RuntimeError):
    """The Chinese font file is absent; the message says which package to install."""


def register_cjk_font(path: Path = CJK_FONT) -> None:
    """Make ``path`` Kivy's default font; raises :class:`FontMissingError` when absent."""
    if not path.is_file():
        raise FontMissingError(
            f"找不到中文字体 {path}，请安装 Debian 软件包 fonts-wqy-microhei / "
            f"the Chinese font {path} is missing: install the Debian package fonts-wqy-microhei"
        )
    LabelBase.register(DEFAULT_FONT, fn_regular=str(path))
