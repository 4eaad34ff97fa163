"""``audiosession status`` and a player's progress line say what the policy does to a session:
which program holds it, its whole type, its gain and why. Real processes: the daemon, the
command, and a call in a client of its own."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from support.audio import Media
from support.commands import run_command
from support.daemon import Processes, base_env


class Command:
    """``python -m audiosession ARGS`` against the test's daemon, its stdout read as it comes."""

    def __init__(self, procs: Processes, *args: str) -> None:
        env = base_env(procs.runtime_dir, procs.config_home)
        env.update(AUDIOSESSION_DAEMON="required", AUDIOSESSION_BACKEND="null")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "audiosession", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_line(self, text: str, timeout: float = 10.0) -> str:
        """The next line of its output that contains ``text``."""
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None:
                raise AssertionError(f"it exited before a line with {text!r}")
            if text in line:
                return line

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def ambient(procs: Processes, tmp_path) -> Iterator[Command]:
    sound = Media(tmp_path).tone(440, 1.0, name="rain.wav")
    command = Command(procs, "ambient", sound, "--loop")
    yield command
    command.stop()


def status(procs: Processes, *args: str) -> subprocess.CompletedProcess[str]:
    env = base_env(procs.runtime_dir, procs.config_home)
    env.update(AUDIOSESSION_DAEMON="required", AUDIOSESSION_BACKEND="null", COLUMNS="80")
    return run_command("status", *args, env=env)


def test_status_and_the_progress_line_say_who_ducks_a_session_and_by_how_much(
    procs: Processes, ambient: Command, media: Media
) -> None:
    ambient.wait_line("playing  session active (ambient)")
    call = procs.player("call", "play-and-record", media.tone(600, 1.0), loop=True)
    call.wait_for("playing")
    cause = f"ducked by player.py (pid {call.proc.pid}), window-1"
    # The player's own progress line: the gain it is ducked to, and by whom.
    line = ambient.wait_line(f"gain 0.20 (-14.0 dB): {cause}")
    assert "playing  session active (ambient)" in line

    table = status(procs)  # through a pipe, 80 columns: nothing is cut
    assert table.returncode == 0, table.stderr
    assert "…" not in table.stdout
    rows = [row for row in table.stdout.splitlines() if f"(pid {ambient.proc.pid})" in row]
    assert len(rows) == 1, table.stdout
    assert f"audiosession (pid {ambient.proc.pid}), window-1" in rows[0]
    assert "ambient" in rows[0] and "active" in rows[0] and "0.20" in rows[0]
    assert cause in rows[0]
    assert "play-and-record" in table.stdout

    report = json.loads(status(procs, "--json").stdout)
    assert report["platform"] == "daemon"
    (mine,) = [s for s in report["sessions"] if s["owner"].startswith("audiosession (pid")]
    assert (mine["type"], mine["state"], mine["gain"], mine["causes"]) == (
        "ambient",
        "active",
        pytest.approx(0.2),
        [cause],
    )
    (theirs,) = [s for s in report["sessions"] if s["owner"].startswith("player.py")]
    assert theirs["type"] == "play-and-record"
    call.quit()
