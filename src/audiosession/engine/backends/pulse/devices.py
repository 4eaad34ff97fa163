"""PulseAudio's sinks and sources as devices, through pulsectl: the list (on a query connection
of its own) and the watcher that reports each change of it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from ...backend import BackendUnavailableError, DeviceInfo
from .control import PulseEvents, connect_pulsectl

log = logging.getLogger(__name__)

__all__ = ["PulseDevices", "devices_of"]

DevicesWatcher = Callable[[list[DeviceInfo]], None]


class PulseDevices:
    """The devices of the server at ``server``, listed on demand and watched for changes.

    ``pulsectl`` is the module (imported by the caller, who says what is missing without it);
    ``server_label`` names the server in messages.
    """

    def __init__(self, pulsectl: Any, server: str | None, app_name: str, server_label: str):
        self._pulsectl = pulsectl
        self.server = server
        self.app_name = app_name
        self.server_label = server_label
        self._query: Any = None
        self._query_lock = threading.Lock()
        self._watchers: list[DevicesWatcher] = []
        self._events: PulseEvents | None = None

    def _connect(self, client_name: str) -> Any:
        try:
            return connect_pulsectl(client_name, self.server)
        except self._pulsectl.PulseError as exc:
            raise BackendUnavailableError(
                f"no PulseAudio server reachable at {self.server_label}: {exc}"
            ) from exc

    def _pulse(self) -> Any:
        """The pulsectl connection used for queries (caller holds ``_query_lock``)."""
        if self._query is None or not self._query.connected:
            if self._query is not None:
                self._query.close()
                self._query = None
            self._query = self._connect(f"{self.app_name}-query")
        return self._query

    def list_devices(self) -> list[DeviceInfo]:
        """Every sink ("audiooutput") and source ("audioinput", monitors included) right now."""
        with self._query_lock:
            try:
                return devices_of(self._pulse())
            except self._pulsectl.PulseError:
                # One retry on a fresh connection (the server may have restarted).
                if self._query is not None:
                    self._query.close()
                self._query = None
                return devices_of(self._pulse())

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

    def watch(self, callback: DevicesWatcher) -> None:
        """Call ``callback(list_devices())`` from a watcher thread whenever a sink or source is
        added, removed or changes, and whenever the default device changes."""
        self._watchers.append(callback)
        if self._events is not None:
            return
        pulsectl = self._pulsectl
        changed = threading.Event()
        last: list[DeviceInfo] | None = None

        def on_event(event: Any) -> None:
            if event.t in ("new", "remove") or event.facility == "server":
                changed.set()
                raise pulsectl.PulseLoopStop

        def on_connected(pulse: Any) -> None:
            nonlocal last
            if last is not None:  # reconnected: the list may have changed meanwhile
                changed.set()
            else:
                last = devices_of(pulse)

        def between(pulse: Any) -> None:
            nonlocal last
            if changed.is_set():
                changed.clear()
                pulse.event_callback_set(None)
                devices = devices_of(pulse)
                pulse.event_callback_set(on_event)
                if devices != last:
                    last = devices
                    self._notify(devices)

        def on_lost(error: Exception | None) -> None:
            if error is None:
                log.warning("device watcher lost %s; will reconnect", self.server_label)

        self._events = PulseEvents(
            f"{self.app_name}-watch",
            self.server,
            ("sink", "source", "server"),
            on_event,
            retry_interval=1.0,
            reconnect_delay=0.5,
            listen_timeout=0.5,
            on_connected=on_connected,
            between=between,
            on_unreachable=lambda error: log.debug("device watcher: %s; retrying", error),
            on_lost=on_lost,
        )
        self._events.start("pulse-device-watch")

    def _notify(self, devices: list[DeviceInfo]) -> None:
        for callback in list(self._watchers):
            try:
                callback(devices)
            except Exception:
                log.exception("device watch callback %r failed", callback)

    def close(self) -> None:
        """Stop the watcher and close the query connection."""
        if self._events is not None:
            self._events.stop(timeout=2.0)
            self._events = None
        self._watchers.clear()
        with self._query_lock:
            if self._query is not None:
                self._query.close()
                self._query = None


def devices_of(pulse: Any) -> list[DeviceInfo]:
    """The sinks and sources of the server that pulsectl connection ``pulse`` is connected to."""
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
        monitor_of = source.monitor_of_sink_name if source.monitor_of_sink != 0xFFFFFFFF else None
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


def _roles(proplist: dict[str, str]) -> frozenset[str]:
    return frozenset(proplist.get("device.intended_roles", "").split())
