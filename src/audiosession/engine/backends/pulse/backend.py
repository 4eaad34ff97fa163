"""A real device backend on PulseAudio (or PipeWire's pulse server): streams through native
libpulse on one ``PulseConnection``, devices through pulsectl (``PulseDevices``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ....errors import NotFoundError
from ...backend import (
    BackendUnavailableError,
    DeliverCallback,
    DeviceInfo,
    DeviceKind,
    RenderCallback,
    check_device,
    check_format,
    default_latency_blocks,
)
from .connection import RECONNECT_TIMEOUT, PulseConnection, ServerWatcher
from .devices import PulseDevices
from .input_stream import PulseInputStream
from .streams import PulseOutputStream, PulseStream

log = logging.getLogger(__name__)

__all__ = ["PulseBackend"]


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

    queues_long = True
    """A steady output stream queues up to ``LONG_QUEUE_SECONDS`` and rewrites its queue when
    something must be heard at once (``PulseOutputStream.hurry``)."""

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
        self.server = server
        self.app_name = app_name
        self.connect_timeout = connect_timeout
        self.latency_blocks = latency_blocks
        self.allow_move = allow_move
        self._connection = PulseConnection(
            server,
            app_name=app_name,
            connect_timeout=connect_timeout,
            reconnect_timeout=reconnect_timeout,
            realtime=realtime,
        )
        self._devices = PulseDevices(pulsectl, server, app_name, self._connection.server_label)

    @property
    def server_lost(self) -> str | None:
        """Why the server went away, while it is away (None while connected)."""
        return self._connection.server_lost

    def watch_server(self, callback: ServerWatcher) -> None:
        """Call ``callback(state, reason)`` from a backend thread when the server goes away
        (``"lost"``: every stream has stopped), comes back (``"restored"``: every stream
        plays again) or has not come back within ``reconnect_timeout`` (``"failed"``)."""
        self._connection.watch_server(callback)

    # -- devices --

    def list_devices(self) -> list[DeviceInfo]:
        """Every sink ("audiooutput") and source ("audioinput", monitors included) right now."""
        return self._devices.list_devices()

    def default_output(self) -> str | None:
        """The name of the server's default sink, or None if there is none."""
        return self._devices.default_output()

    def default_input(self) -> str | None:
        """The name of the server's default source (may be a monitor), or None."""
        return self._devices.default_input()

    def watch_devices(self, callback: Callable[[list[DeviceInfo]], None]) -> None:
        """Call ``callback(list_devices())`` from a watcher thread whenever a sink or source is
        added, removed or changes, and whenever the default device changes."""
        self._devices.watch(callback)

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
        format = check_format(rate, channels, blocksize)
        if not isinstance(device_id, str) or not device_id:
            raise ValueError(f"device_id must be a sink name, not {device_id!r}")
        stream = PulseOutputStream(self._connection, device_id, role, format, render)
        self._start(
            stream,
            "audiooutput",
            self.latency_blocks or default_latency_blocks(rate, blocksize),
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
        format = check_format(rate, channels, blocksize)
        if not isinstance(device_id, str) or not device_id:
            raise ValueError(f"device_id must be a source name, not {device_id!r}")
        stream = PulseInputStream(self._connection, device_id, format, deliver)
        self._start(stream, "audioinput", self.connect_timeout + 3.0)
        return stream

    def _start(self, stream: PulseStream, kind: DeviceKind, *open_args: Any) -> None:
        """Open ``stream`` on the connection; an unknown device's error names those there are."""
        try:
            self._connection.start(stream, *open_args)
        except NotFoundError as error:
            try:
                devices = self.list_devices()
            except Exception:  # the device list is only a hint here
                raise error from None
            check_device(stream.device_id, devices, kind)
            raise

    # -- teardown --

    def close(self) -> None:
        """Close every stream, stop the watcher and disconnect. Safe to call twice."""
        connection = self._connection
        connection.stop_reconnecting(timeout=self.connect_timeout + 5.0)
        for stream in connection.streams():
            stream.close()
        self._devices.close()
        connection.close()

    def __enter__(self) -> PulseBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
