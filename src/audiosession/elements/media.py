"""``Audio`` / ``MediaElement``: the HTML media element, as an audio session element.

Its default type is ``playback``; it is audible while playing with a volume above 0, unmuted,
with audio (spec § HTMLMediaElement). Its suspend steps pause it and its resume steps play it
again, without the program calling ``pause()`` or ``play()``. Sound reaches the device only
while its session is active, so a held (delayed) or interrupted element is silent at once.

Setting ``src`` starts a load, as in HTML: the source is opened off the loop (a file on a
slow disk, a FIFO, a URL never hold the loop or its lock) and attached by a task, which fires
``loadedmetadata`` or ``error``. ``play()`` and ``current_time = x`` before that are kept
for when it is attached.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from audiosession.elements.futures import PendingPromises, Playback, Promise, settled
from audiosession.elements.media_error import MediaError, MediaSourceError, play_error
from audiosession.elements.media_reports import (
    engine_event,
    output_failed,
    output_lost,
    source_event,
)
from audiosession.elements.media_resting import rest_later, wake_source
from audiosession.elements.playing_source import PlayingSource
from audiosession.elements.sources import check_can_open, open_media_source_or_failure
from audiosession.engine.backend import check_device
from audiosession.engine.engine import OutputFailed, OutputLost
from audiosession.engine.gain import Gain
from audiosession.errors import (
    AbortError,
    NotAllowedError,
    NotFoundError,
    NotSupportedError,
)
from audiosession.events import EventHandler, EventTarget
from audiosession.session.element import SessionElement
from audiosession.session.runtime import Runtime
from audiosession.session.window import Window
from audiosession.types import AudioSessionState, AudioSessionType

if TYPE_CHECKING:
    from audiosession.elements.capture import MediaStream
    from audiosession.engine.mixer import Voice

log = logging.getLogger(__name__)

TIMEUPDATE_INTERVAL = 0.25


_Handler = EventHandler["MediaElement"]


class MediaElement(EventTarget, SessionElement):
    """``Audio(src=None, *, window=None)``: the HTML media element that plays audio (the spec's
    ``new Audio(src)``; ``Audio`` is this class), in its window's audio session."""

    default_type = AudioSessionType.PLAYBACK

    onplay = _Handler("play", "the element is no longer paused")
    onplaying = _Handler("playing", "playback has started, sound is heard")
    onpause = _Handler("pause", "the element has been paused")
    onended = _Handler("ended", "playback stopped at the end of the media")
    onerror = _Handler("error", "the media could not be fetched or decoded")
    ontimeupdate = _Handler("timeupdate", "the playback position changed")
    onvolumechange = _Handler("volumechange", "``volume`` or ``muted`` changed")
    onloadstart = _Handler("loadstart", "the element begins to load the media")
    onloadedmetadata = _Handler("loadedmetadata", "the media's duration and format are known")
    oncanplay = _Handler("canplay", "the element can start playing")
    onseeked = _Handler("seeked", "a seek has been done")
    onprogress = _Handler("progress", "media data is being fetched")
    onwaiting = _Handler("waiting", "playback stopped for lack of data (or of the sound server)")
    onstalled = _Handler("stalled", "media data is unexpectedly not forthcoming")

    def __init__(
        self, src: str | os.PathLike[str] | None = None, *, window: Window | None = None
    ) -> None:
        EventTarget.__init__(self)
        SessionElement.__init__(self, window)
        self._src = ""
        self._src_object: MediaStream | None = None
        self._source: PlayingSource | None = None
        self._voice: Voice | None = None
        self._paused = True
        self._ended = False
        self._suspended = False
        self._volume = 1.0
        self._muted = False
        self._loop = False
        self._error: MediaError | None = None
        self._pending = PendingPromises()  # HTML's list of pending play promises
        self._sink_id = ""
        self._gain = Gain(1.0)
        self._timeupdate_running = False
        self._load_generation = 0
        self._opening = False
        self._start_position = 0.0
        self._waiting = False
        self._pauses = 0  # counts pauses, so that only the last one's rest timer rests
        # A player of this window can be published for media keys (MPRIS) without the
        # program touching navigator.media_session itself.
        self.window.navigator.media_session  # noqa: B018
        with self._loop_lock:
            self.audio_session._hold(self)  # paused: the program's to keep
        if src is not None:
            self.src = src  # type: ignore[assignment]

    # -- plumbing -----------------------------------------------------------------------------

    def _event_runtime(self) -> Runtime:
        return self.window.runtime

    @property
    def _loop_lock(self) -> threading.RLock:
        return self.window.runtime.loop.lock

    def _queue_event(self, type: str) -> None:
        self.window.runtime.loop.queue_task(self._fire_if_open, type)

    def _fire_if_open(self, type: str) -> None:
        if not self._released:
            self._fire(type)

    # -- source -------------------------------------------------------------------------------

    @property
    def src(self) -> str:
        """The media's address: a file path, ``file://``, ``http(s)://`` or ``data:`` URL."""
        return self._src

    @src.setter
    def src(self, value: str | os.PathLike[str]) -> None:
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"src must be a str or path, not {type(value).__name__}: {value!r}")
        check_can_open(os.fspath(value))
        with self._loop_lock:
            self._check_usable()
            self._src = os.fspath(value)
            self._src_object = None
            self._load()

    @property
    def src_object(self) -> MediaStream | None:
        """A ``MediaStream`` to play instead of ``src`` (the spec's ``srcObject``)."""
        return self._src_object

    @src_object.setter
    def src_object(self, stream: MediaStream | None) -> None:
        from audiosession.elements.capture import MediaStream

        if stream is not None and not isinstance(stream, MediaStream):
            raise TypeError(f"src_object must be a MediaStream or None, not {stream!r}")
        with self._loop_lock:
            self._check_usable()
            self._src_object = stream
            self._load()

    srcObject = src_object  # noqa: N815

    def load(self) -> None:
        """Reset the element and load its source again (HTML ``load()``)."""
        with self._loop_lock:
            self._check_usable()
            self._load()

    def _load(self) -> None:
        # The media element load algorithm, as far as it concerns audio.
        self._load_generation += 1
        self._teardown()
        self._error = None
        self._ended = False
        if not self._paused:
            self._paused = True
            self._queue_event("pause")
        self._pending.reject(AbortError("the media was reloaded before play() started"))
        self._refresh_audible()
        if self._src_object is not None:
            self._attach(self._src_object._open_source(self._engine_format(), self.window))
            return
        if not self._src:
            return
        self._queue_event("loadstart")
        self._opening = True
        self._open_off_the_loop(self._src, self._opened)

    def _open_off_the_loop(self, src: str, then: Callable[[Any], None]) -> None:
        """Open ``src`` on an I/O thread; a task hands the source (or the ``MediaSourceError``)
        to ``then``, unless another load began or the element was released meanwhile."""
        generation = self._load_generation
        rate, channels = self._engine_format()

        def opened(result: Any) -> None:
            if self._released or generation != self._load_generation:
                if not isinstance(result, MediaSourceError):
                    result.close()  # a newer src (or the window's close) made it useless
                return
            then(result)

        self.window.runtime.loop.run_io(
            lambda: open_media_source_or_failure(src, rate, channels), opened
        )

    def _opened(self, result: Any) -> None:
        """The source of the load opened (or failed), on the loop."""
        self._opening = False
        if isinstance(result, MediaSourceError):
            self._fail(result.code, str(result))
            return
        self._attach(result)
        if self._start_position:
            self._seek(self._start_position)
            self._start_position = 0.0
        self._refresh_audible()
        self._sync_voice()
        if self._paused:
            rest_later(self)

    def _attach(self, source: Any) -> None:
        self._source = PlayingSource(source, self._loop)
        start_loading = getattr(source, "start_loading", None)
        if start_loading is not None:
            # A progressive source (HTTP): it reports from its own threads; each report
            # becomes a task, ignored once another load began.
            generation, loop = self._load_generation, self.window.runtime.loop
            start_loading(
                lambda kind, *args: loop.queue_task(source_event, self, generation, kind, *args)
            )
            return
        self._queue_event("durationchange")
        self._queue_event("loadedmetadata")
        self._queue_event("canplay")

    def _engine_format(self) -> tuple[int, int]:
        audio = self.audio_session.platform.audio
        return audio.rate, audio.channels

    def _fail(self, code: int, message: str) -> None:
        """The source failed: ``error`` is set, ``error`` fires, pending plays are rejected."""
        self._teardown()
        self._error = MediaError(code, message)
        log.warning("%s", message)
        self._pending.reject(play_error(code, message))
        if not self._paused:
            self._paused = True
            self._queue_event("pause")
        self._queue_event("error")
        self._refresh_audible()

    def _teardown(self) -> None:
        self._opening = False
        self._start_position = 0.0
        if self._voice is not None:
            self.audio_session.platform.audio.remove_voice(self._voice)
            self._voice = None
        if self._source is not None:
            self._source.close()
            self._source = None
        self._suspended = False
        self._waiting = False

    # -- playing ------------------------------------------------------------------------------

    def play(self) -> Playback[None]:
        """Play; the future resolves when sound really starts (after a delay by the policy,
        only then; from a URL, when its audio arrives), or fails with ``NotSupportedError``
        (no decodable audio), ``NetworkError`` (the media could not be fetched) or
        ``NotAllowedError`` (the platform refused)."""
        with self._loop_lock:
            self._check_usable()
            loop = self.window.runtime.loop
            if self._error is not None:
                return settled(loop, error=play_error(self._error.code, self._error.message))
            if self._source is None and not self._opening:
                return settled(
                    loop,
                    error=NotSupportedError(
                        "there is nothing to play: set src (a file or URL) or src_object first"
                    ),
                )
            future: Playback[None] = Playback(loop, "play()")
            if self._ended:
                self._seek(0.0)
            if self._paused:
                self._paused = False
                self._queue_event("play")
            self._pending.append(future)
            self._refresh_audible()
            self._sync_voice()
            return future

    def pause(self) -> None:
        """Pause. An element paused by the program is not resumed after an interruption."""
        with self._loop_lock:
            self._check_usable()
            self.audio_session._forget_interrupted(self)
            self._suspended = False
            self._internal_pause()
            self._pending.reject(AbortError("play() was interrupted by a call to pause()"))
            self._refresh_audible()
            self._sync_voice()

    def _internal_pause(self) -> None:
        if not self._paused:
            self._paused = True
            self._queue_event("timeupdate")
            self._queue_event("pause")
            rest_later(self)

    def _sync_voice(self) -> None:
        """Run the voice exactly when the element is playing and may be heard: its session
        is active, or it is inaudible anyway (muted or volume 0)."""
        source = self._source
        if source is not None and source.resting and not self._paused:
            wake_source(self)
        session_state = self.audio_session.state
        want = (
            not self._paused
            and not self._ended
            and not self._suspended
            and source is not None
            and not source.resting
            and (session_state is AudioSessionState.ACTIVE or not self._is_audible_now())
        )
        if want and self._voice is None:
            assert source is not None
            audio = self.audio_session.platform.audio
            self._voice = audio.add_voice(
                self.audio_session,
                source.voice_source(audio, self._src or "<stream>"),
                gains=(self._gain,),
                sink=self._sink_id or None,
                on_event=lambda event: engine_event(self, event),
            )
        elif self._voice is not None:
            self._voice.playing = want
        if want:
            output_down = self.audio_session.platform.audio.output_down
            if isinstance(output_down, OutputFailed):
                output_failed(self, output_down)
                return
            if isinstance(output_down, OutputLost):
                output_lost(self)  # the future resolves when the server is back
            # A network source with no audio yet: the future resolves at its "playing".
            elif self._pending and self._source is not None and self._source.ready:
                self.window.runtime.loop.queue_task(self._started, self._pending.take())
            self._start_timeupdates()

    def _started(self, pending: list[Promise[None]]) -> None:
        """HTML's "notify about playing": ``playing`` fires, the promises taken resolve."""
        self._waiting = False
        self._fire_if_open("playing")
        for future in pending:
            future.resolve(None)

    def _start_timeupdates(self) -> None:
        if not self._timeupdate_running:
            self._timeupdate_running = True
            self.window.runtime.loop.call_later(TIMEUPDATE_INTERVAL, self._timeupdate)

    def _timeupdate(self) -> None:
        if self._released or self._voice is None or not self._voice.playing:
            self._timeupdate_running = False
            return
        self._fire("timeupdate")
        self.window.runtime.loop.call_later(TIMEUPDATE_INTERVAL, self._timeupdate)

    # -- the element contract (spec § HTMLMediaElement) ---------------------------------------

    def _is_audible_now(self) -> bool:
        return (
            not self._paused
            and not self._ended
            and self._volume > 0
            and not self._muted
            and self._source is not None
            and self._source.has_audio
        )

    @property
    def pending_play(self) -> bool:
        return bool(self._pending)

    @property
    def _keeps_itself_alive(self) -> bool:
        # HTML: it may be collected once no further audio could ever be played by it; a
        # paused element plays again only if the program, which holds it, says so.
        return not self._paused

    def _update_steps(self) -> None:
        self._sync_voice()

    def _suspend_steps(self) -> None:
        # Sound stops at once; the internal pause steps (and their events) run as a task.
        self._suspended = True
        self._sync_voice()
        self.window.runtime.loop.queue_task(self._suspend_task)

    def _suspend_task(self) -> None:
        if self._released or not self._suspended:
            return
        self._internal_pause()
        self._refresh_audible()

    def _resume_steps(self) -> None:
        self.window.runtime.loop.queue_task(self._resume_task)

    def _resume_task(self) -> None:
        if self._released or not self._suspended:
            return
        self._suspended = False
        if self._paused:
            self._paused = False
            self._queue_event("play")
        self._refresh_audible()
        self._sync_voice()

    def _activation_refused(self) -> None:
        """The platform refused to activate the session: this element's play fails."""
        if self._paused:
            return
        self._internal_pause()
        self._pending.reject(
            NotAllowedError(
                f"the platform refused to play in {self.window.name} "
                f"({self.audio_session.computed_type} session); see platform().sessions()"
            )
        )
        self._refresh_audible()
        self._sync_voice()

    def _release(self) -> None:
        self._pending.reject(AbortError(f"{self.window.name} was closed"))
        self._teardown()
        self._paused = True
        super()._release()

    # -- attributes ---------------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        """Whether the element is paused: until ``play()``, and after ``pause()``, the end or
        an interruption."""
        return self._paused

    @property
    def ended(self) -> bool:
        """Whether playback stopped because the end of the media was reached."""
        return self._ended

    @property
    def error(self) -> MediaError | None:
        """The ``MediaError`` of the last failure to load or play the media, else None."""
        return self._error

    @property
    def duration(self) -> float:
        """Seconds; ``nan`` with no media, ``inf`` for a live stream."""
        if self._source is None:
            return math.nan
        duration = self._source.duration
        return math.inf if duration is None else float(duration)

    @property
    def current_time(self) -> float:
        """The playback position in seconds; setting it seeks (while the source is still
        opening: where it will start)."""
        if self._source is None:
            return self._start_position
        return self._source.position

    @current_time.setter
    def current_time(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise TypeError(f"current_time must be a number of seconds, not {seconds!r}")
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"current_time must be a finite number >= 0, not {seconds!r}")
        with self._loop_lock:
            self._check_usable()
            if self._source is None and self._opening:
                self._start_position = float(seconds)  # HTML: the default start position
                return
            if self._source is None:
                raise NotSupportedError("cannot seek: the element has no media loaded")
            self._seek(float(seconds))

    currentTime = current_time  # noqa: N815

    def _seek(self, seconds: float) -> None:
        assert self._source is not None
        try:
            self._source.seek(seconds)
        except MediaSourceError as error:
            raise NotSupportedError(str(error)) from None
        if self._ended:
            self._ended = False
            self._refresh_audible()
            self._sync_voice()
        self._queue_event("seeked")
        self._queue_event("timeupdate")

    @property
    def volume(self) -> float:
        """0.0 to 1.0; anything else raises ``ValueError``."""
        return self._volume

    @volume.setter
    def volume(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"volume must be a number from 0.0 to 1.0, not {value!r}")
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"volume must be from 0.0 to 1.0, not {value!r}")
        with self._loop_lock:
            self._check_usable()
            if value == self._volume:
                return
            self._volume = float(value)
            self._volume_changed()

    @property
    def muted(self) -> bool:
        """Whether the element is muted (its volume is kept); setting it fires ``volumechange``."""
        return self._muted

    @muted.setter
    def muted(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"muted must be True or False, not {value!r}")
        with self._loop_lock:
            self._check_usable()
            if value == self._muted:
                return
            self._muted = value
            self._volume_changed()

    def _volume_changed(self) -> None:
        self._gain.set(0.0 if self._muted else self._volume)
        self._queue_event("volumechange")
        self._refresh_audible()
        self._sync_voice()

    @property
    def loop(self) -> bool:
        """Start again at the end, without a gap."""
        return self._loop

    @loop.setter
    def loop(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"loop must be True or False, not {value!r}")
        with self._loop_lock:
            self._loop = value
            if self._source is not None:
                self._source.set_loop(value)

    @property
    def sink_id(self) -> str:
        """The output device id set with ``set_sink_id``; "" = the session's route."""
        return self._sink_id

    sinkId = sink_id  # noqa: N815

    def set_sink_id(self, sink_id: str) -> Promise[None]:
        """Route this element to the output device ``sink_id`` ("" = back to the session's
        route). An unknown id rejects the future with ``NotFoundError`` and changes nothing."""
        if not isinstance(sink_id, str):
            raise TypeError(f"sink_id must be a device id string, not {sink_id!r}")
        with self._loop_lock:
            self._check_usable()
            audio = self.audio_session.platform.audio
            if sink_id:
                try:
                    check_device(sink_id, audio.devices())
                except NotFoundError as error:
                    return Promise.settled(self.window.runtime.loop, error=error)
            self._sink_id = sink_id
            if self._voice is not None:
                audio.set_sink(self._voice, sink_id or None)
            return Promise.settled(self.window.runtime.loop)

    setSinkId = set_sink_id  # noqa: N815

    def __repr__(self) -> str:
        what = self._src or ("<stream>" if self._src_object is not None else "no source")
        state = "paused" if self._paused else "playing"
        return f"<Audio {what} {state} in {self.window.name}>"


Audio = MediaElement
"""``Audio(src=None, *, window=None)``: the spec's ``new Audio(src)`` (``MediaElement``)."""
