"""Driving programs on a private D-Bus session bus: the tools they need, ``playerctl``, and a
program whose output lines are awaited."""

from __future__ import annotations

import importlib.util
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from support.requirements import unavailable


def require(what: str, present: bool, install: str) -> None:
    """The test is unavailable (``support.requirements``) when ``what`` is missing."""
    if not present:
        unavailable(f"{what} is missing; install it with: {install}")


def require_tools() -> None:
    require("dbus-daemon", shutil.which("dbus-daemon") is not None, "apt-get install dbus")
    require("playerctl", shutil.which("playerctl") is not None, "apt-get install playerctl")
    require(
        "the jeepney package",
        importlib.util.find_spec("jeepney") is not None,
        "pip install 'jeepney>=0.9'",
    )


def playerctl(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``playerctl args`` against the bus at ``address``."""
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": address}
    return subprocess.run(["playerctl", *args], env=env, capture_output=True, text=True, timeout=10)


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


class Program:
    """A program started with ``args`` and ``env`` (on the private bus); its stdout lines
    arrive in a queue, in order."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            args,
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

    def expect(self, line: str, timeout: float = 5.0) -> str:
        """Wait for the program to print ``line`` (other lines before it are skipped)."""
        return self._expect(lambda got: got == line, repr(line), timeout)

    def expect_containing(self, text: str, timeout: float = 5.0) -> str:
        """Wait for a line that contains ``text``; return it (lines before it are skipped)."""
        return self._expect(lambda got: text in got, f"a line with {text!r}", timeout)

    def _expect(self, matches: Callable[[str], bool], what: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                got = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if matches(got):
                return got
            seen.append(got)
        errors = self.stop()
        pytest.fail(f"the program did not print {what} (it printed {seen}); stderr:\n{errors}")

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def stop(self) -> str:
        """Kill the program if it still runs; return its stderr."""
        if self.process.poll() is None:
            self.process.kill()
        _, errors = self.process.communicate(timeout=5)
        return errors


@pytest.fixture
def session_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private ``dbus-daemon --session`` for this test; its address is also put in
    ``DBUS_SESSION_BUS_ADDRESS``. The daemon is killed afterwards. A missing ``dbus-daemon``,
    ``playerctl`` or ``jeepney`` skips the test with the reason (under ``CI=true``, fails it)."""
    require_tools()
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--print-address", "--nofork"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stdout is not None
        address = daemon.stdout.readline().strip()
        if not address:
            _, errors = daemon.communicate(timeout=5)
            pytest.fail(f"dbus-daemon gave no address: {errors}", pytrace=False)
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        yield address
    finally:
        daemon.kill()
        daemon.wait(timeout=5)
        if daemon.stdout is not None:
            daemon.stdout.close()
        if daemon.stderr is not None:
            daemon.stderr.close()
