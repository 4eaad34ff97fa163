"""The engine: a mixer on a backend, one output stream per (device, role) in use, and captures."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..errors import NotFoundError
from .ahead import AHEAD_SECONDS, CHUNK_FRAMES, AheadBuffer, AheadWorkers, Produce
from .backend import Backend, DeviceInfo, DeviceKind, Stream, check_device
from .gain import Gain
from .mixer import AUDIBILITY_HOLD, AudibilityChanged, Mixer, Source, Voice, VoiceEnded
from .rewind import LONG_QUEUE_SECONDS, LONG_WRITE_SECONDS, StreamRenderer
from .timeline import Timeline

log = logging.getLogger(__name__)

DEFAULT_BLOCKSIZE = 480
"""Frames per block: 10 ms at 48 kHz."""

CAPTURE_SECONDS = 2.0
"""How much captured audio a ``Capture`` keeps before dropping the oldest."""


@dataclass(frozen=True, eq=False)
class DeviceRemoved:
    """An output or input device disappeared; its voices moved to the default output, held
    (``playing`` False) until their owner lets them play; its captures moved too."""

    device_id: str
    voices: tuple[Voice, ...]
    captures: tuple[Capture, ...] = ()


@dataclass(frozen=True, eq=False)
class DevicesChanged:
    """The device list changed (a device was added or removed)."""

    devices: tuple[DeviceInfo, ...]


@dataclass(frozen=True, eq=False)
class OutputLost:
    """The sound server went away: no stream plays, and voices keep their place (nothing is
    read) until it is back (``OutputRestored``) or the backend gives up (``OutputFailed``)."""

    reason: str


@dataclass(frozen=True, eq=False)
class OutputRestored:
    """The sound server is back: every stream plays again, each voice from where it stopped."""


@dataclass(frozen=True, eq=False)
class OutputFailed:
    """The sound server did not come back in time. The backend goes on trying: streams
    opened from now on play if it returns."""

    reason: str


OutputEvent = OutputLost | OutputRestored | OutputFailed
EngineEvent = VoiceEnded | AudibilityChanged | DeviceRemoved | DevicesChanged | OutputEvent


class OutputListener(Protocol):
    """Sees every block an output device's streams render (on their audio threads)."""

    device: str
    keeps_streams_short: bool
    """Whether it needs each block as it is heard (the echo canceller's far end): while it
    listens, the device's streams do not queue long (``engine/rewind.py``)."""

    def take(self, role: str, block: np.ndarray) -> None: ...

    def untake(self, role: str, frames: int) -> None:
        """The ``role`` stream renders its last ``frames`` again (queued, not heard)."""


class Capture:
    """Audio captured from an input device, kept in a bounded ring (the oldest is dropped).

    The backend's audio thread calls ``deliver``; any other thread reads. ``started``: when
    the first frame was captured, on the engine's clock, as the frames since then place it (it
    moves when the input lost frames: ``engine/timeline.py``); ``frames_read``: the index of the
    next frame ``read`` returns (read or dropped frames before it); ``last_read_from``: the
    index of the first frame the last ``read`` returned.
    """

    def __init__(self, engine: Engine, device: str, *, seconds: float = CAPTURE_SECONDS) -> None:
        self.engine = engine
        self.device = device
        self.rate = engine.rate
        self.channels = engine.channels
        self._ring = np.zeros((max(1, int(seconds * self.rate)), self.channels), np.float32)
        self._start = 0
        self._count = 0
        self._lock = threading.Lock()
        self.frames_captured = 0
        self.frames_dropped = 0
        self.closed = False
        self.started: float | None = None
        self._timeline = Timeline(self.rate, engine.blocksize)
        self.frames_read = 0
        self.last_read_from = 0
        self._stream: Stream | None = None

    def __repr__(self) -> str:
        return f"<Capture from {self.device!r}, {self._count} frames buffered>"

    def deliver(self, block: np.ndarray) -> None:
        """Append one captured (frames, channels) block (called by the backend)."""
        if self.closed:
            return
        block = np.asarray(block, dtype=np.float32)
        if block.ndim == 1:
            block = block[:, None]
        size = len(self._ring)
        if len(block) > size:
            self.frames_dropped += len(block) - size
            block = block[-size:]
        frames = len(block)
        # A real-time backend delivers a block once it is captured; virtual time at once.
        captured = round(self.engine.clock() * self.rate) - (frames if self.engine.realtime else 0)
        at = self._timeline.place(captured, frames)
        self.started = (at - self.frames_captured) / self.rate
        with self._lock:
            overflow = self._count + frames - size
            if overflow > 0:
                self._start = (self._start + overflow) % size
                self._count -= overflow
                self.frames_dropped += overflow
                self.frames_read += overflow
            end = (self._start + self._count) % size
            first = min(frames, size - end)
            self._ring[end : end + first] = block[:first]
            self._ring[: frames - first] = block[first:]
            self._count += frames
            self.frames_captured += frames

    def read_available(self) -> int:
        """Frames buffered and not yet read."""
        return self._count

    def read(self, frames: int | None = None) -> np.ndarray:
        """The oldest ``frames`` buffered frames (all of them if None), zero-filled if short.

        Returns a new (frames, channels) float32 array.
        """
        with self._lock:
            count = self._count if frames is None else min(frames, self._count)
            out = np.zeros((count if frames is None else frames, self.channels), np.float32)
            size = len(self._ring)
            first = min(count, size - self._start)
            out[:first] = self._ring[self._start : self._start + first]
            out[first:count] = self._ring[: count - first]
            self._start = (self._start + count) % size
            self._count -= count
            self.last_read_from = self.frames_read
            self.frames_read += count
        return out

    def close(self) -> None:
        """Stop capturing and close the input stream."""
        if self.closed:
            return
        self.closed = True
        self.engine._close_capture(self)


class Recording:
    """What one output device receives from now until ``stop()``: every block of each of its
    streams, as rendered, placed by the stream's first block's time and its frame count, on a
    ``Timeline`` (a late callback is not a gap; a stream that rested while idle, or ran dry,
    starts again from the time).

    The audio threads only append a copy of each block (no allocation beyond it, no file
    I/O); ``stop()`` assembles them. Meant for minutes, not hours: it keeps them in memory,
    and stops taking blocks after ``limit`` seconds.
    """

    keeps_streams_short = False

    def __init__(
        self, engine: Engine, device: str, clock: Callable[[], float], limit: float = 600.0
    ) -> None:
        self.device = device
        self.rate = engine.rate
        self.channels = engine.channels
        self._engine = engine
        self._clock = clock
        self._start = clock()
        self._limit = int(limit * engine.rate)
        self._timelines: dict[str, Timeline] = {}  # role -> where its blocks go
        self._blocks: list[tuple[int, np.ndarray, str]] = []
        self.stopped = False

    def take(self, role: str, block: np.ndarray) -> None:
        """A stream of the device rendered ``block`` (called on its audio thread)."""
        if self.stopped:
            return
        now = max(0, int(round((self._clock() - self._start) * self.rate)))
        timeline = self._timelines.get(role)
        if timeline is None:
            timeline = self._timelines[role] = Timeline(self.rate, self._engine.blocksize)
        at = timeline.place(now, len(block))
        if at < self._limit:
            self._blocks.append((at, block.copy(), role))

    def untake(self, role: str, frames: int) -> None:
        """The ``role`` stream renders its last ``frames`` again (they were queued, not
        heard): forget them (called on its audio thread)."""
        timeline = self._timelines.get(role)
        if timeline is None or timeline.next is None or self.stopped:
            return
        cut = timeline.next - frames
        kept = []
        for start, block, block_role in self._blocks:
            if block_role == role and start + len(block) > cut:
                if start >= cut:
                    continue
                block = block[: cut - start]
            kept.append((start, block, block_role))
        self._blocks = kept
        timeline.go_back(frames)

    def stop(self) -> np.ndarray:
        """Stop and return everything received, a (frames, channels) float32 array."""
        self.stopped = True
        self._engine._stop_recording(self)
        blocks = list(self._blocks)
        end = max((at + len(block) for at, block, _ in blocks), default=0)
        out = np.zeros((end, self.channels), dtype=np.float32)
        for at, block, _ in blocks:
            out[at : at + len(block)] += block
        return out


class Engine:
    """A ``Mixer`` playing on a backend's devices, plus captures from its inputs.

    Streams are opened lazily: one per (device, role) that has voices, closed when its last
    voice is removed (once the end of an ended voice has played; a stream ``keep_stream``
    keeps rests instead, for the next voice). ``on_event`` receives ``VoiceEnded`` and
    ``AudibilityChanged`` (on the audio thread), ``DeviceRemoved`` and ``DevicesChanged`` (on
    the backend's watcher thread), and ``OutputLost``, ``OutputRestored`` and
    ``OutputFailed`` (from a backend whose server can go away and come back, on its
    reconnecting thread): it must only post them to the event loop.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        rate: int = 48000,
        channels: int = 2,
        blocksize: int = DEFAULT_BLOCKSIZE,
        on_event: Callable[[EngineEvent], None] | None = None,
        audibility_hold: float = AUDIBILITY_HOLD,
    ) -> None:
        if blocksize <= 0:
            raise ValueError(f"blocksize must be positive, not {blocksize!r}")
        self.backend = backend
        self.rate = int(rate)
        self.channels = int(channels)
        self.blocksize = int(blocksize)
        self.on_event = on_event
        self.mixer = Mixer(
            self.rate, self.channels, on_event=self._post, audibility_hold=audibility_hold
        )
        self.mixer.default_device = backend.default_output()
        self.mixer.on_routes_changed = self._sync_streams
        self.mixer.on_change = self._hurry_streams
        # Streams that may queue much (``queues_long``) can render again what they queued.
        self._history = (
            int(LONG_QUEUE_SECONDS * self.rate) + self.blocksize
            if getattr(backend, "queues_long", False)
            else 0
        )
        self._lock = threading.RLock()
        self._streams: dict[tuple[str | None, str], Stream] = {}
        self._kept: set[tuple[str | None, str]] = set()  # (device or None: the default, role)
        self._playing_out: set[tuple[str | None, str]] = set()  # routes whose voice just ended
        self._captures: list[Capture] = []
        self._recordings: dict[str, tuple[OutputListener, ...]] = {}
        self._devices = list(backend.list_devices())
        self._closed = False
        self.output_down: OutputLost | OutputFailed | None = None
        """Why nothing plays now (the server is away, or did not come back); None while the
        output runs."""
        # A backend that renders only when told (virtual time) sets realtime = False.
        self.realtime = bool(getattr(backend, "realtime", True))
        self._workers: AheadWorkers | None = None
        backend.watch_devices(self._devices_changed)
        watch_server = getattr(backend, "watch_server", None)
        if watch_server is not None:
            watch_server(self._server_changed)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- devices ----------------------------------------------------------------------------

    def devices(self) -> list[DeviceInfo]:
        """Every output and input device the backend offers now."""
        return list(self._devices)

    def default_output(self) -> str | None:
        """The id of the default output device (None if there is none)."""
        return self.backend.default_output()

    def default_input(self) -> str | None:
        """The id of the default input device (None if there is none)."""
        return self.backend.default_input()

    def _resolve(self, device: str | None, kind: DeviceKind) -> str:
        if device is None:
            default = self.default_output() if kind == "audiooutput" else self.default_input()
            if default is None:
                raise NotFoundError(f"there is no {kind} device")
            return default
        check_device(device, self._devices, kind)
        return device

    # -- voices -----------------------------------------------------------------------------

    @property
    def voices(self) -> tuple[Voice, ...]:
        """Every voice added and not removed."""
        return self.mixer.voices

    def add_voice(
        self,
        source: Source,
        *,
        gains: Iterable[Gain] = (),
        device: str | None = None,
        role: str = "music",
        watch_audibility: bool = False,
        playing: bool = True,
    ) -> Voice:
        """Mix ``source`` on ``device`` (default output) in the ``role`` stream from the next block.

        Raises ``NotFoundError`` for an unknown device.
        """
        self._check_open()
        voice = Voice(
            source,
            gains=gains,
            device=self._resolve(device, "audiooutput"),
            role=role,
            watch_audibility=watch_audibility,
            playing=playing,
        )
        return self.mixer.add(voice)

    def remove_voice(self, voice: Voice) -> None:
        """Stop mixing ``voice``. A voice that had ended plays out: what its stream still has
        queued of it is heard to the last sample, then the stream closes if no other voice
        uses it (or rests, if kept: ``keep_stream``). A voice stopped before its end stops at
        once: its stream closes, or a kept one drops what it has queued."""
        route = (voice.device, voice.role)
        ended = voice.ended
        with self._lock:
            if ended:
                self._playing_out.add(route)
            try:
                self.mixer.remove(voice)  # its stream closes or rests, in _sync_streams
            finally:
                self._playing_out.discard(route)
            stream = self._streams.get(route)
            if ended or stream is None or route in self.mixer.routes():
                return
            drop_queued = getattr(stream, "drop_queued", None)
            if drop_queued is not None:
                drop_queued()

    def move_voice(self, voice: Voice, device: str | None = None, role: str | None = None) -> None:
        """Move ``voice`` to another device (None: the default) and/or role, checked."""
        target = self._resolve(device, "audiooutput")
        if role is not None:
            voice.role = role
        voice.device = target

    def ahead(
        self,
        produce: Produce,
        *,
        tell: Callable[[], float] | None = None,
        name: str = "",
        channels: int | None = None,
    ) -> AheadBuffer:
        """A buffer that makes a voice's frames ahead of the audio thread (``engine.ahead``):
        ``produce(frames)`` is called by the engine's worker thread in large chunks, and the
        buffer (a voice's source) gives the audio thread only frames already made.

        In virtual time the frames are made on demand while rendering instead, so the mix is
        the same every run. Call ``prime()`` before the voice plays, ``close()`` when done.
        ``channels``: the producer's, if not the engine's (a mono node of an AudioContext).
        """
        self._check_open()
        workers = None
        if self.realtime:
            with self._lock:
                if self._workers is None:
                    self._workers = AheadWorkers()
                workers = self._workers
        # Room for a whole block on top of a whole chunk, whatever the blocksize; and for
        # the large writes of a stream that queues long.
        seconds = max(AHEAD_SECONDS, 2 * (self.blocksize + CHUNK_FRAMES) / self.rate)
        if self._history:
            seconds += LONG_WRITE_SECONDS
        return AheadBuffer(
            produce,
            rate=self.rate,
            channels=channels or self.channels,
            workers=workers,
            tell=tell,
            seconds=seconds,
            name=name,
            history=self._history if workers is not None else 0,
            on_flush=self.mixer.changed,
        )

    def keep_stream(self, role: str, device: str | None = None) -> bool:
        """Keep the ``role`` stream of ``device`` open while no voice uses it, resting (a
        PulseAudio stream corks, which costs the server and the sink nothing), so that the
        next voice in that role is heard as soon as it plays, not after a new stream's
        set-up: the daemon keeps its notifications' stream so. ``device`` None: the default
        output, whichever it is at the time. Returns False, keeping nothing, on a backend
        whose streams cannot rest (an open PortAudio stream runs its callback and holds its
        device)."""
        if not getattr(self.backend, "streams_rest", False):
            return False
        with self._lock:
            self._kept.add((device, role))
        self._sync_streams()
        return True

    def _sync_streams(self) -> None:
        """Open a stream for each (device, role) with voices or kept; close the others; tell
        each stream whether a voice plays on it."""
        with self._lock:
            if self._closed:
                return
            wanted = self.mixer.routes() | {
                (self.mixer.default_device if device is None else device, role)
                for device, role in self._kept
            }
            for key in [k for k in self._streams if k not in wanted]:
                stream = self._streams.pop(key)
                close_when_quiet = getattr(stream, "close_when_quiet", None)
                try:
                    if key in self._playing_out and close_when_quiet is not None:
                        close_when_quiet()  # the end of the sound is still queued
                    else:
                        stream.close()
                except Exception:
                    log.exception("closing the %s/%s stream failed", *key)
            present = {d.id for d in self._devices if d.kind == "audiooutput"}
            for key in wanted - set(self._streams):
                device, role = key
                if device is None or device not in present:
                    continue  # e.g. voices of an unplugged device, about to move
                self._streams[key] = self.backend.open_output(
                    device,
                    role,
                    rate=self.rate,
                    channels=self.channels,
                    blocksize=self.blocksize,
                    render=self._renderer(device, role),
                )
            playing = self.mixer.playing_routes()
            for key, stream in self._streams.items():
                # A stream with nothing playing may rest; it wakes at once when a voice plays.
                set_idle = getattr(stream, "set_idle", None)
                if set_idle is not None:
                    set_idle(key not in playing)

    def _renderer(self, device: str, role: str) -> StreamRenderer:
        recordings = self._recordings

        def take(role: str, block: np.ndarray) -> None:
            for recording in recordings.get(device, ()):
                recording.take(role, block)

        def untake(role: str, frames: int) -> None:
            for recording in recordings.get(device, ()):
                recording.untake(role, frames)

        def held_short() -> bool:
            return any(listener.keeps_streams_short for listener in recordings.get(device, ()))

        return StreamRenderer(
            self.mixer, device, role, self._history, take, untake, held_short=held_short
        )

    def _hurry_streams(self) -> None:
        """What is heard must change at once: a stream that queued much renders again from
        what is being heard (``hurry``)."""
        for stream in list(self._streams.values()):
            hurry = getattr(stream, "hurry", None)
            if hurry is not None:
                hurry()

    def clock(self) -> float:
        """Seconds on the engine's clock: monotonic time, or a virtual backend's own."""
        if hasattr(self.backend, "time"):
            return float(getattr(self.backend, "time"))  # noqa: B009
        return time.monotonic()

    def record(self, device: str | None = None) -> Recording:
        """Start recording what ``device`` (the default output if None) receives."""
        recording = Recording(self, self._resolve(device, "audiooutput"), self.clock)
        self.add_output_listener(recording.device, recording)
        return recording

    def add_output_listener(self, device: str, listener: OutputListener) -> None:
        """Give ``listener`` every block ``device``'s streams render, from the next one (the
        audio threads call its ``take``: it must only copy)."""
        with self._lock:
            self._recordings[device] = (*self._recordings.get(device, ()), listener)
        if listener.keeps_streams_short:
            self._hurry_streams()  # a stream that queues long goes back to its latency

    def remove_output_listener(self, listener: OutputListener) -> None:
        self._stop_recording(listener)

    def _stop_recording(self, recording: OutputListener) -> None:
        with self._lock:
            kept = tuple(
                r for r in self._recordings.get(recording.device, ()) if r is not recording
            )
            if kept:
                self._recordings[recording.device] = kept
            else:
                self._recordings.pop(recording.device, None)

    def streams(self) -> list[tuple[str | None, str]]:
        """The (device, role) pairs with an open output stream."""
        return list(self._streams)

    # -- captures ---------------------------------------------------------------------------

    def open_input(self, device: str | None = None, *, seconds: float = CAPTURE_SECONDS) -> Capture:
        """Start capturing from ``device`` (default input); ``seconds``: the ring's length."""
        self._check_open()
        capture = Capture(self, self._resolve(device, "audioinput"), seconds=seconds)
        self._open_capture_stream(capture)
        with self._lock:
            self._captures.append(capture)
        return capture

    def _open_capture_stream(self, capture: Capture) -> None:
        capture._stream = self.backend.open_input(
            capture.device,
            rate=self.rate,
            channels=self.channels,
            blocksize=self.blocksize,
            deliver=capture.deliver,
        )

    def _close_capture(self, capture: Capture) -> None:
        with self._lock:
            if capture in self._captures:
                self._captures.remove(capture)
        if capture._stream is not None:
            capture._stream.close()
            capture._stream = None

    # -- hot-plug ---------------------------------------------------------------------------

    def _devices_changed(self, devices: list[DeviceInfo]) -> None:
        with self._lock:
            if self._closed:
                return
            before = {(d.id, d.kind) for d in self._devices}
            self._devices = list(devices)
            now = {(d.id, d.kind) for d in devices}
            self.mixer.default_device = self.backend.default_output()
            removed = before - now
        for device_id, kind in sorted(removed):
            if kind == "audiooutput":
                self._output_removed(device_id)
            else:
                self._input_removed(device_id)
        if self._kept:  # a kept stream of "the default output" follows it
            self._sync_streams()
        self._post(DevicesChanged(tuple(devices)))

    def _output_removed(self, device_id: str) -> None:
        with self._lock:
            stale = [k for k in self._streams if k[0] == device_id]
            for key in stale:
                stream = self._streams.pop(key)
                try:
                    stream.close()
                except Exception:
                    log.debug("closing a stream of removed %r failed", device_id, exc_info=True)
        moved = tuple(v for v in self.mixer.voices if v.device == device_id)
        default = self.default_output()
        for voice in moved:
            # Held silent on the default output: whoever owns the voice decides whether it
            # plays there (music must not burst out of the speakers when headphones go).
            voice.hold()
            voice.device = default
        if moved:
            log.info("output %r removed: %d voice(s) moved to %r", device_id, len(moved), default)
        self._post(DeviceRemoved(device_id, moved))

    def _input_removed(self, device_id: str) -> None:
        with self._lock:
            moved = tuple(c for c in self._captures if c.device == device_id)
        default = self.default_input()
        for capture in moved:
            if capture._stream is not None:
                try:
                    capture._stream.close()
                except Exception:
                    log.debug("closing a capture of removed %r failed", device_id, exc_info=True)
                capture._stream = None
            if default is not None:
                capture.device = default
                self._open_capture_stream(capture)
        self._post(DeviceRemoved(device_id, (), moved))

    def _server_changed(self, state: str, reason: str) -> None:
        """The backend's server went away, came back, or did not come back in time."""
        event: OutputEvent
        if state == "lost":
            event = OutputLost(reason)
        elif state == "failed":
            event = OutputFailed(reason)
        else:
            event = OutputRestored()
        self.output_down = None if isinstance(event, OutputRestored) else event
        self._post(event)

    # -- events and lifetime ----------------------------------------------------------------

    def _post(self, event: EngineEvent) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("the engine's on_event failed on %r", event)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this engine is closed")

    def close(self) -> None:
        """Close every stream and capture, then the backend."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            streams = list(self._streams.values())
            self._streams.clear()
            captures = list(self._captures)
        for capture in captures:
            capture.close()
        for stream in streams:
            stream.close()
        if self._workers is not None:
            self._workers.close()
        self.backend.close()
