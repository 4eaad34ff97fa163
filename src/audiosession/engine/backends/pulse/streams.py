"""The PulseAudio streams: what a stream on a ``PulseConnection`` it is given is, and the
playback stream pulling blocks from the engine (the capture stream: ``input_stream.py``)."""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ....errors import NotFoundError
from ...backend import RenderCallback, StreamFormat
from ...rewind import (
    CALM_SECONDS,
    GROW_SECONDS,
    LONG_QUEUE_SECONDS,
    LONG_WRITE_SECONDS,
    REWRITE_MARGIN,
    REWRITE_MARGIN_MOST,
)
from .bindings import (
    _NO_STREAM_NOTIFY,
    _NO_STREAM_REQUEST,
    _PA_ERR_NOENTITY,
    _PA_SAMPLE_FLOAT32LE,
    _PA_SEEK_ABSOLUTE,
    _PA_SEEK_RELATIVE,
    _PA_STREAM_ADJUST_LATENCY,
    _PA_STREAM_CREATING,
    _PA_STREAM_DONT_MOVE,
    _PA_STREAM_FAILED,
    _PA_STREAM_READY,
    _PA_STREAM_START_CORKED,
    _PA_STREAM_TERMINATED,
    _SIZE_MAX,
    PulseCallError,
    _proplist,
    _StreamNotify,
    _StreamRequest,
    _StreamSuccess,
    _strerror,
)
from .connection import PulseConnection
from .structs import BufferAttr, SampleSpec

log = logging.getLogger(__name__)

__all__ = ["PulseOutputStream", "PulseStream"]


class PulseStream:
    """What output and input streams share: creation, state, close."""

    _kind = "stream"

    def __init__(self, connection: PulseConnection, device_id: str, format: StreamFormat) -> None:
        self._connection = connection
        self._lib = connection.lib
        self.device_id = device_id
        self.rate, self.channels, self.blocksize = format
        self._frame_bytes = 4 * self.channels
        self._block_bytes = self._frame_bytes * self.blocksize
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
        if self._stream is None or self._connection.closed:
            return None
        with self._connection.locked():
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
        spec = SampleSpec(_PA_SAMPLE_FLOAT32LE, self.rate, self.channels)
        plist = _proplist(self._lib, props)
        try:
            stream = self._lib.pa_stream_new_with_proplist(
                self._connection.context,
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
            with self._connection.locked():
                if self._stream is None:
                    raise OSError(f"{self._kind} stream on {self.device_id!r} closed while opening")
                state = self._lib.pa_stream_get_state(self._stream)
                errno = self._lib.pa_context_errno(self._connection.context)
            if state == _PA_STREAM_READY:
                return
            if state in (_PA_STREAM_FAILED, _PA_STREAM_TERMINATED) or time.monotonic() > deadline:
                with self._connection.locked():
                    self._release()
                if errno == _PA_ERR_NOENTITY:
                    raise NotFoundError(f"no PulseAudio device {self.device_id!r}")
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
                err = self._connection.error()
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
        with self._connection.locked():
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
        if self._connection.in_mainloop():
            # Called from inside one of our own callbacks: finish it outside the mainloop.
            threading.Thread(target=self._close_locked, daemon=True).start()
            return
        self._close_locked()

    def _close_locked(self) -> None:
        connection = self._connection
        if connection.closed:
            self._stream = None
            return
        with connection.locked():
            self._release()
        connection.forget(self)


class PulseOutputStream(PulseStream):
    """A playback stream on one sink that pulls its blocks from ``render(frames)``."""

    _kind = "output"

    def __init__(
        self,
        connection: PulseConnection,
        device_id: str,
        role: str,
        format: StreamFormat,
        render: RenderCallback,
    ) -> None:
        super().__init__(connection, device_id, format)
        self.role = role
        self._render = render
        self.underflows = 0
        """How many times the server reported that this stream ran dry (an underrun)."""
        self.blocks_rendered = 0
        self._render_failed = False
        self._silence = np.zeros((self.blocksize, self.channels), dtype=np.float32)
        self._on_write = _StreamRequest(self._write_cb)
        self._on_underflow = _StreamNotify(self._underflow_cb)
        self._on_timing = _StreamSuccess(self._timing_cb)
        self._latency_blocks = 0
        # A steady stream queues up to LONG_QUEUE_SECONDS, if its renderer can render again
        # (``rewind``) what it queued when something must be heard at once (``hurry``).
        self._rewind: Callable[[int], int] | None = getattr(render, "rewind", None)
        self._steady: Callable[[], bool] | None = getattr(render, "steady", None)
        self._long_blocks = max(1, int(LONG_QUEUE_SECONDS * self.rate) // self.blocksize)
        self._long_write_blocks = max(1, int(LONG_WRITE_SECONDS * self.rate) // self.blocksize)
        self._grown_at = 0.0
        self._queue_blocks = 0  # the buffer asked of the server now, in blocks
        self._queued_most = 0  # the most that may still be queued (for _queue_is_silent)
        self._calm_since = time.monotonic()  # since when nothing had to be heard at once
        self._rewrite_pending = False
        self._asked_at = 0.0
        self.rewrites = 0
        """How many times the stream rendered again what it had queued (see ``hurry``)."""
        self._scratch = np.zeros((0, self.channels), dtype=np.float32)
        self._idle = False  # the engine has nothing for this stream to play
        self._last_sound: int | None = None  # blocks_rendered after the last audible block
        self.corked = False
        """True while the stream is corked because it is idle (see ``set_idle``)."""
        self._closing_when_quiet = False

    def _open(self, latency_blocks: int, allow_move: bool, timeout: float) -> None:
        self._open_args = (latency_blocks, allow_move, timeout)
        self._latency_blocks = self._queue_blocks = self._queued_most = latency_blocks
        self._rewrite_pending = False
        self._set_keep(False)
        self._last_sound = None
        self.corked = False
        lib = self._lib
        with self._connection.locked():
            stream = self._create(
                {
                    "media.role": self.role,
                    "media.name": f"audiosession {self.role}",
                    "application.name": self._connection.app_name,
                }
            )
            lib.pa_stream_set_write_callback(stream, self._on_write, None)
            lib.pa_stream_set_underflow_callback(stream, self._on_underflow, None)
            attr = BufferAttr(
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
        with self._connection.locked():
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
        if self._connection.closed:
            return
        with self._connection.locked():
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
        if self._connection.closed:
            self.close()
            return
        with self._connection.locked():
            quiet = self._stream is None or self.failed or self.corked or self._queue_is_silent()
            self._idle = self._closing_when_quiet = True
        if quiet:
            self.close()

    def drop_queued(self) -> None:
        """Drop everything queued in the server and rest (corked) until a voice plays again:
        the engine's way to stop at once a sound whose stream stays open."""
        if self._connection.closed:
            return
        with self._connection.locked():
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
            or self.blocks_rendered - self._last_sound > self._queued_most + 1
        )

    # -- queueing long while steady ----------------------------------------------------------

    @property
    def queues_long(self) -> bool:
        """Whether the stream now asks the server for more than its latency's buffer."""
        return self._queue_blocks > self._latency_blocks

    def _set_keep(self, keep: bool) -> None:
        if self._rewind is not None:
            render: Any = self._render
            render.keep = keep
            if not keep:
                render.forget()

    def _ask_buffer(self, stream: int, blocks: int) -> None:
        """Ask the server to keep ``blocks`` queued (and, when that is more than the
        latency, to ask for up to LONG_WRITE_SECONDS at a time)."""
        self._queue_blocks = blocks
        self._queued_most = max(self._queued_most, blocks)
        minreq = (
            1
            if blocks <= self._latency_blocks
            else min(self._long_write_blocks, blocks - self._latency_blocks)
        )
        attr = BufferAttr(
            maxlength=0xFFFFFFFF,
            tlength=self._block_bytes * blocks,
            prebuf=0xFFFFFFFF,
            minreq=self._block_bytes * minreq,
            fragsize=0xFFFFFFFF,
        )
        operation = self._lib.pa_stream_set_buffer_attr(stream, ctypes.byref(attr), None, None)
        if operation:
            self._lib.pa_operation_unref(operation)

    def _grow_when_steady(self, stream: int) -> None:
        """(The write callback.) Queue more, a step at a time up to LONG_QUEUE_SECONDS, once
        nothing had to be heard at once for CALM_SECONDS and nothing is about to change; go
        back to the latency's buffer if something is about to (a ramp, a source's end)."""
        if self._steady is None or self._rewrite_pending:
            return
        now = time.monotonic()
        if not self.queues_long:
            if now - self._calm_since < CALM_SECONDS:
                return
            if not self._steady():
                self._calm_since = now  # look again in CALM_SECONDS
                return
            self._set_keep(True)
        elif not self._steady():
            self._shorten(stream)
            return
        if self._queue_blocks >= self._long_blocks or now - self._grown_at < GROW_SECONDS:
            return
        self._grown_at = now
        # A step that decode-ahead buffers have ready, on top of what is read meanwhile.
        step = max(1, int(GROW_SECONDS * self.rate) // self.blocksize)
        self._ask_buffer(stream, min(self._long_blocks, self._queue_blocks + step))

    def hurry(self) -> None:
        """Something must be heard at once (a pause, a seek, a gain set, a new sound): a
        stream that queues long goes back to its latency's buffer and renders again what it
        queued from just after what is being heard (from any thread)."""
        if self._connection.closed:
            return
        with self._connection.locked():
            self._calm_since = time.monotonic()
            stream = self._stream
            if stream is None or self.failed or not self.queues_long:
                return
            self._shorten(stream)

    def _shorten(self, stream: int) -> None:
        """(Under the lock.) Back to the latency's buffer; ask where the server reads, and
        rewrite from there (``_timing_cb``)."""
        self._ask_buffer(stream, self._latency_blocks)
        if self._rewrite_pending:
            return
        operation = self._lib.pa_stream_update_timing_info(stream, self._on_timing, None)
        if operation:
            self._rewrite_pending = True
            self._asked_at = time.monotonic()
            self._lib.pa_operation_unref(operation)
        else:
            self._set_keep(False)

    def _timing_cb(self, stream: int, success: int, userdata: int) -> None:
        """Where the server reads is known: render again what is queued beyond what is
        being heard (and REWRITE_MARGIN), and write it over the queue."""
        try:
            self._rewrite_pending = False
            if stream != self._stream or self.queues_long:
                return  # (queues long: it grew again meanwhile; a later hurry rewrites)
            if not success:
                self._set_keep(False)
                return
            info = self._lib.pa_stream_get_timing_info(stream)
            if not info:
                self._set_keep(False)
                return
            timing = info.contents
            if timing.write_index_corrupt or timing.read_index_corrupt:
                self._set_keep(False)
                return
            # What is being heard now: where the server read when it answered, less what
            # its sink had yet to play, plus what played since.
            since = time.time() - (timing.timestamp_sec + timing.timestamp_usec / 1e6)
            played = int((min(max(since, 0.0), 0.1) * 1e6 - timing.sink_usec) * self.rate / 1e6)
            heard = timing.read_index + played * self._frame_bytes
            queued = (timing.write_index - heard) // self._frame_bytes
            # The answer's delay says how busy the machine is (this thread's turn, the GIL,
            # the server's): the rewrite may be as late again to reach the server.
            delay = min(time.monotonic() - self._asked_at, REWRITE_MARGIN_MOST)
            margin = int((REWRITE_MARGIN + 2 * delay) * self.rate)
            back = 0
            if queued > margin and self._rewind is not None:
                back = self._rewind(queued - margin)
            self._set_keep(False)
            if back:
                # At an absolute index: the server then counts what it has queued, and asks
                # for more, from where the rewrite ends (a relative seek back would have it
                # wait for the whole stretch again first).
                self.rewrites += 1
                self.blocks_rendered -= back // self.blocksize
                blocks = -(-back // self.blocksize)
                at = timing.write_index - back * self._frame_bytes
                self._write_blocks(stream, min(blocks, self._latency_blocks), at, _PA_SEEK_ABSOLUTE)
            self._queued_most = self._latency_blocks + 1
            log.debug(
                "rewrote %d of %d queued frames on %r (answer after %.1f ms, margin %d, %.1f ms)",
                back,
                queued,
                self.device_id,
                1000 * delay,
                margin,
                1000 * (time.monotonic() - self._asked_at - delay),
            )
        except Exception:
            log.exception("error in PulseAudio timing callback")

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
            if not self._connection.priority_set:
                self._connection.raise_priority()
            lib = self._lib
            write = lib.pa_stream_write
            writable = lib.pa_stream_writable_size(stream)
            if writable == _SIZE_MAX:  # (size_t) -1: the stream is not ready any more
                return
            if not self._idle:
                self._grow_when_steady(stream)
            # Whole blocks, rounded up: after a flush the server may ask for part of one, and
            # would wait for it for ever (writing a little more than asked is allowed).
            blocks = -(-writable // self._block_bytes)
            if blocks == 1:
                block = self._block()
                # __array_interface__ is ~10x cheaper than ndarray.ctypes on this hot path.
                address = block.__array_interface__["data"][0]
                if write(stream, address, self._block_bytes, None, 0, _PA_SEEK_RELATIVE) < 0:
                    log.warning("write to %r failed", self.device_id)
                    return
                self.blocks_rendered += 1
                if block is not self._silence and block.any():
                    self._last_sound = self.blocks_rendered
            elif blocks:
                self._write_blocks(stream, blocks)
            if self._idle:
                self._cork_if_quiet(stream)
        except Exception:
            log.exception("error in PulseAudio write callback")

    def _write_blocks(
        self, stream: int, blocks: int, offset: int = 0, seek: int = _PA_SEEK_RELATIVE
    ) -> None:
        """Render ``blocks`` blocks and write them in one piece (after what was written, or
        where ``offset`` and ``seek`` say: ``pa_stream_write``'s)."""
        frames = blocks * self.blocksize
        if len(self._scratch) < frames:
            self._scratch = np.zeros((frames, self.channels), dtype=np.float32)
        out = self._scratch
        for index in range(blocks):
            block = self._block()
            out[index * self.blocksize : (index + 1) * self.blocksize] = block
            self.blocks_rendered += 1
            if block is not self._silence and block.any():
                self._last_sound = self.blocks_rendered
        address = out.__array_interface__["data"][0]
        if (
            self._lib.pa_stream_write(
                stream, address, frames * self._frame_bytes, None, offset, seek
            )
            < 0
        ):
            log.warning("write to %r failed", self.device_id)

    def _underflow_cb(self, stream: int, userdata: int) -> None:
        self.underflows += 1
        log.debug("underrun on the %r output of %r", self.role, self.device_id)
