"""The demo's sounds, synthesized with NumPy at run time (nothing bundled, nothing licensed).

Each sound keeps a few spectral lines of its own so a test can measure one party in the mix:
the music holds a steady drone at ``MUSIC_DRONE_HZ``, the second player one at
``RADIO_DRONE_HZ``; nothing else the default device plays comes near either.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 48000

MUSIC_DRONE_HZ = 220.0
MUSIC_DRONE_AMPLITUDE = 0.12
RADIO_DRONE_HZ = 392.0
RADIO_DRONE_AMPLITUDE = 0.12

_A_MAJOR_PENTATONIC = (440.0, 493.88, 554.37, 659.25, 739.99, 880.0)
_G_MAJOR_PENTATONIC = (587.33, 659.25, 783.99, 880.0, 987.77, 1174.66)
# Upper chord tones over the A drone, one bar each: A, F#m, D, E.
_PROGRESSION = ((277.18, 329.63), (277.18, 369.99), (293.66, 369.99), (329.63, 415.30))
# Formants (Hz) of a few vowels: a, e, i, o, u.
_VOWELS = ((800, 1150), (400, 2000), (300, 2300), (450, 800), (325, 700))


def _time(seconds: float) -> np.ndarray:
    return np.arange(int(round(seconds * RATE))) / RATE


def _fade(signal: np.ndarray, seconds: float = 0.02) -> np.ndarray:
    """Short linear fades at both ends, so no sound starts or stops with a click."""
    count = min(len(signal) // 2, int(seconds * RATE))
    if count:
        ramp = np.linspace(0.0, 1.0, count)
        signal[:count] *= ramp
        signal[-count:] *= ramp[::-1]
    return signal


def _pluck(freq: float, seconds: float, amplitude: float, decay: float = 3.0) -> np.ndarray:
    """A soft plucked note: a sine and its octave with an exponential decay."""
    t = _time(seconds)
    tone = np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(4 * np.pi * freq * t)
    return _fade(amplitude * tone * np.exp(-decay * t), 0.005)


def _add(target: np.ndarray, start: float, sound: np.ndarray) -> None:
    first = int(round(start * RATE))
    end = min(len(target), first + len(sound))
    target[first:end] += sound[: end - first]


def music(seconds: float = 24.0) -> np.ndarray:
    """A calm piece in A major: a steady A drone, a chord every two seconds (A, F#m, D, E),
    and a plucked pentatonic melody on top."""
    t = _time(seconds)
    out = MUSIC_DRONE_AMPLITUDE * np.sin(2 * np.pi * MUSIC_DRONE_HZ * t)
    bar = 2.0
    for index in range(int(np.ceil(seconds / bar))):
        chord = _PROGRESSION[index % len(_PROGRESSION)]
        length = min(bar, seconds - index * bar)
        for freq in chord:
            _add(out, index * bar, _fade(0.06 * np.sin(2 * np.pi * freq * _time(length)), 0.15))
    melody = (0, 2, 3, 4, 3, 2, 1, 2, 0, 2, 3, 5, 4, 3, 2, 3)
    step = 0.5
    for index in range(int(seconds / step)):
        note = _A_MAJOR_PENTATONIC[melody[index % len(melody)]]
        _add(out, index * step, _pluck(note, 0.9, 0.12))
    return _fade(out.astype(np.float32), 0.05)


def radio(seconds: float = 4.0) -> np.ndarray:
    """The second player: a brighter tune in G over a steady G drone."""
    t = _time(seconds)
    out = RADIO_DRONE_AMPLITUDE * np.sin(2 * np.pi * RADIO_DRONE_HZ * t)
    pattern = (0, 2, 4, 2, 1, 3, 5, 3)
    step = 0.25
    for index in range(int(seconds / step)):
        _add(out, index * step, _pluck(_G_MAJOR_PENTATONIC[pattern[index % 8]], 0.5, 0.1, 6.0))
    return _fade(out.astype(np.float32), 0.05)


def notification(seconds: float = 1.0) -> np.ndarray:
    """A two-note chime (E6 then A6), like a message arriving."""
    out = np.zeros(int(round(seconds * RATE)))
    _add(out, 0.0, _pluck(1318.51, 0.6, 0.35, 7.0))
    _add(out, 0.18, _pluck(1760.0, min(0.8, seconds - 0.18), 0.35, 6.0))
    return _fade(out.astype(np.float32), 0.01)


def voice(
    seconds: float, *, pitch: float, syllables: int, amplitude: float = 0.3, seed: int = 1
) -> np.ndarray:
    """A speech-like babble: syllables of a glottal buzz at ``pitch`` (gliding a little, as
    intonation does) shaped by vowel formants. Not words, but it reads as a voice."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(round(seconds * RATE)))
    length = seconds / syllables
    for index in range(syllables):
        t = _time(length * 0.8)
        glide = pitch * (1.0 + 0.12 * np.sin(np.pi * (index / syllables + t / length)))
        phase = 2 * np.pi * np.cumsum(glide) / RATE
        formants = _VOWELS[int(rng.integers(len(_VOWELS)))]
        syllable = np.zeros(len(t))
        for harmonic in range(1, int(4000 / (pitch * 1.12))):
            freq = harmonic * pitch
            weight = sum(1.0 / (1.0 + ((freq - f) / 120.0) ** 2) for f in formants)
            syllable += weight / harmonic**0.5 * np.sin(harmonic * phase)
        envelope = np.sin(np.pi * np.linspace(0.0, 1.0, len(t))) ** 0.7
        syllable *= envelope / max(1e-9, float(np.max(np.abs(syllable))))
        _add(out, index * length, amplitude * syllable)
    return _fade(out.astype(np.float32))


def prompt(seconds: float = 2.0) -> np.ndarray:
    """A voice assistant's prompt: a rising two-tone earcon, then a voice (pitch ~300 Hz)."""
    out = np.zeros(int(round(seconds * RATE)))
    _add(out, 0.0, _pluck(659.25, 0.25, 0.25, 8.0))
    _add(out, 0.12, _pluck(987.77, 0.3, 0.25, 8.0))
    _add(out, 0.4, voice(seconds - 0.4, pitch=300.0, syllables=6, seed=3))
    return _fade(out.astype(np.float32))


def remote_caller(seconds: float = 6.0) -> np.ndarray:
    """The far end of the call: a lower voice talking in phrases, with pauses."""
    out = np.zeros(int(round(seconds * RATE)))
    _add(out, 0.2, voice(2.0, pitch=160.0, syllables=7, seed=5))
    _add(out, 3.0, voice(2.4, pitch=150.0, syllables=8, seed=6))
    return out.astype(np.float32)


def microphone(seconds: float = 6.0) -> np.ndarray:
    """What the fake microphone hears: the user answering."""
    out = np.zeros(int(round(seconds * RATE)))
    for index, start in enumerate((0.6, 2.3, 4.2)):
        _add(
            out,
            start,
            voice(0.8, pitch=120.0 + 5 * index, syllables=3, seed=7 + index, amplitude=0.25),
        )
    return out.astype(np.float32)


SOUNDS = {
    "music.wav": music,
    "notification.wav": notification,
    "prompt.wav": prompt,
    "caller.wav": remote_caller,
    "microphone.wav": microphone,
    "radio.wav": radio,
}
"""File name -> generator of every sound the demo plays."""


def write_sounds(folder: str | Path) -> dict[str, str]:
    """Write every demo sound into ``folder`` as 16-bit WAV; return name -> path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, make in SOUNDS.items():
        path = folder / name
        sf.write(path, make(), RATE, subtype="PCM_16")
        paths[name] = str(path)
    return paths
