"""The chime played before a call: a two-tone "ding-dong", made with the stdlib only."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path
from typing import Final

SAMPLE_RATE: Final = 22_050
"""Same rate as espeak-ng's output, so one player setting fits both."""

TONES: Final = ((784.0, 0.35), (622.3, 0.45))
"""(frequency Hz, seconds): G5 then E♭5, about 0.8 s in all."""


def write_chime(path: Path, *, volume: float = 0.8) -> Path:
    """Write the chime as a 16-bit mono WAV at ``path`` and return ``path``.

    ``volume`` (0.0–1.0) scales the peak amplitude; each tone starts at full strength and
    decays like a struck bell, with a short fade-in so there is no click.
    Raises ValueError when ``volume`` is outside 0.0–1.0.
    """
    if not 0.0 <= volume <= 1.0:
        raise ValueError(f"volume must be within 0.0–1.0, got {volume}")
    peak = 32_000 * volume
    frames = bytearray()
    for frequency, seconds in TONES:
        count = int(SAMPLE_RATE * seconds)
        fade_in = int(SAMPLE_RATE * 0.005)
        for n in range(count):
            t = n / SAMPLE_RATE
            envelope = math.exp(-4.0 * t / seconds) * min(1.0, n / fade_in)
            sample = peak * envelope * math.sin(2 * math.pi * frequency * t)
            frames += struct.pack("<h", int(sample))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(bytes(frames))
    return path
