"""The backend protocol: what a backend offers the engine, and what every backend shares
(its errors, the stream format it accepts, the latency it asks for by default).

The backends are in ``engine/backends/``: ``virtual``, ``null``, ``wav``, ``pulse/`` and
``portaudio/``; ``engine/selection.py`` chooses one. This module loads no NumPy."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol

from ..errors import AudioSessionError, NotFoundError

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MIN_LATENCY = 0.064
"""Seconds of buffer a real device's output stream asks for at least (unless told otherwise).
Measured on a 2-core machine with 32 streams: 0-3 underruns a minute at 40 ms, none at 64 ms.
A duck or pause still reaches the speakers well within 0.1 s."""

DEFAULT_LATENCY_BLOCKS = 4
"""Blocks of buffer a real device's output stream asks for at least."""


class BackendUnavailableError(AudioSessionError, RuntimeError):
    """The backend cannot run here: its library, its Python package or its server is missing."""


class StreamFormat(NamedTuple):
    """What a real device's stream carries: float32 samples at ``rate`` Hz in ``channels``,
    ``blocksize`` frames a block."""

    rate: int
    channels: int
    blocksize: int


def check_format(rate: int, channels: int, blocksize: int) -> StreamFormat:
    """The stream format; ``ValueError`` unless a real device can take it."""
    if not isinstance(rate, int) or not 1000 <= rate <= 384000:
        raise ValueError(f"rate must be an int between 1000 and 384000 Hz, not {rate!r}")
    if not isinstance(channels, int) or not 1 <= channels <= 32:
        raise ValueError(f"channels must be an int between 1 and 32, not {channels!r}")
    if not isinstance(blocksize, int) or blocksize < 16:
        raise ValueError(f"blocksize must be an int of at least 16 frames, not {blocksize!r}")
    return StreamFormat(rate, channels, blocksize)


def default_latency_blocks(rate: int, blocksize: int) -> int:
    """The blocks of buffer an output stream asks for when not told: ``DEFAULT_LATENCY_BLOCKS``
    and at least ``DEFAULT_MIN_LATENCY``."""
    return max(DEFAULT_LATENCY_BLOCKS, math.ceil(DEFAULT_MIN_LATENCY * rate / blocksize))


DeviceKind = Literal["audiooutput", "audioinput"]

RenderCallback = Callable[[int], "np.ndarray"]
"""Called by a backend's audio thread for each block: ``render(frames)`` -> (frames, channels)."""

DeliverCallback = Callable[["np.ndarray"], None]
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


def check_device(
    device_id: str, devices: Iterable[DeviceInfo], kind: DeviceKind = "audiooutput"
) -> None:
    """Raise ``NotFoundError``, naming the devices of ``kind`` there are, unless ``device_id``
    is one of them."""
    ids = [device.id for device in devices if device.kind == kind]
    if device_id not in ids:
        what = "audio output" if kind == "audiooutput" else "audio input"
        raise NotFoundError(
            f"no {what} device {device_id!r}; available: {', '.join(ids) or 'none'}"
        )


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
