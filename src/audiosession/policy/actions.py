"""What the ``Arbiter`` answers: the actions a platform applies, and its record of a session."""

from __future__ import annotations

from dataclasses import dataclass

from audiosession.types import AudioSessionState, AudioSessionType


@dataclass(frozen=True)
class SetState:
    """Move the session to ``state``. For ``inactive`` with ``fade`` > 0, fade the session's
    sound out over ``fade`` seconds first; ``inactive`` also resets its duck gain to 1 (after
    the fade) — no ``SetGain`` is sent for it."""

    session_id: str
    state: AudioSessionState
    fade: float = 0.0


@dataclass(frozen=True)
class SetGain:
    """Ramp the session's policy gain (the duck level, a factor on its own volume) to ``gain``
    over ``ramp`` seconds."""

    session_id: str
    gain: float
    ramp: float


@dataclass(frozen=True)
class SetRoute:
    """Send the session's streams to output device ``device_id`` (None: no output device)."""

    session_id: str
    device_id: str | None


Action = SetState | SetGain | SetRoute


@dataclass(frozen=True)
class ArbiterRecord:
    """One session as the ``Arbiter`` holds it (``Arbiter.record`` / ``snapshot``): its state,
    policy gain, route and the causes behind them. The platforms turn these into the
    ``SessionInfo`` rows of ``platform().sessions()``."""

    id: str
    context: str
    owner: str
    type: AudioSessionType
    state: AudioSessionState
    gain: float
    causes: tuple[str, ...]
    route: str | None
