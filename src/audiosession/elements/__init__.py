"""The spec's elements made real: media elements, AudioContext, microphone tracks, and
players of the program's own."""

from audiosession.elements.capture import (
    MediaDeviceInfo,
    MediaDevices,
    MediaStream,
    MediaStreamTrack,
    UserMediaRequest,
)
from audiosession.elements.context import AudioContext
from audiosession.elements.external_player import ExternalPlayer
from audiosession.elements.futures import Playback, Promise
from audiosession.elements.media import Audio, MediaElement
from audiosession.elements.media_error import MediaError
from audiosession.elements.media_session import MediaMetadata, MediaSession
from audiosession.elements.track_generator import MediaStreamTrackGenerator
from audiosession.elements.worklet import AudioWorkletNode, ErrorEvent

__all__ = [
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
]
