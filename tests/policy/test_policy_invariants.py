"""Random days of 2-4 windows with real elements: the policy's invariants always hold.

INVARIANT_EXAMPLES=600 runs more examples than the suite's 40.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from audiosession import Audio
from audiosession.testing import VirtualEnvironment
from support.audio import Media, silent

TYPES = ["auto", "ambient", "transient", "playback", "transient-solo", "play-and-record"]
HOLDING = ("paused by", "delayed by", "external:")
MEDIA = Media(Path(tempfile.mkdtemp(prefix="audiosession-invariants-")))
TONES = [MEDIA.tone(200 + 150 * i, 2.0, name=f"tone{i}.wav") for i in range(4)]


class RandomDay(RuleBasedStateMachine):
    """Plays, pauses, retypes, interrupts and closes windows in any order."""

    @initialize(windows=st.integers(2, 4))
    def open_windows(self, windows):
        self.env = VirtualEnvironment()
        self.env.__enter__()
        self.windows = [self.env.window() for _ in range(windows)]
        self.elements = []
        for index, window in enumerate(self.windows):
            element = Audio(TONES[index], window=window)
            element.loop = True
            self.elements.append(element)
        self.open = set(range(windows))

    def teardown(self):
        env = getattr(self, "env", None)
        if env is None:
            return
        # When every element has stopped: every session inactive, every gain back to 1,
        # and the devices silent.
        env.platform.end_interruption()
        for index in self.open:
            self.elements[index].pause()
        env.advance(1.0)
        for info in env.platform.sessions():
            assert info.state == "inactive", info
            assert info.gain == 1.0, info
        assert silent(env.output(), env.now - 0.3, 0.3)
        assert silent(env.output("headset"), env.now - 0.3, 0.3)
        env.close()

    index = st.integers(0, 3)

    @rule(index=index)
    def play(self, index):
        if index in self.open:
            self.elements[index].play()

    @rule(index=index)
    def pause(self, index):
        if index in self.open:
            self.elements[index].pause()

    @rule(index=index, session_type=st.sampled_from(TYPES))
    def set_type(self, index, session_type):
        if index in self.open:
            self.windows[index].navigator.audio_session.type = session_type

    @rule(kind=st.sampled_from(["transient", "permanent"]))
    def interrupt(self, kind):
        self.env.platform.interrupt(kind, reason="random")

    @rule()
    def end_interruption(self):
        self.env.platform.end_interruption()

    @precondition(lambda self: len(self.open) > 1)
    @rule(index=index)
    def close(self, index):
        if index in self.open:
            self.windows[index].close()
            self.open.discard(index)

    @rule(seconds=st.sampled_from([0.02, 0.1, 0.4, 1.0]))
    def wait(self, seconds):
        self.env.advance(seconds)

    @invariant()
    def the_policy_holds(self):
        if not hasattr(self, "env"):
            return
        self.env.advance(0.02)  # one task round and a block: requests have been answered
        # No session is active while a cause pauses or delays it.
        for info in self.env.platform.sessions():
            held = [c for c in info.causes if c.startswith(HOLDING)]
            assert not (info.state == "active" and held), info
            assert (info.state == "interrupted") == bool(held), info
        # No element plays while its session is interrupted or inactive.
        for index in self.open:
            element, session = self.elements[index], self.windows[index].navigator.audio_session
            if not element.paused:
                assert session.state == "active", (element, session)


TestRandomDay = RandomDay.TestCase
TestRandomDay.settings = settings(
    max_examples=int(os.environ.get("INVARIANT_EXAMPLES", "40")),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
