"""The null and wav sinks keep real time; select_backend picks a backend or falls back."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiosession.engine import Engine, NullBackend, WavBackend, select_backend
from support.engine import RATE, dominant_frequency, sine


class Tone:
    def __init__(self) -> None:
        self.data = sine(440, 10.0, channels=2)
        self.position = 0

    def read(self, frames: int) -> np.ndarray:
        block = self.data[self.position : self.position + frames]
        self.position += len(block)
        return block


def test_null_backend_renders_in_real_time() -> None:
    backend = NullBackend()
    with Engine(backend, rate=RATE, channels=2, blocksize=480) as engine:
        voice = engine.add_voice(Tone())
        started = time.monotonic()
        time.sleep(0.5)
        played = voice.frames_played / RATE
        elapsed = time.monotonic() - started
    assert played == pytest.approx(elapsed, abs=0.06)
    assert backend.late_blocks == 0


def test_wav_backend_writes_what_was_played_in_real_time(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    backend = WavBackend(path)
    with Engine(backend, rate=RATE, channels=2, blocksize=480) as engine:
        engine.add_voice(Tone())
        started = time.monotonic()
        time.sleep(0.4)
        elapsed = time.monotonic() - started
    written, rate = sf.read(path, dtype="float32")
    assert rate == RATE and written.shape[1] == 2
    assert len(written) / RATE == pytest.approx(elapsed, abs=0.06)
    np.testing.assert_allclose(
        written[: len(written) // 2], Tone().data[: len(written) // 2], atol=1e-6
    )
    assert dominant_frequency(written) == pytest.approx(440, abs=1)


def test_select_backend_by_name(tmp_path: Path) -> None:
    assert isinstance(select_backend("null"), NullBackend)
    wav = select_backend(f"wav:{tmp_path / 'x.wav'}")
    assert isinstance(wav, WavBackend) and wav.path == str(tmp_path / "x.wav")
    with pytest.raises(ValueError, match="'loud'.*null, wav:PATH"):
        select_backend("loud")


def test_environment_variable_chooses_when_the_program_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUDIOSESSION_BACKEND", "null")
    assert isinstance(select_backend(), NullBackend)


def test_without_a_sound_device_falls_back_to_null_with_one_warning(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/no-such-socket")
    monkeypatch.delenv("AUDIOSESSION_BACKEND", raising=False)
    with caplog.at_level(logging.WARNING, logger="audiosession.engine"):
        backend = select_backend("pulse")
    assert isinstance(backend, NullBackend)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "no sound device" in warnings[0].getMessage()
    assert "null" in warnings[0].getMessage()


def test_the_backend_protocol_and_the_wire_load_neither_numpy_nor_the_decoders() -> None:
    heavy = ("numpy", "soundfile", "soxr")
    code = (
        "import sys, audiosession.engine.backend, audiosession.wire.protocol\n"
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_every_name_the_engine_exports_is_there() -> None:
    import audiosession.engine as engine

    missing = [name for name in engine.__all__ if not hasattr(engine, name)]
    assert missing == []
