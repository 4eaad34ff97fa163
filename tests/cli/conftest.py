"""Run the real ``audiosession`` command in a subprocess, on the null sink (no sound card), in
embedded mode (no daemon)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from support.commands import run_command

Run = Callable[..., subprocess.CompletedProcess[str]]


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
