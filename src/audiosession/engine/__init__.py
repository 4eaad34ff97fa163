"""The audio engine: decoding, mixing with gain ramps, and sound devices (knows no sessions)."""

from .ahead import AHEAD_SECONDS, CHUNK_FRAMES, AheadBuffer, AheadWorkers
from .backends import select_backend
from .decode import AudioReader, DecodeError, mix_matrix, open_audio
from .devices import Backend, DeviceInfo, Stream
from .engine import (
    Capture,
    DeviceRemoved,
    DevicesChanged,
    Engine,
    EngineEvent,
    OutputFailed,
    OutputLost,
    OutputRestored,
)
from .gain import DEFAULT_RAMP, Gain, GainFollower
from .mixer import (
    AUDIBILITY_HOLD,
    AUDIBILITY_THRESHOLD,
    AudibilityChanged,
    LoopingSource,
    Mixer,
    MixerEvent,
    Source,
    Voice,
    VoiceEnded,
)
from .null import NullBackend
from .virtual import VirtualBackend
from .wav import WavBackend

__all__ = [
    "AHEAD_SECONDS",
    "AUDIBILITY_HOLD",
    "AUDIBILITY_THRESHOLD",
    "DEFAULT_RAMP",
    "AheadBuffer",
    "AheadWorkers",
    "AudibilityChanged",
    "AudioReader",
    "Backend",
    "CHUNK_FRAMES",
    "Capture",
    "DecodeError",
    "DeviceInfo",
    "DeviceRemoved",
    "DevicesChanged",
    "Engine",
    "EngineEvent",
    "Gain",
    "GainFollower",
    "LoopingSource",
    "Mixer",
    "MixerEvent",
    "NullBackend",
    "OutputFailed",
    "OutputLost",
    "OutputRestored",
    "Source",
    "Stream",
    "Voice",
    "VoiceEnded",
    "VirtualBackend",
    "WavBackend",
    "mix_matrix",
    "open_audio",
    "select_backend",
]
