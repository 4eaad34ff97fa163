"""The same policy on the real clock: dispatcher thread, audio thread, a real WAV sink."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import soundfile as sf

from support.audio import tone_level_db


def test_a_notification_ducks_music_in_real_time(media, tmp_path):
    recording = tmp_path / "speakers.wav"
    script = textwrap.dedent(f"""
        import audiosession
        from audiosession import Audio, Window

        music, ping = Window(), Window()
        music.navigator.audio_session.type = "playback"
        ping.navigator.audio_session.type = "transient"
        track = Audio({media.tone(440, 2.5)!r}, window=music)
        track.play()
        audiosession.run(until=0.8)
        Audio({media.tone(1000, 0.6)!r}, window=ping).play()
        audiosession.run(until=track)
        print(music.navigator.audio_session.state)
    """)
    environment = {
        **os.environ,
        "AUDIOSESSION_BACKEND": f"wav:{recording}",
        "AUDIOSESSION_DAEMON": "off",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=environment
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["inactive"]
    output, rate = sf.read(recording, dtype="float32", always_2d=True)
    assert rate == 48000
    # Find when the music started: the recording begins when the sink opened.
    start = next(i for i, v in enumerate(output[:, 0]) if abs(v) > 1e-4) / rate
    assert tone_level_db(output, 440, start + 0.3) == pytest.approx(0, abs=0.2)
    assert tone_level_db(output, 440, start + 1.1) == pytest.approx(-14, abs=0.7)
    assert tone_level_db(output, 1000, start + 1.1) == pytest.approx(0, abs=0.2)
    assert tone_level_db(output, 440, start + 2.2) == pytest.approx(0, abs=0.2)
