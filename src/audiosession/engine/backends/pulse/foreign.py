"""Another client's sink-input, changed by us and given back exactly: the volume arithmetic of
``pa_volume_t``, a duck (at once or ramped), a hold (a mute), and what module-stream-restore
remembers kept the user's. The daemon's bridge applies it to foreign programs' streams
(docs/bridge.md), ``own_streams`` to this program's own streams that are not ours."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

__all__ = [
    "OUR_APPLICATION",
    "VOLUME_NORM",
    "ForeignStream",
    "GainRamp",
    "StreamChanger",
    "entry_name",
    "event_kind",
    "follow_event",
    "pid_of",
    "program_of",
    "raw",
    "same",
    "scaled",
]

VOLUME_NORM = 0x10000  # PAVOLUME_NORM: raw volumes are integers, 100 % = 65536

OUR_APPLICATION = "audiosession"
"""``application.name`` of this package's own streams (the ``pulse`` backend's and
libpulse-simple's): never foreign."""

RAMP_STEP = 0.02
"""Seconds between two volume changes of a ramped duck."""


@dataclass
class GainRamp:
    """A gain (amplitude factor) going from ``start`` to ``end`` in ``seconds`` from ``since``
    (``time.monotonic``), linearly in amplitude as the engine's ramps do."""

    start: float
    end: float
    since: float
    seconds: float

    def at(self, now: float) -> float:
        progress = min(1.0, max(0.0, (now - self.since) / self.seconds))
        return self.start + (self.end - self.start) * progress

    def done(self, now: float) -> bool:
        return now - self.since >= self.seconds


@dataclass
class ForeignStream:
    """A sink-input of another client as the one changing it sees it."""

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
    applied_gain: float = 1.0  # the gain its volume has now (of ``original``)
    ramp: GainRamp | None = None  # a duck on its way

    @property
    def changed_by_us(self) -> bool:
        """Whether its volume or mute is our doing now."""
        return self.original is not None or self.we_muted

    @property
    def session(self) -> str:
        return str(self.index)

    @classmethod
    def of(cls, info: Any) -> ForeignStream:
        """The stream of pulsectl's sink-input ``info``, as it is now."""
        props = info.proplist
        return cls(
            info.index,
            pid_of(props),
            program_of(info),
            props.get("media.role"),
            bool(info.corked),
            bool(info.mute),
            volume=raw(info.volume),
            channels=list(info.channel_list),
            entry=entry_name(props),
        )


def entry_name(props: Mapping[str, str]) -> str | None:
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


def pid_of(props: Mapping[str, str]) -> int | None:
    try:
        return int(props["application.process.id"])
    except (KeyError, ValueError):
        return None


def program_of(info: Any) -> str:
    """The name of the program that plays sink-input ``info``."""
    props = info.proplist
    return (
        props.get("application.name")
        or props.get("application.process.binary")
        or (info.name or "?")
    )


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


def event_kind(event: Any) -> str:
    """``"new"``, ``"change"`` or ``"remove"``: what a pulsectl sink-input event says."""
    return next((name for name in ("new", "change", "remove") if event.t == name), "change")


def follow_event(
    pulse: Any,
    pulsectl: Any,
    kind: str,
    index: int,
    taken: dict[int, ForeignStream],
    left: set[int],
    *,
    observe: Callable[[Any], None],
    ended: Callable[[ForeignStream], None],
) -> None:
    """Sink-input ``index`` had event ``kind``: ``ended(stream)`` for one of ``taken`` that is
    gone (dropped from it), else ``observe(info)`` with what the server says of it now, unless
    it is one of those ``left`` alone."""
    if kind == "remove":
        left.discard(index)
        stream = taken.pop(index, None)
        if stream is not None:
            ended(stream)
        return
    if index in left:
        return
    try:
        info = pulse.sink_input_info(index)
    except pulsectl.PulseIndexError:
        return  # already gone; its remove event follows
    observe(info)


def _nothing() -> None:
    return None


class StreamChanger:
    """Makes the server's volume and mute of ``streams`` (index -> stream, the owner's view)
    what is asked of each (its ``gain`` and ``silenced``), on one pulsectl connection, and
    gives module-stream-restore back the user's entry after each change (``StreamMemory``).

    A duck sets the stream's volume to the user's volume × gain in amplitude, per channel; gain
    1 gives back exactly the raw volume it had. A hold mutes it (a client cannot cork another
    client's stream: only the server sends a "request-cork", from ``module-role-cork``); a
    stream that corks itself while held is unmuted, one the user had muted is left alone.
    The user wins: a ducked stream whose volume someone changes, or a muted one someone
    unmutes, is no longer ours to give back. ``record()`` runs before each change we make and
    after each restore (the bridge's journal). ``who`` starts each log line. One thread only."""

    def __init__(
        self,
        pulse: Any,
        pulsectl: Any,
        streams: Mapping[int, ForeignStream],
        *,
        who: str,
        record: Callable[[], None] = _nothing,
    ) -> None:
        from .memory import StreamMemory

        self._pulse = pulse
        self._pulsectl = pulsectl
        self._streams = streams
        self._who = who
        self._record = record
        self.memory = StreamMemory(pulse, pulsectl, who)

    def enforce(self, stream: ForeignStream, ramp: float | None = None) -> None:
        """Apply ``stream.gain`` (over ``ramp`` seconds: then ``step`` carries it on; None:
        at once, unless a ramp is on its way) and ``stream.silenced``."""
        try:
            self._change(stream, ramp)
        finally:
            self.put_entry_back(stream)

    def step(self) -> float | None:
        """Carry the ramps on; the seconds until the next step is due (None: no ramp left)."""
        now = time.monotonic()
        for stream in self._streams.values():
            ramp = stream.ramp
            if ramp is None:
                continue
            if ramp.done(now):
                stream.ramp = None
            try:
                self._apply_gain(stream, ramp.at(now))
            except self._pulsectl.PulseIndexError:
                stream.ramp = None  # gone meanwhile; its remove event follows
            finally:
                self.put_entry_back(stream)
        if any(stream.ramp is not None for stream in self._streams.values()):
            return RAMP_STEP
        return None

    def observe(self, stream: ForeignStream, info: Any) -> None:
        """The server reports ``stream`` as ``info`` now: take in what the user changed, keep
        module-stream-restore's entry the user's."""
        by_user = self._check_user_changes(stream, info)
        if stream.entry in self.memory.kept:
            # The module saves on every change of a stream we changed: keep its entry the
            # user's.
            assert stream.entry is not None
            if by_user:
                self.memory.take_user_change(stream.entry, stream)
            self.put_entry_back(stream)

    def ended(self, stream: ForeignStream) -> None:
        """``stream`` is gone (already out of ``streams``)."""
        if stream.changed_by_us:
            self._record()
            self.put_entry_back(stream)  # the last word, as the user left it

    def restore_all(self) -> None:
        """Give every stream back its volume and mute (at once)."""
        for stream in self._streams.values():
            stream.gain, stream.silenced, stream.ramp = 1.0, False, None
            try:
                self.enforce(stream)
            except self._pulsectl.PulseError:
                continue

    def put_entry_back(self, stream: ForeignStream) -> None:
        if stream.entry is None:
            return
        still = any(s.changed_by_us for s in self._streams.values() if s.entry == stream.entry)
        self.memory.put_back(stream.entry, stream, still)

    def set_raw_volume(self, index: int, levels: list[int]) -> None:
        volume = self._pulsectl.PulseVolumeInfo([v / VOLUME_NORM for v in levels])
        self._pulse.sink_input_volume_set(index, volume)

    def _change(self, stream: ForeignStream, ramp: float | None) -> None:
        if ramp is None and stream.ramp is not None:
            self._apply_hold(stream)  # the gain is the ramp's business
            return
        ramp = ramp or 0.0
        now = time.monotonic()
        current = stream.ramp.at(now) if stream.ramp is not None else stream.applied_gain
        if ramp > 0 and abs(stream.gain - current) > 1e-6:
            stream.ramp = GainRamp(current, stream.gain, now, ramp)
        else:
            stream.ramp = None
            self._apply_gain(stream, stream.gain)
        self._apply_hold(stream)

    def _apply_gain(self, stream: ForeignStream, gain: float) -> None:
        if gain < 1.0:
            self.memory.keep(stream.entry)
            if stream.original is None:
                stream.original = raw(self._pulse.sink_input_info(stream.index).volume)
            target = scaled(stream.original, gain)
            if target != stream.ducked_to:
                stream.ducked_to = target
                self._record()
                self._set_volume(stream, target)
                log.debug("%s: ducked #%d to %s (x%g)", self._who, stream.index, target, gain)
        elif stream.original is not None:
            original = stream.original
            self._set_volume(stream, original)
            stream.original = stream.ducked_to = None
            self._record()
            log.debug("%s: restored #%d to %s", self._who, stream.index, original)
        stream.applied_gain = gain

    def _apply_hold(self, stream: ForeignStream) -> None:
        want_mute = stream.silenced and not stream.corked
        if want_mute and not stream.we_muted:
            if stream.muted:
                return  # the user muted it already: not ours to unmute later
            self.memory.keep(stream.entry)
            stream.we_muted = stream.muted = True
            self._record()
            self._pulse.sink_input_mute(stream.index, True)
            log.debug("%s: muted #%d (held by the policy)", self._who, stream.index)
        elif not want_mute and stream.we_muted:
            self._pulse.sink_input_mute(stream.index, False)
            stream.we_muted = stream.muted = False
            self._record()
            log.debug("%s: unmuted #%d", self._who, stream.index)

    def _set_volume(self, stream: ForeignStream, levels: list[int]) -> None:
        self.set_raw_volume(stream.index, levels)
        stream.volume = levels

    def _check_user_changes(self, stream: ForeignStream, info: Any) -> bool:
        """Returns whether anyone but us changed the stream's volume or mute."""
        volume, muted = raw(info.volume), bool(info.mute)
        by_user = ours_forgotten = False
        if stream.ducked_to is not None and not same(volume, stream.ducked_to):
            log.info(
                "%s: the volume of stream #%d was changed during a duck; keeping the new one",
                self._who,
                stream.index,
            )
            stream.original = stream.ducked_to = stream.ramp = None
            stream.applied_gain = 1.0
            by_user = ours_forgotten = True
        elif stream.volume is not None and not same(volume, stream.volume):
            by_user = True
        if stream.we_muted and not muted:
            log.info(
                "%s: stream #%d was unmuted by someone else; leaving it", self._who, stream.index
            )
            stream.we_muted = False
            by_user = ours_forgotten = True
        elif not stream.we_muted and muted != stream.muted:
            by_user = True
        stream.volume, stream.muted = volume, muted
        if ours_forgotten:
            self._record()
        return by_user
