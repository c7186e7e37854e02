"""One long-lived speech worker: one thread owning one pyttsx3 engine on espeak-ng.

The announcement queue (:mod:`signage.board.announcements`) hands out timed effects;
:meth:`SpeechWorker.submit` takes them from any thread and returns at once (the UI thread
never waits). The worker performs them strictly one at a time, in submission order:

* :class:`PlayChime` — plays the chime WAV (made once at start, :mod:`signage.speech.chime`).
* :class:`Speak` — renders ``pinyin`` to a WAV with the engine's ``save_to_file`` +
  ``runAndWait`` and plays it.

Playing uses ``aplay`` when it is installed; without it (or when it fails: no sound card)
the worker logs a warning and goes on. After each item the completion callback gets a
:class:`Completed` record, on the worker thread; the board's logic thread then calls
``finished()`` exactly once for it.

Why the worker never calls pyttsx3's ``say()``: with the espeak driver, ``say()`` after a
``save_to_file`` on the same engine writes to that file again instead of playing, and it
plays through ``os.system("aplay ...")``. Rendering every call to a file and playing the
file ourselves keeps one engine for both paths (:meth:`SpeechWorker.synthesize_to_file`
uses the very same engine) and makes a missing player a logged, non-fatal condition.
"""

from __future__ import annotations

import logging
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import pyttsx3  # type: ignore[import-untyped]

from signage.board.announcements import PlayChime, Speak
from signage.board.config import BoardConfig
from signage.speech.chime import write_chime

log = logging.getLogger(__name__)

VOICE_ID: Final = "cmn-latn-pinyin"
"""espeak-ng's Mandarin voice that reads pinyin with tone digits (``sit/cmn-latn-pinyin``)."""

DEFAULT_RATE: Final = 150
"""Words per minute: slower than espeak's 200, for a loudspeaker in a waiting room."""

PLAY_TIMEOUT_S: Final = 60.0
"""A player still running after this long is killed (a stuck sound device)."""

TimedEffect = PlayChime | Speak


class SpeechError(RuntimeError):
    """The speech engine could not be started or used; the message says what to do."""


@dataclass(frozen=True)
class SpeechSettings:
    """Voice settings. ``volume`` 0.0–1.0; ``rate`` in words per minute; ``player`` is the
    WAV player command looked up on PATH (None: never play, render only)."""

    volume: float = 0.8
    rate: int = DEFAULT_RATE
    voice: str = VOICE_ID
    player: str | None = "aplay"

    @classmethod
    def from_board(cls, config: BoardConfig, *, rate: int = DEFAULT_RATE) -> SpeechSettings:
        """Settings from the board's ``[voice]`` section (the file has no rate yet)."""
        return cls(volume=config.volume, rate=rate)


@dataclass(frozen=True)
class Completed:
    """One performed effect. ``spoken`` is the pinyin given to the engine (None for a
    chime); ``played`` says whether a player actually played it; ``started``/``ended``
    are :func:`time.monotonic` readings taken on the worker thread."""

    effect: TimedEffect
    spoken: str | None
    played: bool
    started: float
    ended: float


class _Engine(Protocol):
    """The part of a pyttsx3 engine the worker uses."""

    def getProperty(self, name: str) -> object: ...
    def setProperty(self, name: str, value: object) -> None: ...
    def save_to_file(self, text: str, filename: str) -> None: ...
    def runAndWait(self) -> None: ...


@dataclass(frozen=True)
class _Render:
    pinyin: str
    path: Path
    future: Future[Path]


_STOP: Final = object()


class SpeechWorker:
    """The board's single speech thread. Create, :meth:`start`, :meth:`submit` effects,
    :meth:`stop`. Not restartable: make a new worker after :meth:`stop`.

    One running worker per process: ``pyttsx3.init`` hands every caller the same cached
    engine per driver and libespeak-ng keeps process-wide state, so a second engine
    thread would share them. :meth:`start` refuses while another worker runs.
    """

    _process_slot: Final = threading.Lock()

    def __init__(self, settings: SpeechSettings, on_completed: Callable[[Completed], None]) -> None:
        """``on_completed`` runs on the worker thread after each effect; an exception it
        raises is logged and does not stop the worker."""
        self._settings = settings
        self._on_completed = on_completed
        self._inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._startup_error: BaseException | None = None
        self._inbox_lock = threading.Lock()
        self._holds_slot = False
        self._thread = threading.Thread(target=self._run, name="speech-worker", daemon=True)
        self._workdir: Path | None = None  # scratch files, from start() to stop()
        self._player = shutil.which(settings.player) if settings.player else None

    def start(self) -> None:
        """Start the thread and wait until its engine is ready.

        Raises :class:`SpeechError` when the engine or the pinyin voice is unavailable.
        """
        if not SpeechWorker._process_slot.acquire(blocking=False):
            raise SpeechError(
                "已有语音线程在运行，请先停止它 / another speech worker is running: stop it first"
            )
        self._holds_slot = True
        self._workdir = Path(tempfile.mkdtemp(prefix="pacs-speech-"))
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            self._release_slot()
            raise SpeechError(str(self._startup_error)) from self._startup_error
        if self._player is None and self._settings.player:
            log.warning(
                "未找到播放程序 %s，只合成不播放，请安装 alsa-utils / player %s not found: "
                "calls are rendered but not played; install alsa-utils",
                self._settings.player,
                self._settings.player,
            )

    def submit(self, effect: TimedEffect) -> None:
        """Queue a chime or a speech effect; returns at once. Raises SpeechError after
        :meth:`stop`."""
        with self._inbox_lock:
            self._check_running()
            self._inbox.put(effect)

    def synthesize_to_file(self, pinyin: str, path: Path) -> Path:
        """Render ``pinyin`` to a WAV at ``path`` with the worker's engine and return
        ``path``. Blocks the caller until done (after the effects already queued); never
        call it from the UI thread or the completion callback. Raises SpeechError when
        stopped, called on the worker thread, or rendering failed."""
        if threading.current_thread() is self._thread:
            raise SpeechError(
                "不能在完成回调中合成语音 / "
                "synthesize_to_file() cannot be called from the completion callback"
            )
        future: Future[Path] = Future()
        with self._inbox_lock:
            self._check_running()
            self._inbox.put(_Render(pinyin, path, future))
        try:
            return future.result()
        except SpeechError:
            raise
        except Exception as exc:
            raise SpeechError(f"语音合成失败 / speech rendering failed: {exc}") from exc

    def stop(self) -> None:
        """Finish the item in progress, drop the rest unperformed (no callbacks), end the
        thread and remove the worker's scratch files. Idempotent. Raises SpeechError when
        called from the completion callback (the worker cannot wait for itself)."""
        if threading.current_thread() is self._thread:
            raise SpeechError(
                "不能在完成回调中停止语音线程 / "
                "stop() cannot be called from the completion callback"
            )
        with self._inbox_lock:
            self._stopping.set()
            self._inbox.put(_STOP)
        if self._thread.is_alive():
            self._thread.join()
        self._release_slot()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def _release_slot(self) -> None:
        if self._holds_slot:
            self._holds_slot = False
            SpeechWorker._process_slot.release()

    def _check_running(self) -> None:
        if self._stopping.is_set() or not self._ready.is_set() or self._startup_error:
            raise SpeechError(
                "语音线程未运行，请先启动 / the speech worker is not running: start it first"
            )

    # -- worker thread ---------------------------------------------------------------

    def _run(self) -> None:
        assert self._workdir is not None  # set by start() before the thread starts
        workdir = self._workdir
        try:
            engine = self._make_engine()
            chime = write_chime(workdir / "chime.wav", volume=self._settings.volume)
        except Exception as exc:  # reported to start()'s caller
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        while True:
            item = self._inbox.get()
            if item is _STOP:
                break
            if isinstance(item, _Render):
                if self._stopping.is_set():
                    item.future.set_exception(_stopped())
                else:
                    self._render_for_caller(engine, item)
            elif not self._stopping.is_set() and isinstance(item, PlayChime | Speak):
                self._perform(engine, chime, workdir, item)
        self._drain()
        # No engine.stop(): nothing is in flight here, and on the espeak driver stop()
        # can leave a "stopping" flag set on the engine pyttsx3.init() caches and hands
        # to the next worker, whose first runAndWait then returns before any audio.

    def _make_engine(self) -> _Engine:
        engine: _Engine = pyttsx3.init(driverName="espeak")
        voices = engine.getProperty("voices")
        assert isinstance(voices, list)
        wanted = self._settings.voice
        match = [v for v in voices if wanted in (v.id, v.name) or str(v.id).endswith("/" + wanted)]
        if not match:
            raise SpeechError(
                f"espeak-ng 没有 {wanted} 语音，请安装 espeak-ng / espeak-ng has no {wanted} "
                "voice: install the Debian package espeak-ng"
            )
        engine.setProperty("voice", match[0].id)
        engine.setProperty("rate", self._settings.rate)
        engine.setProperty("volume", self._settings.volume)
        return engine

    def _perform(self, engine: _Engine, chime: Path, workdir: Path, effect: TimedEffect) -> None:
        started = time.monotonic()
        spoken: str | None = None
        played = False
        try:
            if isinstance(effect, Speak):
                spoken = effect.pinyin
                played = self._play(_render(engine, spoken, workdir / "speech.wav"))
            else:
                played = self._play(chime)
        except Exception:
            log.exception("语音播报失败，已跳过 / announcement effect failed and was skipped")
        done = Completed(effect, spoken, played, started, time.monotonic())
        try:
            self._on_completed(done)
        except Exception:
            log.exception("完成回调出错 / the completion callback raised")

    def _render_for_caller(self, engine: _Engine, item: _Render) -> None:
        try:
            item.future.set_result(_render(engine, item.pinyin, item.path))
        except Exception as exc:
            item.future.set_exception(exc)

    def _play(self, wav: Path) -> bool:
        if self._player is None:
            return False
        result = subprocess.run(
            [self._player, "-q", str(wav)],
            capture_output=True,
            text=True,
            timeout=PLAY_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0:
            log.warning(
                "播放失败，请检查声卡 / playing failed (check the sound device): %s",
                result.stderr.strip(),
            )
            return False
        return True

    def _drain(self) -> None:
        """Fail callers still waiting in :meth:`synthesize_to_file` after a stop."""
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Render):
                item.future.set_exception(_stopped())


def _stopped() -> SpeechError:
    return SpeechError(
        "语音线程已停止，请重新创建 / the speech worker was stopped: create a new one"
    )


_RENDER_ATTEMPTS = 3
"""pyttsx3's espeak driver can still end a ``runAndWait`` before any audio is written
(the race :func:`_settle` works around; seen in about one render in three on a busy
2-core machine even after it): a render that wrote nothing is tried again."""


def _render(engine: _Engine, pinyin: str, path: Path) -> Path:
    """Render on the calling (worker) thread; raises SpeechError when no audio came out
    after :data:`_RENDER_ATTEMPTS` tries."""
    for attempt in range(1, _RENDER_ATTEMPTS + 1):
        path.unlink(missing_ok=True)
        _settle(engine)
        engine.save_to_file(pinyin, str(path))
        engine.runAndWait()
        if path.is_file() and path.stat().st_size > 44:
            return path
        log.info("espeak-ng wrote no audio (try %d of %d)", attempt, _RENDER_ATTEMPTS)
    raise SpeechError(f"espeak-ng 未生成音频 / espeak-ng produced no audio for {pinyin!r}")


def _settle(engine: _Engine) -> None:
    """Work around a race in pyttsx3 2.9x's espeak driver before each utterance.

    libespeak-ng (retrieval mode) calls back on its own thread. At the end of an
    utterance that callback ends pyttsx3's loop and calls the driver's ``stop()``, which
    sets a ``_stopping`` flag while espeak still counts as playing; ``runAndWait`` may
    already have returned. The flag survives, and the *next* ``runAndWait`` cancels
    itself at once and returns before any audio is written (seen here in about one
    test run in three before this fix). So: wait until espeak is idle
    (``espeak_Synchronize``), then clear the stale flag. Both steps are skipped when this
    pyttsx3 has no such internals.
    """
    synchronize = getattr(_espeak_module(), "Synchronize", None)
    if callable(synchronize):
        synchronize()
    driver = getattr(getattr(engine, "proxy", None), "_driver", None)
    if driver is not None and hasattr(driver, "_stopping"):
        driver._stopping = False


def _espeak_module() -> object:
    try:
        from pyttsx3.drivers import _espeak  # type: ignore[import-untyped]
    except (ImportError, OSError):
        return None
    return _espeak
