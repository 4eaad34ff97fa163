"""A program that sets its type and plays through a library of its own (a libpulse-simple
thread), nothing else: its stream is an element of its session, on a private PulseAudio."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from audiosession import Audio, Window
from audiosession.engine.backends.pulse.foreign import scaled
from audiosession.session.audio_session import AudioSession
from audiosession.session.runtime import Runtime
from support.own_players import SimpleTone
from support.pulse_runtime import runtime_on
from support.pulse_server import PulseServer, level_db, wait_for


@pytest.fixture
def program(pulse_server: PulseServer) -> Iterator[Runtime]:
    """The runtime of a program whose own streams are adopted, as the process's is."""
    with runtime_on(pulse_server, adopt_own_streams=True) as runtime:
        yield runtime


class States:
    """The states a session's ``statechange`` events report, in order."""

    def __init__(self, session: AudioSession) -> None:
        self.seen: list[str] = []
        self._changed = threading.Condition()
        session.add_event_listener("statechange", lambda event: self._add(str(session.state)))

    def _add(self, state: str) -> None:
        with self._changed:
            self.seen.append(state)
            self._changed.notify_all()

    def wait_for(self, *states: str, timeout: float = 10.0) -> None:
        """Wait until the events so far are ``states``."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.seen == list(states), timeout):
                raise AssertionError(f"statechange events {self.seen}, not {list(states)}")


def heard_db(server: PulseServer, seconds: float = 0.5) -> float:
    return level_db(server.record_monitor("speakers", seconds), 440)


def own_stream(server: PulseServer, application: str = "tone-player") -> int:
    streams = [
        s for s in server.sink_inputs() if s.properties.get("application.name") == application
    ]
    assert len(streams) == 1, streams
    return streams[0].index


def test_a_prompt_interrupts_the_programs_own_stream_and_it_plays_again_after(
    program: Runtime, pulse_server: PulseServer, media
) -> None:
    session = program.default_window.navigator.audio_session
    session.type = "playback"
    states = States(session)
    with SimpleTone(440):
        states.wait_for("active")
        full = heard_db(pulse_server)
        prompter = Window(runtime=program)
        prompter.navigator.audio_session.type = "transient-solo"
        prompt = Audio(media.tone(1000, 3.0), window=prompter)
        prompt.play().result(5)
        states.wait_for("active", "interrupted")
        assert heard_db(pulse_server, 1.0) < -60
        states.wait_for("active", "interrupted", "active")
        assert heard_db(pulse_server) == pytest.approx(full, abs=0.5)
    # One session, ours: the prompt's stream was not adopted.
    assert [s.owner for s in program.platform.sessions()] == [
        program.default_window.owner,
        prompter.owner,
    ]


def test_a_notification_ducks_the_programs_own_stream_by_14_db(
    program: Runtime, pulse_server: PulseServer, media
) -> None:
    session = program.default_window.navigator.audio_session
    session.type = "playback"
    states = States(session)
    with SimpleTone(440):
        states.wait_for("active")
        index = own_stream(pulse_server)
        before, _ = pulse_server.volume_of(index)
        full = heard_db(pulse_server)
        notifier = Window(runtime=program)
        notifier.navigator.audio_session.type = "transient"
        Audio(media.tone(1000, 3.0), window=notifier).play().result(5)
        assert wait_for(lambda: pulse_server.volume_of(index)[0] == scaled(before, 0.2))
        assert heard_db(pulse_server) - full == pytest.approx(-14, abs=1)
        assert wait_for(lambda: pulse_server.volume_of(index)[0] == before, 10)
        assert states.seen == ["active"]
