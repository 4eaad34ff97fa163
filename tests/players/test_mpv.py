"""python-mpv in the session, on the private PulseAudio: a call pauses it with mpv's own pause
and it plays on from where it was; the media keys (``playerctl``) pause it through MPRIS."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from support.audio import RATE
from support.mpris import Program, playerctl, wait_for
from support.players import require_libmpv
from support.pulse_server import level_db

PROGRAM = Path(__file__).with_name("mpv_program.py")


def where(program: Program) -> tuple[bool, float]:
    program.send("where")
    return reported(program.expect_containing("mpv pause="))


def reported(line: str) -> tuple[bool, float]:
    """(mpv's pause, its time-pos) from a line of the program."""
    match = re.fullmatch(r"mpv pause=(True|False) at=([\d.]+)", line)
    assert match, line
    return match.group(1) == "True", float(match.group(2))


def test_a_call_pauses_mpv_in_place_and_it_plays_on_from_there(pulse_server, session_bus, media):
    require_libmpv()
    env = {**pulse_server.env, "AUDIOSESSION_DAEMON": "off", "AUDIOSESSION_BACKEND": "pulse"}
    program = Program(
        [sys.executable, str(PROGRAM), media.tone(440, 5.0), media.tone(1000, 2.0)], env
    )
    try:
        program.expect("state active", timeout=10)
        wait_for(lambda: where(program)[1] > 0.3, "mpv to play for 0.3 s")
        speakers = pulse_server.record("speakers.monitor")

        program.send("call")
        program.expect("state interrupted")
        program.expect_containing("mpv pause=True")
        program.expect("call at 0.5")
        paused, held = where(program)
        program.expect("call at 1.0")
        during = speakers.recorded()
        paused, later = where(program)
        assert paused and later == held  # time-pos holds still
        assert level_db(during[-int(0.3 * RATE) :], 440) < -60  # the music is silent

        program.send("hangup")
        program.expect("state active")
        paused, resumed_at = reported(program.expect_containing("mpv pause=False"))
        assert resumed_at == pytest.approx(held, abs=0.05)  # it plays on from where it was
        wait_for(lambda: where(program)[1] > resumed_at + 0.2, "mpv to play on")
        speakers.stop()
        # mpv's stream, seconds old now, is the program's own, and the adapter's player stands
        # for it: it is not adopted as a second player (which would duck it twice).
        program.send("elements")
        assert program.expect_containing("elements ") == "elements _MpvPlayer"

        # The media keys: playerctl play-pause pauses mpv itself, and plays it again.
        name = f"audiosession.instance{program.process.pid}_1"
        wait_for(lambda: name in playerctl(session_bus, "-l").stdout.split(), f"{name} listed")
        playerctl(session_bus, "-p", name, "play-pause")
        program.expect_containing("mpv pause=True")
        wait_for(
            lambda: playerctl(session_bus, "-p", name, "status").stdout.strip() == "Paused",
            "playerctl status to say Paused",
        )
        playerctl(session_bus, "-p", name, "play-pause")
        program.expect_containing("mpv pause=False")
        program.send("exit")
        assert program.process.wait(timeout=10) == 0
    finally:
        program.stop()


def test_mpv_with_no_code_of_ours_is_adopted_and_a_call_silences_it(pulse_server, media):
    """No adapter: mpv's stream is the program's own and joins its session by itself; a call
    mutes it (a client cannot pause another client's stream) and it sounds again after."""
    require_libmpv()
    env = {**pulse_server.env, "AUDIOSESSION_DAEMON": "off", "AUDIOSESSION_BACKEND": "pulse"}
    env["MPV_PROGRAM_ADAPTER"] = "off"
    program = Program(
        [sys.executable, str(PROGRAM), media.tone(440, 5.0), media.tone(1000, 2.0)], env
    )
    try:
        program.expect("state active", timeout=10)
        program.send("elements")
        assert program.expect_containing("elements ") == "elements ExternalPlayer"
        speakers = pulse_server.record("speakers.monitor")
        wait_for(lambda: len(speakers.recorded()) > 0.5 * RATE, "0.5 s of the monitor")
        assert level_db(speakers.recorded()[-int(0.3 * RATE) :], 440) > -30

        program.send("call")
        program.expect("state interrupted")
        program.expect("call at 1.0")
        assert level_db(speakers.recorded()[-int(0.3 * RATE) :], 440) < -60

        program.send("hangup")
        program.expect("state active")
        heard_from = len(speakers.recorded())
        wait_for(lambda: len(speakers.recorded()) > heard_from + 0.5 * RATE, "0.5 s more")
        assert level_db(speakers.recorded()[-int(0.3 * RATE) :], 440) > -30
        speakers.stop()
        program.send("exit")
        assert program.process.wait(timeout=10) == 0
    finally:
        program.stop()
