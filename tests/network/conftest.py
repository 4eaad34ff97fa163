"""Fixtures for the network tests: the HTTP server and media made with ffmpeg."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.audio import from_lavfi
from support.http_server import AudioServer
from support.requirements import need_tool


@pytest.fixture
def server() -> Iterator[AudioServer]:
    """An HTTP server on 127.0.0.1, closed after the test."""
    http = AudioServer()
    yield http
    http.close()


@pytest.fixture(scope="session")
def mp3_tone(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """60 s of a 440 Hz sine at amplitude 0.5, 48 kHz mono MP3 at 64 kbit/s."""
    path = Path(tmp_path_factory.mktemp("mp3")) / "tone-60s.mp3"
    need_tool("ffmpeg")  # to make the MP3 test media
    from_lavfi("aevalsrc=0.5*sin(2*PI*440*t):s=48000:d=60", path, "-ac", "1", "-b:a", "64k")
    return path.read_bytes()


@pytest.fixture(scope="session")
def mp3_onset(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """60 s MP3: silence, then from exactly 37 s a 440 Hz sine at amplitude 0.5."""
    path = Path(tmp_path_factory.mktemp("mp3")) / "onset-37s.mp3"
    need_tool("ffmpeg")  # to make the MP3 test media
    from_lavfi(
        "aevalsrc=if(gte(t\\,37)\\,0.5*sin(2*PI*440*t)\\,0):s=48000:d=60",
        path,
        "-ac",
        "1",
        "-b:a",
        "64k",
    )
    return path.read_bytes()
