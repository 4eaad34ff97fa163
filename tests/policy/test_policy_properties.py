"""Property-based tests: random sequences over 2-4 windows keep the policy's invariants."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from audiosession.engine.backend import DeviceInfo
from audiosession.policy import (
    CONCRETE_TYPES,
    Action,
    Arbiter,
    Effect,
    SetState,
)
from audiosession.types import AudioSessionType

from .helpers import ACTIVE, INACTIVE, INTERRUPTED, Mirror, holding

IDS = [f"s{i}" for i in range(6)]
DEVICES = [
    DeviceInfo("speakers", "Speakers", "audiooutput", is_default=True),
    DeviceInfo("headset", "Headset", "audiooutput", frozenset({"phone"})),
    DeviceInfo("headphones", "Headphones", "audiooutput"),
]
types = st.sampled_from(CONCRETE_TYPES)


class PolicyMachine(RuleBasedStateMachine):
    """Drives one arbiter and a mirror that applies its actions, as a platform would."""

    def __init__(self) -> None:
        super().__init__()
        self.policy = Arbiter(devices=DEVICES)
        self.mirror = Mirror()
        self.contexts = 2

    @initialize(contexts=st.integers(2, 4))
    def choose_contexts(self, contexts: int) -> None:
        self.contexts = contexts

    def apply(self, actions: list[Action]) -> None:
        order = {record.id: i for i, record in enumerate(self.policy.snapshot())}
        positions = [order[a.session_id] for a in actions]
        assert positions == sorted(positions), "actions are ordered by registration"
        self.mirror.apply(actions)

    @rule(session=st.sampled_from(IDS), context=st.integers(0, 3))
    def add(self, session: str, context: int) -> None:
        if session in self.policy:
            return
        self.mirror.add(session)
        self.apply(self.policy.add(session, f"w{context % self.contexts}", f"owner-{session}"))

    @rule(session=st.sampled_from(IDS), type_=types)
    def request(self, session: str, type_: AudioSessionType) -> None:
        if session not in self.policy:
            return
        before = self.policy.state_of(session)
        actions = self.policy.request_active(session, type_)
        if before is INACTIVE:
            assert any(isinstance(a, SetState) and a.session_id == session for a in actions)
        self.apply(actions)

    @rule(session=st.sampled_from(IDS))
    def release(self, session: str) -> None:
        if session in self.policy:
            self.apply(self.policy.release(session))

    @rule(session=st.sampled_from(IDS))
    def remove(self, session: str) -> None:
        if session in self.policy:
            actions = self.policy.remove(session)
            assert all(a.session_id != session for a in actions)
            self.mirror.forget(session)
            self.apply(actions)

    @rule(session=st.sampled_from(IDS), type_=types)
    def set_type(self, session: str, type_: AudioSessionType) -> None:
        if session in self.policy:
            self.apply(self.policy.set_type(session, type_))

    @rule(kind=st.sampled_from(["transient", "permanent"]), reason=st.sampled_from("ab"))
    def interrupt(self, kind: str, reason: str) -> None:
        self.apply(self.policy.interrupt(kind, reason))

    @rule(reason=st.sampled_from(["a", "b", None]))
    def end_interruption(self, reason: str | None) -> None:
        self.apply(self.policy.end_interruption(reason))

    @rule(devices=st.lists(st.sampled_from(DEVICES), unique=True))
    def set_devices(self, devices: list[DeviceInfo]) -> None:
        self.apply(self.policy.set_devices(devices))

    @rule(device=st.sampled_from(DEVICES), sessions=st.lists(st.sampled_from(IDS), unique=True))
    def device_removed(self, device: DeviceInfo, sessions: list[str]) -> None:
        present = [s for s in sessions if s in self.policy]
        self.apply(self.policy.device_removed(device.id, present))

    @invariant()
    def states_follow_causes(self) -> None:
        records = {r.id: r for r in self.policy.snapshot()}
        by_owner = {r.owner: r for r in records.values()}
        for record in records.values():
            held = holding(record.causes)
            # INTERRUPTED iff something holds it; never active while held.
            assert (record.state is INTERRUPTED) == bool(held), record
            ducks = [c for c in record.causes if c.startswith("ducked by ")]
            assert record.gain == (0.2 if ducks else 1.0), record
            if record.state is INACTIVE:
                assert not ducks and not held, record
            for cause in ducks + held:
                if cause.startswith("external: "):
                    assert cause.removeprefix("external: ") in self.policy.interruptions
                    continue
                other = by_owner[cause.split(" by ", 1)[1]]
                assert other.context != record.context, (record, other)
                if cause.startswith("ducked by "):
                    assert other.state is ACTIVE, (record, other)
                else:
                    assert other.state is not INACTIVE, (record, other)
        # Two active sessions of different windows never sit in a stop cell both ways.
        actives = [r for r in records.values() if r.state is ACTIVE]
        table = self.policy.config.table
        for a in actives:
            for b in actives:
                if a.context != b.context:
                    assert not (
                        table[(a.type, b.type)] is Effect.STOP
                        and table[(b.type, a.type)] is Effect.STOP
                    ), (a, b)

    @invariant()
    def platform_sees_the_model(self) -> None:
        for record in self.policy.snapshot():
            assert self.mirror.state[record.id] is record.state, record
            assert self.mirror.gain[record.id] == record.gain, record
            assert self.mirror.route[record.id] == record.route, record

    def teardown(self) -> None:
        # Once the interruptions are over and every session has been released, everything
        # is inactive at full gain.
        self.apply(self.policy.end_interruption())
        for record in self.policy.snapshot():
            self.apply(self.policy.release(record.id))
        for record in self.policy.snapshot():
            assert record.state is INACTIVE and record.gain == 1.0, record
            assert not holding(record.causes)
            assert self.mirror.state[record.id] is INACTIVE
            assert self.mirror.gain[record.id] == 1.0


PolicyMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
TestPolicyMachine = PolicyMachine.TestCase
