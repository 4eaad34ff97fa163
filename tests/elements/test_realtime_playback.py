"""Eight looping MP3 elements in real time on a private PulseAudio server: heard without a
dropout, and a seek and a pause/play in the middle land within one block."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiosession import Audio, Window
from audiosession.engine.backend import default_latency_blocks
from audiosession.engine.rewind import REWRITE_MARGIN
from audiosession.session.runtime import Runtime
from support.pulse_server import PulseServer

RATE = 48000
FILE_RATE = 44100
BLOCK = 480 / RATE
WINDOW = 240  # 5 ms: the unit of the dropout count
LOW, HIGH = 6000.0, 9000.0  # the marker file's two tones (the noise stays below 2 kHz)


def low_noise_mp3(path: Path, seconds: float, seed: int) -> str:
    """Stereo noise below 2 kHz, as a 44.1 kHz MP3 (decoded and resampled when played)."""
    rng = np.random.default_rng(seed)
    frames = int(seconds * FILE_RATE)
    spectrum = np.fft.rfft(rng.standard_normal((frames, 2)), axis=0)
    spectrum[np.fft.rfftfreq(frames, 1 / FILE_RATE) > 2000] = 0
    noise = np.fft.irfft(spectrum, n=frames, axis=0)
    sf.write(path, (0.08 * noise / noise.std()).astype(np.float32), FILE_RATE, format="MP3")
    return str(path)


def marker_mp3(path: Path) -> str:
    """4 s: a 6 kHz tone for 2 s, then a 9 kHz tone for 2 s (where it plays is heard)."""
    t = np.arange(2 * FILE_RATE) / FILE_RATE
    tone = np.concatenate([np.sin(2 * np.pi * LOW * t), np.sin(2 * np.pi * HIGH * t)])
    sf.write(path, (0.2 * tone).astype(np.float32), FILE_RATE, format="MP3")
    return str(path)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> float:
    """Poll ``condition`` until it holds; the monotonic time it was seen to hold."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(0.002)
    return time.monotonic()


def window_levels(signal: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per 5 ms window: the RMS of everything, and of the 6 kHz and the 9 kHz tone."""
    count = len(signal) // WINDOW
    windows = signal[: count * WINDOW, 0].astype(np.float64).reshape(count, WINDOW)
    total = np.sqrt(
        np.mean(
            signal[: count * WINDOW].astype(np.float64).reshape(count, WINDOW, -1) ** 2, axis=(1, 2)
        )
    )
    spectrum = np.abs(np.fft.rfft(windows * np.hanning(WINDOW), axis=1))
    bins = np.fft.rfftfreq(WINDOW, 1 / RATE)

    def band(freq: float) -> np.ndarray:
        return spectrum[:, np.abs(bins - freq) <= 200].max(axis=1)

    return total, band(LOW), band(HIGH)


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) window indices of each stretch where ``flags`` holds."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def test_eight_looping_mp3s_play_without_a_dropout_and_seek_and_pause_land_in_a_block(
    runtime: Runtime, pulse_server: PulseServer, tmp_path: Path
) -> None:
    window = Window(runtime=runtime)
    window.navigator.audio_session.type = "playback"
    noises = [
        Audio(low_noise_mp3(tmp_path / f"noise{i}.mp3", 3.0, i), window=window) for i in range(7)
    ]
    marker = Audio(marker_mp3(tmp_path / "marker.mp3"), window=window)
    elements = [*noises, marker]
    recorder = pulse_server.record("speakers.monitor")
    for element in elements:
        element.loop = True
    for started in [element.play() for element in elements]:
        started.result(10)
    begun = time.monotonic()

    wait_until(lambda: marker.current_time >= 1.0)
    marker.current_time = 2.5  # into the 9 kHz half
    seeked = time.monotonic()
    wait_until(lambda: marker.current_time >= 3.0)
    marker.pause()
    paused = time.monotonic()
    wait_until(lambda: time.monotonic() - paused >= 0.5)  # the other seven play on
    marker.play().result(5)
    resumed = time.monotonic()
    wait_until(lambda: time.monotonic() - begun >= 5.0)
    heard = recorder.stop()
    underruns = [voice.underruns for voice in runtime.platform.audio.engine.voices]

    total, low, high = window_levels(heard)
    # From when all eight are heard (their play() calls resolve one after another, further
    # apart on a loaded machine) to the end, 50 ms in from either edge.
    playing = np.flatnonzero(total > 0.3 * np.median(total[total > 1e-4]))
    all_eight = np.flatnonzero(total > 0.7 * np.median(total[total > 1e-4]))
    start, end = all_eight[0] + 10, playing[-1] - 10
    level = total[start:end]
    # No dropout: every 5 ms window of the mix is at least 30 % of the median level.
    assert level.min() >= 0.3 * np.median(level), (
        f"{np.count_nonzero(level < 0.3 * np.median(level))} dropout windows"
    )
    assert underruns == [0] * 8

    tone = 0.3 * np.median(np.maximum(low, high)[start:end])
    low_runs = [r for r in runs(low > tone) if r[1] > start]
    high_runs = [r for r in runs(high > tone) if r[1] > start]
    # 6 kHz from the start; the seek switches to 9 kHz with no gap longer than a block; the
    # pause silences it; play resumes 9 kHz; the loop's end wraps back to 6 kHz, gapless.
    assert len(high_runs) == 2 and len(low_runs) == 2, (low_runs, high_runs)
    (_, seek_end), (wrap_start, _) = low_runs
    (seek_start, pause_at), (resume_at, wrap_end) = high_runs
    assert seek_start - seek_end <= 2  # at most one block of neither tone (5 ms windows)
    assert wrap_start - wrap_end <= 2
    seconds = WINDOW / RATE
    # Each change is heard one output latency after it was asked for, or sooner, a rewrite's
    # margin after it, if its stream queued long then (docs/devices.md, "Steady streams queue
    # long"): the stretches between them last as long as between the calls, within a block
    # and that difference.
    latency = default_latency_blocks(RATE, 480) * BLOCK
    sooner = latency - REWRITE_MARGIN
    assert (pause_at - seek_start) * seconds == pytest.approx(
        paused - seeked, abs=BLOCK + seconds + sooner
    )
    assert (resume_at - pause_at) * seconds == pytest.approx(
        resumed - paused, abs=BLOCK + seconds + sooner
    )
