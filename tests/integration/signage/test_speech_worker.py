"""The board's speech worker on the real espeak-ng (through pyttsx3), no sound card needed."""

from __future__ import annotations

import array
import itertools
import math
import os
import queue
import uuid
import wave
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from signage.board.announcements import Announcement, PlayChime, Speak
from signage.board.config import BoardConfig
from signage.board.speech_text import SpokenCall, call_text
from signage.speech.chime import write_chime
from signage.speech.worker import Completed, SpeechError, SpeechSettings, SpeechWorker
from tests.support.requirements import require_tool


def _call(ticket: str, masked_name: str) -> SpokenCall:
    return call_text(ticket=ticket, masked_name=masked_name, room_label="CT1", number_only=False)


@pytest.fixture
def done() -> queue.SimpleQueue[Completed]:
    return queue.SimpleQueue()


@pytest.fixture
def worker(done: queue.SimpleQueue[Completed]) -> Iterator[SpeechWorker]:
    require_tool("espeak-ng", package="espeak-ng")
    # player=None: render only, so the test runs the same with or without a sound card.
    speech = SpeechWorker(SpeechSettings(volume=0.8, player=None), done.put)
    speech.start()
    yield speech
    speech.stop()


def _announcement(words: SpokenCall, ticket: str, minute: int) -> Announcement:
    return Announcement(
        event_id=uuid.uuid4(),
        room="ct1",
        ticket=ticket,
        attempt=1,
        called_at=datetime(2026, 11, 25, 9, 0, tzinfo=UTC) + timedelta(minutes=minute),
        words=words,
    )


def _speak(words: SpokenCall, ticket: str, minute: int) -> Speak:
    item = _announcement(words, ticket, minute)
    return Speak(item, text=words.display, pinyin=words.pinyin, repeat=1)


def _duration_and_rms(path: Path) -> tuple[float, float]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        rate, frames = wav.getframerate(), wav.readframes(wav.getnframes())
    samples = array.array("h", frames)
    rms = math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0
    return len(samples) / rate, rms


def test_call_text_renders_to_a_sensible_wav(worker: SpeechWorker, tmp_path: Path) -> None:
    words = _call("C012", "张*三")
    assert words.display == "请 C012 号 张*三 到 CT1 室检查"
    out = worker.synthesize_to_file(words.pinyin, tmp_path / "call.wav")
    seconds, rms = _duration_and_rms(out)
    assert 1.5 <= seconds <= 10.0
    assert rms > 300, f"near-silent audio (RMS {rms:.0f})"


def test_back_to_back_announcements_complete_in_order_one_at_a_time(
    worker: SpeechWorker, done: queue.SimpleQueue[Completed]
) -> None:
    first = _call("C012", "张*三")
    second = _call("C013", "李*")
    effects: list[PlayChime | Speak] = [
        PlayChime(_announcement(first, "C012", 0)),
        _speak(first, "C012", 0),
        PlayChime(_announcement(second, "C013", 1)),
        _speak(second, "C013", 1),
    ]
    for effect in effects:
        worker.submit(effect)
    results = [done.get(timeout=30) for _ in effects]
    assert [r.effect for r in results] == effects
    assert [r.spoken for r in results] == [None, first.pinyin, None, second.pinyin]
    for earlier, later in itertools.pairwise(results):
        assert earlier.started <= earlier.ended <= later.started
    assert not any(r.played for r in results)  # no player configured


def test_polyphonic_surname_reaches_the_voice_as_shan4(
    worker: SpeechWorker, done: queue.SimpleQueue[Completed], tmp_path: Path
) -> None:
    words = _call("C014", "单*明")
    worker.submit(_speak(words, "C014", 2))
    result = done.get(timeout=30)
    assert result.spoken is not None
    assert result.spoken.split(", ")[1] == "shan4 mou3 ming2"
    seconds, rms = _duration_and_rms(worker.synthesize_to_file(result.spoken, tmp_path / "s.wav"))
    assert seconds >= 1.5 and rms > 300


def test_submit_after_stop_is_refused(done: queue.SimpleQueue[Completed]) -> None:
    require_tool("espeak-ng", package="espeak-ng")
    speech = SpeechWorker(SpeechSettings(player=None), done.put)
    speech.start()
    speech.stop()
    speech.stop()  # idempotent
    with pytest.raises(SpeechError):
        speech.synthesize_to_file("ni3 hao3", Path("never.wav"))


def test_unknown_voice_is_reported_at_start(done: queue.SimpleQueue[Completed]) -> None:
    require_tool("espeak-ng", package="espeak-ng")
    speech = SpeechWorker(SpeechSettings(voice="no-such-voice", player=None), done.put)
    with pytest.raises(SpeechError, match="no-such-voice"):
        speech.start()
    speech.stop()


def test_chime_is_a_short_two_tone_sound(tmp_path: Path) -> None:
    seconds, rms = _duration_and_rms(write_chime(tmp_path / "chime.wav", volume=0.8))
    assert 0.7 <= seconds <= 0.9
    assert rms > 1000
    with pytest.raises(ValueError):
        write_chime(tmp_path / "loud.wav", volume=1.5)


def test_player_gets_chime_then_speech_files_in_order(
    done: queue.SimpleQueue[Completed], tmp_path: Path
) -> None:
    """A player program on PATH receives `-q FILE` per effect; this one keeps copies."""
    require_tool("espeak-ng", package="espeak-ng")
    bin_dir, kept = tmp_path / "bin", tmp_path / "kept"
    bin_dir.mkdir()
    kept.mkdir()
    player = bin_dir / "recording-player"
    player.write_text(f'#!/bin/sh\nn=$(ls "{kept}" | wc -l)\ncp "$2" "{kept}/$n.wav"\n')
    player.chmod(0o755)
    settings = SpeechSettings(volume=0.5, player=str(player))
    speech = SpeechWorker(settings, done.put)
    speech.start()
    try:
        words = _call("C012", "张*三")
        speech.submit(PlayChime(_announcement(words, "C012", 0)))
        speech.submit(_speak(words, "C012", 0))
        results = [done.get(timeout=30), done.get(timeout=30)]
    finally:
        speech.stop()
    assert [r.played for r in results] == [True, True]
    chime_s, _ = _duration_and_rms(kept / "0.wav")
    speech_s, speech_rms = _duration_and_rms(kept / "1.wav")
    assert 0.7 <= chime_s <= 0.9
    assert 1.5 <= speech_s <= 10.0 and speech_rms > 300
    assert sorted(os.listdir(kept)) == ["0.wav", "1.wav"]


def test_a_failing_callback_does_not_stop_the_worker(tmp_path: Path) -> None:
    require_tool("espeak-ng", package="espeak-ng")
    seen: queue.SimpleQueue[Completed] = queue.SimpleQueue()

    def callback(result: Completed) -> None:
        seen.put(result)
        raise RuntimeError("board bug")

    speech = SpeechWorker(SpeechSettings(player=None), callback)
    speech.start()
    try:
        words = _call("C012", "张*三")
        speech.submit(_speak(words, "C012", 0))
        assert seen.get(timeout=30).spoken == words.pinyin
        out = speech.synthesize_to_file(words.pinyin, tmp_path / "after.wav")
        assert _duration_and_rms(out)[0] >= 1.5
    finally:
        speech.stop()


def test_one_running_worker_per_process(
    worker: SpeechWorker, done: queue.SimpleQueue[Completed]
) -> None:
    second = SpeechWorker(SpeechSettings(player=None), done.put)
    with pytest.raises(SpeechError, match="another speech worker"):
        second.start()
    second.stop()


def test_settings_from_the_board_config() -> None:
    config = BoardConfig(campus="dongge", rooms=("ct1",), volume=0.4)
    settings = SpeechSettings.from_board(config, rate=140)
    assert (settings.volume, settings.rate, settings.voice) == (0.4, 140, "cmn-latn-pinyin")
