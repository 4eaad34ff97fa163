"""For the engine tests: signals made and measured whole, and the virtual backend's clock and
output."""

from __future__ import annotations

import numpy as np

from audiosession.engine import Engine, VirtualBackend

RATE = 48000


BLOCK = 480


def sine(
    freq: float, seconds: float, rate: int = RATE, amplitude: float = 0.5, channels: int = 1
) -> np.ndarray:
    """A sine tone as (frames, channels) float32."""
    t = np.arange(int(round(seconds * rate))) / rate
    wave = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(wave[:, None], channels, axis=1)


def rms(signal: np.ndarray) -> float:
    """Root mean square over every sample."""
    return float(np.sqrt(np.mean(np.square(signal, dtype=np.float64))))


def db(ratio: float) -> float:
    return float(20 * np.log10(ratio))


def dominant_frequency(signal: np.ndarray, rate: int = RATE) -> float:
    """The strongest frequency of the first channel, by FFT with parabolic interpolation."""
    x = signal[:, 0] if signal.ndim == 2 else signal
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    k = int(np.argmax(spectrum[1:-1])) + 1
    a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
    offset = 0.5 * (a - c) / (a - 2 * b + c)
    return float((k + offset) * rate / len(x))


def sound_extent(signal: np.ndarray, threshold: float = 1e-4) -> tuple[int, int]:
    """First and one-past-last frame whose samples exceed ``threshold``."""
    loud = np.flatnonzero(np.abs(signal).max(axis=1) > threshold)
    return (int(loud[0]), int(loud[-1]) + 1) if len(loud) else (0, 0)


def render(engine: Engine, seconds: float) -> None:
    """Advance the virtual clock of ``engine``'s backend."""
    backend = engine.backend
    assert isinstance(backend, VirtualBackend)
    backend.render(seconds)


def output(engine: Engine, device: str | None = None) -> np.ndarray:
    backend = engine.backend
    assert isinstance(backend, VirtualBackend)
    return backend.output(device)


class ArraySource:
    """A source playing an in-memory array once."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data.astype(np.float32)
        self.position = 0

    def read(self, frames: int) -> np.ndarray:
        block = self.data[self.position : self.position + frames]
        self.position += len(block)
        return block
