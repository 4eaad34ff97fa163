"""Sound devices: what a backend offers the engine, and how a backend is chosen."""

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


class Stream(Protocol):
    """An open output or input stream."""

    def close(self) -> None: ...


class Backend(Protocol):
    """A source of devices and streams: virtual, null, wav, or a real sound server.

    A backend whose server can go away and come back (pulse) also offers
    ``watch_server(callback)``: ``callback(state, reason)`` with ``"lost"``, ``"restored"``
    or ``"failed"`` (docs/devices.md, "Server restarts"); the engine uses it when present.
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


BACKEND_ENV = "AUDIOSESSION_BACKEND"
"""Environment variable naming the backend when the program does not: null, wav:PATH, ..."""

_REAL_BACKENDS = {
    "pulse": ("pulse", "PulseBackend"),  # PulseAudio, and PipeWire's pipewire-pulse
    "portaudio": ("portaudio", "PortAudioBackend"),  # ALSA, Core Audio, WASAPI
}
"""Tried in this order by ``auto``: only PulseAudio / PipeWire give each stream its role and
let the daemon bridge other programs' streams; PortAudio plays everywhere else."""


def select_backend(name: str | None = None) -> Backend:
    """The backend called ``name``, else ``$AUDIOSESSION_BACKEND``, else a real sound device.

    Names: ``null`` (real-time, discards), ``wav:PATH`` (real-time, writes PATH), ``pulse``,
    ``portaudio`` and ``auto`` (the default: pulse where a server answers, else portaudio where
    it has an output device, else null; one log line says which and why). When a real backend
    cannot start or finds no output device, the result is ``null`` and one warning says so.
    """
    import importlib
    import logging
    import os

    from .null import NullBackend
    from .wav import WavBackend

    log = logging.getLogger(__name__)
    chosen = name or os.environ.get(BACKEND_ENV) or "auto"
    if chosen == "null":
        return NullBackend()
    if chosen.startswith("wav:") and len(chosen) > 4:
        return WavBackend(chosen[4:])
    if chosen == "auto":
        candidates = list(_REAL_BACKENDS)
    elif chosen in _REAL_BACKENDS:
        candidates = [chosen]
    else:
        raise ValueError(
            f"unknown audio backend {chosen!r}; use one of auto, pulse, portaudio, null, wav:PATH"
        )
    reasons: list[str] = []
    for candidate in candidates:
        module_name, class_name = _REAL_BACKENDS[candidate]
        full_name = f"{__package__}.{module_name}"
        backend: Backend | None = None
        try:
            try:
                module = importlib.import_module(full_name)
            except ModuleNotFoundError as error:
                if error.name == full_name and chosen == "auto":
                    continue  # that backend is not part of this build
                raise
            backend = getattr(module, class_name)()
            assert backend is not None
            default = backend.default_output()
            host_api = getattr(backend, "host_api", None)  # PortAudio's ALSA, Core Audio, ...
            if default is None:
                raise RuntimeError(f"no output device{f' in {host_api}' if host_api else ''}")
            if chosen == "auto":
                log.info("audio backend: %s%s, default output %r (%s)", candidate,
                         f" ({host_api})" if host_api else "", default,
                         "; ".join(reasons) or "the first choice")
            return backend
        except Exception as error:  # noqa: BLE001 - any failure means: try the next one
            reasons.append(f"{candidate}: {error}")
            if backend is not None:
                try:
                    backend.close()
                except Exception:  # noqa: BLE001
                    pass
    log.warning("audio backend: null: no sound device found (%s); playing to the null sink "
                "instead (silent)", "; ".join(reasons) or "no real backend is available")
    return NullBackend()
