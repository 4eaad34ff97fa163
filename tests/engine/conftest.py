"""Fixtures for the engine tests: audio files made on the spot, and ways to measure sound."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiosession.engine import Engine, VirtualBackend
from audiosession.engine.backends.pulse.own_streams import OwnStreams
from support.engine import BLOCK, RATE
from support.own_players import Reports
from support.pulse_server import PulseServer
from support.requirements import need_tool


@pytest.fixture
def write_audio(tmp_path: Path) -> Callable[..., Path]:
    """write_audio(name, data, rate=48000, subtype=None) -> path of a new file in tmp_path."""

    def write(name: str, data: np.ndarray, rate: int = RATE, subtype: str | None = None) -> Path:
        path = tmp_path / name
        sf.write(path, data, rate, subtype=subtype)
        return path

    return write


@pytest.fixture
def mp3_of(tmp_path: Path) -> Callable[[np.ndarray, int], Path]:
    """mp3_of(data, rate) -> an MP3 encoded by ffmpeg (a test failure under CI without it)."""

    def encode(data: np.ndarray, rate: int = RATE) -> Path:
        ffmpeg = need_tool("ffmpeg")
        wav = tmp_path / "for-mp3.wav"
        sf.write(wav, data, rate)
        out = tmp_path / "tone.mp3"
        subprocess.run(
            [ffmpeg, "-v", "error", "-y", "-i", str(wav), "-b:a", "192k", str(out)], check=True
        )
        return out

    return encode


@pytest.fixture
def engine() -> Iterator[Engine]:
    """An engine on a virtual backend (48 kHz stereo, 10 ms blocks)."""
    backend = VirtualBackend(RATE, 2, BLOCK)
    with Engine(backend, rate=RATE, channels=2, blocksize=BLOCK) as eng:
        yield eng


@pytest.fixture
def reports() -> Reports:
    """What ``watcher`` reports."""
    return Reports()


@pytest.fixture
def watcher(pulse_server: PulseServer, reports: Reports) -> Iterator[OwnStreams]:
    """This process's own streams on the private server, watched."""
    own = OwnStreams(reports)
    own.start()
    try:
        yield own
    finally:
        own.close()
