"""The board's Kivy window: :class:`BoardApp` renders the controller's state.

The app gets its controller and configuration through its constructor. It subscribes to
the controller; the listener runs on whatever thread changed the state (MQTT, speech),
so it only stores the newest state and asks Kivy's main thread (``kivy.clock.mainthread``)
to render it; several changes between two frames are drawn once. Widgets are touched on
the main thread only. Strings come from :mod:`signage.board.presenter`; the layout is
``board.kv``.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Final

from kivy.app import App  # type: ignore[import-untyped]
from kivy.clock import mainthread  # type: ignore[import-untyped]
from kivy.lang import Builder  # type: ignore[import-untyped]
from kivy.metrics import dp  # type: ignore[import-untyped]
from kivy.properties import NumericProperty, StringProperty  # type: ignore[import-untyped]
from kivy.uix.boxlayout import BoxLayout  # type: ignore[import-untyped]
from kivy.uix.widget import Widget  # type: ignore[import-untyped]

from signage.board.config import BoardConfig
from signage.board.controller import BoardController
from signage.board.presenter import BoardView, RoomView, present
from signage.board.state import BoardState
from signage.ui.fonts import register_cjk_font

KV_FILE: Final = Path(__file__).with_name("board.kv")
BANNER_HEIGHT_DP: Final = 56


log = logging.getLogger(__name__)


class RoomPanel(BoxLayout):  # type: ignore[misc]
    """One room: label, ticket being called, masked name, status, next tickets."""

    room_label = StringProperty("")
    calling_caption = StringProperty("")
    calling_ticket = StringProperty("")
    calling_name = StringProperty("")
    status_text = StringProperty("")
    next_caption = StringProperty("")
    next_text = StringProperty("")

    def show(self, view: RoomView) -> None:
        """Copy the presenter's strings into the panel (main thread only)."""
        self.room_label = view.label
        self.calling_caption = view.calling_caption
        self.calling_ticket = view.calling_ticket
        self.calling_name = view.calling_name
        self.status_text = view.status
        self.next_caption = view.next_caption
        self.next_text = view.next_text


class BoardScreen(BoxLayout):  # type: ignore[misc]
    """The whole board: broker-lost banner, one panel per room, last-calls strip."""

    banner_text = StringProperty("")
    banner_height = NumericProperty(0)
    banner_opacity = NumericProperty(0)
    recent_caption = StringProperty("")
    recent_text = StringProperty("")

    def __init__(self, rooms: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.panels = [RoomPanel() for _ in range(rooms)]
        container: Widget = self.ids["rooms"]
        for panel in self.panels:
            container.add_widget(panel)

    def show(self, view: BoardView) -> None:
        """Copy the presenter's strings into the widgets (main thread only)."""
        lost = bool(view.banner)
        self.banner_text = view.banner
        self.banner_height = dp(BANNER_HEIGHT_DP) if lost else 0
        self.banner_opacity = 1 if lost else 0
        self.recent_caption = view.recent_caption
        self.recent_text = view.recent_text
        for panel, room in zip(self.panels, view.rooms, strict=True):
            panel.show(room)


def load_layout() -> None:
    """Load ``board.kv`` once per process (Kivy's rules are process-wide)."""
    if str(KV_FILE) not in Builder.files:
        Builder.load_file(str(KV_FILE))


class BoardApp(App):  # type: ignore[misc]
    """The board window. ``run()`` blocks until the window closes or :meth:`stop`."""

    title = "叫号屏 / call-out board"

    def __init__(self, controller: BoardController, config: BoardConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.controller = controller
        self.board_config = config
        self.screen: BoardScreen | None = None
        self._latest: BoardState | None = None
        self._latest_lock = threading.Lock()
        self._unsubscribe: Any = None

    def build(self) -> BoardScreen:
        """Register the Chinese font (FontMissingError when absent), load the layout and
        show the controller's current state."""
        register_cjk_font()
        load_layout()
        self.screen = BoardScreen(rooms=len(self.board_config.rooms))
        self._unsubscribe = self.controller.subscribe(self._state_changed)
        self.screen.show(present(self.controller.state, self.board_config.language))
        return self.screen

    def on_start(self) -> None:
        log.info("叫号屏窗口已打开 / the board window is open")

    def on_stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _state_changed(self, state: BoardState) -> None:
        """Any thread: remember the newest state and have the main thread draw it."""
        with self._latest_lock:
            first = self._latest is None
            self._latest = state
        if first:
            self._render()

    @mainthread  # type: ignore[untyped-decorator]
    def _render(self, *_: object) -> None:
        with self._latest_lock:
            state, self._latest = self._latest, None
        if state is not None and self.screen is not None:
            self.screen.show(present(state, self.board_config.language))
