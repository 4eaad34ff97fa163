"""A real process publishes its media session over MPRIS; ``playerctl`` controls it."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import playerctl

PLAYER = Path(__file__).with_name("player.py")


class PlayerProcess:
    """``player.py`` running on the private bus; its stdout lines arrive in a queue."""

    def __init__(self, address: str, tone: str) -> None:
        env = {
            **os.environ,
            "DBUS_SESSION_BUS_ADDRESS": address,
            "AUDIOSESSION_BACKEND": "null",
            "AUDIOSESSION_DAEMON": "off",
        }
        env.pop("AUDIOSESSION_MPRIS", None)
        self.process = subprocess.Popen(
            [sys.executable, str(PLAYER), tone],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def expect(self, line: str, timeout: float = 5.0) -> None:
        """Wait for the player to print ``line`` (other lines before it are skipped)."""
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                got = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if got == line:
                return
            seen.append(got)
        errors = self.stop()
        pytest.fail(f"the player did not print {line!r} (it printed {seen}); stderr:\n{errors}")

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.kill()
        _, errors = self.process.communicate(timeout=5)
        return errors


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_playerctl_lists_controls_and_reads_a_playing_process(session_bus, media):
    player = PlayerProcess(session_bus, media.tone(440, seconds=1.0))
    try:
        player.expect("paused False")
        name = f"audiosession.instance{player.process.pid}_1"

        # playerctl -l lists the player.
        wait_for(
            lambda: name in playerctl(session_bus, "-l").stdout.split(),
            f"playerctl -l to list {name}",
        )
        assert playerctl(session_bus, "-p", name, "status").stdout.strip() == "Playing"
        assert playerctl(session_bus, "-p", name, "metadata", "title").stdout.strip() == (
            "Test Tone"
        )
        assert playerctl(session_bus, "-p", name, "metadata", "artist").stdout.strip() == (
            "The Testers"
        )

        # play-pause pauses it, and again resumes it: the script sees element.paused change.
        playerctl(session_bus, "-p", name, "play-pause")
        player.expect("paused True")
        wait_for(
            lambda: playerctl(session_bus, "-p", name, "status").stdout.strip() == "Paused",
            "playerctl status to say Paused",
        )
        playerctl(session_bus, "-p", name, "play-pause")
        player.expect("paused False")
        wait_for(
            lambda: playerctl(session_bus, "-p", name, "status").stdout.strip() == "Playing",
            "playerctl status to say Playing",
        )

        # next calls the script's nexttrack handler.
        playerctl(session_bus, "-p", name, "next")
        player.expect("action nexttrack")

        # Closing the window unpublishes it.
        player.send("close")
        player.expect("closed")
        wait_for(
            lambda: name not in playerctl(session_bus, "-l").stdout.split(),
            f"{name} to disappear from playerctl -l",
        )
        player.send("exit")
        assert player.process.wait(timeout=5) == 0
    finally:
        player.stop()
