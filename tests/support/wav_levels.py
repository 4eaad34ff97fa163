"""What a client process played, measured in its WAV file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from support.audio import tone_level_db


def levels(wav: Path, freq: float, step: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Times and levels (dB re amplitude 0.5) of ``freq`` in ``wav``, every ``step`` s."""
    data, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    duration = len(data) / rate
    times = np.arange(0.0, duration - step, step)
    return times, np.array([tone_level_db(data, freq, t, step) for t in times])


def silent_spans(
    wav: Path, threshold: float = 1e-4, min_gap: float = 0.05
) -> list[tuple[float, float]]:
    """(start, end) seconds of the silent stretches of ``wav`` between sound, longer than
    ``min_gap``."""
    data, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    loud = np.flatnonzero(np.abs(data[:, 0]) > threshold)
    if len(loud) == 0:
        return []
    gaps = np.flatnonzero(np.diff(loud) > min_gap * rate)
    return [(loud[i] / rate, loud[i + 1] / rate) for i in gaps]
