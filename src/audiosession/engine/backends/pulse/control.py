"""The pulsectl side of PulseAudio, shared by the backend's device list and watcher and by the
daemon's bridge: one way to connect, and one event listener that reconnects when the server
goes away. ``pulsectl`` loads libpulse as it is imported, so it is imported on first use."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["PulseEvents", "connect_pulsectl"]


def connect_pulsectl(client_name: str, server: str | None) -> Any:
    """A connected ``pulsectl.Pulse`` called ``client_name``; ``pulsectl.PulseError`` if no
    server answers at ``server`` (None: ``$PULSE_SERVER``, else libpulse's default)."""
    import pulsectl

    pulse = pulsectl.Pulse(client_name, server=server, connect=False)
    try:
        # No timeout argument: pulsectl then always waits the whole timeout. A refused or
        # missing socket fails at once; a hung server blocks only the calling thread.
        pulse.connect(autospawn=False)
    except Exception:
        pulse.close()
        raise
    return pulse


def _nothing(*args: Any) -> None:
    return None


class PulseEvents:
    """The server's events of some facilities (``"sink"``, ``"sink_input"``, ...), heard on
    a connection and a thread of their own; while no server answers, tried again every
    ``retry_interval`` seconds, and ``reconnect_delay`` seconds after a server went away.

    ``on_event(event)`` runs inside pulsectl's loop: it must make no pulse call (it may raise
    ``pulsectl.PulseLoopStop`` to have ``between(pulse)`` run at once). ``on_connected(pulse)``
    runs on each new connection, ``between(pulse)`` before each wait for events (at most
    ``listen_timeout`` seconds apart), ``on_unreachable(error)`` at each failed attempt, and
    ``on_lost(error)`` when a connection ends: error None when the server went away, else what
    failed (it is logged; the listener starts over).
    """

    def __init__(
        self,
        name: str,
        server: str | None,
        facilities: Iterable[str],
        on_event: Callable[[Any], None],
        *,
        retry_interval: float,
        reconnect_delay: float | None = None,
        listen_timeout: float = 1.0,
        on_connected: Callable[[Any], None] = _nothing,
        between: Callable[[Any], None] = _nothing,
        on_unreachable: Callable[[Exception], None] = _nothing,
        on_lost: Callable[[Exception | None], None] = _nothing,
    ) -> None:
        self.name = name
        self.server = server
        self.facilities = tuple(facilities)
        self.retry_interval = retry_interval
        self.reconnect_delay = retry_interval if reconnect_delay is None else reconnect_delay
        self.listen_timeout = listen_timeout
        self._on_event = on_event
        self._on_connected = on_connected
        self._between = between
        self._on_unreachable = on_unreachable
        self._on_lost = on_lost
        self._stop = threading.Event()
        self._pulse: Any = None
        self._thread: threading.Thread | None = None

    def start(self, thread_name: str) -> None:
        """Start listening on a daemon thread called ``thread_name``."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._main, name=thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop listening; wait up to ``timeout`` s for the thread (None: do not wait)."""
        self._stop.set()
        pulse = self._pulse
        if pulse is not None:
            with contextlib.suppress(Exception):
                pulse.event_listen_stop()
        thread = self._thread
        if timeout is not None and thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _main(self) -> None:
        import pulsectl

        while not self._stop.is_set():
            try:
                pulse = connect_pulsectl(self.name, self.server)
            except pulsectl.PulseError as error:
                self._on_unreachable(error)
                self._stop.wait(self.retry_interval)
                continue
            self._pulse = pulse
            try:
                pulse.event_mask_set(*self.facilities)
                pulse.event_callback_set(self._on_event)
                self._on_connected(pulse)
                while not self._stop.is_set():
                    self._between(pulse)
                    pulse.event_listen(timeout=self.listen_timeout)
            except pulsectl.PulseDisconnected:
                self._on_lost(None)
            except Exception as error:  # never die: log and start over
                log.exception("%s failed; restarting it", self.name)
                self._on_lost(error)
            finally:
                self._pulse = None
                with contextlib.suppress(Exception):
                    pulse.close()
            self._stop.wait(self.reconnect_delay)
