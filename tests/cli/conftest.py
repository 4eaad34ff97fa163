"""Run the real ``audiosession`` command in a subprocess, on the null sink (no sound card), in
embedded mode (no daemon)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]


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


@pytest.fixture
def cli(tmp_path: Path) -> Run:
    def run(*args: str, **options: object) -> subprocess.CompletedProcess[str]:
        options.setdefault("cwd", tmp_path)
        return run_command(*args, **options)  # type: ignore[arg-type]

    return run


@pytest.fixture(scope="module")
def virtual_demo(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One ``audiosession demo --virtual`` run, shared by the module's tests."""
    out = tmp_path_factory.mktemp("demo") / "out"
    result = run_command("demo", "--virtual", "--out", str(out))
    return result, out
