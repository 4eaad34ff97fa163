"""The mixer: voices (a source with gains on a device) summed block by block with NumPy."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .gain import Gain, GainFollower

log = logging.getLogger(__name__)

AUDIBILITY_THRESHOLD = 1e-5
"""A block whose peak (before gains) exceeds this is audible."""

AUDIBILITY_HOLD = 0.1
"""Seconds of inaudible blocks before an audible voice is reported inaudible."""

DECLICK = 0.004
"""Seconds over which a voice fades in when it starts playing and out when it stops, so that
pausing, resuming and interrupting never click (well within one block)."""


@runtime_checkable
class Source(Protocol):
    """Anything the mixer can play: ``read(frames)`` -> (n, channels) float32; n < frames = end.

    A source may also offer ``read_view(frames)``: the same block without a copy, valid only
    until the next call (``AudioReader`` and ``LoopingSource`` do); the mixer prefers it.
    """

    def read(self, frames: int) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class VoiceEnded:
    """The voice's source ran out; it is no longer mixed. Posted once per voice."""

    voice: Voice


@dataclass(frozen=True, eq=False)
class AudibilityChanged:
    """The voice's source became audible (non-zero samples) or inaudible (after the hold)."""

    voice: Voice
    audible: bool


MixerEvent = VoiceEnded | AudibilityChanged

RouteState = tuple[tuple[Any, ...], ...]
"""What ``Mixer.snapshot`` keeps of a stream's voices (for ``Mixer.restore``)."""


class Voice:
    """One source being mixed onto a (device, role) stream through a chain of gains.

    ``device``, ``role``, ``gains`` and ``playing`` may be set from any thread; the change
    takes effect at the next block. A voice that is not playing is neither read nor heard.
    Once its source ends the voice is ``ended`` for good (play it again with a new voice).
    """

    def __init__(
        self,
        source: Source,
        *,
        gains: Iterable[Gain] = (),
        device: str | None = None,
        role: str = "music",
        watch_audibility: bool = False,
        playing: bool = True,
        meter: bool = False,
    ) -> None:
        if not callable(getattr(source, "read", None)):
            raise TypeError(f"a voice's source needs a read(frames) method: {source!r}")
        self.source = source
        self._read: Callable[[int], np.ndarray] = getattr(source, "read_view", source.read)
        self._gains: tuple[Gain, ...] = ()
        self._followers: tuple[GainFollower, ...] = ()
        self.gains = tuple(gains)
        self._device = device
        self._role = str(role)
        self._playing = bool(playing)
        self.watch_audibility = bool(watch_audibility)
        self.meter = bool(meter)
        self.frames_played = 0
        self.level = 0.0
        self.ended = False
        self.audible = False
        self._heard = False  # whether the last block rendered this voice (for the declick)
        self._resuming = False  # stopped mid-source: fade in when it plays again
        self._quiet_frames = 0
        self._mixer: Mixer | None = None

    def __repr__(self) -> str:
        state = "ended" if self.ended else "playing" if self.playing else "paused"
        return f"<Voice {self.source!r} on {self._device}/{self._role} {state}>"

    @property
    def gains(self) -> tuple[Gain, ...]:
        """The gains the source is multiplied by (their product), each following its ramps."""
        return self._gains

    @gains.setter
    def gains(self, gains: Iterable[Gain]) -> None:
        gains = tuple(gains)
        for gain in gains:
            if not isinstance(gain, Gain):
                raise TypeError(f"gains must be Gain objects, not {gain!r}")
        kept = {id(g): f for g, f in zip(self._gains, self._followers, strict=True)}
        followers = tuple(kept.get(id(g)) or g.follower() for g in gains)
        for follower in followers:
            follower.on_set = self._gain_set
        self._gains, self._followers = gains, followers
        self._chain = tuple(zip(gains, followers, strict=True))

    def _gain_set(self) -> None:
        if self._mixer is not None:
            self._mixer.changed()

    @property
    def device(self) -> str | None:
        """The output device id this voice plays on (moves at the next block)."""
        return self._device

    @device.setter
    def device(self, device: str | None) -> None:
        self._device = device
        if self._mixer is not None:
            self._mixer._moved(self)

    @property
    def playing(self) -> bool:
        """Whether the voice is read and heard (False: paused, silent, in place)."""
        return self._playing

    @playing.setter
    def playing(self, playing: bool) -> None:
        changed = bool(playing) != self._playing
        self._playing = bool(playing)
        if changed and self._mixer is not None:
            self._mixer._notify_routes()

    @property
    def role(self) -> str:
        """The stream role (PulseAudio ``media.role``) of the stream this voice plays in."""
        return self._role

    @role.setter
    def role(self, role: str) -> None:
        self._role = str(role)
        if self._mixer is not None:
            self._mixer._moved(self)

    def hold(self) -> None:
        """Stop playing at once, with no fade-out: for a voice that can no longer be heard
        where it was (its device went away); ``playing = True`` lets it play again."""
        self._heard = False
        self._resuming = True
        self.playing = False

    @property
    def underruns(self) -> int:
        """Blocks in which this voice's source had no frames ready (an ``AheadBuffer`` that
        ran dry) and played silence instead; 0 for sources that never run dry."""
        return int(getattr(self.source, "underruns", 0))

    @property
    def seconds_played(self) -> float:
        """Seconds of the source mixed so far (0 before the voice joins a mixer)."""
        return self.frames_played / self._mixer.rate if self._mixer is not None else 0.0


class Mixer:
    """Sums the playing voices of each (device, role) stream, one block per ``render`` call.

    The voice lists are swapped copy-on-write, so ``render`` (on a backend's audio thread)
    never waits for ``add``/``remove``. ``on_event`` receives ``VoiceEnded`` and
    ``AudibilityChanged`` on the rendering thread: it must only post them elsewhere.
    ``on_routes_changed`` is called (on the caller's thread) when the set of (device, role)
    pairs in use changes, or a voice starts or stops playing; the engine opens, closes, wakes
    and idles streams from it.
    """

    def __init__(
        self,
        rate: int = 48000,
        channels: int = 2,
        *,
        on_event: Callable[[MixerEvent], None] | None = None,
        audibility_hold: float = AUDIBILITY_HOLD,
        audibility_threshold: float = AUDIBILITY_THRESHOLD,
    ) -> None:
        if rate <= 0 or channels <= 0:
            raise ValueError(f"rate and channels must be positive, not {rate!r}, {channels!r}")
        self.rate = int(rate)
        self.channels = int(channels)
        self.on_event = on_event
        self.on_routes_changed: Callable[[], None] | None = None
        self.on_change: Callable[[], None] | None = None
        """Called (on the caller's thread) when what is heard must change at once: a voice
        starts or stops playing, joins or leaves, moves, or one of its gains is set. A
        stream that queued much audio renders again from what is being heard."""
        self.audibility_hold = float(audibility_hold)
        self.audibility_threshold = float(audibility_threshold)
        self.default_device: str | None = None
        self._lock = threading.Lock()
        self._voices: tuple[Voice, ...] = ()
        self._routes: dict[tuple[str | None, str], tuple[Voice, ...]] = {}
        self._buffers: dict[tuple[str | None, str], tuple[np.ndarray, np.ndarray]] = {}

    @property
    def voices(self) -> tuple[Voice, ...]:
        """Every voice added and not removed (ended ones included until removed)."""
        return self._voices

    def routes(self) -> set[tuple[str | None, str]]:
        """The (device, role) pairs that have at least one voice."""
        return set(self._routes)

    def playing_routes(self) -> set[tuple[str | None, str]]:
        """The (device, role) pairs with at least one voice playing (not paused or ended)."""
        return {
            key
            for key, voices in self._routes.items()
            if any(voice._playing and not voice.ended for voice in voices)
        }

    def add(self, voice: Voice) -> Voice:
        """Start mixing ``voice`` at the next block."""
        if voice._mixer is not None and voice._mixer is not self:
            raise ValueError(f"{voice!r} already belongs to another mixer")
        with self._lock:
            voice._mixer = self
            if voice._device is None:
                voice._device = self.default_device
            if voice not in self._voices:
                self._voices = (*self._voices, voice)
            self._rebuild()
        self._notify_routes()
        return voice

    def remove(self, voice: Voice) -> None:
        """Stop mixing ``voice`` (from the next block); unknown voices are ignored."""
        with self._lock:
            if voice not in self._voices:
                return
            self._voices = tuple(v for v in self._voices if v is not voice)
            voice._mixer = None
            self._rebuild()
        self._notify_routes()

    def _moved(self, voice: Voice) -> None:
        with self._lock:
            if voice._device is None:
                voice._device = self.default_device
            self._rebuild()
        self._notify_routes()

    def _rebuild(self) -> None:
        routes: dict[tuple[str | None, str], list[Voice]] = {}
        for voice in self._voices:
            routes.setdefault((voice._device, voice._role), []).append(voice)
        self._routes = {key: tuple(voices) for key, voices in routes.items()}

    def _notify_routes(self) -> None:
        if self.on_routes_changed is not None:
            self.on_routes_changed()
        self.changed()

    def changed(self) -> None:
        """Something to be heard at once changed (see ``on_change``)."""
        if self.on_change is not None:
            self.on_change()

    def snapshot(self, device: str | None, role: str) -> RouteState | None:
        """(The rendering thread, between blocks.) The state of each voice of the (device,
        role) stream, to render again from here with ``restore``; None if a voice's source
        cannot go back (only an ``AheadBuffer``, whose ring keeps what was read, can)."""
        states = []
        for voice in self._routes.get((device, role), ()):
            mark = getattr(voice.source, "mark", None)
            if mark is None:
                return None
            states.append(
                (
                    voice,
                    mark(),
                    voice._heard,
                    voice._resuming,
                    voice.frames_played,
                    voice._quiet_frames,
                    tuple((follower, follower.state()) for follower in voice._followers),
                )
            )
        return tuple(states)

    def restore(self, state: RouteState) -> bool:
        """(The rendering thread.) Put the voices back as ``snapshot`` found them; the next
        block renders from there with what changed since (a pause fades out there, a gain
        ramps from there). Voices that ended since are left ended. False if a source could
        not go back (nothing is restored then)."""
        voices = [entry for entry in state if not entry[0].ended]
        for voice, mark, *_ in voices:
            if not voice.source.rewind_to(mark):  # type: ignore[attr-defined]
                return False
        for voice, _mark, heard, resuming, played, quiet, followers in voices:
            voice._heard, voice._resuming = heard, resuming
            voice.frames_played, voice._quiet_frames = played, quiet
            for follower, follower_state in followers:
                follower.restore(follower_state)
        return True

    def steady(self, device: str | None, role: str) -> bool:
        """Whether the (device, role) stream may queue long: every source can go back
        (``snapshot``) and nothing is about to change by itself: no gain ramps, no voice is
        fading, and no source's end is near (in its buffer)."""
        for voice in self._routes.get((device, role), ()):
            if not hasattr(voice.source, "mark"):
                return False  # it cannot go back (``snapshot``)
            if not voice._playing and not voice._heard:
                continue  # paused, and silent until it plays (which is a change)
            if voice.ended or not voice._heard:
                return False
            if getattr(voice.source, "ended_in_ring", True):
                return False
            if any(follower.ramping for follower in voice._followers):
                return False
        return True

    def _buffer(self, key: tuple[str | None, str], frames: int) -> tuple[np.ndarray, np.ndarray]:
        buffers = self._buffers.get(key)
        if buffers is None or len(buffers[0]) < frames:
            size = max(frames, 1024)
            buffers = (
                np.empty((size, self.channels), dtype=np.float32),
                np.empty((size, self.channels), dtype=np.float32),
            )
            self._buffers[key] = buffers
        return buffers[0][:frames], buffers[1]

    def render(self, device: str | None, role: str, frames: int) -> np.ndarray:
        """One block of the (device, role) stream: (frames, channels) float32.

        The array is reused by the next ``render`` of the same stream: consume or copy it.
        """
        key = (device, role)
        out, scratch = self._buffer(key, frames)
        out.fill(0.0)
        for voice in self._routes.get(key, ()):
            if voice.ended:
                continue
            if not voice.playing:
                if voice._heard:
                    voice._heard = False
                    voice._resuming = True
                    self._fade_out(voice, out, scratch, frames)
                if voice.watch_audibility:
                    self._track_audibility(voice, 0.0, frames)
                continue
            try:
                self._mix_voice(voice, out, scratch, frames)
            except Exception:
                log.exception("%r failed; it is ended", voice)
                self._end(voice)
        return out

    def _mix_voice(self, voice: Voice, out: np.ndarray, scratch: np.ndarray, frames: int) -> None:
        block = voice._read(frames)
        count = len(block)
        if count > frames:
            raise ValueError(f"source returned {count} frames, more than the {frames} asked")
        gain, ramp = self._envelope(voice, frames)
        voice._heard = True
        if voice._resuming:
            # Resuming mid-source: fade in over DECLICK (a source's own start is left as is).
            voice._resuming = False
            fade = min(frames, max(1, int(DECLICK * self.rate)))
            envelope = np.ones(frames, dtype=np.float32) * gain
            envelope[:fade] *= np.linspace(0.0, 1.0, fade, endpoint=False, dtype=np.float32)
            gain, ramp = envelope, max(ramp, fade)
        if count:
            if isinstance(gain, np.ndarray):
                # Only the ramping head varies per frame; the tail holds the last value.
                head = min(ramp, count)
                self._mix_ramp(block[:head], gain[:head], out[:head], scratch[:head])
                self._mix_steady(
                    block[head:], float(gain[-1]), out[head:count], scratch[head:count]
                )
            else:
                self._mix_steady(block, float(gain), out[:count], scratch[:count])
        voice.frames_played += count
        if voice.watch_audibility or voice.meter:
            peak = float(max(block.max(), -block.min())) if count else 0.0
            voice.level = peak
            if voice.watch_audibility:
                self._track_audibility(voice, peak, frames)
        if count < frames:
            self._end(voice)

    def _envelope(self, voice: Voice, frames: int) -> tuple[Any, int]:
        """The product of the voice's gains for one block, and how many head frames ramp."""
        gain: Any = 1.0
        ramp = 0
        first = True
        for _gain, follower in voice._chain:
            envelope = follower.envelope(frames, self.rate)
            if isinstance(envelope, np.ndarray):
                ramp = max(ramp, follower.ramp_frames)
            gain = envelope if first else gain * envelope
            first = False
        return gain, ramp

    def _fade_out(self, voice: Voice, out: np.ndarray, scratch: np.ndarray, frames: int) -> None:
        """The voice just stopped playing: its next DECLICK seconds, faded to silence."""
        fade = min(frames, max(1, int(DECLICK * self.rate)))
        try:
            block = voice._read(fade)
        except Exception:
            log.exception("%r failed while fading out", voice)
            return
        count = len(block)
        if not count:
            return
        gain, _ = self._envelope(voice, frames)
        envelope = np.linspace(1.0, 0.0, fade, endpoint=False, dtype=np.float32)[:count]
        envelope = envelope * (gain[:count] if isinstance(gain, np.ndarray) else gain)
        self._mix_ramp(block, envelope, out[:count], scratch[:count])
        voice.frames_played += count

    def _mix_steady(
        self, block: np.ndarray, gain: float, out: np.ndarray, scratch: np.ndarray
    ) -> None:
        if gain == 1.0:
            out += block
        elif gain != 0.0:
            np.multiply(block, gain, out=scratch)
            out += scratch

    def _mix_ramp(
        self, block: np.ndarray, gain: np.ndarray, out: np.ndarray, scratch: np.ndarray
    ) -> None:
        if not len(block):
            return
        if self.channels > 1:
            # A contiguous (frames, channels) gain multiplies much faster than a broadcast
            # (frames, 1) column, whose inner loop would be only `channels` long.
            gain = np.repeat(gain, self.channels).reshape(len(gain), self.channels)
        else:
            gain = gain[:, None]
        np.multiply(block, gain, out=scratch)
        out += scratch

    def _track_audibility(self, voice: Voice, peak: float, frames: int) -> None:
        if peak > self.audibility_threshold:
            voice._quiet_frames = 0
            if not voice.audible:
                voice.audible = True
                self._post(AudibilityChanged(voice, True))
        elif voice.audible:
            voice._quiet_frames += frames
            if voice._quiet_frames >= self.audibility_hold * self.rate:
                voice.audible = False
                self._post(AudibilityChanged(voice, False))

    def _end(self, voice: Voice) -> None:
        if voice.ended:
            return
        voice.ended = True
        voice.level = 0.0
        if voice.audible:
            voice.audible = False
            self._post(AudibilityChanged(voice, False))
        self._post(VoiceEnded(voice))

    def _post(self, event: MixerEvent) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("the mixer's on_event failed on %r", event)


class LoopingSource:
    """Plays a seekable source (an ``AudioReader``, a media file) over and over, without a gap.

    The mixer reads it with ``read``/``read_view`` (a pass's end and the next pass's start in
    one block); an ``AheadBuffer`` fills from ``produce`` (a call never crosses a pass's end,
    so each chunk has one position). ``loops`` may be changed while it plays: ``None`` loops
    for ever, ``loop_count + 1`` ends at the end of the pass under way. A source that says it
    is not ``seekable`` (a live stream) plays once.
    """

    def __init__(self, source: Any, *, loops: int | None = None) -> None:
        """``source`` needs ``read`` (or ``read_view``) and ``seek(seconds)``.

        ``loops``: how many times to play it (None: forever).
        """
        if loops is not None and loops < 1:
            raise ValueError(f"loops must be >= 1 or None (forever), not {loops!r}")
        self.source = source
        self.loops = loops
        self.loop_count = 0
        self._read: Callable[[int], np.ndarray] = getattr(source, "read_view", source.read)
        self._buffer: np.ndarray | None = None

    def read(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames as a new array, wrapping at the source's end."""
        return np.array(self.read_view(frames), copy=True)

    def read_view(self, frames: int) -> np.ndarray:
        """Like ``read`` but valid only until the next call."""
        block = self._read(frames)
        if len(block) == frames or self._finished():
            return block
        parts = [np.array(block, copy=True)] if len(block) else []
        have = len(block)
        while have < frames:
            if not self._next_pass():
                break
            block = self._read(frames - have)
            if len(block) == 0:  # an empty source: do not spin
                break
            parts.append(np.array(block, copy=True))
            have += len(block)
        if not parts:
            return block[:0]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def produce(self, frames: int) -> np.ndarray:
        """Up to ``frames`` frames, up to the end of the pass under way (the next call starts
        the next pass); empty at the end of the last pass. Valid until the next call."""
        block = self._read(frames)
        if len(block) or not self._next_pass():
            return block
        return self._read(frames)

    def _next_pass(self) -> bool:
        """At the source's end: start the next pass if there is one."""
        if self._finished() or not getattr(self.source, "seekable", True):
            return False
        self.loop_count += 1
        if self._finished():
            return False
        self.source.seek(0.0)
        return True

    def _finished(self) -> bool:
        return self.loops is not None and self.loop_count >= self.loops

    def seek(self, seconds: float) -> None:
        """Seek the underlying source."""
        self.source.seek(seconds)

    @property
    def position(self) -> float:
        """The underlying source's position in seconds."""
        return float(self.source.position)
