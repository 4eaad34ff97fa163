"""``MediaStreamTrackGenerator``: an audio track whose samples the program writes.

After the web's mediacapture-transform ``MediaStreamTrackGenerator``: a voice assistant writes
its TTS engine's blocks as they come, a game or a synthesizer the blocks it computes, and
``Audio().src_object = MediaStream([track])`` plays them as an ordinary media element of its
window's session (activated, ducked, paused, resumed and routed by the policy).

    track = MediaStreamTrackGenerator(kind="audio", rate=22050, channels=1)
    speech = Audio()
    speech.src_object = MediaStream([track])
    speech.play()
    for block in tts(text):          # NumPy float32, (frames, channels) or (frames,)
        track.write(block)           # waits while MAX_QUEUED_SECONDS are queued
    track.close()                    # the end: "ended" fires once the last block was heard

How the audio travels: ``write`` resamples (soxr) and maps channels to the engine's format on
the writer's thread and appends to the track's queue; the engine's worker moves queued frames
into the playing element's ``AheadBuffer`` (the track is a push-style producer, ``engine/
ahead.py``), and the audio thread reads only that ring. How much may wait, and why:

- ``MAX_QUEUED_SECONDS`` (1 s, per track): what ``write`` lets be written and not yet heard
  (the queue and the ring together) before it waits. A second rides out a writer's hiccup
  (a TTS model warming up for the next sentence) and costs 384 kB of stereo float32 at
  48 kHz; a writer faster than real time waits in ``write`` instead of filling memory. The
  same bound holds while the element is paused (by the program or the policy): writes go on
  being accepted until a second is queued, then ``write`` waits until the element plays again
  (or the track is stopped, which makes it raise ``InvalidStateError``).
- ``START_SECONDS`` (60 ms): the element starts hearing the track once this much is queued (or
  the track is closed), and again after each underrun: three 20 ms blocks of margin, so a
  writer that keeps pace with real time, as a TTS engine streaming 20 ms blocks or a network
  track does, is not heard as a stutter of 10 ms gaps. It is the track's added latency.

An underrun (the writer is late) is silence for the rest of that block, counted in
``underruns``; it never holds back other voices or the stream. On the thread that runs the
window's tasks (an event listener; in virtual time, the thread that moves the clock) ``write``
never waits, since what would make room could not happen while it did: a block that does not
fit raises ``RuntimeError`` (in virtual time, write at most ``max_queued - queued`` seconds
between ``env.advance`` calls).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import threading
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import soxr

from audiosession.engine.decode import mix_matrix
from audiosession.errors import InvalidStateError
from audiosession.events import EventHandler, EventTarget
from audiosession.session.runtime import Runtime, current_runtime

if TYPE_CHECKING:
    from audiosession.engine.ahead import AheadBuffer
    from audiosession.platforms.local_audio import LocalAudio
    from audiosession.session.window import Window

log = logging.getLogger(__name__)

MAX_QUEUED_SECONDS = 1.0
"""Seconds written and not yet heard after which ``write`` waits (see the module docstring)."""

START_SECONDS = 0.06
"""Seconds queued before the element hears the track, at its start and after an underrun."""

WAIT_SECONDS = (0.005, 0.05)
"""The shortest and longest a waiting ``write`` sleeps before it looks for room again."""

_ids = itertools.count(1)


class MediaStreamTrackGenerator(EventTarget):
    """An audio track the program writes to: ``write(block)``, ``await write_async(block)``,
    ``close()`` at the end; play it with ``Audio().src_object = MediaStream([track])``.

    ``rate`` and ``channels`` describe the blocks written (resampled and mapped to the
    engine's format: mono is copied to both sides, stereo averaged for a mono engine).
    ``max_queued``: seconds written and not yet heard before ``write`` waits.
    """

    onended = EventHandler["MediaStreamTrackGenerator"]("ended")

    def __init__(
        self,
        kind: str = "audio",
        *,
        rate: int = 48000,
        channels: int = 1,
        max_queued: float = MAX_QUEUED_SECONDS,
        window: Window | None = None,
    ) -> None:
        if kind != "audio":
            raise ValueError(f"only audio tracks can be generated (kind='audio'), not {kind!r}")
        for name, value in (("rate", rate), ("channels", channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive whole number, not {value!r}")
        if (
            isinstance(max_queued, bool)
            or not isinstance(max_queued, (int, float))
            or not math.isfinite(max_queued)
            or max_queued < 2 * START_SECONDS
        ):
            raise ValueError(
                f"max_queued must be a number of seconds >= {2 * START_SECONDS}, not {max_queued!r}"
            )
        super().__init__()
        self._window: Window | None = None
        self.kind = kind
        self.id = f"generated-track-{next(_ids)}"
        self.label = "Generated audio"
        self.rate = rate
        self.channels = channels
        self.max_queued = float(max_queued)
        self.enabled = True
        """A disabled track is heard as silence (its audio is still consumed in time)."""
        self.muted = False
        self._queue: deque[np.ndarray] = deque()
        self._queued = 0  # frames (engine rate) in the queue, not yet in a ring
        self._lock = threading.Condition()  # the queue; notified when the track stops
        self._write_lock = threading.Lock()  # the resampler's state: one write at a time
        self._closed = False  # the writer said the end (or the track was stopped)
        self._ready_state = "live"
        self._drop_when_full = False  # a live network track: drop what is late, never wait
        self._source: _GeneratedSource | None = None
        if window is not None:
            self._bind(window)

    def _bind(self, window: Window) -> None:
        """Belong to ``window``: write for its engine's format from now on."""
        audio = window.runtime.platform.audio
        self._window = window
        self._engine_rate: int = audio.rate
        self._max_frames = int(self.max_queued * audio.rate)
        self._matrix = mix_matrix(self.channels, audio.channels)
        self._resampler: Any = None
        if self.rate != audio.rate and not self._closed:
            self._resampler = soxr.ResampleStream(
                self.rate, audio.rate, self.channels, dtype="float32"
            )
        self._end = np.zeros((0, audio.channels), dtype=np.float32)

    @property
    def window(self) -> Window:
        """The window whose engine plays the track: the one given, else the first element's
        that plays it, else (written before it is played) the current default window."""
        self._ensure_bound()
        assert self._window is not None
        return self._window

    def _ensure_bound(self) -> None:
        if self._window is None:
            self._bind(current_runtime().default_window)

    def _event_runtime(self) -> Runtime:
        return self.window.runtime

    def __repr__(self) -> str:
        queued = f", {self.queued:.3f} s queued" if self._window is not None else ""
        return (
            f"<MediaStreamTrackGenerator {self.id} {self.rate} Hz x{self.channels} "
            f"{self._ready_state}{queued}>"
        )

    # -- attributes ---------------------------------------------------------------------------

    @property
    def ready_state(self) -> str:
        """``live`` until its audio has been heard to the end after ``close()`` (or until
        ``stop()``), then ``ended``."""
        return self._ready_state

    readyState = ready_state  # noqa: N815

    @property
    def queued(self) -> float:
        """Seconds written and not yet heard (what ``write`` holds to ``max_queued``)."""
        self._ensure_bound()
        return self._queued_frames() / self._engine_rate

    @property
    def underruns(self) -> int:
        """Device blocks that found the track dry after its audio had started (each heard
        partly as silence) since the element began playing it."""
        source = self._source
        return source.ahead.underruns if source is not None else 0

    def _queued_frames(self) -> int:
        source = self._source
        return self._queued + (source.ahead.ready if source is not None else 0)

    # -- writing ------------------------------------------------------------------------------

    def write(self, block: Any) -> None:
        """Queue ``block`` (NumPy float32, (frames, channels) or (frames,) for mono; int16 is
        scaled from its full range) to be heard after what was written before. Waits while
        ``max_queued`` seconds are queued; raises ``InvalidStateError`` once the track is
        closed or stopped, ``ValueError`` / ``TypeError`` for a block of the wrong shape or
        type (nothing of it is queued)."""
        for seconds in self._pieces(block):
            self._wait_for_room(seconds)

    async def write_async(self, block: Any) -> None:
        """``write`` for asyncio: awaits room instead of blocking the event loop."""
        for seconds in self._pieces(block):
            await asyncio.sleep(seconds)

    def _pieces(self, block: Any) -> Iterator[float]:
        """Queue ``block`` as room comes: each time it does not all fit, yield how long to
        wait before offering the rest."""
        if self._on_loop_thread():
            self._write_without_waiting(block)
            return
        data = self._prepare(block)
        while True:
            data, wait = self._offer(data)
            if wait is None:
                return
            yield wait

    def close(self) -> None:
        """End of stream: what was written is heard to its end, then the element playing the
        track fires ``ended`` (and the track ``ended``). Writing after it raises."""
        self._ensure_bound()
        with self._write_lock:
            if self._closed:
                return
            tail = None
            if self._resampler is not None:
                tail = self._resampler.resample_chunk(
                    np.zeros((0, self.channels), np.float32), last=True
                )
                self._resampler = None  # nothing more is written: its native state goes now
            with self._lock:
                if tail is not None and len(tail):
                    self._append(self._to_engine_channels(tail))
                self._closed = True
                self._lock.notify_all()
        self._wake_source()

    def stop(self) -> None:
        """End the track now: what is queued is dropped, the element playing it ends at its
        next block, a waiting ``write`` raises. No ``ended`` event (the program asked)."""
        with self._lock:
            self._closed = True
            self._ready_state = "ended"
            self._queue.clear()
            self._queued = 0
            self._lock.notify_all()
            source, self._source = self._source, None
        if source is not None:
            source.ahead.close()
        with self._write_lock:
            self._resampler = None

    def _prepare(self, block: Any) -> np.ndarray:
        """``block`` checked, resampled and mapped to the engine's channels."""
        self._ensure_bound()
        if self._closed:
            raise InvalidStateError(f"{self!r} is closed: nothing more can be written")
        array = np.asarray(block)
        if array.dtype == np.int16:
            array = array.astype(np.float32) / 32768.0
        elif array.dtype.kind != "f":
            raise TypeError(f"a block must hold float32 (or int16) samples, not {array.dtype}")
        if array.ndim == 1 and self.channels == 1:
            array = array[:, None]
        if array.ndim != 2 or array.shape[1] != self.channels:
            raise ValueError(
                f"a block must be a (frames, {self.channels}) array for this "
                f"{self.channels}-channel track, not shape {array.shape}"
            )
        array = np.ascontiguousarray(array, dtype=np.float32)
        if not np.isfinite(array).all():
            raise ValueError("a block must hold finite samples (it has NaN or infinity)")
        with self._write_lock:
            if self._closed:  # while the block was checked
                raise InvalidStateError(f"{self!r} is closed: nothing more can be written")
            if self._resampler is not None:
                array = np.asarray(self._resampler.resample_chunk(array), dtype=np.float32)
                if array.ndim == 1:
                    array = array[:, None]
            return self._to_engine_channels(array)

    def _to_engine_channels(self, array: np.ndarray) -> np.ndarray:
        if self._matrix is not None:
            return np.ascontiguousarray(array @ self._matrix, dtype=np.float32)
        return array

    def _offer(self, data: np.ndarray) -> tuple[np.ndarray, float | None]:
        """Queue as much of ``data`` as there is room for; what is left, and how long to wait
        before offering it (None: nothing is left)."""
        if self._drop_when_full and len(data) > self._max_frames - self._queued_frames():
            self._drop_late()
        with self._lock:
            if self._closed:
                raise InvalidStateError(f"{self!r} was closed while a write waited")
            taken = max(0, min(self._max_frames - self._queued_frames(), len(data)))
            self._append(data[:taken])
        if taken:
            self._wake_source()
        rest = data[taken:]
        if not len(rest):
            return rest, None
        # Room comes back as the element hears what is queued: wait about that long.
        needed = min(len(rest), self._max_frames // 4) / self._engine_rate
        return rest, min(max(needed, WAIT_SECONDS[0]), WAIT_SECONDS[1])

    def _append(self, data: np.ndarray) -> None:
        """(Under the lock.)"""
        if len(data):
            self._queue.append(data)
            self._queued += len(data)

    def _drop_late(self) -> None:
        """A live track fell behind (its element paused, or its sender's clock runs fast):
        drop what waits, in the queue and in the ring, so that what is heard stays near now."""
        dropped = self._queued_frames()

        def forget() -> None:  # while no producer call runs
            with self._lock:
                self._queue.clear()
                self._queued = 0

        source = self._source
        if source is not None:
            source.ahead.flush(forget)
        else:
            forget()
        log.info("%r: dropped %.3f s of late audio", self, dropped / self._engine_rate)

    def _on_loop_thread(self) -> bool:
        """Whether the caller runs the window's tasks (an event listener; in virtual time, the
        thread that moves the clock): waiting there could wait for ever, for a resume the
        loop itself has to run, or for a clock only ``env.advance()`` moves."""
        return self.window.runtime.loop.in_loop_thread()

    def _write_without_waiting(self, block: Any) -> None:
        """On the loop's thread: a block that does not fit now is refused whole, before it is
        resampled (the resampler's few frames of give are let through)."""
        self._ensure_bound()
        frames = len(np.asarray(block)) * self._engine_rate / self.rate
        if frames > self._max_frames - self._queued_frames() + 1:
            where = (
                "the virtual clock moves only in env.advance(): write at most "
                "max_queued - queued seconds between advances"
                if self.window.runtime.virtual_clock is not None
                else "this thread runs the audiosession loop: write from another thread, "
                "or use write_async in asyncio"
            )
            raise RuntimeError(
                f"writing {frames / self._engine_rate:.3f} s here would wait: "
                f"{self.queued:.3f} s of {self!r} are queued (at most {self.max_queued} s) "
                f"and {where}"
            )
        data = self._prepare(block)
        with self._lock:
            self._append(data)

    def _wait_for_room(self, seconds: float) -> None:
        with self._lock:
            if not self._closed:
                self._lock.wait(seconds)

    # -- what the element's voice reads -------------------------------------------------------

    def _produce(self, frames: int) -> np.ndarray | None:
        """The ``AheadBuffer``'s producer: up to ``frames`` queued frames; None while none are
        queued (the writer is late); empty at the end."""
        with self._lock:
            if not self._queue:
                return self._end if self._closed else None
            parts, count = [], 0
            while self._queue and count < frames:
                block = self._queue.popleft()
                if count + len(block) > frames:
                    self._queue.appendleft(block[frames - count :])
                    block = block[: frames - count]
                parts.append(block)
                count += len(block)
            self._queued -= count
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _open_source(
        self, engine_format: tuple[int, int], window: Window | None = None
    ) -> _GeneratedSource:
        """What the media element of ``window`` plays (``MediaStream._open_source``); a track
        made without a window belongs to the first one. One element plays a track at a time:
        a new one takes it over, and the previous one ends."""
        if self._window is None and window is not None:
            self._bind(window)
        if window is not None and window.runtime is not self.window.runtime:
            raise InvalidStateError(
                f"{self!r} belongs to {self.window.name} of another runtime than {window.name}"
            )
        audio = self.window.runtime.platform.audio
        if self._ready_state == "ended":
            raise InvalidStateError(f"{self!r} has ended: it has nothing more to play")
        source = _GeneratedSource(self, audio)
        with self._lock:
            previous, self._source = self._source, source
        if previous is not None:
            previous.ahead.close()
        return source

    def _wake_source(self) -> None:
        source = self._source
        if source is not None:
            source.ahead.wake()

    def _detach(self, source: _GeneratedSource) -> None:
        with self._lock:
            if self._source is source:
                self._source = None

    def _heard_to_the_end(self, source: _GeneratedSource) -> None:
        """A task: ``source`` read to its end; the track's end if it was closed and ``source``
        still plays it (not an element it was taken from)."""
        if self._ready_state == "live" and self._closed and source is self._source:
            self._ready_state = "ended"
            self._fire("ended")


class _GeneratedSource:
    """A generator track as a media element's source: the track's queue produces into an
    ``AheadBuffer`` (filled by the engine's worker), and the audio thread reads the ring,
    silent until ``START_SECONDS`` are ready (at the start and after an underrun)."""

    seekable = False
    duration = None

    def __init__(self, track: MediaStreamTrackGenerator, audio: LocalAudio) -> None:
        self.track = track
        self.ahead: AheadBuffer = audio.ahead(track._produce, name=track.id)
        self._loop = track.window.runtime.loop
        self._realtime = audio.engine.realtime
        self._start_frames = int(START_SECONDS * audio.rate)
        self._rate = audio.rate
        self._hearing = False
        self._heard = 0
        self._zeros = np.zeros((0, audio.channels), dtype=np.float32)
        self._ended = False
        self.ahead.prime()

    @property
    def has_audio(self) -> bool:
        return self.track.ready_state == "live"

    @property
    def position(self) -> float:
        """Seconds of the track heard so far."""
        return self._heard / self._rate

    def read(self, frames: int) -> np.ndarray:
        return np.array(self.read_view(frames), copy=True)

    def read_view(self, frames: int) -> np.ndarray:
        """(The audio thread.) The next ``frames`` frames; silence while too little is ready to
        start; fewer frames only at the end."""
        ahead = self.ahead
        if not self._hearing:
            if not self._may_start():
                return self._silence(frames)
            self._hearing = True
        underruns, missing = ahead.underruns, ahead.frames_missing
        block = ahead.read_view(frames)
        if ahead.underruns != underruns:
            self._hearing = False  # dry: wait for START_SECONDS again
        self._heard += len(block) - (ahead.frames_missing - missing)
        if len(block) < frames and not self._ended:
            self._ended = True
            self._loop.queue_task(self.track._heard_to_the_end, self)
        if not self.track.enabled:
            return self._silence(len(block))
        return block

    def _may_start(self) -> bool:
        ahead, track = self.ahead, self.track
        if self._realtime:
            # The worker moves what is written into the ring within a poll: count the ring.
            return ahead.ready >= self._start_frames or ahead.ended_in_ring
        # Virtual time: the ring is filled as it is read.
        return ahead.ready + track._queued >= self._start_frames or track._closed

    def _silence(self, frames: int) -> np.ndarray:
        if len(self._zeros) < frames:
            self._zeros = np.zeros((frames, self._zeros.shape[1]), dtype=np.float32)
        return self._zeros[:frames]

    def seek(self, seconds: float) -> None:
        from audiosession.elements.media_error import MediaError, MediaSourceError

        raise MediaSourceError(MediaError.MEDIA_ERR_DECODE, "a generated track cannot seek")

    def close(self) -> None:
        self.ahead.close()
        self.track._detach(self)
