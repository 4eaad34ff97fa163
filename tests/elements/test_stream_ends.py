"""How sounds end on a real server, and what becomes of their streams.

An element's sound that ends is heard to its last sample, also when its stream then closes
(the stream plays out what it has queued first). A stream the engine keeps
(``Engine.keep_stream``, as the daemon keeps its notifications' stream) rests between sounds:
it stays open and corked with no voice, the next sound plays on it, an ended sound plays out,
and a stopped one stops at once, as when its stream closed. How much sooner the next sound is
heard is measured in benchmarks/first_sound.py, not here.

The sounds are chimes of two notes (``Media.chime``): the last note is whole in the sink
monitor's recording only if the sound was played to its end; the first may lose its first
milliseconds to the rewind that lets a new sound start at once (the monitor had already
passed on the silence the rewind replaced).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from audiosession.engine.backends.null import NullBackend
from audiosession.engine.backends.pulse.backend import PulseBackend
from audiosession.engine.decode import open_audio
from audiosession.engine.engine import Engine
from audiosession.session.runtime import Runtime
from support.audio import Media, loud_runs, tone_level_db
from support.chimes import chimes_heard, last_note
from support.pulse_server import RATE, PulseServer, wait_for


def resting_event_stream(pulse_server: PulseServer) -> int | None:
    """The index of our one stream if it is an ``event`` stream and corked, else None."""
    streams = pulse_server.sink_inputs_of(os.getpid())
    if len(streams) == 1 and streams[0].role == "event" and streams[0].corked:
        return streams[0].index
    return None


def test_an_elements_sound_is_heard_to_its_last_sample_as_its_stream_closes(
    runtime: Runtime, pulse_server: PulseServer, media: Media
) -> None:
    heard = chimes_heard(runtime, pulse_server, media.chime("chime.wav"))
    assert len(loud_runs(heard)) == 2  # the two notes, and nothing else
    assert last_note(heard) == pytest.approx((0.05, 0.1), abs=0.001)
    # and then the stream closed
    assert wait_for(lambda: not pulse_server.sink_inputs_of(os.getpid()))


def test_a_sound_that_starts_as_another_ends_is_heard_once_and_whole(
    runtime: Runtime, pulse_server: PulseServer, media: Media
) -> None:
    heard = chimes_heard(runtime, pulse_server, media.chime("first.wav"), media.chime("second.wav"))
    # The second chime's last note whole, after its 50 ms gap, at its pitch and level: mixed
    # once, by one stream (the first's, closing, renders nothing new).
    assert last_note(heard) == pytest.approx((0.05, 0.1), abs=0.001)
    last_start = loud_runs(heard)[-1][0]
    assert tone_level_db(heard, 1500, last_start + 0.025, 0.05) == pytest.approx(0, abs=0.5)


@pytest.fixture
def engine(pulse_server: PulseServer) -> Engine:
    engine = Engine(PulseBackend(server=pulse_server.server_string))
    yield engine
    engine.close()


def test_a_kept_stream_rests_between_sounds_and_each_plays_to_its_end(
    engine: Engine, pulse_server: PulseServer, media: Media
) -> None:
    assert engine.keep_stream("event")
    assert wait_for(lambda: resting_event_stream(pulse_server) is not None)
    kept = resting_event_stream(pulse_server)
    for trial in range(2):
        recorder = pulse_server.record("speakers.monitor")
        try:
            voice = engine.add_voice(
                open_audio(media.chime(f"chime{trial}.wav"), rate=RATE, channels=2), role="event"
            )
            assert wait_for(lambda: voice.ended)  # noqa: B023 - waited for here
            engine.remove_voice(voice)
            heard = recorder.stop_when_quiet()
        finally:
            recorder.stop()
        # Both notes; the last one whole (the first may lose its start to the monitor).
        (first_start, first_end), (last_start, last_end) = loud_runs(heard)
        assert last_end - last_start == pytest.approx(0.1, abs=0.001)
        assert last_start - first_end == pytest.approx(0.05, abs=0.001)
        assert tone_level_db(heard, 1500, last_start + 0.025, 0.05) == pytest.approx(0, abs=0.5)
        # The same stream, resting again: kept, not closed and reopened; and the sink may
        # suspend (a corked stream does not hold it awake).
        assert wait_for(lambda: resting_event_stream(pulse_server) == kept)
        assert wait_for(lambda: pulse_server.sink_state("speakers") == "SUSPENDED")


def test_a_sound_stopped_on_a_kept_stream_is_silent_at_once(
    engine: Engine, pulse_server: PulseServer, media: Media
) -> None:
    assert engine.keep_stream("event")
    recorder = pulse_server.record("speakers.monitor")
    try:
        voice = engine.add_voice(
            open_audio(media.tone(1000, 5.0), rate=RATE, channels=2), role="event"
        )
        assert wait_for(lambda: np.max(np.abs(recorder.recorded()), initial=0) > 0.4)
    finally:
        recorder.stop()
    engine.remove_voice(voice)  # stopped mid-sound, as a client that goes away
    after = pulse_server.record_monitor("speakers", 0.3)
    assert np.max(np.abs(after)) < 1e-3
    assert wait_for(lambda: resting_event_stream(pulse_server) is not None)


def test_an_engine_whose_streams_cannot_rest_keeps_none() -> None:
    engine = Engine(NullBackend())
    try:
        assert not engine.keep_stream("event")
    finally:
        engine.close()
