"""The program's own streams with the daemon: a program (a real process) that sets its type and
plays through libpulse-simple on a thread, nothing else of ours, is policed by the daemon as
one session: `audiosession prompt` and `notify` from other processes interrupt and duck it, and
`audiosession status` shows its stream under its own row; clients that come and go with rounds
of own streams leave nothing behind in the daemon. On a private PulseAudio, levels on the
speakers' monitor."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import support
from audiosession.engine.backends.pulse.foreign import scaled
from support.audio import Media
from support.bridged import Bridged, wait_until
from support.commands import run_command
from support.daemon import base_env
from support.mpris import Program
from support.pulse_server import level_db
from support.soak import importing_support, server_usage, usage

PROGRAM = Path(support.__file__).with_name("tone_program.py")
OWN_STREAMS_PROGRAM = Path(support.__file__).with_name("own_streams_program.py")


def client_env(bridged: Bridged, **extra: str) -> dict[str, str]:
    """The environment of a client of the test's daemon on the private server."""
    env = base_env(bridged.runtime_dir, bridged.config_home)
    env.update(
        AUDIOSESSION_DAEMON="required",
        AUDIOSESSION_BACKEND="pulse",
        PULSE_SERVER=bridged.server.server_string,
        **extra,
    )
    return env


@pytest.fixture
def program(bridged: Bridged) -> Iterator[Program]:
    """The tone program, as a client of the daemon, its tone playing and its session active."""
    env = client_env(bridged, **{"PULSE_PROP_media.role": "music"})
    program = Program([sys.executable, str(PROGRAM), "--type", "playback"], env)
    try:
        program.expect("playing", timeout=10)
        program.expect("state active", timeout=10)
        yield program
    finally:
        program.stop()


def command(bridged: Bridged, *args: str) -> subprocess.Popen[bytes]:
    """``audiosession ARGS`` in a process of its own, a client of the test's daemon."""
    return subprocess.Popen(
        [sys.executable, "-m", "audiosession", *args],
        env=client_env(bridged),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finished(process: subprocess.Popen[bytes]) -> None:
    _, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors.decode(errors="replace")


def tone_stream(bridged: Bridged, program: Program) -> int:
    streams = bridged.server.sink_inputs_of(program.process.pid)
    assert len(streams) == 1, streams
    return streams[0].index


def heard_db(bridged: Bridged, seconds: float = 0.5) -> float:
    return level_db(bridged.server.record_monitor("speakers", seconds), 440)


def status(bridged: Bridged) -> str:
    result = run_command("status", env=client_env(bridged, COLUMNS="200"))
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_prompt_of_another_program_interrupts_the_programs_own_stream_then_it_plays_on(
    bridged: Bridged, program: Program, media: Media
) -> None:
    index = tone_stream(bridged, program)
    full = heard_db(bridged)
    prompt = command(bridged, "prompt", media.tone(1000, 3.0))
    program.expect("state interrupted")
    assert wait_until(lambda: bridged.volume(index)[1])  # muted while the prompt plays
    assert heard_db(bridged) < -60
    assert prompt.poll() is None  # still during the prompt
    program.expect("state active", timeout=10)
    finished(prompt)
    assert wait_until(lambda: not bridged.volume(index)[1])
    assert heard_db(bridged) == pytest.approx(full, abs=0.5)


def test_a_notification_of_another_program_ducks_the_programs_own_stream_by_14_db(
    bridged: Bridged, program: Program, media: Media
) -> None:
    index = tone_stream(bridged, program)
    before, _ = bridged.volume(index)
    full = heard_db(bridged)
    notify = command(bridged, "notify", media.tone(1000, 3.0))
    assert wait_until(lambda: bridged.volume(index)[0] == scaled(before, 0.2))
    assert heard_db(bridged) - full == pytest.approx(-14, abs=1)
    finished(notify)
    assert wait_until(lambda: bridged.volume(index)[0] == before, timeout=10)
    assert heard_db(bridged) == pytest.approx(full, abs=0.5)
    program.send("exit")
    assert program.process.wait(timeout=10) == 0
    assert "state" not in " ".join(program.lines.queue)  # active throughout


def test_status_shows_the_programs_own_stream_under_its_row_not_as_a_foreign_session(
    bridged: Bridged, program: Program
) -> None:
    shown = status(bridged)
    rows = [line for line in shown.splitlines() if f"(pid {program.process.pid})" in line]
    assert len(rows) == 1 and "playback" in rows[0] and "active" in rows[0], shown
    assert "pulse:" not in shown and "pulse/" not in shown, shown


class ParentOfAChild:
    """The tone program running ``paplay`` as its child (``--child``), with
    ``AUDIOSESSION_OWN_STREAMS=children``; the child is killed with it."""

    def __init__(self, bridged: Bridged, media: Media, *more: str) -> None:
        env = client_env(bridged, AUDIOSESSION_OWN_STREAMS="children")
        sound = media.tone(440, 60.0)
        self.program = Program([sys.executable, str(PROGRAM), "--child", sound, *more], env)
        self.child = int(self.program.expect_containing("child ").split()[1])

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.child, signal.SIGKILL)
        self.program.stop()


def test_a_child_processs_stream_is_one_session_the_programs_not_a_foreign_one(
    bridged: Bridged, media: Media
) -> None:
    mark = len(bridged.daemon.log())
    parent = ParentOfAChild(bridged, media)
    try:
        parent.program.expect("state active", timeout=10)  # the child's stream, adopted
        bridged.wait_log(f"(pid {parent.child}) is ours or a client's", since=mark)
        shown = status(bridged)
        rows = [line for line in shown.splitlines() if "(pid " in line]
        assert len(rows) == 1 and f"(pid {parent.program.process.pid})" in rows[0], shown
        assert "playback" in rows[0] and "active" in rows[0], shown
        # The policy reaches it once, through the program's session: a prompt mutes it.
        (stream,) = bridged.server.sink_inputs_of(parent.child)
        prompt = command(bridged, "prompt", media.tone(1000, 2.0))
        parent.program.expect("state interrupted")
        assert wait_until(lambda: bridged.volume(stream.index)[1])
        parent.program.expect("state active", timeout=10)
        finished(prompt)
        assert wait_until(lambda: not bridged.volume(stream.index)[1])
    finally:
        parent.stop()


def test_a_childs_stream_bridged_before_its_parent_joined_becomes_the_programs(
    bridged: Bridged, media: Media
) -> None:
    mark = len(bridged.daemon.log())
    parent = ParentOfAChild(bridged, media, "--child-first")
    try:
        foreign = f"pulse: paplay (pid {parent.child})"
        bridged.wait_log(foreign, since=mark)
        assert foreign in status(bridged)
        (stream,) = bridged.server.sink_inputs_of(parent.child)
        parent.program.send("join")
        parent.program.expect("state active", timeout=10)
        bridged.wait_log(f"#{stream.index} of paplay (pid {parent.child}) is a client's own")
        shown = status(bridged)
        rows = [line for line in shown.splitlines() if "(pid " in line]
        assert len(rows) == 1 and f"(pid {parent.program.process.pid})" in rows[0], shown
    finally:
        parent.stop()


CLIENTS = 5
SOUNDS = 20

RSS_MARGIN = 1 << 20
"""Bytes the daemon's resident memory may grow by from the second client to the fifth: glibc
keeps what Python frees, and the figure creeps up in steps (tests/daemon/test_soak.py); it
grew by 12 to 16 KB in six runs. It catches a large leak only: a session left behind shows in
``audiosession status``."""


def test_clients_that_come_and_go_with_rounds_of_own_streams_leave_nothing_behind(
    bridged: Bridged,
) -> None:
    """Each client a program whose tones are policed by the daemon as its own streams (half
    adopted, half claimed by an ``ExternalPlayer``); once each has gone, ``audiosession
    status`` shows no row of it, and the daemon's fds, threads and memory and the server's
    clients and sink-inputs are read."""
    assert bridged.daemon.proc is not None
    daemon = bridged.daemon.proc.pid
    # A recording keeps the speakers running (see tests/session/test_own_streams_soak.py).
    recorder = bridged.server.record("speakers.monitor").start()
    after_each = []
    try:
        for _ in range(CLIENTS):
            since = len(bridged.daemon.log())
            program = subprocess.Popen(
                [sys.executable, str(OWN_STREAMS_PROGRAM), "1", str(SOUNDS)],
                env=importing_support(client_env(bridged)),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            output, errors = program.communicate("\n", timeout=60)
            assert program.returncode == 0, errors
            assert json.loads(output)["players"] == 0
            bridged.wait_log(
                f"(pid {program.pid}, {OWN_STREAMS_PROGRAM.name}) disconnected", since=since
            )
            after_each.append({**usage(daemon), **server_usage(bridged.server)})
            assert f"(pid {program.pid})" not in status(bridged)
    finally:
        recorder.stop()
    for later in after_each[1:]:
        assert {**later, "rss": 0} == {**after_each[0], "rss": 0}, after_each
    assert after_each[-1]["rss"] - after_each[1]["rss"] <= RSS_MARGIN, after_each
