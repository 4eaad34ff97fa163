"""Test media made on the spot, and measurements of what a device received."""

from __future__ import annotations

import math
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 48000


class Media:
    """Writes test files into one folder: tones, silence, broken files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def tone(
        self,
        freq: float = 440.0,
        seconds: float = 2.0,
        *,
        amplitude: float = 0.5,
        rate: int = RATE,
        channels: int = 1,
        subtype: str = "FLOAT",
        name: str | None = None,
        fmt: str = "WAV",
    ) -> str:
        frames = int(round(seconds * rate))
        t = np.arange(frames) / rate
        signal = amplitude * np.sin(2 * np.pi * freq * t)
        data = np.repeat(signal[:, None], channels, axis=1) if channels > 1 else signal
        ext = {"WAV": "wav", "FLAC": "flac", "OGG": "ogg", "MP3": "mp3"}[fmt]
        path = self.folder / (name or f"tone-{freq:g}Hz-{seconds:g}s-{rate}-{channels}ch.{ext}")
        # Written aside and renamed: an element may be reading a file of the same name (an
        # earlier call's), and must never see it half written.
        partial = path.with_name(f".{path.name}.partial")
        sf.write(partial, data, rate, subtype=subtype if fmt == "WAV" else None, format=fmt)
        os.replace(partial, path)
        return str(path)

    def chime(self, name: str, first: float = 0.2, gap: float = 0.05, last: float = 0.1) -> str:
        """A two-note notification (1000 Hz, silence, 1500 Hz; at 0.5, 48 kHz stereo 16-bit
        PCM) whose last note is a sound of its own: whether a player played it to its last
        sample shows in a sink monitor's recording (``loud_runs``), whose first milliseconds
        of a new sound can be lost to the rewind that lets it start at once."""
        t = np.arange(int(round(last * RATE))) / RATE
        notes = np.concatenate(
            [
                0.5 * np.sin(2 * np.pi * 1000 * np.arange(int(round(first * RATE))) / RATE),
                np.zeros(int(round(gap * RATE))),
                0.5 * np.sin(2 * np.pi * 1500 * t),
            ]
        )
        path = self.folder / name
        sf.write(path, np.repeat(notes[:, None], 2, axis=1), RATE, subtype="PCM_16")
        return str(path)

    def file(self, name: str, content: bytes) -> str:
        path = self.folder / name
        path.write_bytes(content)
        return str(path)

    def wav_claiming(self, name: str, rate: int, channels: int = 1, frames: int = 4800) -> str:
        """A 16-bit WAV whose header declares ``rate`` and ``channels`` (absurd ones, say)
        over ``frames`` frames of real samples."""
        samples = (np.sin(np.arange(frames * channels) / 10) * 10000).astype("<i2").tobytes()
        fmt = struct.pack(
            "<IHHIIHH", 16, 1, channels, rate, (rate * 2 * channels) & 0xFFFFFFFF, 2 * channels, 16
        )
        return self.file(
            name,
            b"RIFF"
            + struct.pack("<I", 36 + len(samples))
            + b"WAVEfmt "
            + fmt
            + b"data"
            + struct.pack("<I", len(samples))
            + samples,
        )

    def damaged_mp3(self, name: str) -> str:
        """A 3 s MP3 whose first 1000 bytes (its header and first frame) are kept and the
        rest replaced by noise."""
        good = from_lavfi("sine=f=440:d=3", self.folder / f"good-{name}", "-b:a", "128k")
        data = Path(good).read_bytes()
        noise = np.random.default_rng(11).integers(0, 256, len(data) - 1000, dtype=np.uint8)
        return self.file(name, data[:1000] + noise.tobytes())


def from_lavfi(source: str, path: str | Path, *encoding: str) -> str:
    """``path`` made by ffmpeg from the lavfi filter graph ``source``, encoded as the output
    options ``encoding`` say (the container follows the file's extension)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is needed to make this media (scripts/setup --test installs it)")
    command = [ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source]
    subprocess.run([*command, *encoding, str(path)], check=True)
    return str(path)


def segment(output: np.ndarray, start: float, seconds: float, rate: int = RATE) -> np.ndarray:
    """Channel 0 of ``output`` from ``start`` for ``seconds``."""
    first = int(round(start * rate))
    return output[first : first + int(round(seconds * rate)), 0]


def rms(output: np.ndarray, start: float, seconds: float = 0.1) -> float:
    part = segment(output, start, seconds)
    return float(np.sqrt(np.mean(part.astype(np.float64) ** 2))) if len(part) else 0.0


def db(value: float) -> float:
    return 20 * math.log10(max(value, 1e-12))


def tone_level_db(
    output: np.ndarray, freq: float, start: float, seconds: float = 0.1, *, reference: float = 0.5
) -> float:
    """The level of the ``freq`` component around ``start``, in dB relative to a sine of
    amplitude ``reference`` (so a tone file of amplitude 0.5 playing untouched reads 0 dB)."""
    part = segment(output, start, seconds).astype(np.float64)
    if len(part) == 0:
        raise ValueError(f"nothing was recorded at {start} s")
    window = np.hanning(len(part))
    spectrum = np.abs(np.fft.rfft(part * window))
    freqs = np.fft.rfftfreq(len(part), 1 / RATE)
    index = int(np.argmin(np.abs(freqs - freq)))
    peak = spectrum[max(0, index - 2) : index + 3].max()
    return db(peak / (reference * window.sum() / 2))


def dominant_frequency(output: np.ndarray, start: float, seconds: float = 0.2) -> float:
    part = segment(output, start, seconds).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(part * np.hanning(len(part))))
    return float(np.fft.rfftfreq(len(part), 1 / RATE)[int(np.argmax(spectrum))])


def largest_step(output: np.ndarray, start: float, seconds: float) -> float:
    """The largest sample-to-sample change in that span: a click shows as a big step."""
    part = segment(output, start, seconds)
    return float(np.max(np.abs(np.diff(part)))) if len(part) > 1 else 0.0


def silent(output: np.ndarray, start: float, seconds: float) -> bool:
    part = segment(output, start, seconds)
    return len(part) > 0 and float(np.max(np.abs(part))) < 1e-6


def loud_runs(
    output: np.ndarray, gap: float = 0.02, level: float = 0.05, rate: int = RATE
) -> list[tuple[float, float]]:
    """(start, end) in seconds of each stretch of channel 0 above ``level``, stretches closer
    than ``gap`` seconds counting as one (a sine crosses zero every half period)."""
    loud = np.flatnonzero(np.abs(output[:, 0]) > level)
    if not len(loud):
        return []
    breaks = np.flatnonzero(np.diff(loud) > gap * rate)
    starts = [loud[0], *loud[breaks + 1]]
    ends = [*loud[breaks], loud[-1]]
    return [(int(a) / rate, (int(b) + 1) / rate) for a, b in zip(starts, ends, strict=True)]


def speech_like(
    seconds: float, *, rate: int = RATE, seed: int = 0, level: float = 0.1
) -> np.ndarray:
    """Noise shaped like speech, mono float32: a long-term speech spectrum (a 100 Hz high
    pass, flat to 500 Hz, then -10 dB per octave) in syllables of 100-300 ms with pauses
    between them, its RMS while sounding ``level`` (a stand-in for a voice where no speech
    synthesiser is installed)."""
    generator = np.random.default_rng(seed)
    frames = int(round(seconds * rate))
    spectrum = np.fft.rfft(generator.standard_normal(frames))
    freqs = np.fft.rfftfreq(frames, 1 / rate)
    shape = np.where(freqs < 500, 1.0, (np.maximum(freqs, 1.0) / 500) ** (-10 / 6.02 / 2))
    shape *= 1 / np.sqrt(1 + (100 / np.maximum(freqs, 1.0)) ** 4)
    noise = np.fft.irfft(spectrum * shape, frames)
    envelope = np.zeros(frames)
    at = 0
    while at < frames:
        syllable = int(rate * generator.uniform(0.1, 0.3))
        envelope[at : at + syllable] = np.hanning(syllable)[: frames - at] ** 0.5
        at += syllable + int(rate * generator.choice([0.02, 0.05, 0.3], p=[0.5, 0.3, 0.2]))
    voiced = noise * envelope
    sounding = envelope > 0.5
    voiced *= level / np.sqrt(np.mean(voiced[sounding] ** 2))
    return voiced.astype(np.float32)


def room_impulse_response(
    delay: float, *, echo_db: float = -10.0, decay: float = 0.05, rate: int = RATE, seed: int = 1
) -> np.ndarray:
    """A simulated room between a loudspeaker and a microphone: the direct sound after
    ``delay`` seconds at ``echo_db``, then reflections dying away by 60 dB in ``decay``
    seconds."""
    generator = np.random.default_rng(seed)
    tail = int(decay * rate)
    response = np.zeros(int(delay * rate) + tail)
    start = int(delay * rate)
    response[start] = 1.0
    reflections = generator.standard_normal(tail) * np.exp(-6.9 * np.arange(tail) / tail) * 0.04
    response[start + 1 :] += reflections[: len(response) - start - 1]
    return (response * 10 ** (echo_db / 20)).astype(np.float32)


def level_change_db(after: np.ndarray, before: np.ndarray) -> float:
    """How much louder ``after`` is than ``before`` (whole arrays, all channels), in dB: an
    echo canceller's echo return loss enhancement is minus this over a stretch of echo."""
    return db(float(np.sqrt(np.mean(np.square(after, dtype=np.float64))))) - db(
        float(np.sqrt(np.mean(np.square(before, dtype=np.float64))))
    )


def component_level_db(mixture: np.ndarray, part: np.ndarray, max_lag: int = 2400) -> float:
    """The level in ``mixture`` of the mono signal ``part`` relative to ``part`` itself, in
    dB: its gain, found as the best least-squares fit at any lag up to ``max_lag`` frames
    (processing may delay it by a frame). ``mixture`` is ``len(part) + max_lag`` long."""
    signal = part.astype(np.float64)
    size = 1 << int(np.ceil(np.log2(len(mixture) + len(signal))))
    fits = np.fft.irfft(
        np.fft.rfft(mixture.astype(np.float64), size) * np.conj(np.fft.rfft(signal, size)), size
    )[: max_lag + 1]
    return db(float(np.abs(fits).max() / np.dot(signal, signal)))
