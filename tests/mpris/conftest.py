"""Fixtures for the MPRIS tests: a private D-Bus session bus, and the tools that drive it.

A missing ``dbus-daemon`` or ``playerctl`` (Debian's ``dbus`` and ``playerctl``) or a missing
``jeepney`` skips these tests with the reason, except under ``CI=true`` where it fails.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest


def require(what: str, present: bool, install: str) -> None:
    """Skip (or, under ``CI=true``, fail) when ``what`` is missing."""
    if present:
        return
    message = f"{what} is missing; install it with: {install}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_tools() -> None:
    require("dbus-daemon", shutil.which("dbus-daemon") is not None, "apt-get install dbus")
    require("playerctl", shutil.which("playerctl") is not None, "apt-get install playerctl")
    require(
        "the jeepney package",
        importlib.util.find_spec("jeepney") is not None,
        "pip install 'jeepney>=0.9'",
    )


@pytest.fixture
def session_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private ``dbus-daemon --session`` for this test; its address is also put in
    ``DBUS_SESSION_BUS_ADDRESS``. The daemon is killed afterwards."""
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


def playerctl(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``playerctl args`` against the bus at ``address``."""
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": address}
    return subprocess.run(["playerctl", *args], env=env, capture_output=True, text=True, timeout=10)
