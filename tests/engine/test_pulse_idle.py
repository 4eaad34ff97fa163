"""Streams with nothing to play rest (corked) and wake with the next sound, on a real server.

A stream whose voices are all paused is corked once what it queued has played; the next sound
on it drops the queued silence and uncorks it, so the server plays it at once (how soon is
measured in benchmarks/first_sound.py, not here). These tests check what a listener hears:
the pause still fades out, the sound comes back where it paused and at its level, and a new
element joins a resting stream.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from audiosession import Audio, Window
from audiosession.engine.backends.pulse.backend import PulseBackend
from audiosession.session.runtime import Runtime
from support.pulse_server import RATE, PulseServer, level_db, wait_for

TONE_DB = 20 * np.log10(0.5 / np.sqrt(2))  # a sine at 0.5


def corked(pulse_server: PulseServer) -> list[bool]:
    return [s.corked for s in pulse_server.sink_inputs_of(os.getpid())]


def test_an_idle_backend_stream_rests_and_wakes_with_its_sound(pulse_server: PulseServer) -> None:
    sound = {"on": False}

    def render(frames: int) -> np.ndarray:
        if not sound["on"]:
            return np.zeros((frames, 2), np.float32)
        t = np.arange(frames) / RATE
        return np.repeat((0.5 * np.sin(2 * np.pi * 1000 * t))[:, None], 2, axis=1)

    backend = PulseBackend(server=pulse_server.server_string)
    try:
        stream = backend.open_output(
            "speakers", "event", rate=RATE, channels=2, blocksize=480, render=render
        )
        stream.set_idle(True)
        assert wait_for(lambda: corked(pulse_server) == [True]), corked(pulse_server)
        rendered = stream.blocks_rendered
        time.sleep(0.2)
        assert stream.blocks_rendered == rendered  # a resting stream costs no rendering
        sound["on"] = True
        stream.set_idle(False)
        assert not stream.corked
        assert wait_for(lambda: corked(pulse_server) == [False])
        assert level_db(pulse_server.record_monitor("speakers", 0.5), 1000) == pytest.approx(
            TONE_DB, abs=1.0
        )
    finally:
        backend.close()


def test_a_paused_element_fades_out_rests_and_resumes_where_it_paused(
    runtime: Runtime, pulse_server: PulseServer, media
) -> None:
    window = Window(runtime=runtime)
    window.navigator.audio_session.type = "playback"
    music = Audio(media.tone(2000, 30.0), window=window)
    music.play().result(5)
    recorder = pulse_server.record("speakers.monitor")
    assert wait_for(lambda: music.current_time > 0.3)
    music.pause()
    assert wait_for(lambda: corked(pulse_server) == [True]), corked(pulse_server)
    heard = recorder.stop()[:, 0]
    loud = np.flatnonzero(np.abs(heard) > 1e-3)
    assert len(loud) > RATE // 10
    last_ms = heard[loud[-1] - RATE // 1000 : loud[-1] + 1]
    # The 4 ms fade-out was played to its end: its last millisecond is below a quarter of
    # the tone's peak (a stream corked too early would cut the tone at full level).
    assert np.max(np.abs(last_ms)) < 0.5 * 0.3
    position = music.current_time
    resumed_at = time.monotonic()
    music.play().result(5)
    assert wait_for(lambda: corked(pulse_server) == [False])
    assert level_db(pulse_server.record_monitor("speakers", 0.5), 2000) == pytest.approx(
        TONE_DB, abs=1.0
    )
    assert position <= music.current_time <= position + time.monotonic() - resumed_at + 0.1


def test_a_new_element_joins_a_resting_stream(
    runtime: Runtime, pulse_server: PulseServer, media
) -> None:
    window = Window(runtime=runtime)
    window.navigator.audio_session.type = "transient"
    first = Audio(media.tone(440, 30.0), window=window)
    first.play().result(5)
    first.pause()  # its voice stays, paused: the event stream stays open, and rests
    assert wait_for(lambda: corked(pulse_server) == [True]), corked(pulse_server)
    Audio(media.tone(660, 5.0), window=window).play().result(5)
    assert wait_for(lambda: corked(pulse_server) == [False])
    heard = pulse_server.record_monitor("speakers", 0.5)
    assert level_db(heard, 660) == pytest.approx(TONE_DB, abs=1.0)
    assert level_db(heard, 440) < -60
