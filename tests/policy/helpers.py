"""Shared helpers for the policy tests: a small arbiter builder and a platform mirror."""

from __future__ import annotations

from collections.abc import Iterable

from audiosession.policy import (
    Action,
    Arbiter,
    PolicyConfig,
    SetGain,
    SetRoute,
    SetState,
)
from audiosession.types import AudioSessionState

ACTIVE = AudioSessionState.ACTIVE
INACTIVE = AudioSessionState.INACTIVE
INTERRUPTED = AudioSessionState.INTERRUPTED

HOLDING_PREFIXES = ("paused by ", "delayed by ", "external: ")


def arbiter(*sessions: str, config: PolicyConfig | None = None) -> Arbiter:
    """An arbiter with one session per name, each in its own context, owned by its name."""
    policy = Arbiter(config)
    for name in sessions:
        policy.add(name, f"window-{name}", name)
    return policy


def by_session(actions: Iterable[Action]) -> dict[str, list[Action]]:
    """The actions grouped by session id."""
    grouped: dict[str, list[Action]] = {}
    for action in actions:
        grouped.setdefault(action.session_id, []).append(action)
    return grouped


def holding(causes: Iterable[str]) -> list[str]:
    """The causes that hold a session (pause, delay, external)."""
    return [c for c in causes if c.startswith(HOLDING_PREFIXES)]


class Mirror:
    """What a platform that applies every action would believe: state, gain and route."""

    def __init__(self) -> None:
        self.state: dict[str, AudioSessionState] = {}
        self.gain: dict[str, float] = {}
        self.route: dict[str, str | None] = {}

    def add(self, session_id: str) -> None:
        self.state[session_id] = INACTIVE
        self.gain[session_id] = 1.0
        self.route[session_id] = None

    def forget(self, session_id: str) -> None:
        for table in (self.state, self.gain, self.route):
            table.pop(session_id, None)

    def apply(self, actions: Iterable[Action]) -> None:
        for action in actions:
            assert action.session_id in self.state, action
            if isinstance(action, SetState):
                self.state[action.session_id] = action.state
                if action.state is INACTIVE:
                    self.gain[action.session_id] = 1.0  # SetState(inactive) resets the duck
            elif isinstance(action, SetGain):
                self.gain[action.session_id] = action.gain
            elif isinstance(action, SetRoute):
                self.route[action.session_id] = action.device_id
