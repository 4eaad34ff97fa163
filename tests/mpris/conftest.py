"""Fixtures for the MPRIS tests: a private D-Bus session bus, and the tools that drive it.

A missing ``dbus-daemon`` or ``playerctl`` (Debian's ``dbus`` and ``playerctl``) or a missing
``jeepney`` skips these tests with the reason, except under ``CI=true`` where it fails.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from support.mpris import require_tools


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
