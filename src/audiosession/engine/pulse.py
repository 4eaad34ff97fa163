"""A real device backend on PulseAudio (or PipeWire's pulse server) through native libpulse."""

from __future__ import annotations

import ctypes
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from ctypes import c_size_t, c_void_p
from typing import Any

import numpy as np

from ..errors import NotFoundError
from .devices import DeliverCallback, DeviceInfo, RenderCallback
from .libpulse import (
    _NO_CONTEXT_NOTIFY,
    _NO_STREAM_NOTIFY,
    _NO_STREAM_REQUEST,
    _PA_CONTEXT_FAILED,
    _PA_CONTEXT_NOAUTOSPAWN,
    _PA_CONTEXT_READY,
    _PA_CONTEXT_TERMINATED,
    _PA_ERR_NOENTITY,
    _PA_SAMPLE_FLOAT32LE,
    _PA_SEEK_RELATIVE,
    _PA_STREAM_ADJUST_LATENCY,
    _PA_STREAM_CREATING,
    _PA_STREAM_DONT_MOVE,
    _PA_STREAM_FAILED,
    _PA_STREAM_READY,
    _PA_STREAM_START_CORKED,
    _PA_STREAM_TERMINATED,
    _SIZE_MAX,
    BackendUnavailableError,
    PulseCallError,
    _BufferAttr,
    _ContextNotify,
    _libpulse,
    _Locked,
    _proplist,
    _SampleSpec,
    _StreamNotify,
    _StreamRequest,
    _strerror,
)

log = logging.getLogger(__name__)

__all__ = [
    "BackendUnavailableError",
    "PulseCallError",
    "PulseBackend",
    "PulseInputStream",
    "PulseOutputStream",
]


REALTIME_PRIORITY = 5
"""SCHED_RR priority asked for the audio thread (PulseAudio's server uses 5 too)."""

DEFAULT_MIN_LATENCY = 0.064
"""Seconds of server-side buffer an output stream asks for at least (unless told otherwise).
Measured on a 2-core machine with 32 streams: 0-3 underruns a minute at 40 ms, none at 64 ms.
A duck or pause still reaches the speakers well within 0.1 s."""

RECONNECT_INTERVAL = 0.25
"""Seconds between two attempts to reach a server that went away (a refused socket fails in
milliseconds, so trying often costs nothing and finds a restarted server quickly)."""

RECONNECT_TIMEOUT = 10.0
"""Seconds a lost server has to come back before the backend reports that it gave up
(``failed``); it goes on trying every ``RECONNECT_INTERVAL * 4`` after that."""

ServerWatcher = Callable[[str, str], None]
"""``watcher(state, reason)``: state ``"lost"``, ``"restored"`` or ``"failed"``."""


# --- streams -----------------------------------------------------------------------------------


class _PulseStream:
    """What output and input streams share: creation, state, close."""

    _kind = "stream"

    def __init__(
        self, backend: PulseBackend, device_id: str, rate: int, channels: int, blocksize: int
    ) -> None:
        self._backend = backend
        self._lib = backend._lib
        self.device_id = device_id
        self.rate, self.channels, self.blocksize = rate, channels, blocksize
        self._frame_bytes = 4 * channels
        self._block_bytes = self._frame_bytes * blocksize
        self._stream: int | None = None
        self._closed = False
        self.failed = False
        """True once the server ended the stream (sink removed, server gone, ...), and while
        a stream opened in the server's absence waits for it."""
        self._was_ready = False
        self._open_args: tuple[Any, ...] = ()
        self._state_changed = threading.Event()
        self._on_state = _StreamNotify(self._state_cb)

    @property
    def index(self) -> int | None:
        """The server's sink-input / source-output index of this stream, or None once closed."""
        if self._stream is None or self._backend._mainloop is None:
            return None
        with self._backend._locked():
            stream = self._stream
            return None if stream is None else int(self._lib.pa_stream_get_index(stream))

    @property
    def closed(self) -> bool:
        """True after ``close()``."""
        return self._closed

    def _create(self, props: dict[str, str]) -> int:
        """Create the pa_stream (caller holds the mainloop lock)."""
        if self._closed:
            raise OSError(f"{self._kind} stream on {self.device_id!r} closed while opening")
        spec = _SampleSpec(_PA_SAMPLE_FLOAT32LE, self.rate, self.channels)
        plist = _proplist(self._lib, props)
        try:
            stream = self._lib.pa_stream_new_with_proplist(
                self._backend._context,
                props["media.name"].encode(),
                ctypes.byref(spec),
                None,
                plist,
            )
        except PulseCallError as error:
            raise OSError(
                f"PulseAudio refused a {self._kind} stream ({self.rate} Hz, {self.channels} ch): "
                f"{error.reason}"
            ) from None
        finally:
            self._lib.pa_proplist_free(plist)
        self._stream = int(stream)
        self._lib.pa_stream_set_state_callback(stream, self._on_state, None)
        return self._stream

    def _wait_ready(self, timeout: float) -> None:
        """Wait (not holding the lock) until the stream is ready; raise if it failed."""
        deadline = time.monotonic() + timeout
        while True:
            self._state_changed.clear()
            with self._backend._locked():
                if self._stream is None:
                    raise OSError(f"{self._kind} stream on {self.device_id!r} closed while opening")
                state = self._lib.pa_stream_get_state(self._stream)
                errno = self._lib.pa_context_errno(self._backend._context)
            if state == _PA_STREAM_READY:
                return
            if state in (_PA_STREAM_FAILED, _PA_STREAM_TERMINATED) or time.monotonic() > deadline:
                with self._backend._locked():
                    self._release()
                if errno == _PA_ERR_NOENTITY:
                    try:
                        known: object = [d.id for d in self._backend.list_devices()]
                    except Exception:  # the device list is only a hint here
                        known = "(unavailable)"
                    raise NotFoundError(
                        f"no PulseAudio device {self.device_id!r}; known devices: {known}"
                    )
                reason = (
                    _strerror(self._lib, errno)
                    if state in (_PA_STREAM_FAILED, _PA_STREAM_TERMINATED)
                    else f"timed out after {timeout} s"
                )
                raise OSError(f"could not open {self._kind} stream on {self.device_id!r}: {reason}")
            self._state_changed.wait(0.05)  # set by the state callback

    def _state_cb(self, stream: int, userdata: int) -> None:
        try:
            self._state_changed.set()
            state = self._lib.pa_stream_get_state(stream)
            if state == _PA_STREAM_READY:
                self._was_ready = True
            elif state == _PA_STREAM_FAILED and self._was_ready and not self._closed:
                self.failed = True
                err = _strerror(self._lib, self._lib.pa_context_errno(self._backend._context))
                log.warning(
                    "%s stream on %r ended by the server: %s", self._kind, self.device_id, err
                )
        except Exception:  # never let an exception cross into C
            log.exception("error in PulseAudio stream state callback")

    def _detach_callbacks(self, stream: int) -> None:
        self._lib.pa_stream_set_state_callback(stream, _NO_STREAM_NOTIFY, None)

    def _open(self, *args: Any) -> None:
        raise NotImplementedError

    def _reopen(self) -> None:
        """On a new connection (the server came back): a new pa_stream, same callbacks, same
        buffer; the render or deliver callback goes on where it stopped."""
        with self._backend._locked():
            if self._closed:
                return
            self._release()
            self.failed = False
            self._was_ready = False
        self._open(*self._open_args)

    def _release(self) -> None:
        """Disconnect and free the pa_stream (caller holds the lock or is the mainloop)."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._detach_callbacks(stream)
        if self._lib.pa_stream_get_state(stream) in (_PA_STREAM_CREATING, _PA_STREAM_READY):
            self._lib.pa_stream_disconnect(stream)
        self._lib.pa_stream_unref(stream)

    def close(self) -> None:
        """Stop the stream and free it; safe to call twice and from any thread."""
        if self._closed:
            return
        self._closed = True
        backend = self._backend
        if backend._in_mainloop():
            # Called from inside one of our own callbacks: finish it outside the mainloop.
            threading.Thread(target=self._close_locked, daemon=True).start()
            return
        self._close_locked()

    def _close_locked(self) -> None:
        backend = self._backend
        if backend._mainloop is None:
            self._stream = None
            return
        with backend._locked():
            self._release()
        backend._forget(self)


class PulseOutputStream(_PulseStream):
    """A playback stream on one sink that pulls its blocks from ``render(frames)``."""

    _kind = "output"

    def __init__(
        self,
        backend: PulseBackend,
        device_id: str,
        role: str,
        rate: int,
        channels: int,
        blocksize: int,
        render: RenderCallback,
    ) -> None:
        super().__init__(backend, device_id, rate, channels, blocksize)
        self.role = role
        self._render = render
        self.underflows = 0
        """How many times the server reported that this stream ran dry (an underrun)."""
        self.blocks_rendered = 0
        self._render_failed = False
        self._silence = np.zeros((blocksize, channels), dtype=np.float32)
        self._on_write = _StreamRequest(self._write_cb)
        self._on_underflow = _StreamNotify(self._underflow_cb)
        self._latency_blocks = 0
        self._idle = False  # the engine has nothing for this stream to play
        self._last_sound: int | None = None  # blocks_rendered after the last audible block
        self.corked = False
        """True while the stream is corked because it is idle (see ``set_idle``)."""
        self._closing_when_quiet = False

    def _open(self, latency_blocks: int, allow_move: bool, timeout: float) -> None:
        self._open_args = (latency_blocks, allow_move, timeout)
        self._latency_blocks = latency_blocks
        self._last_sound = None
        self.corked = False
        lib = self._lib
        with self._backend._locked():
            stream = self._create(
                {
                    "media.role": self.role,
                    "media.name": f"audiosession {self.role}",
                    "application.name": self._backend.app_name,
                }
            )
            lib.pa_stream_set_write_callback(stream, self._on_write, None)
            lib.pa_stream_set_underflow_callback(stream, self._on_underflow, None)
            attr = _BufferAttr(
                maxlength=0xFFFFFFFF,
                tlength=self._block_bytes * latency_blocks,
                prebuf=0xFFFFFFFF,
                minreq=self._block_bytes,
                fragsize=0xFFFFFFFF,
            )
            # Start corked, uncork once ready: the sink then wakes with our latency already
            # requested (a null sink otherwise finishes a 2 s idle block first).
            flags = _PA_STREAM_ADJUST_LATENCY | _PA_STREAM_START_CORKED
            if not allow_move:
                flags |= _PA_STREAM_DONT_MOVE
            try:
                lib.pa_stream_connect_playback(
                    stream, self.device_id.encode(), ctypes.byref(attr), flags, None, None
                )
            except PulseCallError as error:
                self._release()
                raise OSError(
                    f"could not connect output stream to {self.device_id!r}: {error.reason}"
                ) from None
        self._wait_ready(timeout)
        with self._backend._locked():
            if self._stream is not None:
                operation = lib.pa_stream_cork(self._stream, 0, None, None)
                if operation:
                    lib.pa_operation_unref(operation)

    def _detach_callbacks(self, stream: int) -> None:
        super()._detach_callbacks(stream)
        self._lib.pa_stream_set_write_callback(stream, _NO_STREAM_REQUEST, None)
        self._lib.pa_stream_set_underflow_callback(stream, _NO_STREAM_NOTIFY, None)

    def set_idle(self, idle: bool) -> None:
        """Say whether the engine has anything for this stream to play (from any thread).

        An idle stream is corked once everything audible it queued has played (fade-outs
        included), so a stream whose voices are all paused costs nothing. When it has sound
        again and has only silence queued, it drops that silence and uncorks (corking first
        if it was not yet): the server then rewinds the sink and plays the new sound at once,
        not after a stream latency's worth of queued silence."""
        if self._backend._mainloop is None:
            return
        with self._backend._locked():
            if idle == self._idle:
                return
            self._idle = idle
            stream = self._stream
            if idle or stream is None or self.failed:
                return
            if not self.corked and not self._queue_is_silent():
                return  # the end of a sound is still queued: the new one follows it
            lib = self._lib
            operations = [] if self.corked else [lib.pa_stream_cork(stream, 1, None, None)]
            # Drop the queued silence; uncork (the server rewinds the sink); and start at once
            # with what comes next rather than wait to have a buffer's worth again (prebuf).
            operations += [
                lib.pa_stream_flush(stream, None, None),
                lib.pa_stream_cork(stream, 0, None, None),
                lib.pa_stream_trigger(stream, None, None),
            ]
            self.corked = False
            for operation in operations:
                if operation:
                    lib.pa_operation_unref(operation)

    def close_when_quiet(self) -> None:
        """Close once what is queued has played: the end of a sound is heard, not cut (the
        stream writes silence and rests as an idle one does, then closes; its route's sound,
        if any comes, is a new stream's). From any thread."""
        if self._backend._mainloop is None:
            self.close()
            return
        with self._backend._locked():
            quiet = self._stream is None or self.failed or self.corked or self._queue_is_silent()
            self._idle = self._closing_when_quiet = True
        if quiet:
            self.close()

    def drop_queued(self) -> None:
        """Drop everything queued in the server and rest (corked) until a voice plays again:
        the engine's way to stop at once a sound whose stream stays open."""
        if self._backend._mainloop is None:
            return
        with self._backend._locked():
            stream = self._stream
            if stream is None or self.failed:
                return
            lib = self._lib
            operations = [] if self.corked else [lib.pa_stream_cork(stream, 1, None, None)]
            operations.append(lib.pa_stream_flush(stream, None, None))
            self.corked = True
            self._last_sound = None
            for operation in operations:
                if operation:
                    lib.pa_operation_unref(operation)

    def _queue_is_silent(self) -> bool:
        """Whether every block still queued in the server is silence: none was audible, or
        enough have been written since the last audible one to push it out of the buffer."""
        return (
            self._last_sound is None
            or self.blocks_rendered - self._last_sound > self._latency_blocks + 1
        )

    def _cork_if_quiet(self, stream: int) -> None:
        """In the write callback: cork an idle stream once its queue is silence (or close
        it, if it was to close then)."""
        if self.corked or not self._queue_is_silent():
            return
        if self._closing_when_quiet:
            self.close()
            return
        self.corked = True
        operation = self._lib.pa_stream_cork(stream, 1, None, None)
        if operation:
            self._lib.pa_operation_unref(operation)

    def _block(self) -> np.ndarray:
        if self._render_failed or self._closing_when_quiet:
            # A closing stream's route may have a new stream already: render nothing of it.
            return self._silence
        try:
            block = self._render(self.blocksize)
        except Exception:
            self._render_failed = True
            log.exception(
                "render callback of the %r output on %r failed; playing silence",
                self.role,
                self.device_id,
            )
            return self._silence
        block = np.ascontiguousarray(block, dtype=np.float32)
        if block.shape == (self.blocksize, self.channels):
            return block
        if block.ndim == 2 and block.shape[1] == self.channels and block.shape[0] < self.blocksize:
            out = np.zeros((self.blocksize, self.channels), dtype=np.float32)
            out[: block.shape[0]] = block
            return out
        self._render_failed = True
        log.error(
            "render(%d) returned shape %s; expected (%d, %d); playing silence",
            self.blocksize,
            block.shape,
            self.blocksize,
            self.channels,
        )
        return self._silence

    def _write_cb(self, stream: int, nbytes: int, userdata: int) -> None:
        try:
            if not self._backend._priority_set:
                self._backend._raise_priority()
            lib = self._lib
            write = lib.pa_stream_write
            writable = lib.pa_stream_writable_size(stream)
            if writable == _SIZE_MAX:  # (size_t) -1: the stream is not ready any more
                return
            # Whole blocks, rounded up: after a flush the server may ask for part of one, and
            # would wait for it for ever (writing a little more than asked is allowed).
            for _ in range(-(-writable // self._block_bytes)):
                block = self._block()
                # __array_interface__ is ~10x cheaper than ndarray.ctypes on this hot path.
                address = block.__array_interface__["data"][0]
                if write(stream, address, self._block_bytes, None, 0, _PA_SEEK_RELATIVE) < 0:
                    log.warning("write to %r failed", self.device_id)
                    return
                self.blocks_rendered += 1
                if block is not self._silence and block.any():
                    self._last_sound = self.blocks_rendered
            if self._idle:
                self._cork_if_quiet(stream)
        except Exception:
            log.exception("error in PulseAudio write callback")

    def _underflow_cb(self, stream: int, userdata: int) -> None:
        self.underflows += 1
        log.debug("underrun on the %r output of %r", self.role, self.device_id)


class PulseInputStream(_PulseStream):
    """A capture stream from one source that calls ``deliver(block)`` per block."""

    _kind = "input"

    def __init__(
        self,
        backend: PulseBackend,
        device_id: str,
        rate: int,
        channels: int,
        blocksize: int,
        deliver: DeliverCallback,
    ) -> None:
        super().__init__(backend, device_id, rate, channels, blocksize)
        self._deliver = deliver
        self._pending = bytearray()
        self.overflows = 0
        """How many times the server reported that captured data was lost (an overrun)."""
        self._on_read = _StreamRequest(self._read_cb)
        self._on_overflow = _StreamNotify(self._overflow_cb)

    def _open(self, timeout: float) -> None:
        self._open_args = (timeout,)
        lib = self._lib
        with self._backend._locked():
            stream = self._create(
                {
                    "media.name": "audiosession capture",
                    "application.name": self._backend.app_name,
                }
            )
            lib.pa_stream_set_read_callback(stream, self._on_read, None)
            lib.pa_stream_set_overflow_callback(stream, self._on_overflow, None)
            attr = _BufferAttr(
                maxlength=0xFFFFFFFF,
                tlength=0xFFFFFFFF,
                prebuf=0xFFFFFFFF,
                minreq=0xFFFFFFFF,
                fragsize=self._block_bytes,
            )
            flags = _PA_STREAM_ADJUST_LATENCY | _PA_STREAM_DONT_MOVE
            try:
                lib.pa_stream_connect_record(
                    stream, self.device_id.encode(), ctypes.byref(attr), flags
                )
            except PulseCallError as error:
                self._release()
                raise OSError(
                    f"could not connect input stream to {self.device_id!r}: {error.reason}"
                ) from None
        self._wait_ready(timeout)

    def _detach_callbacks(self, stream: int) -> None:
        super()._detach_callbacks(stream)
        self._lib.pa_stream_set_read_callback(stream, _NO_STREAM_REQUEST, None)
        self._lib.pa_stream_set_overflow_callback(stream, _NO_STREAM_NOTIFY, None)

    def _read_cb(self, stream: int, nbytes: int, userdata: int) -> None:
        try:
            lib = self._lib
            data = c_void_p()
            size = c_size_t()
            while True:
                if lib.pa_stream_peek(stream, ctypes.byref(data), ctypes.byref(size)) < 0:
                    return
                if size.value == 0:
                    break
                if data.value:
                    self._pending += ctypes.string_at(data.value, size.value)
                else:  # a hole in the stream: the server lost data
                    self._pending += bytes(size.value)
                lib.pa_stream_drop(stream)
            while len(self._pending) >= self._block_bytes:
                chunk = bytes(self._pending[: self._block_bytes])
                del self._pending[: self._block_bytes]
                block = np.frombuffer(chunk, dtype=np.float32).reshape(
                    self.blocksize, self.channels
                )
                try:
                    self._deliver(block)
                except Exception:
                    log.exception("deliver callback of the input on %r failed", self.device_id)
        except Exception:
            log.exception("error in PulseAudio read callback")

    def _overflow_cb(self, stream: int, userdata: int) -> None:
        self.overflows += 1
        log.debug("overrun on the input of %r", self.device_id)


# --- the backend -------------------------------------------------------------------------------


class PulseBackend:
    """Sinks and sources of a PulseAudio (or PipeWire-pulse) server as devices.

    Streams use native libpulse (one threaded mainloop and one connection per backend), so
    each stream gets its own ``media.role`` property and its exact sink or source. Device
    listing and hot-plug use ``pulsectl``. Construction fails fast with
    ``BackendUnavailableError`` when libpulse, pulsectl or a server is missing.
    """

    name = "pulse"
    streams_rest = True
    """An idle output stream corks (``PulseOutputStream.set_idle``): it holds no sink awake."""

    def __init__(
        self,
        server: str | None = None,
        *,
        app_name: str = "audiosession",
        connect_timeout: float = 2.0,
        latency_blocks: int | None = None,
        allow_move: bool = False,
        realtime: bool = True,
        reconnect_timeout: float = RECONNECT_TIMEOUT,
    ) -> None:
        """Connect to ``server`` (default: ``$PULSE_SERVER`` or the user's server).

        ``latency_blocks``: the server-side buffer of each output stream, in blocks
        (latency ~ ``latency_blocks * blocksize`` frames); default: 4 blocks, and at least
        ``DEFAULT_MIN_LATENCY`` (64 ms: the margin against scheduling delays).
        ``allow_move``: let the server move our streams to another sink when theirs
        disappears (default False: the stream ends, and the engine decides where its voices
        go, so music never bursts out of speakers). ``realtime``: try to give the audio
        thread SCHED_RR (else nice -11) scheduling, where the system allows it.
        ``reconnect_timeout``: how long a server that went away has to come back before
        ``watch_server`` watchers hear ``"failed"`` (see docs/devices.md, "Server restarts").
        """
        if latency_blocks is not None and latency_blocks < 2:
            raise ValueError(f"latency_blocks must be at least 2, not {latency_blocks!r}")
        try:
            import pulsectl
        except ImportError as exc:
            raise BackendUnavailableError(
                "the pulse backend needs the 'pulsectl' package (pip install pulsectl)"
            ) from exc
        self._pulsectl = pulsectl
        self._lib = _libpulse()
        self.server = server
        self.app_name = app_name
        self.connect_timeout = connect_timeout
        self.latency_blocks = latency_blocks
        self.allow_move = allow_move
        self.realtime = realtime
        self.reconnect_timeout = reconnect_timeout
        self._priority_set = False
        self._streams: set[_PulseStream] = set()
        self._streams_lock = threading.Lock()
        self._query: Any = None
        self._query_lock = threading.Lock()
        self._watchers: list[Callable[[list[DeviceInfo]], None]] = []
        self._watch_thread: threading.Thread | None = None
        self._watch_stop = threading.Event()
        self._watch_pulse: Any = None
        self._context: int | None = None
        self._connected = False  # the context reached READY and has not failed since
        self.server_lost: str | None = None
        """Why the server went away, while it is away (None while connected)."""
        self._server_watchers: list[ServerWatcher] = []
        self._reconnect_thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._on_context_state = _ContextNotify(self._context_state_cb)
        try:
            self._mainloop: int | None = int(self._lib.pa_threaded_mainloop_new())
        except PulseCallError:
            raise BackendUnavailableError("libpulse could not create a mainloop") from None
        self._lib.pa_threaded_mainloop_set_name(self._mainloop, b"pulse-audio")
        try:
            self._lib.pa_threaded_mainloop_start(self._mainloop)
        except PulseCallError:
            self._lib.pa_threaded_mainloop_free(self._mainloop)
            self._mainloop = None
            raise BackendUnavailableError("could not start the libpulse mainloop thread") from None
        try:
            self._connect()
        except BaseException:
            self._shutdown_mainloop()
            raise

    # -- connection --

    def _server_label(self) -> str:
        return self.server or os.environ.get("PULSE_SERVER") or "the default PulseAudio server"

    def _locked(self) -> _Locked:
        if self._mainloop is None:
            raise BackendUnavailableError("the pulse backend is closed")
        return _Locked(self._lib, self._mainloop)

    def _in_mainloop(self) -> bool:
        return self._mainloop is not None and bool(
            self._lib.pa_threaded_mainloop_in_thread(self._mainloop)
        )

    def _connect(self) -> None:
        """(Re)connect the stream context; raise ``BackendUnavailableError`` on failure."""
        lib = self._lib
        with self._locked():
            if self._context is not None:
                lib.pa_context_set_state_callback(self._context, _NO_CONTEXT_NOTIFY, None)
                lib.pa_context_disconnect(self._context)
                lib.pa_context_unref(self._context)
                self._context = None
            api = lib.pa_threaded_mainloop_get_api(self._mainloop)
            plist = _proplist(lib, {"application.name": self.app_name})
            try:
                ctx = lib.pa_context_new_with_proplist(api, self.app_name.encode(), plist)
            except PulseCallError:
                raise BackendUnavailableError("libpulse could not create a context") from None
            finally:
                lib.pa_proplist_free(plist)
            self._context = int(ctx)
            lib.pa_context_set_state_callback(ctx, self._on_context_state, None)
            server = self.server.encode() if self.server else None
            try:
                lib.pa_context_connect(ctx, server, _PA_CONTEXT_NOAUTOSPAWN, None)
            except PulseCallError as error:
                raise BackendUnavailableError(
                    f"cannot connect to {self._server_label()}: {error.reason}"
                ) from None
        deadline = time.monotonic() + self.connect_timeout
        while True:
            with self._locked():
                state = lib.pa_context_get_state(self._context)
                errno = lib.pa_context_errno(self._context)
            if state == _PA_CONTEXT_READY:
                self._connected = True
                return
            if state in (_PA_CONTEXT_FAILED, _PA_CONTEXT_TERMINATED):
                raise BackendUnavailableError(
                    f"no PulseAudio server reachable at {self._server_label()}: "
                    f"{_strerror(lib, errno)}"
                )
            if time.monotonic() > deadline:
                raise BackendUnavailableError(
                    f"no answer from {self._server_label()} within {self.connect_timeout} s"
                )
            time.sleep(0.005)

    def _context_state_cb(self, ctx: int, userdata: int) -> None:
        try:
            state = self._lib.pa_context_get_state(ctx)
            if state in (_PA_CONTEXT_FAILED, _PA_CONTEXT_TERMINATED) and self._connected:
                self._connected = False
                reason = _strerror(self._lib, self._lib.pa_context_errno(ctx))
                self.server_lost = (
                    f"the PulseAudio server {self._server_label()} went away ({reason})"
                )
                log.warning("%s; reconnecting every %g s", self.server_lost, RECONNECT_INTERVAL)
                # Watchers hear of it from the reconnecting thread, never from this one
                # (they may take locks that an opener holds while it waits for this thread).
                self._reconnect_thread = threading.Thread(
                    target=self._reconnect,
                    args=(self.server_lost,),
                    name="pulse-reconnect",
                    daemon=True,
                )
                self._reconnect_thread.start()
        except Exception:
            log.exception("error in PulseAudio context state callback")

    def watch_server(self, callback: ServerWatcher) -> None:
        """Call ``callback(state, reason)`` from a backend thread when the server goes away
        (``"lost"``: every stream has stopped), comes back (``"restored"``: every stream
        plays again) or has not come back within ``reconnect_timeout`` (``"failed"``)."""
        self._server_watchers.append(callback)

    def _tell_watchers(self, state: str, reason: str) -> None:
        for callback in list(self._server_watchers):
            try:
                callback(state, reason)
            except Exception:
                log.exception("server watcher %r failed", callback)

    def _reconnect(self, reason: str) -> None:
        """Until the server is back (or the backend closes): connect again, reopen every
        stream on the new connection, tell the watchers."""
        self._tell_watchers("lost", reason)
        began = time.monotonic()
        gave_up = False
        interval = RECONNECT_INTERVAL
        while not self._closing.wait(interval):
            try:
                self._connect()
            except BackendUnavailableError as error:
                log.debug("reconnecting: %s", error)
                if not gave_up and time.monotonic() - began >= self.reconnect_timeout:
                    gave_up = True
                    interval = RECONNECT_INTERVAL * 4
                    log.warning(
                        "%s and did not come back within %g s; still trying every %g s",
                        reason,
                        self.reconnect_timeout,
                        interval,
                    )
                    self._tell_watchers(
                        "failed",
                        f"{reason} and did not come back within {self.reconnect_timeout:g} s",
                    )
                continue
            except Exception:  # the backend closed meanwhile
                if not self._closing.is_set():
                    log.exception("reconnecting to %s failed", self._server_label())
                return
            self.server_lost = None
            log.warning(
                "the PulseAudio server %s is back after %.1f s; reopening %d stream(s)",
                self._server_label(),
                time.monotonic() - began,
                len(self._streams),
            )
            self._reopen_streams()
            self._tell_watchers("restored", "")
            return

    def _reopen_streams(self) -> None:
        with self._streams_lock:
            streams = list(self._streams)
        for stream in streams:
            if not stream.failed:
                continue  # opened on the new connection already
            try:
                stream._reopen()
            except NotFoundError as error:
                # Its device is not on the new server: the device watcher reports the new
                # list, and the engine moves the stream's voices.
                log.info("not reopened: %s", error)
            except (OSError, BackendUnavailableError) as error:
                log.warning(
                    "could not reopen a %s stream on %r: %s", stream._kind, stream.device_id, error
                )

    def _raise_priority(self) -> None:
        """On the mainloop thread: ask for real-time (SCHED_RR) or, failing that, nice -11
        scheduling for this thread only, as PulseAudio's own clients do through rtkit."""
        self._priority_set = True
        if not self.realtime:
            return
        try:
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(REALTIME_PRIORITY))
            log.debug("audio thread runs SCHED_RR priority %d", REALTIME_PRIORITY)
            return
        except (OSError, AttributeError) as exc:
            reason = exc
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), -11)
            log.debug("audio thread runs at nice -11 (no SCHED_RR: %s)", reason)
        except (OSError, AttributeError) as exc:
            log.debug("audio thread keeps normal priority (%s; %s)", reason, exc)

    def _latency_blocks(self, rate: int, blocksize: int) -> int:
        if self.latency_blocks is not None:
            return self.latency_blocks
        return max(4, math.ceil(DEFAULT_MIN_LATENCY * rate / blocksize))

    def _forget(self, stream: _PulseStream) -> None:
        with self._streams_lock:
            self._streams.discard(stream)

    # -- devices --

    def _pulse(self) -> Any:
        """The pulsectl connection used for queries (caller holds ``_query_lock``)."""
        if self._query is None or not self._query.connected:
            if self._query is not None:
                self._query.close()
                self._query = None
            self._query = self._new_pulsectl(f"{self.app_name}-query")
        return self._query

    def _new_pulsectl(self, client_name: str) -> Any:
        pulsectl = self._pulsectl
        pulse = pulsectl.Pulse(client_name, server=self.server, connect=False)
        try:
            # No timeout argument: pulsectl then always waits the whole timeout. A refused or
            # missing socket fails at once; reachability was checked by our own context.
            pulse.connect(autospawn=False)
        except pulsectl.PulseError as exc:
            pulse.close()
            raise BackendUnavailableError(
                f"no PulseAudio server reachable at {self._server_label()}: {exc}"
            ) from exc
        return pulse

    def list_devices(self) -> list[DeviceInfo]:
        """Every sink ("audiooutput") and source ("audioinput", monitors included) right now."""
        with self._query_lock:
            try:
                return self._list_devices(self._pulse())
            except self._pulsectl.PulseError:
                # One retry on a fresh connection (the server may have restarted).
                if self._query is not None:
                    self._query.close()
                self._query = None
                return self._list_devices(self._pulse())

    @staticmethod
    def _list_devices(pulse: Any) -> list[DeviceInfo]:
        info = pulse.server_info()
        devices: list[DeviceInfo] = []
        for sink in pulse.sink_list():
            devices.append(
                DeviceInfo(
                    id=sink.name,
                    label=sink.description or sink.name,
                    kind="audiooutput",
                    intended_roles=_roles(sink.proplist),
                    is_default=sink.name == info.default_sink_name,
                )
            )
        for source in pulse.source_list():
            label = source.description or source.name
            monitor_of = (
                source.monitor_of_sink_name if source.monitor_of_sink != 0xFFFFFFFF else None
            )
            if monitor_of is not None and not label.lower().startswith("monitor"):
                label = f"Monitor of {label}"
            devices.append(
                DeviceInfo(
                    id=source.name,
                    label=label,
                    kind="audioinput",
                    intended_roles=_roles(source.proplist),
                    is_default=source.name == info.default_source_name,
                    monitor_of=monitor_of,
                )
            )
        return devices

    def default_output(self) -> str | None:
        """The name of the server's default sink, or None if there is none."""
        with self._query_lock:
            name = self._pulse().server_info().default_sink_name
        return name or None

    def default_input(self) -> str | None:
        """The name of the server's default source (may be a monitor), or None."""
        with self._query_lock:
            name = self._pulse().server_info().default_source_name
        return name or None

    # -- streams --

    def open_output(
        self,
        device_id: str,
        role: str,
        *,
        rate: int,
        channels: int,
        blocksize: int,
        render: RenderCallback,
    ) -> PulseOutputStream:
        """Open a float32 playback stream on sink ``device_id`` with ``media.role=role``.

        ``render(blocksize)`` is called on the libpulse thread for each block; latency is about
        ``latency_blocks * blocksize`` frames (default: 4 blocks and at least
        ``DEFAULT_MIN_LATENCY``, 64 ms).
        Raises ``NotFoundError`` for an unknown sink.
        """
        _check_format(rate, channels, blocksize)
        if not isinstance(device_id, str) or not device_id:
            raise ValueError(f"device_id must be a sink name, not {device_id!r}")
        stream = PulseOutputStream(self, device_id, role, rate, channels, blocksize, render)
        self._start(
            stream,
            self._latency_blocks(rate, blocksize),
            self.allow_move,
            self.connect_timeout + 3.0,
        )
        log.debug("opened %r output on %r (sink input %s)", role, device_id, stream.index)
        return stream

    def open_input(
        self, device_id: str, *, rate: int, channels: int, blocksize: int, deliver: DeliverCallback
    ) -> PulseInputStream:
        """Open a float32 capture stream on source ``device_id`` (e.g. ``"speakers.monitor"``).

        ``deliver(block)`` is called on the libpulse thread with each (blocksize, channels)
        block. Raises ``NotFoundError`` for an unknown source.
        """
        _check_format(rate, channels, blocksize)
        if not isinstance(device_id, str) or not device_id:
            raise ValueError(f"device_id must be a source name, not {device_id!r}")
        stream = PulseInputStream(self, device_id, rate, channels, blocksize, deliver)
        self._start(stream, self.connect_timeout + 3.0)
        return stream

    def _start(self, stream: _PulseStream, *open_args: Any) -> None:
        """Open a new stream now, or, while the server is away, when it comes back."""
        with self._streams_lock:
            self._streams.add(stream)
        if self.server_lost is not None:
            stream._open_args = open_args
            stream.failed = True
            log.info(
                "%s stream on %r opens when the server is back", stream._kind, stream.device_id
            )
            return
        try:
            stream._open(*open_args)
        except BaseException:
            if self.server_lost is not None:  # the server went away while it opened
                stream.failed = True
                return
            self._forget(stream)
            raise

    # -- hot-plug --

    def watch_devices(self, callback: Callable[[list[DeviceInfo]], None]) -> None:
        """Call ``callback(list_devices())`` from a watcher thread whenever a sink or source is
        added, removed or changes, and whenever the default device changes."""
        self._watchers.append(callback)
        if self._watch_thread is None:
            self._watch_stop.clear()
            self._watch_thread = threading.Thread(
                target=self._watch, name="pulse-device-watch", daemon=True
            )
            self._watch_thread.start()

    def _watch(self) -> None:
        pulsectl = self._pulsectl
        changed = threading.Event()
        last: list[DeviceInfo] | None = None

        def on_event(event: Any) -> None:
            if event.t in ("new", "remove") or event.facility == "server":
                changed.set()
                raise pulsectl.PulseLoopStop

        while not self._watch_stop.is_set():
            try:
                pulse = self._new_pulsectl(f"{self.app_name}-watch")
            except BackendUnavailableError as exc:
                log.debug("device watcher: %s; retrying", exc)
                self._watch_stop.wait(1.0)
                continue
            self._watch_pulse = pulse
            try:
                pulse.event_mask_set("sink", "source", "server")
                pulse.event_callback_set(on_event)
                if last is not None:  # reconnected: the list may have changed meanwhile
                    changed.set()
                else:
                    last = self._list_devices(pulse)
                while not self._watch_stop.is_set():
                    if changed.is_set():
                        changed.clear()
                        pulse.event_callback_set(None)
                        devices = self._list_devices(pulse)
                        pulse.event_callback_set(on_event)
                        if devices != last:
                            last = devices
                            self._notify(devices)
                    pulse.event_listen(timeout=0.5)
            except pulsectl.PulseDisconnected:
                log.warning("device watcher lost %s; will reconnect", self._server_label())
            except Exception:
                log.exception("device watcher failed; restarting it")
            finally:
                self._watch_pulse = None
                pulse.close()
            self._watch_stop.wait(0.5)

    def _notify(self, devices: list[DeviceInfo]) -> None:
        for callback in list(self._watchers):
            try:
                callback(devices)
            except Exception:
                log.exception("device watch callback %r failed", callback)

    # -- teardown --

    def close(self) -> None:
        """Close every stream, stop the watcher and disconnect. Safe to call twice."""
        self._closing.set()
        reconnect = self._reconnect_thread
        if reconnect is not None and reconnect is not threading.current_thread():
            reconnect.join(timeout=self.connect_timeout + 5.0)
        with self._streams_lock:
            streams = list(self._streams)
        for stream in streams:
            stream.close()
        self._watch_stop.set()
        pulse = self._watch_pulse
        thread = self._watch_thread
        if pulse is not None:
            try:
                pulse.event_listen_stop()
            except Exception:
                pass
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
        self._watch_thread = None
        self._watchers.clear()
        with self._query_lock:
            if self._query is not None:
                self._query.close()
                self._query = None
        self._shutdown_mainloop()

    def _shutdown_mainloop(self) -> None:
        if self._mainloop is None:
            return
        if self._in_mainloop():
            raise RuntimeError("PulseBackend.close() cannot be called from its audio thread")
        lib = self._lib
        with self._locked():
            with self._streams_lock:
                streams = list(self._streams)
                self._streams.clear()
            for stream in streams:
                stream._release()
            if self._context is not None:
                lib.pa_context_set_state_callback(self._context, _NO_CONTEXT_NOTIFY, None)
                lib.pa_context_disconnect(self._context)
                lib.pa_context_unref(self._context)
                self._context = None
        lib.pa_threaded_mainloop_stop(self._mainloop)
        lib.pa_threaded_mainloop_free(self._mainloop)
        self._mainloop = None

    def __enter__(self) -> PulseBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _roles(proplist: dict[str, str]) -> frozenset[str]:
    return frozenset(proplist.get("device.intended_roles", "").split())


def _check_format(rate: int, channels: int, blocksize: int) -> None:
    if not isinstance(rate, int) or not 1000 <= rate <= 384000:
        raise ValueError(f"rate must be an int between 1000 and 384000 Hz, not {rate!r}")
    if not isinstance(channels, int) or not 1 <= channels <= 32:
        raise ValueError(f"channels must be an int between 1 and 32, not {channels!r}")
    if not isinstance(blocksize, int) or blocksize < 16:
        raise ValueError(f"blocksize must be an int of at least 16 frames, not {blocksize!r}")
