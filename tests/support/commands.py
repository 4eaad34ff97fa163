"""Run the real ``audiosession`` command in a subprocess, on the null sink (no sound card), in
embedded mode (no daemon)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def command_env(**extra: str) -> dict[str, str]:
    """The environment the command runs in: no sound device, no user config."""
    env = dict(os.environ)
    env.pop("AUDIOSESSION_FAKE_MIC", None)
    env.update(
        AUDIOSESSION_BACKEND="null",
        AUDIOSESSION_CONFIG=os.devnull,
        AUDIOSESSION_DAEMON="off",
        COLUMNS="120",
    )
    env.update(extra)
    return env


def run_command(
    *args: str, cwd: Path | None = None, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m audiosession ARGS`` (the console script's code path), captured."""
    return subprocess.run(
        [sys.executable, "-m", "audiosession", *args],
        cwd=cwd,
        env=env or command_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


COMMANDS = ("demo", "play", "notify", "prompt", "ambient", "call", "devices", "status", "daemon")
