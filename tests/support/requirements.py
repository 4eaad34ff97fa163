"""What a test needs from the machine: without a program or package it needs, the test is
skipped, except under ``CI=true`` (where ``scripts/setup --test`` installed everything), where
it fails."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def unavailable(message: str) -> NoReturn:
    """Skip the test for want of what ``message`` names; under ``CI=true``, fail it."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def need_tool(name: str, install: str | None = None) -> str:
    """The path of the command-line tool ``name``; the test is unavailable without it."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed (apt-get install {install or name})")
    return path
