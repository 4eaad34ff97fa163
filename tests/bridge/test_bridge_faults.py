"""The bridge when things go wrong around it: a client that stops answering while it holds a
foreign stream, a journal that cannot be written, a link planted next to the journal. Foreign
streams on a private PulseAudio server, measured with ``pactl`` and on the speakers' monitor."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from audiosession.daemon.server import ANSWER_DEADLINE, LIVENESS_TICK, PING_INTERVAL
from support.audio import Media
from support.bridged import SEVENTY_PERCENT, Bridged, levels, wait_until
from support.commands import run_command
from support.daemon import base_env
from support.other_users import NOBODY
from support.pulse_server import PulseServer

STEP = 0.05  # seconds per level in ``levels``


def status(processes: Bridged) -> str:
    """What ``audiosession status`` prints, asked of the test's daemon."""
    env = base_env(processes.runtime_dir, processes.config_home)
    env.update(
        AUDIOSESSION_DAEMON="required",
        AUDIOSESSION_BACKEND="null",
        COLUMNS="300",
        AUDIOSESSION_DAEMON_SOCKET=str(processes.daemon.socket),
    )
    result = run_command("status", env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_stopped_prompt_gives_foreign_music_back_after_the_deadline_and_takes_it_again(
    bridged: Bridged, media: Media
) -> None:
    _, music = bridged.paplay(media.tone(440, 60.0), "music")
    recorder = bridged.server.record("speakers.monitor")
    recording_since = time.monotonic()
    prompt = bridged.player("prompt", "transient-solo", media.tone(1000, 60.0))
    prompt.wait_for("playing")
    assert wait_until(lambda: bridged.volume(music.index)[1])
    time.sleep(0.3)

    stopped_at = time.monotonic()
    prompt.proc.send_signal(signal.SIGSTOP)
    assert wait_until(lambda: not bridged.volume(music.index)[1], timeout=10)
    time.sleep(0.5)
    continued_at = time.monotonic()
    prompt.proc.send_signal(signal.SIGCONT)
    assert wait_until(lambda: bridged.volume(music.index)[1], timeout=2)
    time.sleep(0.5)
    prompt.quit()
    assert wait_until(lambda: not bridged.volume(music.index)[1])
    time.sleep(0.3)
    db = levels(recorder.stop())

    # The music sounds (0 dB) only while the prompt is stopped, from the moment it missed
    # its deadline, and again once it ended.
    loud = np.flatnonzero(db > -3)
    start = recording_since + loud[0] * STEP
    runs = np.split(loud, np.flatnonzero(np.diff(loud) > 1) + 1)
    assert len(runs) == 3, np.round(db, 1)  # before the prompt, while stopped, after it
    back = recording_since + runs[1][0] * STEP
    muted_again = recording_since + (runs[1][-1] + 1) * STEP
    print(
        f"foreign music back {back - stopped_at:.2f} s after SIGSTOP, muted again "
        f"{(muted_again - continued_at) * 1000:.0f} ms after SIGCONT"
    )
    assert start < stopped_at
    assert (
        ANSWER_DEADLINE - STEP
        <= back - stopped_at
        <= PING_INTERVAL + ANSWER_DEADLINE + LIVENESS_TICK + 0.15
    )
    assert muted_again - continued_at < 0.3


def test_a_journal_that_cannot_be_written_turns_the_bridge_off_in_one_line(
    tmp_path: Path, pulse_server: PulseServer, media: Media
) -> None:
    processes = Bridged(tmp_path, pulse_server)
    processes.journal.parent.mkdir(mode=0o700)
    processes.journal.mkdir()  # a directory where the file goes: every write of it fails
    processes.start_daemon()
    try:
        _, music = processes.paplay(media.tone(440, 30.0), "music")
        processes.server.pactl("set-sink-input-volume", str(music.index), "70%")
        before = status(processes)
        mark = len(processes.daemon.log())
        for _ in range(3):
            ping = processes.player("ping", "transient", media.tone(1000, 0.3))
            ping.wait_for("ended")
            ping.quit()
        processes.wait_log("PulseAudio bridge off: cannot write its journal", since=mark)
        after = status(processes)
        volume = processes.volume(music.index)
    finally:
        processes.close()

    assert f"PulseAudio bridge on: {pulse_server.server_string} (pulseaudio " in before
    assert "pulse: paplay" in before
    assert (
        f"PulseAudio bridge off: cannot write its journal {processes.journal} (Is a "
        "directory); foreign streams are left alone until the daemon restarts"
    ) in after
    assert "pulse: paplay" not in after  # no longer a session
    assert volume == ([SEVENTY_PERCENT], False)  # never ducked without a journal
    log = processes.daemon.log()
    assert "Traceback" not in log
    assert log.count("cannot write its journal") == 1, log


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another user (nobody)")
def test_a_link_planted_where_the_journal_was_written_is_neither_followed_nor_a_hindrance(
    tmp_path: Path, shared_tmp: Path, pulse_server: PulseServer, media: Media
) -> None:
    secret = tmp_path / "root-only"
    secret.write_text("precious\n")
    secret.chmod(0o600)
    processes = Bridged(tmp_path, pulse_server)
    processes.daemon.socket = shared_tmp / "x.sock"
    processes.daemon.args = ["--socket", str(processes.daemon.socket)]
    processes.client_env["AUDIOSESSION_DAEMON_SOCKET"] = str(processes.daemon.socket)
    processes.start_daemon()
    try:
        assert processes.daemon.proc is not None
        # The name the journal's temporary file had (".volumes.json.<daemon pid>.tmp").
        planted = shared_tmp / f".volumes.json.{processes.daemon.proc.pid}.tmp"
        subprocess.run(["ln", "-s", str(secret), str(planted)], user=NOBODY, check=True)
        _, music = processes.paplay(media.tone(440, 30.0), "music")
        processes.server.pactl("set-sink-input-volume", str(music.index), "70%")
        ping = processes.player("ping", "transient", media.tone(1000, 1.0))
        ping.wait_for("playing")
        assert wait_until(lambda: processes.volume(music.index)[0] != [SEVENTY_PERCENT])
        journal = (shared_tmp / "volumes.json").read_text()
        ping.wait_for("ended")
        assert wait_until(lambda: processes.volume(music.index) == ([SEVENTY_PERCENT], False))
    finally:
        processes.close()
    assert secret.read_text() == "precious\n"
    assert f'"{music.index}"' in journal  # the duck was journaled, in the real file
    assert "Traceback" not in processes.daemon.log()
