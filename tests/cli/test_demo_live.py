"""The demo in real time on a (private) PulseAudio server: demo.wav is what the sink received."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiosession.cli.sounds import MUSIC_DRONE_AMPLITUDE, MUSIC_DRONE_HZ
from support.audio import tone_level_db
from support.commands import command_env, run_command
from support.pulse_server import PulseServer


def test_the_live_demo_records_what_the_speakers_received(
    pulse_server: PulseServer, tmp_path
) -> None:
    env = command_env(PULSE_SERVER=pulse_server.server_string)
    env.pop("AUDIOSESSION_BACKEND")  # the real device: the private server
    result = run_command("demo", "--out", str(tmp_path), timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "real time on" in result.stdout
    output, rate = sf.read(tmp_path / "demo.wav", always_2d=True, dtype="float32")
    start = int(np.argmax(np.abs(output[:, 0]) > 1e-4)) / rate  # when the music began

    def music_db(at: float) -> float:
        return tone_level_db(output, MUSIC_DRONE_HZ, start + at, reference=MUSIC_DRONE_AMPLITUDE)

    assert music_db(1.0) == pytest.approx(0, abs=0.5)
    assert music_db(2.6) == pytest.approx(-14, abs=1.0)  # ducked by the notification
    assert music_db(6.0) < -40  # paused by the voice prompt
    assert music_db(8.0) == pytest.approx(0, abs=0.5)  # resumed
    assert (tmp_path / "demo-communications.wav").exists()  # the call went to the headset
