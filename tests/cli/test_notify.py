"""``audiosession notify`` from a new process, on a private PulseAudio server: through the
daemon (the command's process loads neither NumPy nor the engine), or, without a daemon,
straight to the server; heard on the sink at its level, and ducking music like any
``transient`` session. How fast is benchmarks/first_sound.py's business, not these tests'."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiosession.cli import notify_fast
from audiosession.wire import endpoint, protocol
from support.audio import loud_runs, tone_level_db
from support.daemon import Player, Processes, base_env
from support.pulse_server import RATE, PulseServer

MUSIC_HZ = 440
PING_HZ = 1000


class Notifying(Processes):
    """The daemon (playing sounds on the private server), a music player, and commands."""

    def __init__(self, tmp_path: Path, server: PulseServer) -> None:
        super().__init__(tmp_path)
        self.server = server
        self.daemon.env["PULSE_SERVER"] = server.server_string
        self.daemon.args = ["--no-pulse-bridge"]

    def env(self) -> dict[str, str]:
        return {
            **base_env(self.runtime_dir, self.config_home),
            "PULSE_SERVER": self.server.server_string,
        }

    def music(self, src: str) -> Player:
        """A ``playback`` player on the private server, through the daemon."""
        env = self.env()
        env.update(AUDIOSESSION_BACKEND="pulse", AUDIOSESSION_DAEMON="required")
        player = Player(
            "music",
            ["--type", "playback", "--src", src, "--loop"],
            env,
            self.tmp / "music.wav",
            self.tmp / "music.stderr",
        )
        self.players.append(player)
        return player

    def notify(self, *args: str, **env: str) -> subprocess.Popen[str]:
        """``audiosession notify ARGS`` as a user runs it, with ``-X importtime`` telling
        which modules the process loaded (on its stderr)."""
        return subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "audiosession", "notify", *args],
            env={**self.env(), **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


@pytest.fixture
def procs(tmp_path: Path, pulse_server: PulseServer) -> Iterator[Notifying]:
    processes = Notifying(tmp_path, pulse_server)
    processes.daemon.start()
    try:
        yield processes
    finally:
        processes.close()


def imported(importtime: str) -> set[str]:
    """The modules ``-X importtime`` says a process imported."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in importtime.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


def pcm_tone(folder: Path, freq: float, seconds: float, name: str) -> str:
    """A 16-bit PCM stereo tone at 0.5 (the kind of file a notification sound is)."""
    t = np.arange(int(seconds * RATE)) / RATE
    signal_ = 0.5 * np.sin(2 * np.pi * freq * t)
    path = folder / name
    sf.write(path, np.repeat(signal_[:, None], 2, axis=1), RATE, subtype="PCM_16")
    return str(path)


def finish(process: subprocess.Popen[str], timeout: float = 20.0) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


def test_notify_through_the_daemon_loads_no_numpy_and_ducks_the_music_by_14_db(
    procs: Notifying, media, tmp_path: Path
) -> None:
    music = procs.music(media.tone(MUSIC_HZ, 30.0, name="music.wav"))
    music.wait_for("playing")
    ping = pcm_tone(tmp_path, PING_HZ, 1.0, "ping.wav")
    recorder = procs.server.record("speakers.monitor")
    time.sleep(0.8)  # music alone, to compare with
    process = procs.notify(ping)
    status, stdout, stderr = finish(process)
    heard = recorder.stop()
    assert status == 0, stderr
    modules = imported(stderr)
    assert "audiosession.cli.notify_fast" in modules
    assert not {
        m
        for m in modules
        if m == "numpy" or m.startswith(("numpy.", "audiosession.engine", "audiosession.elements"))
    }
    assert "ping.wav  0:00.0 / 0:01.0  playing  session active (transient)" in stdout
    procs.daemon.wait_log(f"(pid {process.pid}, audiosession notify): playing {ping}")
    # Where the ping is in the recording, then the levels (0 dB = a sine at 0.5).
    starts = [
        i / 10
        for i in range(len(heard) * 10 // RATE - 1)
        if tone_level_db(heard, PING_HZ, i / 10) > -6
    ]
    assert starts, "the notification was not heard"
    ping_at = starts[0]
    assert tone_level_db(heard, PING_HZ, ping_at + 0.4, 0.3) == pytest.approx(0.0, abs=0.5)
    before = tone_level_db(heard, MUSIC_HZ, ping_at - 0.6, 0.4)
    during = tone_level_db(heard, MUSIC_HZ, ping_at + 0.3, 0.5)
    assert before == pytest.approx(0.0, abs=0.5)
    assert during - before == pytest.approx(-14.0, abs=1.0)


def test_a_file_the_daemon_cannot_decode_is_one_line_and_status_2(procs: Notifying, media) -> None:
    bad = media.file("bad.wav", b"this is not audio")
    status, _, stderr = finish(procs.notify(bad))
    assert status == 2
    errors = [line for line in stderr.splitlines() if not line.startswith("import time:")]
    assert errors == [
        f"audiosession notify: cannot play {bad!r}: not a decodable audio file "
        "(Format not recognised)"
    ], errors


def test_ctrl_c_stops_the_daemons_sound_with_status_130(procs: Notifying, media) -> None:
    process = procs.notify(media.tone(PING_HZ, 1.0, name="ping.wav"), "--loop")
    assert process.stdout is not None
    assert "playing" in process.stdout.readline()
    process.send_signal(signal.SIGINT)
    status, _, stderr = finish(process)
    assert status == 130 and "ping.wav: stopped (Ctrl-C)" in stderr
    procs.daemon.wait_log(f"(pid {process.pid}, audiosession notify) disconnected")
    after = procs.server.record_monitor("speakers", 0.3)
    assert np.max(np.abs(after)) < 1e-3


def test_a_notify_stopped_by_ctrl_z_falls_silent_and_gives_the_music_back_until_it_runs(
    procs: Notifying, media
) -> None:
    music = procs.music(media.tone(MUSIC_HZ, 30.0, name="music.wav"))
    music.wait_for("playing")
    process = procs.notify(media.tone(PING_HZ, 1.0, name="ping.wav"), "--loop")
    assert process.stdout is not None
    assert "playing" in process.stdout.readline()
    client = f"(pid {process.pid}, audiosession notify)"
    try:
        heard = procs.server.record_monitor("speakers", 0.6)
        assert tone_level_db(heard, PING_HZ, 0.1, 0.4) == pytest.approx(0, abs=0.5)
        assert tone_level_db(heard, MUSIC_HZ, 0.1, 0.4) == pytest.approx(-14, abs=1)
        mark = len(procs.daemon.log())
        # Stopped as Ctrl-Z stops it (SIGTSTP itself is discarded for a process whose group
        # is orphaned, as a test's child can be when the suite runs in the background).
        process.send_signal(signal.SIGSTOP)
        procs.daemon.wait_log(f"{client} has not answered a ping", since=mark)
        # Levels once the music player has applied the release (0.5 s) and its stream has
        # played it, in windows that end before the recording does.
        heard = procs.server.record_monitor("speakers", 1.4)
        assert tone_level_db(heard, PING_HZ, 0.1, 1.2) < -60  # silent
        assert tone_level_db(heard, MUSIC_HZ, 0.8, 0.5) == pytest.approx(0, abs=0.5)
        mark = len(procs.daemon.log())
        process.send_signal(signal.SIGCONT)  # fg
        procs.daemon.wait_log(f"{client} answers again", since=mark)
        heard = procs.server.record_monitor("speakers", 1.0)
        assert tone_level_db(heard, PING_HZ, 0.3, 0.5) == pytest.approx(0, abs=0.5)
        assert tone_level_db(heard, MUSIC_HZ, 0.3, 0.5) == pytest.approx(-14, abs=1)
    finally:
        process.send_signal(signal.SIGCONT)
        process.send_signal(signal.SIGINT)
    status, _, _ = finish(process)
    assert status == 130


def waiting_for_an_answer(process: subprocess.Popen[str], timeout: float = 10.0) -> None:
    """Wait until ``process`` is blocked in poll(2), as the short way is once its request is
    sent and it waits for the daemon's reply (nothing before that polls)."""
    deadline = time.monotonic() + timeout
    wchan = Path(f"/proc/{process.pid}/wchan")
    while "poll" not in wchan.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"notify never waited for the daemon (wchan {wchan.read_text()})")
        time.sleep(0.002)


def test_ctrl_c_before_the_daemon_answers_is_status_130_one_line_and_no_sound(
    procs: Notifying, media
) -> None:
    daemon = procs.daemon.proc
    assert daemon is not None
    daemon.send_signal(signal.SIGSTOP)  # it takes the request, but answers nothing yet
    try:
        process = procs.notify(media.tone(PING_HZ, 1.0, name="ping.wav"))
        waiting_for_an_answer(process)
        process.send_signal(signal.SIGINT)
        status, stdout, stderr = finish(process)
    finally:
        daemon.send_signal(signal.SIGCONT)
    errors = [line for line in stderr.splitlines() if not line.startswith("import time:")]
    assert (status, stdout, errors) == (130, "", ["", "ping.wav: stopped (Ctrl-C)"])
    procs.daemon.wait_log(f"(pid {process.pid}, audiosession notify) disconnected")
    after = procs.server.record_monitor("speakers", 0.3)
    assert np.max(np.abs(after)) < 1e-3


@pytest.mark.parametrize("way", ["through the daemon", "without a daemon"])
def test_nobody_reading_the_progress_lets_the_sound_play_to_its_end(
    procs: Notifying, media, way: str
) -> None:
    chime = media.chime("chime.wav")
    env = {**procs.env(), "AUDIOSESSION_DAEMON": "auto" if way == "through the daemon" else "off"}
    reader, writer = os.pipe()
    os.close(reader)  # as `audiosession notify ping.wav | true` once true has exited
    recorder = procs.server.record("speakers.monitor")
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "audiosession", "notify", chime],
            env=env,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.close(writer)
        _, stderr = process.communicate(timeout=20)
        heard = recorder.stop_when_quiet()
    finally:
        recorder.stop()
    assert (process.returncode, stderr) == (0, "")
    # Both notes, the last one to its end.
    (_, first_end), (last_start, last_end) = loud_runs(heard)
    assert (last_start - first_end, last_end - last_start) == pytest.approx((0.05, 0.1), abs=0.001)
    if way == "through the daemon":
        procs.daemon.wait_log(f"(pid {process.pid}, audiosession notify): playing {chime}")


@pytest.mark.parametrize(
    "path, volume, loop, device",
    [
        ("/tmp/ping.wav", 1.0, False, None),
        ('/tmp/a "quoted" \\ back\\slash\nnew line\t.wav', 0.25, True, 'sink "7"'),
        ("/tmp/çà 音 🔔.wav", 0.1, False, "alsa_output.pci-0000_00_1f.3.analog-stereo"),
        (os.fsdecode(b"/tmp/latin1-\xe9t\xe9.wav"), 1.0, True, None),  # not UTF-8: surrogates
    ],
)
def test_the_short_ways_request_reads_as_it_is_meant(
    path: str, volume: float, loop: bool, device: str | None
) -> None:
    request = notify_fast.Notification(path, volume, loop, device)
    args: dict[str, object] = {"path": path}
    if volume != 1.0:
        args["volume"] = volume
    if loop:
        args["loop"] = True
    if device is not None:
        args["device"] = device
    lines = notify_fast.request_lines(request).splitlines()
    assert [protocol.decode_message(line) for line in lines] == [
        {
            "op": "hello",
            "version": endpoint.PROTOCOL_VERSION,
            "pid": os.getpid(),
            "program": "audiosession notify",
            "features": ["ping"],
        },
        {"id": 1, "op": "play_file", "args": args},
    ]


def test_without_a_daemon_a_wav_goes_straight_to_the_server_as_an_event(
    pulse_server: PulseServer, tmp_path: Path
) -> None:
    ping = pcm_tone(tmp_path, PING_HZ, 1.5, "ping.wav")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIOSESSION_")}
    env.update(
        PULSE_SERVER=pulse_server.server_string,
        XDG_CONFIG_HOME=str(tmp_path),
        AUDIOSESSION_DAEMON_SOCKET=str(tmp_path / "no-daemon.sock"),
    )
    recorder = pulse_server.record("speakers.monitor")
    process = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "audiosession", "notify", ping],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert "playing  session active (transient)" in process.stdout.readline()
    streams = [
        s
        for s in pulse_server.sink_inputs()
        if s.properties.get("application.process.id") == str(process.pid)
    ]
    status, _, stderr = finish(process)
    heard = recorder.stop()
    assert status == 0, stderr
    assert [(s.role, s.sink, s.properties.get("application.name")) for s in streams] == [
        ("event", "speakers", "audiosession")
    ]
    assert "numpy" not in imported(stderr)
    loud = np.flatnonzero(np.abs(heard[:, 0]) > 0.05)
    assert len(loud) and tone_level_db(heard, PING_HZ, loud[0] / RATE + 0.5, 0.5) == pytest.approx(
        0.0, abs=0.5
    )
