"""A foreign stream (a sink-input that is not ours) as the bridge sees it, and the volume
arithmetic of ``pa_volume_t``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["VOLUME_NORM", "ForeignStream", "entry_name", "pid_of", "raw", "same", "scaled"]

VOLUME_NORM = 0x10000  # PAVOLUME_NORM: raw volumes are integers, 100 % = 65536


@dataclass
class ForeignStream:
    """A foreign sink-input as the bridge's worker thread sees it."""

    index: int
    pid: int | None
    program: str
    role: str | None
    corked: bool
    muted: bool = False  # as last seen on the server
    gain: float = 1.0  # the policy's duck gain
    silenced: bool = False  # the policy holds it (interrupted / inactive)
    volume: list[int] | None = None  # raw, as last seen on the server (or set by us)
    channels: list[str] | None = None  # its channel map, e.g. ["front-left", "front-right"]
    entry: str | None = None  # its name in module-stream-restore's database
    original: list[int] | None = None  # the user's volume while we duck it
    ducked_to: list[int] | None = None  # the volume we set
    we_muted: bool = False

    @property
    def changed_by_us(self) -> bool:
        """Whether its volume or mute is the bridge's doing now."""
        return self.original is not None or self.we_muted

    @property
    def session(self) -> str:
        return str(self.index)


def entry_name(props: dict[str, str]) -> str | None:
    """The stream's name in module-stream-restore's database: the module writes it into the
    stream's properties; else it is made as the module makes it."""
    if props.get("module-stream-restore.id"):
        return props["module-stream-restore.id"]
    for key, kind in (
        ("media.role", "media-role"),
        ("application.id", "application-id"),
        ("application.name", "application-name"),
        ("media.name", "media-name"),
    ):
        if props.get(key):
            return f"sink-input-by-{kind}:{props[key]}"
    return None


def pid_of(props: dict[str, str]) -> int | None:
    try:
        return int(props["application.process.id"])
    except (KeyError, ValueError):
        return None


def raw(volume: Any) -> list[int]:
    """A pulsectl volume as raw ``pa_volume_t`` integers (exact, unlike the floats)."""
    return [int(round(v * VOLUME_NORM)) for v in volume.values]


def scaled(raw: list[int], gain: float) -> list[int]:
    """``raw`` volumes times the linear amplitude factor ``gain``. PulseAudio's (and
    pipewire-pulse's) ``pa_volume_t`` is cubic: amplitude = (raw / NORM)³, so the raw value is
    scaled by the cube root (×0.2 in amplitude, -14 dB, is ×0.585 in raw volume)."""
    factor = gain ** (1.0 / 3.0)
    return [int(round(v * factor)) for v in raw]


def same(a: list[int], b: list[int]) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= 1 for x, y in zip(a, b, strict=True))
