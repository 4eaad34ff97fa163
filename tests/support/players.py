"""What the tests of the players' adapters need: the libraries (or a clear skip, a failure under
``CI=true``), and what a player sounds like on the private server's speakers."""

from __future__ import annotations

from typing import Any

import numpy as np

from support.mpris import require, wait_for
from support.pulse_server import PulseServer, level_db

FULL = 20 * np.log10(0.5 / np.sqrt(2))
"""``level_db`` of a tone file of amplitude 0.5 played untouched."""

SILENT = -60.0
"""Below this ``level_db``, a paused player is silent."""


def require_libmpv() -> None:
    try:
        import mpv  # noqa: F401
    except (ImportError, OSError) as error:
        require(
            f"python-mpv with libmpv ({error})",
            False,
            "apt-get install libmpv2; pip install 'audiosession[players]' (scripts/setup --test)",
        )


def require_pygame() -> Any:
    """pygame (pygame-ce, whose wheel brings its own SDL with the pulseaudio driver)."""
    try:
        import pygame
    except ImportError as error:
        require(f"pygame-ce ({error})", False, "pip install 'audiosession[players]'")
    return pygame


def heard(server: PulseServer, freq: float, seconds: float = 0.6) -> float:
    """The level of ``freq`` on the speakers over the next ``seconds``."""
    return level_db(server.record_monitor("speakers", seconds), freq)


def wait_until_heard(server: PulseServer, freq: float, what: str) -> None:
    """Wait until ``freq`` sounds on the speakers within 5 dB of a full-level tone."""
    wait_for(lambda: heard(server, freq, 0.3) > FULL - 5, f"{what} to be heard", timeout=10)


def wait_until_silent(server: PulseServer, freq: float, what: str) -> None:
    """Wait until ``freq`` is silent on the speakers (the device's latency passed)."""
    wait_for(lambda: heard(server, freq, 0.3) < SILENT, f"{what} to be silent", timeout=10)
