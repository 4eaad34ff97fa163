"""``audiosession play`` on a private session bus: the media keys (``playerctl``) pause it
where it is and play it on, and the command keeps running (heard on a private PulseAudio
server); a pause that nobody asked for (a newer player, through the daemon) still ends it."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from audiosession.engine.rewind import LONG_QUEUE_SECONDS
from support.commands import command_env
from support.daemon import Processes, base_env
from support.mpris import Program, playerctl, wait_for
from support.pulse_server import RATE, PulseServer, level_db

TONE_HZ = 440
TONE_DB = 20 * np.log10(0.5 / np.sqrt(2))  # the tone file's level: a sine of amplitude 0.5
LEVEL_TOLERANCE = 3.0
"""dB: the tone at its level, not ducked (-14 dB) nor silent; a machine loaded far beyond its
cores drops a few blocks and costs a dB or two."""
SILENCE = 1e-4
SETTLE = 0.3
"""Seconds the sink may still play what it had been sent before a pause or a play."""
HEARD = 1.0
"""Seconds of the sink's monitor measured after the settling."""


class Monitor:
    """The sink's monitor, recorded from now on, on the wall clock's time line: a recorder
    that the loaded machine keeps waiting is behind, and what it has recorded is not "now"."""

    def __init__(self, server: PulseServer) -> None:
        self.recorder = server.record("speakers.monitor")
        self.started = time.monotonic() - self.recorded_seconds()

    def recorded_seconds(self) -> float:
        return len(self.recorder.recorded()) / RATE

    def now(self) -> float:
        """Where the recording is at this moment (once it catches up)."""
        return time.monotonic() - self.started

    def wait_recorded(self, seconds: float) -> None:
        """Wait until the recording reaches ``seconds``."""
        wait_for(
            lambda: self.recorded_seconds() >= seconds,
            f"{seconds:.1f} s of the sink's monitor",
            timeout=20.0,
        )

    def after(self, mark: float) -> np.ndarray:
        """The monitor from ``mark + SETTLE`` for ``HEARD`` seconds, once it is recorded."""
        self.wait_recorded(mark + SETTLE + HEARD)
        first = int((mark + SETTLE) * RATE)
        return self.recorder.recorded()[first : first + int(HEARD * RATE)]


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
    monitor = Monitor(pulse_server)
    play = Program([sys.executable, "-m", "audiosession", "play", tone], env)
    try:
        play.expect_containing("playing  session active (playback)", timeout=20.0)
        name = f"audiosession.instance{play.process.pid}_1"

        def status() -> str:
            return playerctl(session_bus, "-p", name, "status").stdout.strip()

        def position() -> str:
            return playerctl(session_bus, "-p", name, "position").stdout.strip()

        wait_for(lambda: status() == "Playing", f"{name} to say Playing", timeout=10.0)
        playing = monitor.after(monitor.now())
        assert level_db(playing, TONE_HZ) == pytest.approx(TONE_DB, abs=LEVEL_TOLERANCE)

        # The media key pauses it: status Paused, the position holds still, the sink is silent.
        assert playerctl(session_bus, "-p", name, "play-pause").returncode == 0
        line = play.expect_containing("paused  session")
        assert "paused from the media keys" in line
        wait_for(lambda: status() == "Paused", f"{name} to say Paused")
        paused_at = float(position())
        mark = monitor.now()
        monitor.wait_recorded(mark + SETTLE)
        held = position()
        paused = monitor.after(mark)
        assert float(np.max(np.abs(paused))) < SILENCE
        assert position() == held
        # Where it was paused, but for the few milliseconds that fade it out without a click;
        # or earlier by what the stream had queued and not yet played, if it queued long then:
        # the position is the reader's place, up to LONG_QUEUE_SECONDS ahead of what is heard
        # (docs/devices.md, "Steady streams queue long"), and the pause keeps what was not heard.
        assert paused_at - LONG_QUEUE_SECONDS - 0.02 <= float(held) <= paused_at + 0.02
        assert play.process.poll() is None
        assert name in playerctl(session_bus, "-l").stdout.split()

        # The next one plays it on from there: status Playing, the tone again.
        assert playerctl(session_bus, "-p", name, "play-pause").returncode == 0
        play.expect_containing("playing  session active (playback)")
        wait_for(lambda: status() == "Playing", f"{name} to say Playing again")
        wait_for(lambda: float(position()) > float(held), "the position to move on from the pause")
        again = monitor.after(monitor.now())
        assert level_db(again, TONE_HZ) == pytest.approx(TONE_DB, abs=LEVEL_TOLERANCE)
        assert play.process.poll() is None
    finally:
        errors = play.stop()
        monitor.recorder.stop()
    assert "stopped by the platform" not in errors, errors


def test_after_the_media_keys_a_newer_player_still_stops_it_for_good(
    session_bus, procs: Processes, media
) -> None:
    tone = media.tone(TONE_HZ, seconds=30.0, name="tone.wav")
    env = {
        **base_env(procs.runtime_dir, procs.config_home),
        "AUDIOSESSION_BACKEND": "null",
        "AUDIOSESSION_DAEMON": "required",
        "DBUS_SESSION_BUS_ADDRESS": session_bus,
    }
    play = Program([sys.executable, "-m", "audiosession", "play", tone], env)
    try:
        play.expect_containing("playing  session active (playback)", timeout=20.0)
        name = f"audiosession.instance{play.process.pid}_1"
        wait_for(lambda: name in playerctl(session_bus, "-l").stdout.split(), f"{name} listed")
        playerctl(session_bus, "-p", name, "pause")
        play.expect_containing("paused from the media keys")
        playerctl(session_bus, "-p", name, "play")
        play.expect_containing("playing  session active (playback)")

        newer = procs.player("newer", "playback", tone)
        newer.wait_for("playing", timeout=20.0)
        assert play.process.wait(timeout=10.0) == 0
    finally:
        errors = play.stop()
    assert "tone.wav: stopped by the platform (see `audiosession status`)" in errors, errors
