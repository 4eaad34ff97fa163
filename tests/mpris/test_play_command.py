"""``audiosession play`` on a private session bus and a private PulseAudio server: the media
keys (``playerctl``) pause it where it is and play it on; the command keeps running."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pulse_server import RATE, PulseServer, Recorder, level_db, pulse_server  # noqa: E402

from ..cli.conftest import command_env  # noqa: E402
from .conftest import Program, playerctl, wait_for  # noqa: E402

__all__ = ["pulse_server"]

TONE_HZ = 440
TONE_DB = 20 * np.log10(0.5 / np.sqrt(2))  # the tone file's level: a sine of amplitude 0.5
SILENCE = 1e-4
SETTLE = 0.3
"""Seconds the sink may still play what it had been sent before a pause or a play."""
HEARD = 1.0
"""Seconds of the sink's monitor measured after the settling."""


def recorded_seconds(recorder: Recorder) -> float:
    return len(recorder.recorded()) / RATE


def wait_recorded(recorder: Recorder, seconds: float) -> None:
    """Wait until the sink's monitor is recorded up to ``seconds``."""
    wait_for(
        lambda: recorded_seconds(recorder) >= seconds,
        f"{seconds:.1f} s of the sink's monitor",
        timeout=10.0,
    )


def monitor_after(recorder: Recorder, mark: float) -> np.ndarray:
    """The sink's monitor from ``mark + SETTLE`` for ``HEARD`` seconds, once it is recorded."""
    wait_recorded(recorder, mark + SETTLE + HEARD)
    start = int((mark + SETTLE) * RATE)
    return recorder.recorded()[start : start + int(HEARD * RATE)]


def test_the_media_keys_pause_audiosession_play_and_play_it_on(
    session_bus, pulse_server: PulseServer, media
) -> None:
    tone = media.tone(TONE_HZ, seconds=30.0, name="tone.wav")
    env = command_env(
        AUDIOSESSION_BACKEND="pulse",
        PULSE_SERVER=pulse_server.server_string,
        DBUS_SESSION_BUS_ADDRESS=session_bus,
    )
    env.pop("AUDIOSESSION_MPRIS", None)
    recorder = pulse_server.record("speakers.monitor")
    play = Program([sys.executable, "-m", "audiosession", "play", tone], env)
    try:
        play.expect_containing("playing  session active (playback)", timeout=20.0)
        name = f"audiosession.instance{play.process.pid}_1"

        def status() -> str:
            return playerctl(session_bus, "-p", name, "status").stdout.strip()

        def position() -> str:
            return playerctl(session_bus, "-p", name, "position").stdout.strip()

        wait_for(lambda: status() == "Playing", f"{name} to say Playing", timeout=10.0)
        playing = monitor_after(recorder, recorded_seconds(recorder))
        assert level_db(playing, TONE_HZ) == pytest.approx(TONE_DB, abs=1.0)

        # The media key pauses it: status Paused, the position holds still, the sink is silent.
        assert playerctl(session_bus, "-p", name, "play-pause").returncode == 0
        line = play.expect_containing("paused  session")
        assert "paused from the media keys" in line
        wait_for(lambda: status() == "Paused", f"{name} to say Paused")
        paused_at = float(position())
        mark = recorded_seconds(recorder)
        wait_recorded(recorder, mark + SETTLE)
        held = position()
        paused = monitor_after(recorder, mark)
        assert float(np.max(np.abs(paused))) < SILENCE
        assert position() == held
        # Where it was paused, but for the few milliseconds that fade it out without a click.
        assert float(held) == pytest.approx(paused_at, abs=0.02)
        assert play.process.poll() is None
        assert name in playerctl(session_bus, "-l").stdout.split()

        # The next one plays it on from there: status Playing, the tone again.
        assert playerctl(session_bus, "-p", name, "play-pause").returncode == 0
        play.expect_containing("playing  session active (playback)")
        wait_for(lambda: status() == "Playing", f"{name} to say Playing again")
        wait_for(lambda: float(position()) > float(held), "the position to move on from the pause")
        again = monitor_after(recorder, recorded_seconds(recorder))
        assert level_db(again, TONE_HZ) == pytest.approx(TONE_DB, abs=1.0)
        assert play.process.poll() is None
    finally:
        errors = play.stop()
        recorder.stop()
    assert "stopped by the platform" not in errors, errors
