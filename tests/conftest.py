"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# The shared test code asserts as tests do: its failures explain themselves too.
pytest.register_assert_rewrite("support")

from audiosession.testing import VirtualEnvironment  # noqa: E402
from support.audio import Media  # noqa: E402

# Fixtures that tests in several folders use: real servers and the daemon's processes.
pytest_plugins = [
    "support.daemon",
    "support.mpris",
    "support.pipewire_server",
    "support.pulse_runtime",
    "support.pulse_server",
]


@pytest.fixture
def env() -> Iterator[VirtualEnvironment]:
    """A virtual-time environment, closed after the test."""
    with VirtualEnvironment() as environment:
        yield environment


@pytest.fixture
def media(tmp_path) -> Media:
    """Test media written into this test's temporary folder."""
    return Media(tmp_path)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory like ``/tmp`` (everyone may write in it; sticky), for tests where another
    user (``nobody``) plants files next to ours. Under ``/tmp`` itself, which every user can
    reach (the tests' own temporary folders are private)."""
    path = Path(tempfile.mkdtemp(prefix="as-shared-", dir="/tmp"))
    os.chmod(path, 0o1777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
