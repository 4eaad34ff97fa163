"""libpulse's simple API (``pa_simple``, as ``paplay`` uses it): a blocking playback stream for
a process that loads neither NumPy nor the engine (``audiosession notify``'s short way).
Standard library only."""

from __future__ import annotations

import ctypes
import os

from .structs import BufferAttr, SampleSpec

__all__ = ["WAV_SAMPLE_FORMATS", "SimpleStream"]

WAV_SAMPLE_FORMATS = {1: 0, 2: 3, 3: 9, 4: 7}
"""WAV sample width (bytes) -> PulseAudio sample format: U8, S16LE, S24LE, S32LE."""

_SAMPLE_BYTES = {0: 1, 3: 2, 9: 3, 7: 4}
"""PulseAudio sample format -> bytes per sample."""

_ROLE_VARIABLE = "PULSE_PROP_media.role"


class SimpleStream:
    """A playback stream of libpulse's simple API (``pa_simple``)."""

    LATENCY = 0.2
    """Seconds of buffer: short enough that Ctrl-C and the end come promptly."""

    def __init__(self, lib: ctypes.CDLL, handle: int, error: object) -> None:
        self._lib = lib
        self._handle: int | None = handle
        self._error = error  # a pointer to an int libpulse sets

    @classmethod
    def open(
        cls,
        rate: int,
        channels: int,
        sample_format: int,
        device: str | None,
        role: str,
        *,
        application: str = "audiosession",
    ) -> SimpleStream | None:
        """A connected stream with ``media.role`` ``role`` of a client called ``application``
        (default: ours), or None (no library, no server, an unknown device...)."""
        try:
            lib = ctypes.CDLL("libpulse-simple.so.0")
        except OSError:
            return None
        lib.pa_simple_new.restype = ctypes.c_void_p
        lib.pa_simple_new.argtypes = [
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.POINTER(SampleSpec),
            ctypes.c_void_p,
            ctypes.POINTER(BufferAttr),
            ctypes.POINTER(ctypes.c_int),
        ]
        lib.pa_simple_write.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_int),
        ]
        lib.pa_simple_drain.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
        lib.pa_simple_free.argtypes = [ctypes.c_void_p]
        if not (0 < channels <= 32 and 0 < rate <= 384000):
            return None
        frame_bytes = channels * _SAMPLE_BYTES[sample_format]
        unset = 0xFFFFFFFF
        attr = BufferAttr(unset, int(cls.LATENCY * rate) * frame_bytes, unset, unset, unset)
        # libpulse gives a client's PULSE_PROP_* variables to its streams: the role (read as
        # the stream's client connects; put back after, for whatever else the process plays).
        before = os.environ.get(_ROLE_VARIABLE)
        os.environ[_ROLE_VARIABLE] = role
        error = ctypes.c_int(0)
        try:
            handle = lib.pa_simple_new(
                None,
                application.encode(),
                1,
                device.encode() if device else None,
                f"{application} {role}".encode(),
                ctypes.byref(SampleSpec(sample_format, rate, channels)),
                None,
                ctypes.byref(attr),
                ctypes.byref(error),
            )
        finally:
            if before is None:
                del os.environ[_ROLE_VARIABLE]
            else:
                os.environ[_ROLE_VARIABLE] = before
        if not handle:
            return None
        return cls(lib, handle, ctypes.byref(error))

    def write(self, data: bytes) -> None:
        """Write ``data`` (whole frames), blocking while the server's buffer is full."""
        if self._lib.pa_simple_write(self._handle, data, len(data), self._error) < 0:
            raise OSError("the PulseAudio server stopped taking the sound (it went away?)")

    def drain(self) -> None:
        """Wait until everything written has played."""
        if self._lib.pa_simple_drain(self._handle, self._error) < 0:
            raise OSError("the PulseAudio server went away before the sound ended")

    def close(self) -> None:
        """Free the stream (it stops)."""
        if self._handle is not None:
            self._lib.pa_simple_free(self._handle)
            self._handle = None
