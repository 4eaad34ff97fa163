"""The connection streams play on: one libpulse context on one threaded mainloop (its thread
is the audio thread), reconnected when the server goes away and comes back, with the streams
it reopens then."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ....errors import NotFoundError
from ...backend import BackendUnavailableError
from .bindings import (
    _NO_CONTEXT_NOTIFY,
    _PA_CONTEXT_FAILED,
    _PA_CONTEXT_NOAUTOSPAWN,
    _PA_CONTEXT_READY,
    _PA_CONTEXT_TERMINATED,
    PulseCallError,
    _ContextNotify,
    _libpulse,
    _Locked,
    _proplist,
    _strerror,
)

if TYPE_CHECKING:
    from .streams import PulseStream

log = logging.getLogger(__name__)

__all__ = [
    "REALTIME_PRIORITY",
    "RECONNECT_INTERVAL",
    "RECONNECT_TIMEOUT",
    "PulseConnection",
    "ServerWatcher",
]

REALTIME_PRIORITY = 5
"""SCHED_RR priority asked for the audio thread (PulseAudio's server uses 5 too)."""

RECONNECT_INTERVAL = 0.25
"""Seconds between two attempts to reach a server that went away (a refused socket fails in
milliseconds, so trying often costs nothing and finds a restarted server quickly)."""

RECONNECT_TIMEOUT = 10.0
"""Seconds a lost server has to come back before the connection reports that it gave up
(``failed``); it goes on trying every ``RECONNECT_INTERVAL * 4`` after that."""

ServerWatcher = Callable[[str, str], None]
"""``watcher(state, reason)``: state ``"lost"``, ``"restored"`` or ``"failed"``."""


class PulseConnection:
    """A libpulse context on a threaded mainloop of its own, connected to ``server``.

    Every libpulse call on it is made holding ``locked()`` (or on its mainloop thread, where
    the streams' callbacks run). It holds the streams opened on it (``start``, ``forget``):
    when the server goes away it reconnects every ``RECONNECT_INTERVAL`` from a thread of its
    own, reopens them once the server is back, and tells the ``watch_server`` watchers.
    Construction fails fast with ``BackendUnavailableError`` when libpulse or the server is
    missing.
    """

    def __init__(
        self,
        server: str | None,
        *,
        app_name: str,
        connect_timeout: float,
        reconnect_timeout: float,
        realtime: bool,
    ) -> None:
        self.lib = _libpulse()
        self.server = server
        self.app_name = app_name
        self.connect_timeout = connect_timeout
        self.reconnect_timeout = reconnect_timeout
        self.realtime = realtime
        self.priority_set = False
        """True once the audio thread asked for its priority (``raise_priority``)."""
        self.context: int | None = None
        self.server_lost: str | None = None
        """Why the server went away, while it is away (None while connected)."""
        self._connected = False  # the context reached READY and has not failed since
        self._streams: set[PulseStream] = set()
        self._streams_lock = threading.Lock()
        self._server_watchers: list[ServerWatcher] = []
        self._reconnect_thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._on_context_state = _ContextNotify(self._context_state_cb)
        try:
            self._mainloop: int | None = int(self.lib.pa_threaded_mainloop_new())
        except PulseCallError:
            raise BackendUnavailableError("libpulse could not create a mainloop") from None
        self.lib.pa_threaded_mainloop_set_name(self._mainloop, b"pulse-audio")
        try:
            self.lib.pa_threaded_mainloop_start(self._mainloop)
        except PulseCallError:
            self.lib.pa_threaded_mainloop_free(self._mainloop)
            self._mainloop = None
            raise BackendUnavailableError("could not start the libpulse mainloop thread") from None
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    @property
    def closed(self) -> bool:
        """True once ``close()`` stopped the mainloop."""
        return self._mainloop is None

    @property
    def server_label(self) -> str:
        """The server, for messages."""
        return self.server or os.environ.get("PULSE_SERVER") or "the default PulseAudio server"

    def locked(self) -> _Locked:
        """The mainloop's lock, as a context manager (a no-op on the mainloop thread)."""
        if self._mainloop is None:
            raise BackendUnavailableError("the pulse backend is closed")
        return _Locked(self.lib, self._mainloop)

    def in_mainloop(self) -> bool:
        """Whether this is the mainloop thread (a stream callback)."""
        return self._mainloop is not None and bool(
            self.lib.pa_threaded_mainloop_in_thread(self._mainloop)
        )

    def error(self) -> str:
        """libpulse's words for the context's last error."""
        return _strerror(self.lib, self.lib.pa_context_errno(self.context))

    def _connect(self) -> None:
        """(Re)connect the context; raise ``BackendUnavailableError`` on failure."""
        lib = self.lib
        with self.locked():
            self._drop_context()
            api = lib.pa_threaded_mainloop_get_api(self._mainloop)
            plist = _proplist(lib, {"application.name": self.app_name})
            try:
                ctx = lib.pa_context_new_with_proplist(api, self.app_name.encode(), plist)
            except PulseCallError:
                raise BackendUnavailableError("libpulse could not create a context") from None
            finally:
                lib.pa_proplist_free(plist)
            self.context = int(ctx)
            lib.pa_context_set_state_callback(ctx, self._on_context_state, None)
            server = self.server.encode() if self.server else None
            try:
                lib.pa_context_connect(ctx, server, _PA_CONTEXT_NOAUTOSPAWN, None)
            except PulseCallError as error:
                raise BackendUnavailableError(
                    f"cannot connect to {self.server_label}: {error.reason}"
                ) from None
        deadline = time.monotonic() + self.connect_timeout
        while True:
            with self.locked():
                state = lib.pa_context_get_state(self.context)
                errno = lib.pa_context_errno(self.context)
            if state == _PA_CONTEXT_READY:
                self._connected = True
                return
            if state in (_PA_CONTEXT_FAILED, _PA_CONTEXT_TERMINATED):
                raise BackendUnavailableError(
                    f"no PulseAudio server reachable at {self.server_label}: "
                    f"{_strerror(lib, errno)}"
                )
            if time.monotonic() > deadline:
                raise BackendUnavailableError(
                    f"no answer from {self.server_label} within {self.connect_timeout} s"
                )
            time.sleep(0.005)

    def _drop_context(self) -> None:
        """Disconnect and free the context (caller holds the lock)."""
        if self.context is not None:
            lib = self.lib
            lib.pa_context_set_state_callback(self.context, _NO_CONTEXT_NOTIFY, None)
            lib.pa_context_disconnect(self.context)
            lib.pa_context_unref(self.context)
            self.context = None

    def _context_state_cb(self, ctx: int, userdata: int) -> None:
        try:
            state = self.lib.pa_context_get_state(ctx)
            if state in (_PA_CONTEXT_FAILED, _PA_CONTEXT_TERMINATED) and self._connected:
                self._connected = False
                reason = _strerror(self.lib, self.lib.pa_context_errno(ctx))
                self.server_lost = f"the PulseAudio server {self.server_label} went away ({reason})"
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
        """Call ``callback(state, reason)`` from the reconnecting thread when the server goes
        away (``"lost"``), comes back (``"restored"``, after ``reopen()``) or has not come
        back within ``reconnect_timeout`` (``"failed"``)."""
        self._server_watchers.append(callback)

    def _tell_watchers(self, state: str, reason: str) -> None:
        for callback in list(self._server_watchers):
            try:
                callback(state, reason)
            except Exception:
                log.exception("server watcher %r failed", callback)

    def _reconnect(self, reason: str) -> None:
        """Until the server is back (or the connection closes): connect again, ``reopen()``,
        tell the watchers."""
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
            except Exception:  # the connection closed meanwhile
                if not self._closing.is_set():
                    log.exception("reconnecting to %s failed", self.server_label)
                return
            self.server_lost = None
            log.warning(
                "the PulseAudio server %s is back after %.1f s; reopening %d stream(s)",
                self.server_label,
                time.monotonic() - began,
                len(self._streams),
            )
            self._reopen_streams()
            self._tell_watchers("restored", "")
            return

    # -- the streams --

    def start(self, stream: PulseStream, *open_args: Any) -> None:
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
            self.forget(stream)
            raise

    def forget(self, stream: PulseStream) -> None:
        """``stream`` is closed: not to be reopened."""
        with self._streams_lock:
            self._streams.discard(stream)

    def streams(self) -> list[PulseStream]:
        """The streams open (or waiting to open) on this connection."""
        with self._streams_lock:
            return list(self._streams)

    def _reopen_streams(self) -> None:
        for stream in self.streams():
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

    def raise_priority(self) -> None:
        """On the mainloop thread: ask for real-time (SCHED_RR) or, failing that, nice -11
        scheduling for this thread only, as PulseAudio's own clients do through rtkit."""
        self.priority_set = True
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

    def stop_reconnecting(self, timeout: float) -> None:
        """Stop trying to reach a lost server, waiting up to ``timeout`` s for the attempt
        under way."""
        self._closing.set()
        thread = self._reconnect_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=timeout)

    def close(self) -> None:
        """Release every stream, disconnect and stop the mainloop. Safe to call twice; never
        from the mainloop thread."""
        self._closing.set()
        if self._mainloop is None:
            return
        if self.in_mainloop():
            raise RuntimeError("PulseBackend.close() cannot be called from its audio thread")
        with self.locked():
            with self._streams_lock:
                streams = list(self._streams)
                self._streams.clear()
            for stream in streams:
                stream._release()
            self._drop_context()
        self.lib.pa_threaded_mainloop_stop(self._mainloop)
        self.lib.pa_threaded_mainloop_free(self._mainloop)
        self._mainloop = None
