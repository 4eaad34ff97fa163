"""Sound devices: what a backend offers the engine (the protocol every backend follows).

The backends are ``virtual.py``, ``null.py``, ``wav.py``, ``pulse.py`` and ``portaudio.py``;
``backends.py`` chooses one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

DeviceKind = Literal["audiooutput", "audioinput"]

RenderCallback = Callable[[int], np.ndarray]
"""Called by a backend's audio thread for each block: ``render(frames)`` -> (frames, channels)."""

DeliverCallback = Callable[[np.ndarray], None]
"""Called by a backend's audio thread with each captured (frames, channels) block."""


@dataclass(frozen=True)
class DeviceInfo:
    """An output or input device, as ``enumerate_devices()`` and ``devices()`` list it."""

    id: str
    label: str
    kind: DeviceKind
    intended_roles: frozenset[str] = field(default_factory=frozenset)
    is_default: bool = False
    monitor_of: str | None = None
    """For an input that is a sound server's monitor of an output (PulseAudio's
    "Monitor of ..." sources): that output's id. It records what plays there, not a room."""


class Stream(Protocol):
    """An open output or input stream."""

    def close(self) -> None: ...


class Backend(Protocol):
    """A source of devices and streams: virtual, null, wav, or a real sound server.

    A backend whose server can go away and come back (pulse) also offers
    ``watch_server(callback)``: ``callback(state, reason)`` with ``"lost"``, ``"restored"``
    or ``"failed"`` (docs/devices.md, "Server restarts"); the engine uses it when present.
    A backend whose output streams rest while idle (their ``set_idle``, without cost to the
    server or the device) says so with ``streams_rest = True``; the engine then keeps the
    streams it is asked to keep (``Engine.keep_stream``).
    """

    name: str

    def list_devices(self) -> list[DeviceInfo]: ...

    def default_output(self) -> str | None: ...

    def default_input(self) -> str | None: ...

    def open_output(
        self,
        device_id: str,
        role: str,
        *,
        rate: int,
        channels: int,
        blocksize: int,
        render: RenderCallback,
    ) -> Stream: ...

    def open_input(
        self,
        device_id: str,
        *,
        rate: int,
        channels: int,
        blocksize: int,
        deliver: DeliverCallback,
    ) -> Stream: ...

    def watch_devices(self, callback: Callable[[list[DeviceInfo]], None]) -> None: ...

    def close(self) -> None: ...
