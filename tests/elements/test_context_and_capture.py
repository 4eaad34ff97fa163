"""AudioContext and microphone tracks as audio session elements, with real rendering."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiosession import Audio, AudioContext, InvalidStateError, NotAllowedError
from support.audio import RATE, dominant_frequency, rms, silent, tone_level_db


def sounding_context() -> AudioContext:
    """A context playing a 440 Hz sine to its destination."""
    context = AudioContext()
    oscillator = context.create_oscillator()
    oscillator.connect(context.destination)
    oscillator.start()
    return context


def test_an_audio_context_playing_a_tone_activates_the_session(env):
    context = AudioContext()
    oscillator = context.create_oscillator()
    oscillator.frequency.value = 660
    gain = context.create_gain()
    gain.gain.value = 0.5
    oscillator.connect(gain).connect(context.destination)
    oscillator.start()
    env.advance(0.5)
    assert context.state == "running"
    assert env.navigator.audio_session.state == "active"
    assert env.navigator.audio_session.computed_type == "ambient"
    assert dominant_frequency(env.output(), 0.2) == pytest.approx(660, abs=5)
    assert tone_level_db(env.output(), 660, 0.3, reference=0.5) == pytest.approx(0, abs=0.2)


def test_an_audio_context_rendering_silence_does_not_activate_the_session(env):
    context = AudioContext()
    context.create_oscillator()  # created, never connected
    silent_source = context.create_buffer_source()
    silent_source.buffer = np.zeros(RATE)
    silent_source.connect(context.destination)
    silent_source.start()
    env.advance(1.0)
    assert context.state == "running" and context.current_time == pytest.approx(1.0)
    assert env.navigator.audio_session.state == "inactive"


def test_a_buffer_source_plays_then_ends_and_the_session_goes_inactive(env):
    context = AudioContext()
    source = context.create_buffer_source()
    source.buffer = 0.5 * np.sin(2 * np.pi * 440 * np.arange(RATE // 2) / RATE)
    ended = []
    source.onended = lambda event: ended.append(env.now)
    source.connect(context.destination)
    source.start()
    env.advance(1.5)
    assert ended and ended[0] == pytest.approx(0.5, abs=0.02)
    assert rms(env.output(), 0.2, 0.2) > 0.3 and silent(env.output(), 0.6, 0.8)
    states = [r.state for r in env.events if r.type == "statechange" and r.target is not context]
    assert states == ["active", "inactive"]


@pytest.mark.parametrize("waveform", ["sine", "square", "sawtooth", "triangle"])
def test_each_oscillator_waveform_sounds_at_its_frequency(env, waveform):
    context = AudioContext()
    oscillator = context.create_oscillator()
    oscillator.type = waveform
    oscillator.frequency.value = 300
    oscillator.connect(context.destination)
    oscillator.start()
    env.advance(0.5)
    assert dominant_frequency(env.output(), 0.2) == pytest.approx(300, abs=5)


def test_an_interruption_moves_a_context_to_interrupted_and_back(env):
    context = sounding_context()
    env.advance(0.3)
    env.platform.interrupt("transient")
    env.advance(0.3)
    assert context.state == "interrupted"
    assert silent(env.output(), 0.35, 0.2)
    env.platform.end_interruption()
    env.advance(0.5)
    assert context.state == "running"
    assert rms(env.output(), 0.9, 0.1) > 0.5
    assert [r.state for r in env.events if r.target is context] == ["interrupted", "running"]


def test_a_context_the_program_suspended_during_an_interruption_stays_suspended(env):
    context = sounding_context()
    env.advance(0.3)
    env.platform.interrupt("transient")
    env.advance(0.2)
    context.suspend()
    env.platform.end_interruption()
    env.advance(1.0)
    assert context.state == "suspended"
    assert silent(env.output(), 0.35, 1.0)
    context.resume()
    env.advance(0.3)
    assert context.state == "running" and not silent(env.output(), 1.6, 0.1)


def test_a_closed_context_refuses_new_nodes_and_frees_its_stream(env):
    context = sounding_context()
    env.advance(0.2)
    context.close()
    env.advance(0.5)
    assert context.state == "closed"
    with pytest.raises(InvalidStateError, match="closed"):
        context.create_gain()
    assert env.navigator.audio_session.state == "inactive"
    assert silent(env.output(), 0.25, 0.4)


def test_a_graph_cycle_and_a_bad_waveform_are_refused(env):
    context = AudioContext()
    first, second = context.create_gain(), context.create_gain()
    first.connect(second)
    with pytest.raises(InvalidStateError, match="cycle"):
        second.connect(first)
    with pytest.raises(ValueError, match="sine, square, sawtooth, triangle"):
        context.create_oscillator().type = "noise"


# -- microphone ---------------------------------------------------------------------------------


@pytest.fixture
def fake_mic(tmp_path, monkeypatch):
    """A WAV file standing in for the microphone: a 330 Hz tone."""
    path = tmp_path / "mic.wav"
    t = np.arange(RATE) / RATE
    sf.write(path, 0.4 * np.sin(2 * np.pi * 330 * t), RATE, subtype="FLOAT")
    monkeypatch.setenv("AUDIOSESSION_FAKE_MIC", str(path))
    return path


def test_a_live_fake_microphone_activates_the_session_as_play_and_record(env, fake_mic):
    stream = env.navigator.media_devices.get_user_media(audio=True)
    env.run_until_idle()
    (track,) = stream.result().get_audio_tracks()
    env.advance(0.5)
    session = env.navigator.audio_session
    assert track.ready_state == "live" and track.kind == "audio"
    assert "Fake microphone" in track.label
    assert session.state == "active" and session.computed_type == "play-and-record"
    block = track.read()
    assert len(block) == pytest.approx(0.5 * RATE, abs=480)
    assert dominant_frequency(block[:, :1], 0.0, 0.2) == pytest.approx(330, abs=5)


def test_a_microphone_stream_plays_through_an_audio_element(env, fake_mic):
    stream = env.navigator.mediaDevices.getUserMedia({"audio": True, "video": True})
    env.run_until_idle()
    monitor = Audio()
    monitor.srcObject = stream.result()
    monitor.play()
    env.advance(0.5)
    # The session computes play-and-record: it is routed to the communications device.
    assert dominant_frequency(env.output("headset"), 0.2) == pytest.approx(330, abs=5)
    assert silent(env.output("default"), 0.0, 0.5)
    assert monitor.duration == float("inf")


def test_an_interruption_mutes_the_microphone_and_its_end_unmutes_it(env, fake_mic):
    stream = env.navigator.media_devices.get_user_media(audio=True)
    env.run_until_idle()
    (track,) = stream.result().get_tracks()
    events = []
    track.onmute = lambda e: events.append("mute")
    track.onunmute = lambda e: events.append("unmute")
    env.advance(0.2)
    env.platform.interrupt("transient")
    env.advance(0.2)
    assert track.muted and not np.any(track.read())
    env.platform.end_interruption()
    env.advance(0.2)
    assert not track.muted and events == ["mute", "unmute"]


@pytest.mark.parametrize("session_type", ["playback", "transient", "transient-solo", "ambient"])
def test_setting_a_type_that_does_not_record_ends_live_tracks(env, fake_mic, session_type):
    stream = env.navigator.media_devices.get_user_media(audio=True)
    env.run_until_idle()
    (track,) = stream.result().get_tracks()
    ended = []
    track.onended = lambda e: ended.append(track.ready_state)
    env.navigator.audio_session.type = session_type
    env.advance(0.5)
    assert ended == ["ended"]
    assert env.navigator.audio_session.state == "inactive"


@pytest.mark.parametrize("session_type", ["playback", "transient", "transient-solo", "ambient"])
def test_get_user_media_under_a_type_that_does_not_record_is_not_allowed(env, session_type):
    env.navigator.audio_session.type = session_type
    result = env.navigator.media_devices.get_user_media(audio=True)
    with pytest.raises(NotAllowedError, match=f"'{session_type}'.*play-and-record"):
        result.result()
    env.advance(0.5)
    assert env.navigator.audio_session.elements == ()


def test_without_a_fake_microphone_the_virtual_input_is_captured(env, monkeypatch):
    monkeypatch.delenv("AUDIOSESSION_FAKE_MIC", raising=False)
    signal = (0.3 * np.sin(2 * np.pi * 220 * np.arange(RATE) / RATE)).astype(np.float32)
    env.backend.set_signal("default", np.repeat(signal[:, None], 2, axis=1))
    stream = env.navigator.media_devices.get_user_media(audio=True)
    env.run_until_idle()
    (track,) = stream.result().get_tracks()
    env.advance(0.5)
    block = track.read()
    assert track.label == "Virtual microphone"
    assert dominant_frequency(block[:, :1], 0.0, 0.3) == pytest.approx(220, abs=5)


def test_enumerate_devices_lists_outputs_and_inputs(env):
    devices = env.navigator.media_devices.enumerate_devices()
    assert [(d.kind, d.device_id) for d in devices] == [
        ("audiooutput", "default"),
        ("audiooutput", "headset"),
        ("audioinput", "default"),
    ]


def test_a_stream_method_asked_of_the_promise_says_how_to_get_the_stream(env):
    request = env.navigator.media_devices.get_user_media(audio=True)
    with pytest.raises(AttributeError) as caught:
        request.get_audio_tracks()
    assert str(caught.value) == (
        "'UserMediaRequest' object has no attribute 'get_audio_tracks': get_user_media() "
        "returns a promise of the MediaStream, as on the web; take the stream first with "
        ".result() (stream = get_user_media(audio=True).result(); stream.get_audio_tracks), "
        "`await` in a coroutine, or .then(callback)"
    )
    with pytest.raises(AttributeError, match="^'UserMediaRequest' object has no attribute 'x'$"):
        request.x  # noqa: B018
    env.advance(0.1)
    (track,) = request.result().get_audio_tracks()
    assert track.ready_state == "live"
