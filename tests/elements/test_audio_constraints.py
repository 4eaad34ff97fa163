"""A microphone track's audio constraints, as the web has them: echo cancellation, noise
suppression and gain control on unless asked otherwise, in camelCase or snake_case, what is
in force in ``get_settings()``, changed on a live track by ``apply_constraints()``; and a raw
track costs nothing."""

from __future__ import annotations

import numpy as np
import pytest

from audiosession.engine.backend import DeviceInfo
from audiosession.errors import NotSupportedError
from audiosession.testing import VirtualEnvironment
from support.audio import RATE, level_change_db
from support.voice_call import RAW, listen, virtual_call

ALL_ON = {"echo_cancellation": True, "noise_suppression": True, "auto_gain_control": True}
ECHO_ONLY_OFF = {"echoCancellation": False, "noiseSuppression": False, "autoGainControl": False}


def track_of(env: VirtualEnvironment, audio: object):
    request = env.navigator.media_devices.get_user_media(audio=audio)
    env.run_until_idle()
    (track,) = request.result(0).get_tracks()
    return track


@pytest.fixture
def env():
    with VirtualEnvironment() as env:
        env.navigator.audio_session.type = "play-and-record"
        yield env


def test_a_microphone_is_processed_as_on_the_web_unless_asked_otherwise(env):
    for audio in (True, {}):
        track = track_of(env, audio)
        assert {name: track.get_settings()[name] for name in ALL_ON} == ALL_ON
        assert track.get_constraints() == {}
    asked = {"echoCancellation": {"exact": False}, "noise_suppression": {"ideal": False}}
    track = track_of(env, asked)
    settings = track.get_settings()
    assert (settings["echo_cancellation"], settings["noise_suppression"]) == (False, False)
    assert settings["auto_gain_control"] is True
    assert track.get_constraints() == asked
    assert track.getSettings()["echo_cancellation"] is False


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        ({"echo_cancellation": "yes"}, "'echo_cancellation' constraint must be True, False"),
        ({"autoGainControl": {"min": 1}}, "'autoGainControl' constraint must be True, False"),
        ({"noiseSuppression": {"exact": 1}}, "{'exact': bool} or {'ideal': bool}, not"),
        (
            {"echo_cancellation": False, "echoCancellation": True},
            "name 'echo_cancellation' twice ('echoCancellation' too)",
        ),
    ],
)
def test_a_bad_constraint_is_refused_before_any_capture(env, audio, message):
    kept = track_of(env, RAW)
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        env.navigator.media_devices.get_user_media(audio=audio)
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        kept.apply_constraints(audio)
    assert kept.ready_state == "live"
    assert kept.get_constraints() == RAW
    assert kept.get_settings()["echo_cancellation"] is False


def test_apply_constraints_turns_the_canceller_off_and_on_on_a_live_track(tmp_path):
    with virtual_call(tmp_path, 0.02, ECHO_ONLY_OFF | {"echoCancellation": True}) as call:
        env, processed, raw = call
        tracks = (processed, raw)
        cancelled = listen(env, tracks, 3.5)  # the near end is silent until 7 s
        assert level_change_db(cancelled[0][2 * RATE :], cancelled[1][2 * RATE :]) <= -25

        done = processed.apply_constraints(ECHO_ONLY_OFF)
        env.run_until_idle()
        assert done.result(0) is None
        assert processed.get_settings()["echo_cancellation"] is False
        assert processed.get_constraints() == ECHO_ONLY_OFF
        echoed = listen(env, tracks, 1.5)
        assert abs(level_change_db(echoed[0][RATE // 10 :], echoed[1][RATE // 10 :])) <= 1

        processed.apply_constraints({"noise_suppression": False, "auto_gain_control": False})
        env.run_until_idle()
        assert processed.get_settings()["echo_cancellation"] is True  # absent: its default
        again = listen(env, tracks, 2.0)  # a new canceller: it converges again
        assert level_change_db(again[0][RATE:], again[1][RATE:]) <= -20


def test_a_track_cannot_be_moved_to_another_input_by_its_constraints(env):
    track = track_of(env, RAW)
    moved = track.apply_constraints({"device_id": "elsewhere"})
    env.run_until_idle()
    with pytest.raises(NotSupportedError, match="get_user_media\\(\\) a track of that input"):
        moved.result(0)
    assert track.get_constraints() == RAW


def test_a_raw_track_costs_nothing_and_a_server_canceller_is_not_doubled(env):
    """Nothing listens to the outputs for a raw track (the audio threads copy nothing), and a
    track of the server's echo canceller is not processed a second time."""
    raw = track_of(env, RAW)
    assert raw._capture._processor is None
    assert env.platform.audio.engine._recordings == {}

    processed = track_of(env, True)
    assert processed._capture._processor is not None
    processed.stop()
    assert env.platform.audio.engine._recordings == {}

    env.add_device(DeviceInfo("mic.echo-cancel", "Echo-Cancel Source", "audioinput"))
    env.backend.set_signal("mic.echo-cancel", np.zeros(4800, np.float32))
    by_server = track_of(env, {"device_id": "mic.echo-cancel"})
    assert by_server.get_settings()["echo_cancellation"] is True
    assert by_server._capture._processor is None
