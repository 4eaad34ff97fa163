"""Every cell of the policy table (docs/design.md, *Platform policy*), applied by the arbiter,
in both directions."""

from __future__ import annotations

import pytest

from audiosession.policy import (
    CONCRETE_TYPES,
    DEFAULT_TABLE,
    Effect,
    SetGain,
    SetState,
)
from audiosession.types import AudioSessionType

from .helpers import ACTIVE, INACTIVE, INTERRUPTED, arbiter, by_session

# docs/design.md, *Platform policy*, copied as written there (rows: new; columns: existing).
DESIGN_TABLE = """
                 ambient  transient  playback  transient-solo  play-and-record
ambient          mix      mix        mix       delay           mix
transient        duck     mix        duck      delay           mix
playback         mix      mix        stop      delay           delay
transient-solo   pause    pause      pause     stop            delay
play-and-record  duck     duck       pause     pause           pause
"""


def design_cells() -> dict[tuple[AudioSessionType, AudioSessionType], Effect]:
    header, *rows = DESIGN_TABLE.strip().splitlines()
    columns = header.split()
    cells = {}
    for row in rows:
        new, *effects = row.split()
        for existing, effect in zip(columns, effects, strict=True):
            cells[(AudioSessionType(new), AudioSessionType(existing))] = Effect(effect)
    return cells


CELLS = design_cells()
PAIRS = [(new, existing) for new in CONCRETE_TYPES for existing in CONCRETE_TYPES]


def test_default_table_is_design_table() -> None:
    assert dict(DEFAULT_TABLE) == CELLS
    assert len(DEFAULT_TABLE) == 25
    assert Effect.DENY not in DEFAULT_TABLE.values()


@pytest.mark.parametrize(("new", "existing"), PAIRS, ids=[f"{n}-over-{e}" for n, e in PAIRS])
def test_cell(new: AudioSessionType, existing: AudioSessionType) -> None:
    """The existing session plays; the new one (another window) asks to play, then ends."""
    policy = arbiter("old", "new")
    assert by_session(policy.request_active("old", existing)) == {"old": [SetState("old", ACTIVE)]}
    effect = CELLS[(new, existing)]
    actions = by_session(policy.request_active("new", new))

    if effect is Effect.DELAY:
        assert actions == {"new": [SetState("new", INTERRUPTED)]}
        assert policy.record("new").causes == ("delayed by old",)
        assert policy.state_of("old") is ACTIVE and policy.gain_of("old") == 1.0
        # The blocker ends: the held one plays.
        actions = by_session(policy.release("old"))
        assert actions["new"] == [SetState("new", ACTIVE)]
        assert policy.state_of("new") is ACTIVE and policy.record("new").causes == ()
        return

    assert actions["new"] == [SetState("new", ACTIVE)]
    if effect is Effect.MIX:
        assert "old" not in actions
        assert policy.state_of("old") is ACTIVE and policy.gain_of("old") == 1.0
        assert "old" not in by_session(policy.release("new"))
        assert policy.state_of("old") is ACTIVE
    elif effect is Effect.DUCK:
        assert actions["old"] == [SetGain("old", 0.2, 0.1)]
        assert policy.state_of("old") is ACTIVE
        assert policy.record("old").causes == ("ducked by new",)
        assert by_session(policy.release("new"))["old"] == [SetGain("old", 1.0, 0.5)]
        assert policy.gain_of("old") == 1.0 and policy.state_of("old") is ACTIVE
    elif effect is Effect.PAUSE:
        assert actions["old"] == [SetState("old", INTERRUPTED)]
        assert policy.record("old").causes == ("paused by new",)
        assert by_session(policy.release("new"))["old"] == [SetState("old", ACTIVE)]
        assert policy.record("old").causes == ()
    elif effect is Effect.STOP:
        assert actions["old"] == [SetState("old", INACTIVE, 0.3)]
        assert "old" not in by_session(policy.release("new"))
        assert policy.state_of("old") is INACTIVE
    else:  # pragma: no cover
        raise AssertionError(effect)
    assert policy.state_of("new") is INACTIVE


@pytest.mark.parametrize(("new", "existing"), PAIRS, ids=[f"{n}-with-{e}" for n, e in PAIRS])
def test_same_window_never_interacts(new: AudioSessionType, existing: AudioSessionType) -> None:
    """Inside one top-level context the spec's cascade decides, not the table."""
    policy = arbiter()
    policy.add("old", "window", "old")
    policy.add("new", "window", "new")
    policy.request_active("old", existing)
    assert policy.request_active("new", new) == [SetState("new", ACTIVE)]
    assert policy.state_of("old") is ACTIVE and policy.gain_of("old") == 1.0
    assert policy.release("new") == [SetState("new", INACTIVE)]
