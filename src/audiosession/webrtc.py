"""WebRTC calls with aiortc: the far end plays as a media element, our microphone is sent.

Needs the optional extra: ``pip install audiosession[webrtc]`` (aiortc, and PyAV with it).

    navigator.audio_session.type = "play-and-record"     # a call: routed to the headset
    stream = await navigator.media_devices.get_user_media(audio=True)
    peer = RTCPeerConnection()
    peer.addTrack(to_aiortc(stream.get_audio_tracks()[0]))

    @peer.on("track")
    def on_track(track):                                 # the far end's audio
        far_end = Audio()
        far_end.src_object = MediaStream([track])        # aiortc tracks are taken as they are
        far_end.play()

``MediaStream([aiortc_track])`` (or ``from_aiortc``) receives the track's frames on the
running asyncio loop into a ``MediaStreamTrackGenerator`` that drops what is late rather than
waiting (a live call: what is heard stays within ``LIVE_QUEUED_SECONDS`` of now, also after
the element was paused). ``to_aiortc(track)`` makes our microphone track an aiortc track:
20 ms frames read from it in real time, silence while it is muted (its session interrupted)
or disabled, so the far end hears silence and the connection stays up.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from typing import Any

import numpy as np

from audiosession.elements.capture import MediaStreamTrack
from audiosession.elements.track_converters import register_track_converter
from audiosession.elements.track_generator import MediaStreamTrackGenerator
from audiosession.errors import InvalidStateError, MissingDependencyError
from audiosession.session.window import Window

try:
    import av
    from aiortc.mediastreams import AUDIO_PTIME, MediaStreamError
    from aiortc.mediastreams import MediaStreamTrack as AiortcTrack
except ImportError:
    raise MissingDependencyError(
        "WebRTC support needs aiortc, an optional extra: pip install audiosession[webrtc]"
    ) from None

__all__ = ["LIVE_QUEUED_SECONDS", "from_aiortc", "to_aiortc"]

log = logging.getLogger(__name__)

LIVE_QUEUED_SECONDS = 0.3
"""A received track keeps at most this much waiting to be heard, dropping the oldest beyond:
the generator's start margin (60 ms) and network jitter fit well within it, and a call whose
element was paused is heard again at most this far behind the far end."""

RECEIVED_RATE = 48000
"""The rate received frames are converted to (Opus's own; other codecs are resampled)."""


def from_aiortc(track: Any, *, window: Window | None = None) -> MediaStreamTrackGenerator:
    """A received aiortc audio track (``RTCPeerConnection``'s ``track`` event) as a track of
    ours, to play with ``Audio().src_object = MediaStream([...])``. Call it on the asyncio
    loop that runs the connection: a task there receives the frames until the track ends
    (then the element fires ``ended``) or ours is stopped."""
    if not isinstance(track, AiortcTrack) or track.kind != "audio":
        raise TypeError(f"from_aiortc() takes an aiortc audio track, not {track!r}")
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "from_aiortc() must be called on the asyncio loop that runs the "
            "RTCPeerConnection (for example in its 'track' event handler)"
        ) from None
    generator = MediaStreamTrackGenerator(
        kind="audio", rate=RECEIVED_RATE, channels=2, max_queued=LIVE_QUEUED_SECONDS, window=window
    )
    generator._drop_when_full = True
    generator.label = f"WebRTC audio {track.id}"
    loop.create_task(_receive(track, generator), name=f"receive {generator.label}")
    return generator


def _is_aiortc_track(track: Any) -> bool:
    return isinstance(track, AiortcTrack)


register_track_converter(_is_aiortc_track, from_aiortc)


async def _receive(track: AiortcTrack, generator: MediaStreamTrackGenerator) -> None:
    """Write ``track``'s frames into ``generator`` until either ends."""
    resampler = av.AudioResampler(format="flt", layout="stereo", rate=RECEIVED_RATE)
    try:
        while generator.ready_state == "live":
            frame = await track.recv()
            if not isinstance(frame, av.AudioFrame):
                raise TypeError(f"{track!r} gave {frame!r}, not an audio frame")
            for converted in resampler.resample(frame):
                generator.write(converted.to_ndarray().reshape(-1, 2))
    except MediaStreamError:
        log.info("%s: the far end's track ended", generator.label)
        generator.close()
    except InvalidStateError:
        pass  # ours was stopped


def to_aiortc(track: MediaStreamTrack) -> AiortcTrack:
    """Our microphone track as an aiortc track, for ``RTCPeerConnection.addTrack``: 20 ms
    frames of what it captures, in real time, silence while it is muted or disabled. When
    aiortc stops the sent track (the connection closes), ours stays live: it is the
    program's to stop."""
    if not isinstance(track, MediaStreamTrack):
        raise TypeError(
            f"to_aiortc() sends a microphone track (from get_user_media), not {track!r}"
        )
    return _SentAudio(track)


class _SentAudio(AiortcTrack):  # type: ignore[misc]
    """A microphone track of ours, read by aiortc's sender one 20 ms frame at a time."""

    kind = "audio"

    def __init__(self, track: MediaStreamTrack) -> None:
        super().__init__()
        audio = track.window.runtime.platform.audio
        self.track = track
        self.rate: int = audio.rate
        self.channels: int = audio.channels
        self._frames = int(AUDIO_PTIME * self.rate)
        self._layout = "mono" if self.channels == 1 else "stereo"
        self._started: float | None = None
        self._timestamp = 0

    async def recv(self) -> av.AudioFrame:
        """The next 20 ms frame, when it is due (aiortc's pace for audio)."""
        if self.readyState != "live" or self.track.ready_state != "live":
            self.stop()
            raise MediaStreamError
        if self._started is None:
            self._started = time.monotonic()
        else:
            self._timestamp += self._frames
            delay = self._started + self._timestamp / self.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        block = self.track.read(self._frames)[:, : min(self.channels, 2)]
        if len(block) < self._frames:  # a real microphone that delivered less so far
            block = np.concatenate(
                [np.zeros((self._frames - len(block), block.shape[1]), np.float32), block]
            )
        samples = (np.clip(block, -1.0, 1.0) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            samples.reshape(1, -1), format="s16", layout=self._layout
        )
        frame.sample_rate = self.rate
        frame.pts = self._timestamp
        frame.time_base = fractions.Fraction(1, self.rate)
        return frame
