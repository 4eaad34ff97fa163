"""python-mpv in the session, on the private PulseAudio: a call pauses it with mpv's own pause
and it plays on from where it was; the media keys (``playerctl``) pause it through MPRIS; a
notification ducks it through its cubic ``volume`` by 14 dB, back to the user's volume after."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from audiosession import Audio, Window
from audiosession.session.runtime import Runtime
from support.audio import RATE
from support.mpris import Program, playerctl, wait_for
from support.players import heard, require_libmpv, wait_until_heard
from support.pulse_server import level_db

if TYPE_CHECKING:
    import mpv

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


@pytest.fixture
def mpv_player() -> Iterator[mpv.MPV]:
    """An mpv that plays audio only, to the private server (its null sinks are suspended while
    idle, which libmpv 0.35 gives up on unless it may wait)."""
    require_libmpv()
    import mpv

    player = mpv.MPV(
        ao="pulse", pulse_allow_suspended=True, vo="null", video=False, loop_file="inf"
    )
    try:
        yield player
    finally:
        player.terminate()


def music_and_ping(runtime: Runtime) -> tuple[Window, Window]:
    music, ping = Window(runtime=runtime), Window(runtime=runtime)
    music.navigator.audio_session.type = "playback"
    ping.navigator.audio_session.type = "transient"
    return music, ping


def test_mpv_volume_is_cubic(mpv_player, pulse_server, media):
    from audiosession.integrations.mpv import mpv_volume

    mpv_player.play(media.tone(440, 30.0))
    wait_until_heard(pulse_server, 440, "mpv")
    full = heard(pulse_server, 440)
    for gain in (0.2, 0.5):
        mpv_player.volume = mpv_volume(100.0, gain)
        wait_for(lambda: heard(pulse_server, 440, 0.2) < full - 1, "the new volume")
        assert heard(pulse_server, 440) - full == pytest.approx(20 * np.log10(gain), abs=0.2)


@contextmanager
def ducked(runtime: Runtime, pulse_server, media, mpv_player) -> Iterator[float]:
    """mpv playing a tone in a ``playback`` window, ducked by a notification of another
    window to the end of the duck's ramp; yields the tone's level before the duck."""
    from audiosession.integrations.mpv import mpv_volume, session_player

    music_window, ping_window = music_and_ping(runtime)
    with session_player(mpv_player, window=music_window):
        mpv_player.play(media.tone(440, 30.0))
        wait_until_heard(pulse_server, 440, "mpv")
        before = heard(pulse_server, 440)
        Audio(media.tone(1000, 2.0), window=ping_window).play().result(5)
        wait_for(
            lambda: mpv_player.volume == pytest.approx(mpv_volume(100.0, 0.2)),
            "the duck's ramp to end",
        )
        yield before


def test_a_notification_ducks_mpv_by_14_db_and_it_comes_back_exactly(
    runtime, pulse_server, media, mpv_player
):
    with ducked(runtime, pulse_server, media, mpv_player) as before:
        assert heard(pulse_server, 440) - before == pytest.approx(-14, abs=1.0)
        wait_for(lambda: mpv_player.volume == 100.0, "the duck's release", timeout=10)
        assert heard(pulse_server, 440) == pytest.approx(before, abs=0.2)


def test_a_volume_the_user_sets_during_a_duck_is_the_one_it_comes_back_to(
    runtime, pulse_server, media, mpv_player
):
    from audiosession.integrations.mpv import mpv_volume

    with ducked(runtime, pulse_server, media, mpv_player) as before:
        mpv_player.volume = 50.0  # the user turns it down, ducked: still ducked, from there
        wait_for(
            lambda: mpv_player.volume == pytest.approx(mpv_volume(50.0, 0.2)), "the duck on 50"
        )
        assert heard(pulse_server, 440) - before == pytest.approx(-14 - 18.06, abs=1.0)
        wait_for(lambda: mpv_player.volume == 50.0, "the release to the user's 50", timeout=10)
        assert heard(pulse_server, 440) - before == pytest.approx(-18.06, abs=0.2)
