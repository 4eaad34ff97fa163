"""Microphone capture: ``navigator.media_devices``, ``MediaStream`` and ``MediaStreamTrack``.

A live microphone track is an audio session element of default type ``play-and-record``,
audible while neither ended nor muted (spec § Microphone MediaStreamTrack). Its suspend steps
mute it (``mute`` fires), its resume steps unmute it, and setting the session's type to one that
does not record ends it (``ended`` fires). Its samples come from the default input device, from
a WAV file named by ``AUDIOSESSION_FAKE_MIC`` (looped, like browsers' fake-capture flags), or
are silence where there is no input; read them as NumPy blocks or play the stream in ``Audio``.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from audiosession.elements.audio_constraints import processing_constraints, processing_of
from audiosession.elements.futures import Promise
from audiosession.elements.track_converters import own_track
from audiosession.errors import NotAllowedError, NotFoundError, NotSupportedError
from audiosession.events import EventHandler, EventTarget
from audiosession.session.element import SessionElement
from audiosession.session.runtime import Runtime, current_runtime
from audiosession.session.window import Window
from audiosession.types import AudioSessionType

log = logging.getLogger(__name__)

RECORDING_TYPES = (AudioSessionType.AUTO, AudioSessionType.PLAY_AND_RECORD)
_ids = itertools.count(1)


@dataclass(frozen=True)
class MediaDeviceInfo:
    """One device as ``enumerate_devices()`` lists it."""

    device_id: str
    kind: str
    label: str
    group_id: str = ""

    @property
    def deviceId(self) -> str:  # noqa: N802
        """The spec's spelling of ``device_id``."""
        return self.device_id

    @property
    def groupId(self) -> str:  # noqa: N802
        """The spec's spelling of ``group_id``."""
        return self.group_id


class MediaDevices(EventTarget):
    """``navigator.media_devices``: ``get_user_media(audio=True)``, ``enumerate_devices()``."""

    ondevicechange = EventHandler["MediaDevices"]("devicechange")

    def __init__(self, window: Window) -> None:
        super().__init__()
        self.window = window
        window.runtime.platform.audio.add_device_listener(self._devices_changed)

    def _event_runtime(self) -> Runtime:
        return self.window.runtime

    def _devices_changed(self) -> None:
        if not self.window.closed:
            self._fire("devicechange")

    def get_user_media(
        self, constraints: dict[str, Any] | None = None, *, audio: Any = None, video: Any = None
    ) -> UserMediaRequest:
        """A future of a ``MediaStream`` with one live microphone track.

        Takes MDN's dictionary (``get_user_media({"audio": True})``) or keywords
        (``get_user_media(audio=True)``). The audio constraints ``echo_cancellation``,
        ``noise_suppression`` and ``auto_gain_control`` (or ``echoCancellation``, ...) are on
        unless set False, as on the web; ``device_id`` picks the input. Fails with
        ``NotAllowedError`` while the session's type is one that does not record (note 3),
        ``NotFoundError`` when only video is asked for (there is no camera support); ``video``
        next to ``audio`` is ignored.
        """
        if constraints is not None:
            if not isinstance(constraints, dict):
                raise TypeError(f"constraints must be a dict, not {constraints!r}")
            audio = constraints.get("audio", audio)
            video = constraints.get("video", video)
        loop = self.window.runtime.loop
        if audio == {}:
            audio = True  # the web's {audio: {}}: a microphone, every constraint its default
        if not audio and not video:
            raise TypeError("get_user_media() needs audio=True (or a dict of audio constraints)")
        if not audio:
            return UserMediaRequest.settled(
                loop, error=NotFoundError("video capture is not supported; ask for audio")
            )
        if video:
            log.info("get_user_media: video was asked for too; only audio is captured")
        with loop.lock:
            session = self.window.navigator.audio_session
            session._check_open()
            if session.type not in RECORDING_TYPES:
                return UserMediaRequest.settled(
                    loop,
                    error=NotAllowedError(
                        f"cannot capture audio while the audio session type is {session.type!r}; "
                        "set it to 'play-and-record' or 'auto' first"
                    ),
                )
            device = audio.get("device_id") if isinstance(audio, dict) else None
            processing_constraints(audio)  # a bad value fails here, before any capture
            future = UserMediaRequest(loop, "get_user_media()")
            try:
                track = MediaStreamTrack(self.window, device, audio)
            except NotFoundError as error:
                return UserMediaRequest.settled(loop, error=error)
            loop.queue_task(future.resolve, MediaStream([track]))
            return future

    getUserMedia = get_user_media  # noqa: N815

    def enumerate_devices(self) -> list[MediaDeviceInfo]:
        """Every output and input device (``audiooutput`` / ``audioinput``)."""
        return [
            MediaDeviceInfo(device.id, device.kind, device.label)
            for device in self.window.runtime.platform.audio.devices()
        ]

    enumerateDevices = enumerate_devices  # noqa: N815


class MediaStream:
    """A set of tracks; ``Audio().src_object = stream`` plays it."""

    def __init__(self, tracks: list[Any] | None = None) -> None:
        """``tracks``: ours (microphones, ``MediaStreamTrackGenerator``s), or another library's
        that an integration converts (aiortc's, once ``audiosession.webrtc`` is imported:
        a call's far end, converted by ``from_aiortc``)."""
        self.id = f"stream-{next(_ids)}"
        self._tracks = [own_track(track) for track in tracks or []]

    def get_tracks(self) -> list[MediaStreamTrack]:
        """The stream's tracks, in the order they were added."""
        return list(self._tracks)

    def get_audio_tracks(self) -> list[MediaStreamTrack]:
        """The stream's tracks whose ``kind`` is ``audio``."""
        return [track for track in self._tracks if track.kind == "audio"]

    getTracks = get_tracks  # noqa: N815
    getAudioTracks = get_audio_tracks  # noqa: N815

    def add_track(self, track: Any) -> None:
        """Add ``track`` to the stream, unless it holds it already."""
        track = own_track(track)
        if track not in self._tracks:
            self._tracks.append(track)

    @property
    def active(self) -> bool:
        """Whether the stream has at least one track that is not ended."""
        return any(track.ready_state == "live" for track in self._tracks)

    @classmethod
    def from_file(cls, path: str, *, window: Window | None = None) -> MediaStream:
        """A stream whose audio track plays ``path`` looped, in real time: the far end of a
        call in examples and tests (a remote track, not a microphone: no session element)."""
        window = window if window is not None else current_runtime().default_window
        return cls([RemoteAudioTrack(window, path)])  # type: ignore[list-item]

    def _open_source(self, engine_format: tuple[int, int], window: Window | None = None) -> Any:
        """What the media element of ``window`` plays: the live audio tracks, mixed; a
        generated track (which a stream then holds alone) plays through its own source, to
        its end."""
        tracks = self.get_audio_tracks()
        generated = [track for track in tracks if hasattr(track, "_open_source")]
        if generated:
            if len(tracks) > 1:
                raise NotSupportedError(
                    f"{self!r} holds a MediaStreamTrackGenerator and other audio tracks; "
                    "play a generated track in a MediaStream of its own"
                )
            return generated[0]._open_source(engine_format, window)
        return _StreamSource(self)

    def __repr__(self) -> str:
        return f"<MediaStream {self.id} {len(self._tracks)} track(s)>"


class UserMediaRequest(Promise[MediaStream]):
    """What ``get_user_media()`` returns: resolves with a ``MediaStream`` holding one live
    microphone track, or is rejected with ``NotAllowedError`` or ``NotFoundError``."""

    if not TYPE_CHECKING:  # a type checker must still see no such attribute

        def __getattr__(self, name: str) -> Any:
            # Only for names it lacks: the stream's, asked of the promise, say how to get it.
            if not name.startswith("_") and hasattr(MediaStream, name):
                raise AttributeError(
                    f"'UserMediaRequest' object has no attribute {name!r}: get_user_media() "
                    "returns a promise of the MediaStream, as on the web; take the stream first "
                    f"with .result() (stream = get_user_media(audio=True).result(); "
                    f"stream.{name}), `await` in a coroutine, or .then(callback)"
                )
            raise AttributeError(f"'UserMediaRequest' object has no attribute {name!r}")


class MediaStreamTrack(EventTarget, SessionElement):
    """A live microphone track."""

    default_type = AudioSessionType.PLAY_AND_RECORD
    kind = "audio"

    onmute = EventHandler["MediaStreamTrack"]("mute")
    onunmute = EventHandler["MediaStreamTrack"]("unmute")
    onended = EventHandler["MediaStreamTrack"]("ended")

    def __init__(
        self, window: Window, device_id: str | None = None, constraints: Any = True
    ) -> None:
        EventTarget.__init__(self)
        self.id = f"track-{next(_ids)}"
        audio = window.runtime.platform.audio
        self._capture = audio.open_capture(device_id, fake=os.environ.get("AUDIOSESSION_FAKE_MIC"))
        self._constraints: dict[str, Any] = (
            dict(constraints) if isinstance(constraints, dict) else {}
        )
        self._process(processing_of(constraints), window)
        self.label: str = self._capture.label
        self._enabled = True
        self._muted = False
        self._ready_state = "live"
        self._readers: deque[np.ndarray] = deque()
        self._lock = threading.Lock()
        SessionElement.__init__(self, window)
        with window.runtime.loop.lock:
            self._refresh_audible()

    def _event_runtime(self) -> Runtime:
        return self.window.runtime

    @property
    def enabled(self) -> bool:
        """A disabled track delivers silence (it stays live and audible to the session)."""
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"enabled must be True or False, not {value!r}")
        self._enabled = value

    @property
    def muted(self) -> bool:
        """Whether the track is muted: it delivers silence, as while its session is interrupted."""
        return self._muted

    @property
    def ready_state(self) -> str:
        """``live`` or ``ended``."""
        return self._ready_state

    readyState = ready_state  # noqa: N815

    def get_settings(self) -> dict[str, Any]:
        """The track's settings (the spec's ``MediaTrackSettings``): ``device_id`` (absent for a
        fake microphone or silence), ``sample_rate``, ``channel_count``."""
        settings: dict[str, Any] = {
            "sample_rate": self._capture.rate,
            "channel_count": self._capture.channels,
        }
        if self._capture.device_id is not None:
            settings["device_id"] = self._capture.device_id
        settings.update(self._capture.processing.settings())
        return settings

    getSettings = get_settings  # noqa: N815

    def get_constraints(self) -> dict[str, Any]:
        """The constraints the track was last given (``get_user_media`` or
        ``apply_constraints``), as given."""
        return dict(self._constraints)

    getConstraints = get_constraints  # noqa: N815

    def apply_constraints(self, constraints: dict[str, Any] | None = None) -> Promise[None]:
        """Change the voice processing of the live track (``echo_cancellation``,
        ``noise_suppression``, ``auto_gain_control``; an absent one returns to its default,
        on, as on the web); resolves once in force. ``TypeError`` for a bad value; a
        ``device_id`` other than the captured one is rejected (``NotSupportedError``): open
        another track for another input."""
        constraints = {} if constraints is None else constraints
        if not isinstance(constraints, dict):
            raise TypeError(f"constraints must be a dict, not {constraints!r}")
        processing = processing_of(constraints)
        loop = self.window.runtime.loop
        device = constraints.get("device_id", constraints.get("deviceId"))
        if device is not None and device != self._capture.device_id:
            return Promise.settled(
                loop,
                error=NotSupportedError(
                    f"cannot move {self!r} to input {device!r}; it captures "
                    f"{self._capture.device_id!r}: get_user_media() a track of that input"
                ),
            )
        with loop.lock:
            if self._ready_state == "live":
                self._process(processing, self.window)
            self._constraints = dict(constraints)
            return Promise.settled(loop, value=None)

    applyConstraints = apply_constraints  # noqa: N815

    def _process(self, processing: Any, window: Window) -> None:
        audio = window.runtime.platform.audio
        audio.process_voice(self._capture, processing, window.navigator.audio_session.session_id)

    def stop(self) -> None:
        """End the track for good (no ``ended`` event: the program asked for it)."""
        with self.window.runtime.loop.lock:
            self._end(fire=False)

    def read(self, frames: int | None = None) -> np.ndarray:
        """The captured samples since the last read (at most ``frames``), as a float32
        (frames, channels) array; silence while muted or disabled, empty once ended."""
        if self._ready_state == "ended":
            return np.zeros((0, self._capture.channels), dtype=np.float32)
        block = self._capture.read(frames)
        if self._muted or not self._enabled:
            block = np.zeros_like(block)
        return block

    def _end(self, *, fire: bool) -> None:
        if self._ready_state == "ended":
            return
        self._ready_state = "ended"
        self._capture.close()
        if fire:
            self.window.runtime.loop.queue_task(self._fire_if_live_window, "ended")
        self._refresh_audible()

    def _fire_if_live_window(self, type: str) -> None:
        if not self._released:
            self._fire(type)

    def _set_muted(self, muted: bool) -> None:
        # "Set a track's muted state".
        if self._released or self._ready_state == "ended" or muted == self._muted:
            return
        self._muted = muted
        self._fire("mute" if muted else "unmute")
        self._refresh_audible()

    # -- the element contract (spec § Microphone MediaStreamTrack) ----------------------------

    def _is_audible_now(self) -> bool:
        return self._ready_state == "live" and not self._muted

    @property
    def _keeps_itself_alive(self) -> bool:
        return self._ready_state == "live"  # an ended track never captures again

    def _update_steps(self) -> None:
        # 1-3. A session type that does not record ends the track.
        if self.audio_session.type not in RECORDING_TYPES:
            self._end(fire=True)

    def _suspend_steps(self) -> None:
        self.window.runtime.loop.queue_task(self._set_muted, True)

    def _resume_steps(self) -> None:
        self.window.runtime.loop.queue_task(self._set_muted, False)

    def _release(self) -> None:
        if self._ready_state == "live":
            self._ready_state = "ended"
            self._capture.close()
        super()._release()

    def __repr__(self) -> str:
        return f"<MediaStreamTrack {self.id} {self.label!r} {self._ready_state}>"


class RemoteAudioTrack(EventTarget):
    """A received audio track (here: a file looped in real time). Not a microphone, so not
    an audio session element; it plays wherever the element playing it is routed."""

    kind = "audio"
    muted = False

    onended = EventHandler["RemoteAudioTrack"]("ended")

    def __init__(self, window: Window, path: str) -> None:
        super().__init__()
        self.id = f"track-{next(_ids)}"
        self.window = window
        self._capture = window.runtime.platform.audio.open_capture(fake=path)
        self.label = f"Remote audio ({os.path.basename(path)})"
        self.enabled = True
        self._ready_state = "live"

    @property
    def ready_state(self) -> str:
        return self._ready_state

    readyState = ready_state  # noqa: N815

    def stop(self) -> None:
        if self._ready_state == "live":
            self._ready_state = "ended"
            self._capture.close()

    def read(self, frames: int | None = None) -> np.ndarray:
        return self._capture.read(frames)


class _StreamSource:
    """A stream's live audio as a media element's source (never ends, cannot seek)."""

    seekable = False
    duration = None

    def __init__(self, stream: MediaStream) -> None:
        self.stream = stream
        self.position = 0.0

    @property
    def has_audio(self) -> bool:
        return self.stream.active

    def read(self, frames: int) -> np.ndarray:
        tracks = [t for t in self.stream.get_audio_tracks() if t.ready_state == "live"]
        if not tracks:
            return np.zeros((frames, 2), dtype=np.float32)
        mixed = None
        for track in tracks:
            block = track._capture.read_for_playback(frames)
            if track.muted or not track.enabled:
                block = np.zeros_like(block)
            mixed = block if mixed is None else mixed + block
        assert mixed is not None
        return mixed

    def seek(self, seconds: float) -> None:
        from audiosession.elements.media_error import MediaError, MediaSourceError

        raise MediaSourceError(MediaError.MEDIA_ERR_DECODE, "a live stream cannot seek")

    def close(self) -> None:
        pass
