"""A library's volume moved along the platform's ramps in small steps, for the adapters of
players that take a gain as one number (mpv's volume, pygame's ``set_volume``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

STEP_SECONDS = 0.01
"""Seconds between two steps of a ramp: short enough that no step is heard as a jump."""


class SteppedGain:
    """Applies ``apply(gain)`` along linear ramps from a thread of its own; a new ramp
    replaces the one under way, starting from where it was."""

    def __init__(self, apply: Callable[[float], object], name: str) -> None:
        self._apply = apply
        self._name = name
        self._value = 1.0
        self._lock = threading.Lock()
        self._ramps = 0

    @property
    def value(self) -> float:
        """The gain last applied."""
        return self._value

    def move(self, target: float, seconds: float) -> None:
        """Ramp to ``target`` over ``seconds`` (0: at once)."""
        with self._lock:
            self._ramps += 1
            ramp = self._ramps
        if seconds <= 0:
            self._set(target, ramp)
            return
        threading.Thread(
            target=self._run,
            args=(ramp, self._value, target, seconds),
            name=self._name,
            daemon=True,
        ).start()

    def reapply(self) -> None:
        """Apply the current gain again (what it scales changed: the user's volume, say)."""
        with self._lock:
            self._apply_now(self._value)

    def _run(self, ramp: int, start: float, target: float, seconds: float) -> None:
        began = time.monotonic()
        while True:
            done = min(1.0, (time.monotonic() - began) / seconds)
            gain = target if done >= 1.0 else start + (target - start) * done
            if not self._set(gain, ramp) or done >= 1.0:
                return
            time.sleep(STEP_SECONDS)

    def _set(self, gain: float, ramp: int) -> bool:
        """Apply ``gain`` unless a newer ramp began; whether it was applied."""
        with self._lock:
            if ramp != self._ramps:
                return False
            self._value = gain
            return self._apply_now(gain)

    def _apply_now(self, gain: float) -> bool:
        try:
            self._apply(gain)
        except Exception:
            log.exception("%s: could not set the player's gain to %.3f", self._name, gain)
            return False
        return True
