"""What the demo records: every session's lane over time, the cues, the events and the levels,
and a finished run (what ``cli/plot.py`` draws and ``demo.wav`` holds)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from audiosession import SessionInfo


@dataclass(frozen=True)
class LaneSample:
    """One session at one moment: its state, what the policy is doing to it, its gain."""

    state: str
    detail: str
    """``active``, ``ducked``, ``paused``, ``delayed``, ``interrupted`` or ``inactive``."""
    gain: float
    why: str = ""
    """The policy's causes, worded with the parties' labels ("paused by call")."""


@dataclass
class Timeline:
    """Everything the demo saw: samples of every session, cues, events and levels."""

    parties: list[tuple[str, str]] = field(default_factory=list)
    """(label, type) of each party, in lane order."""
    times: list[float] = field(default_factory=list)
    lanes: dict[str, list[LaneSample]] = field(default_factory=dict)
    mic_levels: list[float] = field(default_factory=list)
    """Microphone input level (dBFS) at each sample; -inf while no microphone is open."""
    cues: list[tuple[float, str]] = field(default_factory=list)
    """(time, short name) of each cue of the scenario."""
    events: list[tuple[float, str, str]] = field(default_factory=list)
    """(time, party, text): statechanges and policy decisions, in order."""
    routes: dict[str, str] = field(default_factory=dict)
    """Label -> the device its session was last routed to while active."""


def lane_detail(info: SessionInfo) -> str:
    """How the timeline shows one session: its state, refined by the policy's causes."""
    state = str(info.state)
    causes = " ".join(info.causes)
    if state == "active":
        return "ducked" if "ducked by" in causes else "active"
    if state == "interrupted":
        if "delayed by" in causes:
            return "delayed"
        if "paused by" in causes or "external:" in causes:
            return "paused"
    return state


@dataclass
class Rendering:
    """A finished run: the timeline and what the devices received."""

    timeline: Timeline
    rate: int
    default_output: np.ndarray
    default_device: str
    communications_output: np.ndarray | None
    communications_device: str | None
