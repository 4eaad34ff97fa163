"""Sessions and elements on a real (private) PulseAudio server, heard on its sink monitors."""

from __future__ import annotations

import time

import numpy as np
import pytest

from audiosession import Audio, Window
from audiosession.session.runtime import Runtime
from support.pulse_server import PulseServer, level_db, wait_for


def our_roles(pulse_server: PulseServer) -> list[tuple[str | None, str]]:
    return sorted(
        (s.role, s.sink)
        for s in pulse_server.sink_inputs()
        if s.properties.get("application.name") == "audiosession"
    )


def test_a_played_file_reaches_the_default_sink_in_its_sessions_role(
    runtime: Runtime, pulse_server: PulseServer, media
) -> None:
    window = Window(runtime=runtime)
    window.navigator.audio_session.type = "transient"
    Audio(media.tone(440, 5.0), window=window).play().result(5)
    assert wait_for(lambda: our_roles(pulse_server) == [("event", "speakers")]), our_roles(
        pulse_server
    )
    heard = pulse_server.record_monitor("speakers", 1.0)
    assert level_db(heard, 440) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.5)
    # The role follows the type.
    window.navigator.audio_session.type = "ambient"
    assert wait_for(lambda: our_roles(pulse_server) == [("animation", "speakers")]), our_roles(
        pulse_server
    )


def test_set_sink_id_sends_an_element_to_the_other_sink(
    runtime: Runtime, pulse_server: PulseServer, media
) -> None:
    window = Window(runtime=runtime)
    window.navigator.audio_session.type = "playback"
    audio = Audio(media.tone(660, 5.0), window=window)
    audio.play().result(5)
    audio.set_sink_id("headset")
    assert wait_for(lambda: our_roles(pulse_server) == [("music", "headset")])
    headset = pulse_server.record_monitor("headset", 1.0)
    speakers = pulse_server.record_monitor("speakers", 0.5)
    assert level_db(headset, 660) > -12
    assert level_db(speakers, 660) < -80


def test_a_call_goes_to_the_communications_sink_with_the_phone_role(
    runtime: Runtime, pulse_server: PulseServer, media
) -> None:
    window = Window(runtime=runtime)
    window.navigator.audio_session.type = "play-and-record"
    Audio(media.tone(550, 5.0), window=window).play().result(5)
    assert wait_for(lambda: our_roles(pulse_server) == [("phone", "headset")]), our_roles(
        pulse_server
    )
    assert level_db(pulse_server.record_monitor("headset", 1.0), 550) > -12


def test_unplugging_the_sink_music_plays_on_pauses_it_and_nothing_bursts_out(
    runtime: Runtime, pulse_server: PulseServer, media
) -> None:
    module = pulse_server.load_null_sink("usbphones", **{"device.description": "USB phones"})
    window = Window(runtime=runtime)
    window.navigator.audio_session.type = "playback"
    session = window.navigator.audio_session
    assert wait_for(lambda: "usbphones" in [d.id for d in runtime.platform.devices()])
    music = Audio(media.tone(440, 10.0), window=window)
    music.set_sink_id("usbphones")
    music.play().result(5)
    assert wait_for(lambda: our_roles(pulse_server) == [("music", "usbphones")])
    recorder = pulse_server.record("speakers.monitor")
    pulse_server.unload_module(module)
    assert wait_for(lambda: session.state == "inactive" and music.paused)
    time.sleep(0.5)
    speakers = recorder.stop()
    assert np.max(np.abs(speakers)) < 1e-3  # not even a block of music on the speakers
