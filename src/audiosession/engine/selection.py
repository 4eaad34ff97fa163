"""Choosing the sound backend: by name, from ``$AUDIOSESSION_BACKEND``, or the first real sound
device that answers (docs/devices.md). The real backends are imported only here, and only when
tried."""

from __future__ import annotations

import importlib
import logging
import os

from .backend import Backend
from .backends.null import NullBackend
from .backends.wav import WavBackend

log = logging.getLogger(__name__)

__all__ = ["BACKEND_ENV", "select_backend"]

BACKEND_ENV = "AUDIOSESSION_BACKEND"
"""Environment variable naming the backend when the program does not: null, wav:PATH, ..."""

_REAL_BACKENDS = {
    "pulse": ("pulse.backend", "PulseBackend"),  # PulseAudio, and PipeWire's pipewire-pulse
    "portaudio": ("portaudio.backend", "PortAudioBackend"),  # ALSA, Core Audio, WASAPI
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
        full_name = f"{__package__}.backends.{module_name}"
        backend: Backend | None = None
        try:
            try:
                module = importlib.import_module(full_name)
            except ModuleNotFoundError as error:
                if error.name in (full_name, full_name.rpartition(".")[0]) and chosen == "auto":
                    continue  # that backend is not part of this build
                raise
            backend = getattr(module, class_name)()
            assert backend is not None
            default = backend.default_output()
            host_api = getattr(backend, "host_api", None)  # PortAudio's ALSA, Core Audio, ...
            if default is None:
                raise RuntimeError(f"no output device{f' in {host_api}' if host_api else ''}")
            if chosen == "auto":
                log.info(
                    "audio backend: %s%s, default output %r (%s)",
                    candidate,
                    f" ({host_api})" if host_api else "",
                    default,
                    "; ".join(reasons) or "the first choice",
                )
            return backend
        except Exception as error:  # noqa: BLE001 - any failure means: try the next one
            reasons.append(f"{candidate}: {error}")
            if backend is not None:
                try:
                    backend.close()
                except Exception:  # noqa: BLE001
                    pass
    log.warning(
        "audio backend: null: no sound device found (%s); playing to the null sink "
        "instead (silent)",
        "; ".join(reasons) or "no real backend is available",
    )
    return NullBackend()
