"""The PulseAudio bridge with real processes: foreign ``paplay`` streams on a private
PulseAudio server take part in the policy of a real daemon with real client players.

What the foreign streams really played is measured on the speakers' monitor (``parec``); their
volume and mute with ``pactl``. The players use the ``wav`` backend, so the monitor carries
only the foreign streams.
"""

from __future__ import annotations

import math
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from support.audio import Media
from support.bridged import SEVENTY_PERCENT, Bridged, levels, wait_until
from support.daemon import Processes
from support.pulse_server import PulseServer
from support.wav_levels import levels as wav_levels
from support.wav_levels import silent_spans

RATE = 48000


@pytest.fixture
def media(tmp_path: Path) -> Media:
    return Media(tmp_path)


def stretch(db: np.ndarray, low: float, high: float) -> int:
    """The length (in steps) of the longest run of levels within [low, high]."""
    best = run = 0
    for value in db:
        run = run + 1 if low <= value <= high else 0
        best = max(best, run)
    return best


def test_foreign_music_is_ducked_by_our_notification_and_its_volume_restored_exactly(
    bridged: Bridged, media: Media
) -> None:
    _, music = bridged.paplay(media.tone(440, 30.0), "music")
    bridged.server.pactl("set-sink-input-volume", str(music.index), "70%")
    assert bridged.volume(music.index) == ([SEVENTY_PERCENT], False)
    recorder = bridged.server.record("speakers.monitor")
    time.sleep(0.5)

    ping = bridged.player("ping", "transient", media.tone(1000, 1.5))
    ping.wait_for("playing")
    assert wait_until(lambda: bridged.volume(music.index)[0] != [SEVENTY_PERCENT])
    ducked_volume, muted = bridged.volume(music.index)
    rows = ping.ask("sessions")["sessions"]
    ping.wait_for("ended")
    assert wait_until(lambda: bridged.volume(music.index)[0] == [SEVENTY_PERCENT])
    time.sleep(0.5)
    db = levels(recorder.stop())

    # -14 dB in amplitude is x0.2, x0.2^(1/3) in PulseAudio's cubic volume.
    assert ducked_volume == [round(SEVENTY_PERCENT * 0.2 ** (1 / 3))] and not muted
    user = 60 * math.log10(0.7)  # 70 %: -9.3 dB
    duck = user + 20 * math.log10(0.2)  # -14 dB under that
    assert np.median(db[:5]) == pytest.approx(user, abs=0.5), np.round(db, 1)
    assert stretch(db, duck - 1, duck + 1) * 0.05 == pytest.approx(1.5, abs=0.3), np.round(db, 1)
    assert np.median(db[-5:]) == pytest.approx(user, abs=0.5), np.round(db, 1)
    assert bridged.volume(music.index) == ([SEVENTY_PERCENT], False)  # exactly the user's
    assert not bridged.journal.exists()
    # The foreign stream is a session like the others, with its owner and type.
    foreign = [row for row in rows if row["id"] == f"pulse/{music.index}"]
    assert len(foreign) == 1, rows
    pid = music.properties["application.process.id"]
    assert foreign[0]["owner"] == f"pulse: paplay (pid {pid})"
    assert (foreign[0]["type"], foreign[0]["state"], foreign[0]["gain"]) == (
        "playback",
        "active",
        pytest.approx(0.2),
    )


def test_our_prompt_silences_foreign_music_and_gives_it_back(
    bridged: Bridged, media: Media
) -> None:
    _, music = bridged.paplay(media.tone(440, 30.0), "music")
    recorder = bridged.server.record("speakers.monitor")
    time.sleep(0.5)
    prompt = bridged.player("prompt", "transient-solo", media.tone(1000, 1.5))
    prompt.wait_for("playing")
    assert wait_until(lambda: bridged.volume(music.index)[1])
    prompt.wait_for("ended")
    assert wait_until(lambda: not bridged.volume(music.index)[1])
    time.sleep(0.5)
    db = levels(recorder.stop())

    assert np.median(db[:5]) == pytest.approx(0, abs=0.5), np.round(db, 1)
    assert stretch(db, -300, -60) * 0.05 == pytest.approx(1.5, abs=0.3), np.round(db, 1)
    assert np.median(db[-5:]) == pytest.approx(0, abs=0.5), np.round(db, 1)
    assert bridged.volume(music.index) == ([65536], False)


def test_a_foreign_phone_stream_interrupts_our_playback_until_it_ends(
    bridged: Bridged, media: Media
) -> None:
    music = bridged.player("music", "playback", media.tone(440, 10.0))
    music.wait_played(0.1)  # heard before the call, so that its silence lies between sounds
    called = time.monotonic()
    call, stream = bridged.paplay(media.tone(300, 1.5), "phone")
    interrupted = music.wait_for("state", state="interrupted", timeout=2)
    rows = music.ask("sessions")["sessions"]
    held_at = music.ask("position")["current_time"]
    call.wait(10)
    resumed = music.wait_for("state", state="active", timeout=3)
    music.wait_played(held_at + 0.1)  # heard again after it
    music.quit()

    phone = [row for row in rows if row["id"] == f"pulse/{stream.index}"]
    assert len(phone) == 1 and phone[0]["type"] == "play-and-record", rows
    assert phone[0]["owner"].startswith("pulse: paplay (pid ")
    ours = [row for row in rows if not row["id"].startswith("pulse/")]
    assert ours[0]["state"] == "interrupted", rows
    # Interrupted once the call began, and until it ended: not before its 1.5 s of sound had
    # played (and paplay drained them, ~0.5 s more; seconds on a loaded machine).
    assert called < interrupted["t"] and resumed["t"] > called + 1.5, (interrupted, resumed)
    # Its output was silent from the interruption to the resumption (to a few blocks), and
    # only then. Seen in the WAV's own time: a starved clock thread drops time from it.
    gaps = silent_spans(music.wav)
    assert len(gaps) == 1, gaps
    silence = (interrupted["wav_time"], resumed["wav_time"])
    assert gaps[0] == pytest.approx(silence, abs=0.05), (gaps, silence)


def test_a_daemon_killed_mid_duck_restores_the_volume_at_its_next_start(
    bridged: Bridged, media: Media
) -> None:
    _, music = bridged.paplay(media.tone(440, 30.0), "music")
    bridged.server.pactl("set-sink-input-volume", str(music.index), "70%")
    ping = bridged.player("ping", "transient", media.tone(1000, 1.0), loop=True)
    ping.wait_for("playing")
    assert wait_until(lambda: bridged.volume(music.index)[0] != [SEVENTY_PERCENT])
    assert bridged.journal.exists()

    bridged.daemon.kill(signal.SIGKILL)
    ping.kill()  # else it would register anew with the next daemon and duck again
    time.sleep(0.2)
    assert bridged.volume(music.index)[0] != [SEVENTY_PERCENT]  # still ducked: nobody left
    mark = len(bridged.daemon.log())
    bridged.start_daemon()
    # Logged once the volume is set, and the journal is removed after: wait for the line.
    bridged.wait_log(f"restored the volume of stream #{music.index}", since=mark)
    assert bridged.volume(music.index) == ([SEVENTY_PERCENT], False)
    assert wait_until(lambda: not bridged.journal.exists())


def test_a_daemon_stopped_cleanly_gives_the_streams_back(bridged: Bridged, media: Media) -> None:
    _, music = bridged.paplay(media.tone(440, 30.0), "music")
    prompt = bridged.player("prompt", "transient-solo", media.tone(1000, 1.0), loop=True)
    prompt.wait_for("playing")
    assert wait_until(lambda: bridged.volume(music.index)[1])
    bridged.daemon.kill(signal.SIGTERM)
    assert bridged.volume(music.index) == ([65536], False)
    assert not bridged.journal.exists()


def test_our_own_streams_are_not_foreign(bridged: Bridged, media: Media) -> None:
    player = bridged.pulse_player("music", "playback", media.tone(440, 1.0), loop=True)
    player.wait_for("playing")
    # The player's stream, and the daemon's own: its notifications' stream, kept resting.
    assert bridged.daemon.proc is not None
    ours = [player.proc.pid, bridged.daemon.proc.pid]
    assert wait_until(lambda: all(bridged.server.sink_inputs_of(pid) for pid in ours))
    assert len(bridged.server.sink_inputs()) == 2
    # A foreign stream after ours: once the bridge has taken it in, it has seen ours (it
    # takes the server's events in order).
    _, foreign = bridged.paplay(media.tone(300, 5.0), None)
    rows = player.ask("sessions")["sessions"]
    assert [row["id"] for row in rows if row["id"].startswith("pulse/")] == [
        f"pulse/{foreign.index}"
    ], rows
    assert bridged.daemon.log().count("foreign stream #") == 1


def test_a_volume_the_user_sets_during_a_duck_is_kept(bridged: Bridged, media: Media) -> None:
    _, music = bridged.paplay(media.tone(440, 30.0), "music")
    ping = bridged.player("ping", "transient", media.tone(1000, 1.0), loop=True)
    ping.wait_for("playing")
    assert wait_until(lambda: bridged.volume(music.index)[0] != [65536])
    bridged.server.pactl("set-sink-input-volume", str(music.index), "50%")
    assert wait_until(lambda: "changed during a duck" in bridged.daemon.log())
    ping.quit()
    time.sleep(0.3)
    assert bridged.volume(music.index) == ([32768], False)
    assert not bridged.journal.exists()


def test_without_a_server_the_bridge_is_off_in_one_line(tmp_path: Path, media: Media) -> None:
    processes = Processes(tmp_path)
    processes.daemon.env["PULSE_SERVER"] = f"unix:{tmp_path}/no-such-socket"
    processes.daemon.start()
    try:
        player = processes.player("music", "playback", media.tone(440, 0.3))
        player.wait_for("ended")
        time.sleep(0.2)
    finally:
        processes.close()
    lines = [line for line in processes.daemon.log().splitlines() if "bridge" in line]
    assert len(lines) == 1 and "PulseAudio bridge off: cannot reach unix:" in lines[0], lines


def test_no_pulse_bridge_leaves_foreign_streams_alone(
    tmp_path: Path, media: Media, pulse_server: PulseServer
) -> None:
    processes = Bridged(tmp_path, pulse_server)
    processes.daemon.args = ["--no-pulse-bridge"]
    processes.daemon.start()
    try:
        paplay = subprocess.Popen(
            ["paplay", "--property=media.role=music", media.tone(440, 5.0)], env=pulse_server.env
        )
        processes.foreign.append(paplay)
        assert wait_until(lambda: len(pulse_server.sink_inputs_of(paplay.pid)) == 1)
        music = processes.stream_of(paplay)
        ping = processes.player("ping", "transient", media.tone(1000, 0.6))
        ping.wait_for("playing")
        time.sleep(0.3)
        rows = ping.ask("sessions")["sessions"]
        assert [row["id"] for row in rows if row["id"].startswith("pulse/")] == []
        assert processes.volume(music.index) == ([65536], False)
    finally:
        processes.close()
    assert "PulseAudio bridge off (not asked for" in processes.daemon.log()


def test_a_foreign_event_sound_ducks_our_music(bridged: Bridged, media: Media) -> None:
    music = bridged.player("music", "playback", media.tone(440, 1.0), loop=True)
    music.wait_for("playing")
    time.sleep(0.4)
    ding, _ = bridged.paplay(media.tone(1000, 1.0), "event")
    ding.wait(10)
    time.sleep(0.8)  # the duck's release (0.5 s)
    music.quit()

    times, db = wav_levels(music.wav, 440)
    ducked = times[np.abs(db + 14) < 1.0]
    assert len(ducked) >= 8, f"no -14 dB stretch in our music: {np.round(db, 1)}"
    assert db[times > ducked[-1] + 0.7].min() > -1  # back to full level after it
    assert db.min() > -16  # ducked, never paused
