"""audiosession: the W3C Audio Session API for Python, with a real audio engine and policy.

from audiosession import navigator, Audio
navigator.audio_session.type = "playback"
"""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (slow to import)
if TYPE_CHECKING:
    from typing import Any

    from audiosession.elements import (
        Audio,
        AudioContext,
        AudioWorkletNode,
        ErrorEvent,
        ExternalPlayer,
        MediaDeviceInfo,
        MediaDevices,
        MediaElement,
        MediaError,
        MediaMetadata,
        MediaSession,
        MediaStream,
        MediaStreamTrack,
        MediaStreamTrackGenerator,
        Playback,
        Promise,
        UserMediaRequest,
    )
    from audiosession.errors import (
        AbortError,
        AudioSessionError,
        InvalidStateError,
        MissingDependencyError,
        NetworkError,
        NotAllowedError,
        NotFoundError,
        NotSupportedError,
    )
    from audiosession.events import Event, EventTarget
    from audiosession.platforms.base import Platform, SessionInfo
    from audiosession.running import run, stop
    from audiosession.session import AudioSession, Navigator, SessionElement, Window
    from audiosession.types import AudioSessionState, AudioSessionType

    navigator: Navigator
    """The default window's ``Navigator`` (made on first use)."""

__version__ = "0.1.0"

# Every public name but ``navigator`` and ``platform``, by the module it comes from: imported on
# first use, so that importing the package (or a light part of it, such as the command line's
# ``notify``) does not load NumPy and the engine. ``__all__`` (below) is the list of the public
# names; this table and the type-checking imports above say the same for the runtime and for
# type checkers (which read only a literal ``__all__`` and imports), and
# tests/test_public_face.py keeps the three together.
_EXPORTS = {
    **dict.fromkeys(
        (
            "Audio",
            "AudioContext",
            "AudioWorkletNode",
            "ErrorEvent",
            "ExternalPlayer",
            "MediaDeviceInfo",
            "MediaDevices",
            "MediaElement",
            "MediaError",
            "MediaMetadata",
            "MediaSession",
            "MediaStream",
            "MediaStreamTrack",
            "MediaStreamTrackGenerator",
            "Playback",
            "Promise",
            "UserMediaRequest",
        ),
        "audiosession.elements",
    ),
    **dict.fromkeys(
        (
            "AbortError",
            "AudioSessionError",
            "InvalidStateError",
            "MissingDependencyError",
            "NetworkError",
            "NotAllowedError",
            "NotFoundError",
            "NotSupportedError",
        ),
        "audiosession.errors",
    ),
    **dict.fromkeys(("Event", "EventTarget"), "audiosession.events"),
    **dict.fromkeys(("Platform", "SessionInfo"), "audiosession.platforms.base"),
    **dict.fromkeys(("run", "stop"), "audiosession.running"),
    **dict.fromkeys(
        ("AudioSession", "Navigator", "SessionElement", "Window"), "audiosession.session"
    ),
    **dict.fromkeys(("AudioSessionState", "AudioSessionType"), "audiosession.types"),
}

__all__ = [
    "AbortError",
    "Audio",
    "AudioContext",
    "AudioSession",
    "AudioSessionError",
    "AudioSessionState",
    "AudioSessionType",
    "AudioWorkletNode",
    "ErrorEvent",
    "Event",
    "EventTarget",
    "ExternalPlayer",
    "InvalidStateError",
    "MediaDeviceInfo",
    "MediaDevices",
    "MediaElement",
    "MediaError",
    "MediaMetadata",
    "MediaSession",
    "MediaStream",
    "MediaStreamTrack",
    "MediaStreamTrackGenerator",
    "MissingDependencyError",
    "Navigator",
    "NetworkError",
    "NotAllowedError",
    "NotFoundError",
    "NotSupportedError",
    "Platform",
    "Playback",
    "Promise",
    "SessionElement",
    "SessionInfo",
    "UserMediaRequest",
    "Window",
    "navigator",
    "platform",
    "run",
    "stop",
]


def platform() -> Platform:
    """The platform in use: the current ``VirtualEnvironment``'s, else this process's."""
    from audiosession.session.runtime import current_runtime

    return current_runtime().platform


def __getattr__(name: str) -> Any:
    # ``navigator`` is made on first use, so importing the package opens nothing.
    if name == "navigator":
        from audiosession.session.runtime import process_runtime

        return process_runtime().default_window.navigator
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'audiosession' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
