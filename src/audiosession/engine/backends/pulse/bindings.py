"""libpulse through ctypes: the calls the PulseAudio backend makes, each declared once with its
result check (as pulsectl's bindings do), and the few structures and constants they take.
Standard library only, and libpulse is loaded on first use: importing this costs nothing."""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from ctypes import POINTER, c_char_p, c_int, c_size_t, c_uint32, c_void_p
from typing import Any

from ....errors import AudioSessionError
from ...backend import BackendUnavailableError
from .structs import BufferAttr, SampleSpec, TimingInfo

# --- constants, structures and callbacks ---------------------------------------------------

_PA_CONTEXT_NOAUTOSPAWN = 0x1
_PA_CONTEXT_READY, _PA_CONTEXT_FAILED, _PA_CONTEXT_TERMINATED = 4, 5, 6
_PA_STREAM_CREATING, _PA_STREAM_READY, _PA_STREAM_FAILED, _PA_STREAM_TERMINATED = 1, 2, 3, 4
_PA_STREAM_ADJUST_LATENCY = 0x2000
_PA_STREAM_DONT_MOVE = 0x200
_PA_STREAM_START_CORKED = 0x1
_PA_SAMPLE_FLOAT32LE = 5
_PA_SEEK_RELATIVE = 0
_PA_SEEK_ABSOLUTE = 1
_PA_ERR_NOENTITY = 5
_SIZE_MAX = 2 ** (8 * ctypes.sizeof(c_size_t)) - 1


_ContextNotify = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)
_StreamNotify = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)
_StreamRequest = ctypes.CFUNCTYPE(None, c_void_p, c_size_t, c_void_p)
_StreamSuccess = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_void_p)
_NO_CONTEXT_NOTIFY = _ContextNotify()  # NULL function pointers, to detach callbacks
_NO_STREAM_NOTIFY = _StreamNotify()
_NO_STREAM_REQUEST = _StreamRequest()


class PulseCallError(AudioSessionError, OSError):
    """A libpulse call failed: ``function`` names it, ``reason`` is libpulse's own words for
    the error (``pa_strerror`` of its context's error code)."""

    def __init__(self, function: str, reason: str) -> None:
        super().__init__(f"{function} failed: {reason}")
        self.function = function
        self.reason = reason


def _pulse_reason(context: int | None) -> str:
    """libpulse's words for the last error of ``context`` (a call without one just failed)."""
    if not context or _lib is None:
        return "failed"
    return _strerror(_lib, _lib.pa_context_errno(context))


def _stream_context(stream: int) -> int | None:
    return _lib.pa_stream_get_context(stream) if _lib is not None else None


_ErrCheck = Callable[[Any, Any, tuple[Any, ...]], Any]


def _fails_when(
    failed: Callable[[Any], bool], context_of: Callable[[tuple[Any, ...]], int | None]
) -> _ErrCheck:
    """A ctypes ``errcheck`` raising ``PulseCallError`` when ``failed(result)``; the error's
    reason comes from the context ``context_of(args)`` names."""

    def errcheck(result: Any, func: Any, args: tuple[Any, ...]) -> Any:
        if failed(result):
            raise PulseCallError(func.__name__, _pulse_reason(context_of(args)))
        return result

    return errcheck


def _no_context(args: tuple[Any, ...]) -> None:
    return None


def _first_argument(args: tuple[Any, ...]) -> int | None:
    return args[0]


def _context_of_stream(args: tuple[Any, ...]) -> int | None:
    return _stream_context(args[0])


_NULL = _fails_when(lambda result: not result, _no_context)
"""A call returning a pointer, NULL on failure, with no context to ask why."""
_NULL_IN_CONTEXT = _fails_when(lambda result: not result, _first_argument)
"""A call on a context (its first argument) returning a pointer, NULL on failure."""
_NEGATIVE = _fails_when(lambda result: result < 0, _no_context)
"""A call returning a negative number on failure, with no context to ask why."""
_NEGATIVE_IN_CONTEXT = _fails_when(lambda result: result < 0, _first_argument)
"""A call on a context (its first argument) returning a negative number on failure."""
_NEGATIVE_ON_STREAM = _fails_when(lambda result: result < 0, _context_of_stream)
"""A call on a stream (its first argument) returning a negative number on failure."""

_SIGNATURES: dict[str, tuple[Any, list[Any]] | tuple[Any, list[Any], _ErrCheck]] = {
    # name: (restype, argtypes[, errcheck: how a failure shows; the call raises PulseCallError])
    "pa_threaded_mainloop_new": (c_void_p, [], _NULL),
    "pa_threaded_mainloop_start": (c_int, [c_void_p], _NEGATIVE),
    "pa_threaded_mainloop_stop": (None, [c_void_p]),
    "pa_threaded_mainloop_free": (None, [c_void_p]),
    "pa_threaded_mainloop_lock": (None, [c_void_p]),
    "pa_threaded_mainloop_unlock": (None, [c_void_p]),
    "pa_threaded_mainloop_get_api": (c_void_p, [c_void_p]),
    "pa_threaded_mainloop_in_thread": (c_int, [c_void_p]),
    "pa_threaded_mainloop_set_name": (None, [c_void_p, c_char_p]),
    "pa_proplist_new": (c_void_p, []),
    "pa_proplist_sets": (c_int, [c_void_p, c_char_p, c_char_p]),
    "pa_proplist_free": (None, [c_void_p]),
    "pa_context_new_with_proplist": (c_void_p, [c_void_p, c_char_p, c_void_p], _NULL),
    "pa_context_connect": (c_int, [c_void_p, c_char_p, c_int, c_void_p], _NEGATIVE_IN_CONTEXT),
    "pa_context_disconnect": (None, [c_void_p]),
    "pa_context_unref": (None, [c_void_p]),
    "pa_context_get_state": (c_int, [c_void_p]),
    "pa_context_errno": (c_int, [c_void_p]),
    "pa_context_set_state_callback": (None, [c_void_p, _ContextNotify, c_void_p]),
    "pa_strerror": (c_char_p, [c_int]),
    "pa_stream_new_with_proplist": (
        c_void_p,
        [c_void_p, c_char_p, POINTER(SampleSpec), c_void_p, c_void_p],
        _NULL_IN_CONTEXT,
    ),
    "pa_stream_set_state_callback": (None, [c_void_p, _StreamNotify, c_void_p]),
    "pa_stream_set_write_callback": (None, [c_void_p, _StreamRequest, c_void_p]),
    "pa_stream_set_read_callback": (None, [c_void_p, _StreamRequest, c_void_p]),
    "pa_stream_set_underflow_callback": (None, [c_void_p, _StreamNotify, c_void_p]),
    "pa_stream_set_overflow_callback": (None, [c_void_p, _StreamNotify, c_void_p]),
    "pa_stream_connect_playback": (
        c_int,
        [c_void_p, c_char_p, POINTER(BufferAttr), c_int, c_void_p, c_void_p],
        _NEGATIVE_ON_STREAM,
    ),
    "pa_stream_connect_record": (
        c_int,
        [c_void_p, c_char_p, POINTER(BufferAttr), c_int],
        _NEGATIVE_ON_STREAM,
    ),
    "pa_stream_get_context": (c_void_p, [c_void_p]),
    "pa_stream_get_state": (c_int, [c_void_p]),
    "pa_stream_get_index": (c_uint32, [c_void_p]),
    "pa_stream_writable_size": (c_size_t, [c_void_p]),
    "pa_stream_write": (c_int, [c_void_p, c_void_p, c_size_t, c_void_p, ctypes.c_int64, c_int]),
    "pa_stream_peek": (c_int, [c_void_p, POINTER(c_void_p), POINTER(c_size_t)]),
    "pa_stream_drop": (c_int, [c_void_p]),
    "pa_stream_disconnect": (c_int, [c_void_p]),
    "pa_stream_unref": (None, [c_void_p]),
    "pa_stream_get_device_name": (c_char_p, [c_void_p]),
    "pa_stream_cork": (c_void_p, [c_void_p, c_int, c_void_p, c_void_p]),
    "pa_stream_flush": (c_void_p, [c_void_p, c_void_p, c_void_p]),
    "pa_stream_trigger": (c_void_p, [c_void_p, c_void_p, c_void_p]),
    "pa_stream_set_buffer_attr": (
        c_void_p,
        [c_void_p, POINTER(BufferAttr), c_void_p, c_void_p],
    ),
    "pa_stream_update_timing_info": (c_void_p, [c_void_p, _StreamSuccess, c_void_p]),
    "pa_stream_get_timing_info": (POINTER(TimingInfo), [c_void_p]),
    "pa_operation_unref": (None, [c_void_p]),
}

_lib: ctypes.CDLL | None = None
_lib_lock = threading.Lock()


def _libpulse() -> ctypes.CDLL:
    """Load libpulse once (lazily, so importing this module never needs it)."""
    global _lib
    with _lib_lock:
        if _lib is None:
            try:
                lib = ctypes.CDLL("libpulse.so.0")
            except OSError as exc:
                raise BackendUnavailableError(
                    f"libpulse.so.0 could not be loaded ({exc}); install the libpulse0 package "
                    "or use the 'null' backend"
                ) from exc
            for name, (restype, argtypes, *errcheck) in _SIGNATURES.items():
                func = getattr(lib, name)
                func.restype = restype
                func.argtypes = argtypes
                if errcheck:
                    func.errcheck = errcheck[0]
            _lib = lib
        return _lib


def _strerror(lib: ctypes.CDLL, code: int) -> str:
    text = lib.pa_strerror(code)
    return text.decode() if text else f"error {code}"


class _Locked:
    """The threaded mainloop's lock as a context manager (a no-op inside the mainloop thread)."""

    def __init__(self, lib: ctypes.CDLL, mainloop: int) -> None:
        self._lib, self._mainloop = lib, mainloop
        self._taken = False

    def __enter__(self) -> None:
        self._taken = not self._lib.pa_threaded_mainloop_in_thread(self._mainloop)
        if self._taken:
            self._lib.pa_threaded_mainloop_lock(self._mainloop)

    def __exit__(self, *exc: object) -> None:
        if self._taken:
            self._lib.pa_threaded_mainloop_unlock(self._mainloop)


def _proplist(lib: ctypes.CDLL, props: dict[str, str]) -> int:
    plist = lib.pa_proplist_new()
    for key, value in props.items():
        lib.pa_proplist_sets(plist, key.encode(), value.encode())
    return int(plist)
