"""The PulseAudio capture stream: blocks of a source delivered as they come, on a
``PulseConnection`` it is given."""

from __future__ import annotations

import ctypes
import logging
from ctypes import c_size_t, c_void_p

import numpy as np

from ...backend import DeliverCallback, StreamFormat
from .bindings import (
    _NO_STREAM_NOTIFY,
    _NO_STREAM_REQUEST,
    _PA_STREAM_ADJUST_LATENCY,
    _PA_STREAM_DONT_MOVE,
    PulseCallError,
    _StreamNotify,
    _StreamRequest,
)
from .connection import PulseConnection
from .streams import PulseStream
from .structs import BufferAttr

log = logging.getLogger(__name__)

__all__ = ["PulseInputStream"]


class PulseInputStream(PulseStream):
    """A capture stream from one source that calls ``deliver(block)`` per block."""

    _kind = "input"

    def __init__(
        self,
        connection: PulseConnection,
        device_id: str,
        format: StreamFormat,
        deliver: DeliverCallback,
    ) -> None:
        super().__init__(connection, device_id, format)
        self._deliver = deliver
        self._pending = bytearray()
        self.overflows = 0
        """How many times the server reported that captured data was lost (an overrun)."""
        self._on_read = _StreamRequest(self._read_cb)
        self._on_overflow = _StreamNotify(self._overflow_cb)

    def _open(self, timeout: float) -> None:
        self._open_args = (timeout,)
        lib = self._lib
        with self._connection.locked():
            stream = self._create(
                {
                    "media.name": "audiosession capture",
                    "application.name": self._connection.app_name,
                }
            )
            lib.pa_stream_set_read_callback(stream, self._on_read, None)
            lib.pa_stream_set_overflow_callback(stream, self._on_overflow, None)
            attr = BufferAttr(
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
