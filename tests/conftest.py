"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from audiosession.testing import VirtualEnvironment

from .audio import Media


@pytest.fixture
def env() -> Iterator[VirtualEnvironment]:
    """A virtual-time environment, closed after the test."""
    with VirtualEnvironment() as environment:
        yield environment


@pytest.fixture
def media(tmp_path) -> Media:
    """Test media written into this test's temporary folder."""
    return Media(tmp_path)
