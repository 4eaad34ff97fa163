"""The seed page's examples (shared/seed/audio-session-api.txt), ported to Python as they read:
in virtual time, where what they play is measured, and each as a script of its own in a fresh
interpreter with only the imports it shows."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from audiosession import Audio, MediaStream
from support.audio import dominant_frequency, from_lavfi, silent, tone_level_db
from support.examples import STATE_REACHED, run_example
from support.http_server import AudioServer, Body, Route

VIDEO_CONFERENCING = """
from audiosession import Audio, MediaStream, navigator

remoteVideo, localVideo = Audio(), Audio()
remoteMediaStream = MediaStream.from_file("remote.wav")

# Declare play-and-record intent before starting media streams
navigator.audioSession.type = "play-and-record"

# Start playing remote participant audio/video
remoteVideo.srcObject = remoteMediaStream
remoteVideo.play()

# Capture local audio and video
navigator.mediaDevices.getUserMedia({"audio": True, "video": True}).then(
    lambda stream: setattr(localVideo, "srcObject", stream)
)
"""

MUSIC_PLAYBACK = """
from audiosession import Audio, navigator

navigator.audioSession.type = "playback"

audio = Audio("{url}")
audio.play()

# React to platform-level interruptions (e.g. incoming call)
def on_statechange(event):
    if navigator.audioSession.state == "interrupted":
        audio.pause()
    elif navigator.audioSession.state == "active":
        audio.play()

navigator.audioSession.addEventListener("statechange", on_statechange)
"""


def test_video_conferencing_session(env, media, monkeypatch):
    monkeypatch.setenv("AUDIOSESSION_FAKE_MIC", media.tone(330, 1.0, name="mic.wav"))
    navigator = env.navigator
    remoteVideo, localVideo = Audio(), Audio()  # noqa: N806 (the seed's names)
    remoteMediaStream = MediaStream.from_file(media.tone(550, 1.0, name="remote.wav"))  # noqa: N806

    # Declare play-and-record intent before starting media streams
    navigator.audioSession.type = "play-and-record"

    # Start playing remote participant audio/video
    remoteVideo.srcObject = remoteMediaStream
    remoteVideo.play()

    # Capture local audio and video
    navigator.mediaDevices.getUserMedia({"audio": True, "video": True}).then(
        lambda stream: setattr(localVideo, "srcObject", stream)
    )

    env.advance(1.0)
    assert navigator.audioSession.state == "active"
    assert isinstance(localVideo.srcObject, MediaStream)
    (track,) = localVideo.srcObject.getAudioTracks()
    assert track.readyState == "live"
    assert dominant_frequency(track.read()[:, :1], 0.0, 0.5) == pytest.approx(330, abs=5)
    # The call is routed to the communications device, not the speakers.
    assert tone_level_db(env.output("headset"), 550, 0.5) == pytest.approx(0, abs=0.2)
    assert silent(env.output("default"), 0.0, 1.0)


def test_music_playback_reacting_to_interruptions(env, media):
    navigator = env.navigator
    track_mp3 = media.tone(440, 10.0, name="track.wav")

    navigator.audioSession.type = "playback"

    audio = Audio(track_mp3)
    audio.play()

    # React to platform-level interruptions (e.g. incoming call)
    def on_statechange(event):
        if navigator.audioSession.state == "interrupted":
            audio.pause()
        elif navigator.audioSession.state == "active":
            audio.play()

    navigator.audioSession.addEventListener("statechange", on_statechange)

    env.advance(1.0)
    env.platform.interrupt("transient", reason="incoming call")
    env.advance(1.0)
    assert audio.paused and navigator.audioSession.state == "interrupted"
    env.platform.end_interruption("incoming call")
    env.advance(1.0)
    assert not audio.paused and navigator.audioSession.state == "active"
    output = env.output()
    assert tone_level_db(output, 440, 0.5) == pytest.approx(0, abs=0.1)
    assert silent(output, 1.02, 0.96)
    assert tone_level_db(output, 440, 2.5) == pytest.approx(0, abs=0.1)
    # It resumed where it was paused, not from the start.
    assert audio.current_time == pytest.approx(2.0, abs=0.03)
    assert np.max(np.abs(output[-480:])) > 0.1


@pytest.fixture
def http() -> Iterator[AudioServer]:
    server = AudioServer()
    yield server
    server.close()


def test_video_conferencing_runs_as_a_script_of_its_own(media, tmp_path):
    media.tone(550, 1.0, name="remote.wav")
    until_captured = """
import audiosession

while localVideo.srcObject is None:
    audiosession.run(until=0.02)
(track,) = localVideo.srcObject.getAudioTracks()
print(navigator.audioSession.state, track.readyState, remoteVideo.paused)
"""
    result = run_example(
        VIDEO_CONFERENCING + STATE_REACHED + until_captured,
        tmp_path,
        AUDIOSESSION_FAKE_MIC=media.tone(330, 1.0, name="mic.wav"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["active", "live", "False"]


def test_music_playback_runs_as_a_script_of_its_own_on_a_url(http, tmp_path):
    track = tmp_path / "track.mp3"
    from_lavfi("sine=frequency=440:sample_rate=48000:duration=1.5", track, "-ac", "1")
    url = http.add("/track.mp3", Route(Body(track.read_bytes())))
    incoming_call = """
import audiosession

audiosession.run(until=state_reached("active"))
audiosession.platform().interrupt("transient", reason="incoming call")
audiosession.run(until=state_reached("interrupted"))
print("interrupted", audio.paused)
audiosession.platform().end_interruption("incoming call")
print(audiosession.run(until=audio), audio.ended)
"""
    result = run_example(MUSIC_PLAYBACK.format(url=url) + STATE_REACHED + incoming_call, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["interrupted", "True", "done", "True"]
