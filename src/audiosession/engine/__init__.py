"""The audio engine: decoding, mixing with gain ramps, and sound devices (knows no sessions).

Its names are imported on first use, from the module ``_EXPORTS`` names (where their types
are): importing a light part of the engine (``engine.backend``, the pulse backend's
``simple``) loads neither NumPy nor the decoders."""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (slow to import)
if TYPE_CHECKING:
    from typing import Any

_EXPORTS = {
    "AHEAD_SECONDS": "ahead",
    "CHUNK_FRAMES": "ahead",
    "AheadBuffer": "ahead",
    "AheadWorkers": "ahead",
    "select_backend": "selection",
    "AudioReader": "decode",
    "DecodeError": "decode",
    "mix_matrix": "decode",
    "open_audio": "decode",
    "Backend": "backend",
    "DeviceInfo": "backend",
    "Stream": "backend",
    "Capture": "engine",
    "DeviceRemoved": "engine",
    "DevicesChanged": "engine",
    "Engine": "engine",
    "EngineEvent": "engine",
    "OutputFailed": "engine",
    "OutputLost": "engine",
    "OutputRestored": "engine",
    "DEFAULT_RAMP": "gain",
    "Gain": "gain",
    "GainFollower": "gain",
    "AUDIBILITY_HOLD": "mixer",
    "AUDIBILITY_THRESHOLD": "mixer",
    "AudibilityChanged": "mixer",
    "LoopingSource": "mixer",
    "Mixer": "mixer",
    "MixerEvent": "mixer",
    "Source": "mixer",
    "Voice": "mixer",
    "VoiceEnded": "mixer",
    "NullBackend": "backends.null",
    "VirtualBackend": "backends.virtual",
    "WavBackend": "backends.wav",
}
"""Every public name and the module of this package it comes from."""

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
