"""audiosession: the W3C Audio Session API for Python, with a real audio engine and policy.

    from audiosession import navigator, Audio
    navigator.audio_session.type = "playback"
"""

from __future__ import annotations

from typing import Any

from audiosession.elements import (
    Audio,
    AudioContext,
    AudioWorkletNode,
    ErrorEvent,
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
from audiosession.platform.base import Platform, SessionInfo
from audiosession.running import run, stop
from audiosession.session import AudioSession, Navigator, SessionElement, Window
from audiosession.session.runtime import current_runtime
from audiosession.types import AudioSessionState, AudioSessionType

__version__ = "0.1.0"

__all__ = [
    "AbortError",
    "Audio",
    "AudioContext",
    "AudioWorkletNode",
    "ErrorEvent",
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
    "AudioSession",
    "AudioSessionError",
    "AudioSessionState",
    "AudioSessionType",
    "Event",
    "EventTarget",
    "InvalidStateError",
    "MissingDependencyError",
    "Navigator",
    "NetworkError",
    "NotAllowedError",
    "NotFoundError",
    "NotSupportedError",
    "Platform",
    "SessionElement",
    "SessionInfo",
    "Window",
    "navigator",
    "platform",
    "run",
    "stop",
]


def platform() -> Platform:
    """The platform in use: the current ``VirtualEnvironment``'s, else this process's."""
    return current_runtime().platform


def __getattr__(name: str) -> Any:
    # ``navigator`` is made on first use, so importing the package opens nothing.
    if name == "navigator":
        from audiosession.session.runtime import process_runtime

        return process_runtime().default_window.navigator
    raise AttributeError(f"module 'audiosession' has no attribute {name!r}")
