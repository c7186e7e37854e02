"""The board's pinyin, spoken by the real espeak-ng ``cmn-latn-pinyin`` voice.

Needs the Debian package ``espeak-ng`` (skipped without it, failed under PACS_STRICT=1).
The pyttsx3 speech worker comes later; this checks the text it will be fed.
"""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

from signage.board.speech_text import call_text, name_pinyin
from tests.support.requirements import require_tool

VOICE = "cmn-latn-pinyin"


def _phonemes(pinyin: str) -> str:
    done = subprocess.run(
        ["espeak-ng", "-v", VOICE, "-q", "-x", pinyin],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.strip()


def test_call_pinyin_synthesizes_to_a_wav_of_sensible_length(tmp_path: Path) -> None:
    require_tool("espeak-ng", package="espeak-ng")
    words = call_text(ticket="C012", masked_name="单*三", room_label="CT1", number_only=False)
    out = tmp_path / "call.wav"
    subprocess.run(
        ["espeak-ng", "-v", VOICE, "-w", str(out), words.pinyin],
        capture_output=True,
        check=True,
        timeout=30,
    )
    with wave.open(str(out)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert 1.0 <= seconds <= 8.0, f"{seconds:.2f} s for {words.pinyin!r}"
    # The voice reads the surname 单 as shàn, not as the common reading dān.
    spoken = _phonemes(words.pinyin)
    shan, dan = _phonemes("shan4"), _phonemes("dan1")
    assert shan != dan
    surname = _phonemes(name_pinyin("单*三") or "")
    assert surname.startswith(shan.rstrip("_| ")) and surname in spoken
