"""Gains that always move along a short linear ramp, so no gain change ever clicks."""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable

import numpy as np

DEFAULT_RAMP = 0.01
"""Seconds of the ramp used when ``Gain.set`` is given no ramp: short, and click-free."""


class Gain:
    """A gain that moves to its target along a linear ramp.

    ``set()`` may be called from any thread; it only swaps an immutable tuple, so the audio
    side never waits for it. The audio side asks for one block of gains at a time with
    ``envelope(frames, rate)``: a float while the gain is steady, a float32 array of per-frame
    gains while it ramps.

    One ``Gain`` may be shared by many voices (a session's gain, say), even voices rendered
    by different streams on different threads: each voice follows it with its own
    ``GainFollower`` (``follower()``), so each hears the whole ramp exactly once.
    """

    def __init__(self, value: float = 1.0) -> None:
        value = _check_gain(value)
        self._lock = threading.Lock()
        # (sequence number, target, ramp seconds): swapped whole, read without a lock.
        self._command: tuple[int, float, float] = (0, value, 0.0)
        self._value = value
        self._followers: weakref.WeakSet[GainFollower] = weakref.WeakSet()
        self._own: GainFollower | None = None

    def __repr__(self) -> str:
        return f"Gain(value={self._value:.4g}, target={self.target:.4g})"

    @property
    def value(self) -> float:
        """The gain as last heard (the latest value any follower reached)."""
        return self._value

    @property
    def target(self) -> float:
        """The value the gain is moving to (or holds)."""
        return self._command[1]

    def set(self, target: float, ramp: float | None = None) -> None:
        """Move to ``target`` over ``ramp`` seconds (``None``: ``DEFAULT_RAMP``; 0: at once).

        A gain nobody is listening to jumps straight to its target: there is no sound to
        click.
        """
        target = _check_gain(target)
        seconds = DEFAULT_RAMP if ramp is None else float(ramp)
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"ramp must be a number of seconds >= 0 (or None), not {ramp!r}")
        with self._lock:
            self._command = (self._command[0] + 1, target, seconds)
            if seconds == 0 or not self._followers:
                self._value = target
            followers = list(self._followers)
        for follower in followers:
            if follower.on_set is not None:
                follower.on_set()

    def follower(self) -> GainFollower:
        """A new, independent follower of this gain, starting at its current value."""
        follower = GainFollower(self)
        self._followers.add(follower)
        return follower

    def envelope(self, frames: int, rate: int) -> float | np.ndarray:
        """Advance by one block of ``frames`` at ``rate``; a float (steady) or per-frame gains.

        Only the audio side calls this, and only one consumer should: voices that share a
        gain use ``follower()`` instead.
        """
        if self._own is None:
            self._own = self.follower()
        return self._own.envelope(frames, rate)


class GainFollower:
    """One consumer's position along a ``Gain``'s ramps (used by the audio side only)."""

    __slots__ = (
        "_gain",
        "_seq",
        "_value",
        "_target",
        "_step",
        "_remaining",
        "ramp_frames",
        "on_set",
        "__weakref__",
    )

    def __init__(self, gain: Gain) -> None:
        self._gain = gain
        seq, target, _ramp = gain._command
        self._seq = seq
        self._value = gain._value
        self._target = target
        self._step = 0.0
        self._remaining = 0
        self.ramp_frames = 0
        """How many leading frames of the last envelope ramp (the rest hold its last value)."""
        self.on_set: Callable[[], None] | None = None
        """Called (on the setter's thread) when the gain is given a new target."""
        if self._value != target:
            # Joined in the middle of a ramp: the first block starts it again from here.
            self._seq = -1

    @property
    def value(self) -> float:
        """Where this follower is now."""
        return self._value

    @property
    def ramping(self) -> bool:
        """Whether it is on its way to a target (or has one it has not started for)."""
        return self._remaining > 0 or self._seq != self._gain._command[0]

    def state(self) -> tuple[int, float, float, float, int]:
        """Where it is along the gain's ramps, for ``restore``."""
        return self._seq, self._value, self._target, self._step, self._remaining

    def restore(self, state: tuple[int, float, float, float, int]) -> None:
        """Go back to ``state``: a target set since is ramped to again from there."""
        self._seq, self._value, self._target, self._step, self._remaining = state

    def _start(self, target: float, seconds: float, rate: int) -> None:
        frames = int(round(seconds * rate))
        self._target = target
        if frames <= 0 or target == self._value:
            self._value = target
            self._remaining = 0
        else:
            self._step = (target - self._value) / frames
            self._remaining = frames

    def envelope(self, frames: int, rate: int) -> float | np.ndarray:
        """Advance by one block; a float while steady, else a float32 array of ``frames``."""
        seq, target, seconds = self._gain._command
        if seq != self._seq:
            self._seq = seq
            self._start(target, seconds, rate)
        if self._remaining == 0:
            self.ramp_frames = 0
            return self._value
        ramp = min(frames, self._remaining)
        self.ramp_frames = ramp
        env = np.empty(frames, dtype=np.float32)
        env[:ramp] = self._value + self._step * np.arange(1, ramp + 1, dtype=np.float64)
        self._remaining -= ramp
        if self._remaining == 0:
            self._value = self._target
        else:
            self._value += self._step * ramp
        env[ramp:] = self._value
        self._gain._value = self._value
        return env


def _check_gain(value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"a gain must be a real number, not {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"a gain must be a finite number >= 0, not {value!r}")
    return number
