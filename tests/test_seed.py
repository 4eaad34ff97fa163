"""The seed page's examples (shared/seed/audio-session-api.txt), ported to Python as they read."""

from __future__ import annotations

import numpy as np
import pytest

from audiosession import Audio, MediaStream

from .audio import dominant_frequency, silent, tone_level_db


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
