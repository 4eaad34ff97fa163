"""System mode with real processes: a daemon and client programs that really play (to WAVs).

Each client is a separate Python process using the public API with
``AUDIOSESSION_DAEMON=required`` and the ``wav`` backend; what it really played is measured in
its WAV file. Time is real here, so the tones are short.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiosession.daemon.server import ANSWER_DEADLINE, PING_INTERVAL
from support.audio import Media
from support.commands import run_command
from support.daemon import Processes, base_env
from support.other_users import NOBODY, python_for
from support.raw_client import Raw
from support.wav_levels import levels, silent_spans

BLOCK = 480 / 48000


@pytest.fixture
def media(tmp_path: Path) -> Media:
    return Media(tmp_path)


def test_a_notification_in_one_process_ducks_music_in_another_by_14_db(
    procs: Processes, media: Media
) -> None:
    music = procs.player("music", "playback", media.tone(440, 1.0), loop=True)
    music.wait_for("playing")
    time.sleep(0.4)
    ping = procs.player("ping", "transient", media.tone(1000, 0.8))
    ping.wait_for("ended")
    time.sleep(0.8)  # the duck's release (0.5 s)
    music.quit()

    times, db = levels(music.wav, 440)
    ducked = times[np.abs(db + 14) < 1.0]
    assert len(ducked) >= 8, f"no -14 dB stretch in the music: {np.round(db, 1)}"
    # One stretch, about as long as the notification, with full level before and after.
    assert ducked[-1] - ducked[0] == pytest.approx(0.75, abs=0.25)
    assert np.median(db[(times >= ducked[0]) & (times <= ducked[-1])]) == pytest.approx(
        -14, abs=0.5
    )
    assert db[(times > 0.1) & (times < ducked[0] - 0.2)].min() > -1
    assert db[times > ducked[-1] + 0.7].min() > -1
    assert db.min() > -16  # ducked, never paused


def test_a_prompt_in_one_process_pauses_music_in_another_and_it_resumes(
    procs: Processes, media: Media
) -> None:
    music = procs.player("music", "playback", media.tone(440, 1.0), loop=True)
    music.wait_for("playing")
    time.sleep(0.3)
    prompt = procs.player("prompt", "transient-solo", media.tone(1000, 0.6))
    music.wait_for("state", state="interrupted")
    prompt.wait_for("ended")
    music.wait_for("state", state="active")
    time.sleep(0.3)
    music.quit()

    gaps = silent_spans(music.wav)
    assert len(gaps) == 1, f"expected one pause in the music, got {gaps}"
    start, end = gaps[0]
    # About the prompt's 0.6 s (its session lets go when its element ends).
    assert 0.55 < end - start < 0.95
    times, db = levels(music.wav, 440)
    assert db[times > end + 0.05].min() > -1  # resumed at full level


def test_a_call_in_one_process_delays_a_player_in_another_until_it_ends(
    procs: Processes, media: Media
) -> None:
    call = procs.player("call", "play-and-record", media.tone(600, 1.0), loop=True)
    call.wait_for("playing")
    player = procs.player("player", "playback", media.tone(440, 0.5))
    player.wait_for("state", state="interrupted")
    time.sleep(0.3)
    hung_up = call.ask("pause")
    playing = player.wait_for("playing")
    assert hung_up["asked"] < playing["t"] < hung_up["asked"] + 0.6
    player.wait_for("ended")
    player.quit()
    data, rate = sf.read(str(player.wav), dtype="float32", always_2d=True)
    loud = np.flatnonzero(np.abs(data[:, 0]) > 1e-4)
    assert len(loud) / rate == pytest.approx(0.5, abs=0.05)  # the whole track, once


def test_kill_9_of_the_process_holding_a_prompt_resumes_the_music_when_its_socket_closes(
    procs: Processes, media: Media
) -> None:
    music = procs.player("music", "playback", media.tone(440, 1.0), loop=True)
    music.wait_for("playing")
    prompt = procs.player("prompt", "transient-solo", media.tone(1000, 5.0))
    music.wait_for("state", state="interrupted")
    time.sleep(0.3)
    mark = len(procs.daemon.log())
    killed_at = time.monotonic()
    prompt.proc.send_signal(signal.SIGKILL)
    music.wait_for("state", state="active")
    time.sleep(0.3)
    clock = music.ask("clock")
    music.quit()

    gaps = silent_spans(music.wav)
    assert len(gaps) == 1, gaps
    resumed_at = clock["wav_start"] + gaps[0][1]
    latency = resumed_at - killed_at
    print(f"music resumed {latency * 1000:.1f} ms after kill -9 of the prompt's process")
    # Released by the closed socket, not by the liveness check (which would take the answer
    # deadline): how fast is for benchmarks/daemon.py to say (a loaded machine is slow).
    assert -BLOCK < latency < ANSWER_DEADLINE, f"music resumed {latency * 1000:.1f} ms after kill"
    procs.daemon.wait_log("1 session(s) removed, 1 other client(s) told", since=mark)


def test_a_restarted_daemon_is_found_again_and_clients_register_anew(
    procs: Processes, media: Media
) -> None:
    music = procs.player("music", "playback", media.tone(440, 1.0), loop=True)
    music.wait_for("playing")
    idle = procs.player("idle", "ambient", media.tone(300, 0.2), play=False)
    idle.wait_for("ready", connected=True)

    procs.daemon.kill(signal.SIGKILL)
    # The exact lines: "went away (...): deciding in this process (embedded mode) until it
    # is back", later "is back (client cN): ..." (the first also contains "is back").
    went = music.wait_log(r"daemon at \S+ went away .*: deciding in this process")
    assert "until it is back" in went
    alone = music.ask("sessions")
    assert alone["connected"] is False
    assert [s["state"] for s in alone["sessions"]] == ["active"]

    procs.daemon.start()
    for player in (music, idle):
        player.wait_log(r"daemon at \S+ is back \(client c\d+\): 1 session\(s\) registered anew")
    observer = procs.player("observer", "ambient", media.tone(300, 0.2), play=False)
    seen = observer.ask("sessions")["sessions"]
    by_owner = {row["owner"]: row for row in seen}
    music_row = next(r for o, r in by_owner.items() if f"pid {music.proc.pid}" in o)
    idle_row = next(r for o, r in by_owner.items() if f"pid {idle.proc.pid}" in o)
    assert (music_row["type"], music_row["state"]) == ("playback", "active")
    assert idle_row["state"] == "inactive"
    assert len(seen) == 3
    time.sleep(0.2)
    music.quit()
    assert silent_spans(music.wav) == []  # the music never stopped


RAW_CLIENT = textwrap.dedent("""
    import json, socket, sys
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(5)
    sock.connect(sys.argv[1])
    try:
        sock.sendall(b'{"op": "hello", "version": 1, "program": "intruder"}\\n')
    except OSError:
        pass  # refused at once: its reason is still there to read
    reply = b""
    while True:
        data = sock.recv(4096)
        if not data:
            break
        reply += data
    print(reply.decode().strip())
""")


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to run a client as another user")
def test_a_client_of_another_uid_is_refused() -> None:
    python = python_for(NOBODY)
    with tempfile.TemporaryDirectory() as tmp:
        procs = Processes(Path(tmp))
        try:
            procs.daemon.start()
            # Make the socket reachable for anyone, so that only the peer check stands.
            os.chmod(tmp, 0o755)
            os.chmod(procs.runtime_dir, 0o755)
            os.chmod(procs.daemon.socket.parent, 0o777)
            os.chmod(procs.daemon.socket, 0o777)
            result = subprocess.run(
                [python, "-c", RAW_CLIENT, str(procs.daemon.socket)],
                user=NOBODY,
                capture_output=True,
                text=True,
                timeout=20,
            )
            assert result.returncode == 0, result.stderr
            assert '"ok":false' in result.stdout
            assert f"uid {NOBODY} is not this daemon's user" in result.stdout
            assert f"refused a connection from uid {NOBODY}" in procs.daemon.log()
            assert procs.daemon.answers()  # still serving its own user
        finally:
            procs.close()


def all_session_rows(client: Raw) -> list[dict[str, object]]:
    """Every row of one ``sessions`` request, read by hand: the reply comes in parts, each
    with ``more`` (docs/protocol.md)."""
    client.ids += 1
    client.send_bytes(json.dumps({"id": client.ids, "op": "sessions"}).encode() + b"\n")
    rows: list[dict[str, object]] = []
    while True:
        part = client.next_reply()
        assert part["id"] == client.ids and part["ok"], part
        rows += part["sessions"]
        if not part.get("more"):
            return rows


def test_status_shows_every_session_of_a_crowded_daemon_and_asking_costs_nothing(
    procs: Processes,
) -> None:
    # 2 x 200 sessions whose owners are 256 characters long: their rows are ~300 KB of JSON,
    # several times the 64 KiB a message may carry.
    clients = [Raw(procs.daemon.socket) for _ in range(2)]
    for n, client in enumerate(clients):
        for i in range(200):
            owner = f"client {n} session {i:03d} ".ljust(256, ".")
            assert client.request("add", session=f"s{i}", context=f"w{i}", owner=owner)["ok"]

    env = base_env(procs.runtime_dir, procs.config_home)
    env.update(AUDIOSESSION_DAEMON="required", AUDIOSESSION_BACKEND="null", COLUMNS="400")
    result = run_command("status", env=env)
    assert result.returncode == 0, result.stderr
    assert "400 session(s) on the daemon platform" in result.stdout
    shown = {
        f"client {n} session {i:03d} "
        for n in range(2)
        for i in range(200)
        if f"client {n} session {i:03d} " in result.stdout
    }
    assert len(shown) == 400

    # A client holding sessions asks for all of them: it gets them all and keeps its own.
    rows = all_session_rows(clients[0])
    assert len(rows) == 400 and len({row["id"] for row in rows}) == 400
    assert clients[0].request("ping")["ok"]
    assert len(all_session_rows(clients[1])) == 400
    assert not re.search(r"[1-9]\d* session\(s\) removed", procs.daemon.log())


def test_a_stopped_prompt_lets_the_music_play_after_the_answer_deadline_and_holds_it_again(
    procs: Processes, media: Media
) -> None:
    music = procs.player("music", "playback", media.tone(440, 1.0), loop=True)
    music.wait_for("playing")
    prompt = procs.player("prompt", "transient-solo", media.tone(1000, 60.0))
    music.wait_for("state", state="interrupted")
    prompt.wait_for("playing")
    time.sleep(0.3)

    stopped_at = time.monotonic()
    prompt.proc.send_signal(signal.SIGSTOP)
    released = music.wait_for("state", state="active", timeout=10)
    time.sleep(0.5)
    continued_at = time.monotonic()
    prompt.proc.send_signal(signal.SIGCONT)
    held_again = music.wait_for("state", state="interrupted", timeout=5)
    time.sleep(0.3)
    prompt.quit()
    music.wait_for("state", state="active")
    time.sleep(0.3)
    clock = music.ask("clock")
    music.quit()

    # Released after the prompt missed a ping's answer deadline (2 s): between 2 s and
    # 3 s (a ping goes every second) after it stopped, plus the daemon's 0.1 s check.
    waited = released["t"] - stopped_at
    print(
        f"music released {waited:.2f} s after SIGSTOP, held again "
        f"{(held_again['t'] - continued_at) * 1000:.0f} ms after SIGCONT"
    )
    assert ANSWER_DEADLINE <= waited <= PING_INTERVAL + ANSWER_DEADLINE + 0.25
    assert held_again["t"] - continued_at < 0.5
    # What the music really played: silent while the prompt held it, sound while it was
    # stopped, silent again once it went on, sound after it ended.
    gaps = silent_spans(music.wav)
    assert len(gaps) == 2, gaps
    first_end = clock["wav_start"] + gaps[0][1]
    second_start = clock["wav_start"] + gaps[1][0]
    assert abs(first_end - released["t"]) < 0.1
    assert abs(second_start - held_again["t"]) < 0.1
    log = procs.daemon.log()
    assert "has not answered a ping for" in log and "answers again after" in log
