"""A real process publishes its media session over MPRIS; ``playerctl`` controls it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from support.mpris import Program, playerctl, wait_for

PLAYER = Path(__file__).with_name("player.py")


def player_process(address: str, tone: str) -> Program:
    """``player.py`` playing ``tone`` on the private bus with the null backend."""
    env = {
        **os.environ,
        "DBUS_SESSION_BUS_ADDRESS": address,
        "AUDIOSESSION_BACKEND": "null",
        "AUDIOSESSION_DAEMON": "off",
    }
    env.pop("AUDIOSESSION_MPRIS", None)
    return Program([sys.executable, str(PLAYER), tone], env)


def test_playerctl_lists_controls_and_reads_a_playing_process(session_bus, media):
    player = player_process(session_bus, media.tone(440, seconds=1.0))
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
