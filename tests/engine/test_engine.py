"""The engine: streams per device and role, moves, hot-plug, and capture."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from audiosession.engine import (
    DeviceInfo,
    DeviceRemoved,
    DevicesChanged,
    Engine,
    VirtualBackend,
)
from audiosession.errors import NotFoundError
from support.engine import BLOCK, RATE, output, render, sine


class Constant:
    """A source of a constant value, for ever."""

    def __init__(self, value: float) -> None:
        self.value = value

    def read(self, frames: int) -> np.ndarray:
        return np.full((frames, 2), self.value, dtype=np.float32)


def test_one_stream_per_device_and_role_opened_lazily_and_closed_with_its_last_voice(
    engine: Engine,
) -> None:
    assert engine.streams() == []
    a = engine.add_voice(Constant(0.1))
    b = engine.add_voice(Constant(0.2))
    c = engine.add_voice(Constant(0.3), role="phone")
    assert sorted(engine.streams()) == [("default", "music"), ("default", "phone")]
    render(engine, 0.01)
    assert output(engine)[-1, 0] == pytest.approx(0.6)
    engine.remove_voice(a)
    engine.remove_voice(c)
    assert engine.streams() == [("default", "music")]
    engine.remove_voice(b)
    assert engine.streams() == []
    render(engine, 0.01)
    assert np.all(output(engine)[BLOCK:] == 0)


def test_voice_moves_to_another_device_at_the_next_block(engine: Engine) -> None:
    voice = engine.add_voice(Constant(0.5))
    render(engine, 0.1)
    voice.device = "headset"
    assert engine.streams() == [("headset", "music")]
    render(engine, 0.1)
    speakers, headset = output(engine), output(engine, "headset")
    assert np.all(speakers[:4800] == 0.5) and np.all(speakers[4800:] == 0)
    assert np.all(headset[:4800] == 0) and np.all(headset[4800:] == 0.5)


def test_changing_role_moves_the_voice_to_that_roles_stream(engine: Engine) -> None:
    voice = engine.add_voice(Constant(0.5))
    engine.move_voice(voice, role="phone")
    assert engine.streams() == [("default", "phone")]
    with pytest.raises(NotFoundError, match="'nope'"):
        engine.move_voice(voice, "nope")


def test_unknown_device_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFoundError, match="'hdmi'; available: default, headset"):
        engine.add_voice(Constant(0.5), device="hdmi")


def test_removed_device_moves_its_voices_to_the_default_output(engine: Engine) -> None:
    events: list[object] = []
    engine.on_event = events.append
    voice = engine.add_voice(Constant(0.5), device="headset")
    render(engine, 0.1)
    backend = engine.backend
    assert isinstance(backend, VirtualBackend)
    backend.remove_device("headset")
    assert voice.device == "default"
    removed = [e for e in events if isinstance(e, DeviceRemoved)]
    assert len(removed) == 1 and removed[0].device_id == "headset"
    assert removed[0].voices == (voice,)
    changed = [e for e in events if isinstance(e, DevicesChanged)]
    assert [d.id for d in changed[-1].devices] == ["default", "default"]
    # Moved held: silent on the default output until its owner lets it play there.
    assert voice.playing is False
    render(engine, 0.1)
    assert np.all(output(engine)[4800:9600] == 0)
    voice.playing = True
    render(engine, 0.1)
    assert np.all(output(engine)[9600 + int(0.004 * 48000) :] == 0.5)  # after the fade-in
    assert "headset" not in [d.id for d in engine.devices()]


def test_added_device_is_announced_and_playable(engine: Engine) -> None:
    events: list[object] = []
    engine.on_event = events.append
    backend = engine.backend
    assert isinstance(backend, VirtualBackend)
    backend.add_device(DeviceInfo("usb", "USB speakers", "audiooutput"))
    assert isinstance(events[-1], DevicesChanged)
    assert "usb" in [d.id for d in events[-1].devices]
    engine.add_voice(Constant(0.25), device="usb")
    render(engine, 0.05)
    assert np.all(output(engine, "usb")[:] == 0.25)


def test_capture_delivers_the_inputs_signal_in_order() -> None:
    signal = sine(440, 0.5)
    backend = VirtualBackend(RATE, 2, BLOCK, signals={"default": signal})
    with Engine(backend, rate=RATE, channels=2, blocksize=BLOCK) as engine:
        capture = engine.open_input()
        render(engine, 0.3)
        assert capture.read_available() == int(0.3 * RATE)
        got = capture.read(int(0.2 * RATE))
        np.testing.assert_array_equal(got[:, 0], signal[: int(0.2 * RATE), 0])
        rest = capture.read(RATE)
        assert np.all(rest[int(0.1 * RATE) :] == 0) and capture.read_available() == 0
        render(engine, 0.3)  # the signal loops
        np.testing.assert_array_equal(
            capture.read(int(0.3 * RATE))[int(0.2 * RATE) :, 0], signal[: int(0.1 * RATE), 0]
        )
        capture.close()
        render(engine, 0.1)
        assert capture.read_available() == 0


def test_capture_keeps_the_latest_two_seconds() -> None:
    ramp = (np.arange(RATE * 5) / (RATE * 5)).astype(np.float32)
    backend = VirtualBackend(RATE, 2, BLOCK, signals={"default": ramp})
    with Engine(backend, rate=RATE, channels=2, blocksize=BLOCK) as engine:
        capture = engine.open_input("default")
        render(engine, 3.0)
        assert capture.read_available() == 2 * RATE
        assert capture.frames_dropped == RATE
        got = capture.read()
        np.testing.assert_array_equal(got[:, 0], ramp[RATE : 3 * RATE])


def test_removed_input_moves_its_capture_to_the_default_input(engine: Engine) -> None:
    backend = engine.backend
    assert isinstance(backend, VirtualBackend)
    backend.add_device(DeviceInfo("usb-mic", "USB mic", "audioinput"), signal=np.full(100, 0.5))
    capture = engine.open_input("usb-mic")
    render(engine, 0.01)
    events: list[object] = []
    engine.on_event = events.append
    backend.remove_device("usb-mic")
    assert capture.device == "default"
    assert [e.captures for e in events if isinstance(e, DeviceRemoved)] == [(capture,)]
    render(engine, 0.01)
    got = capture.read()
    assert np.all(got[:BLOCK] == 0.5) and np.all(got[BLOCK:] == 0)


def test_wav_file_stands_in_for_a_microphone_looped(write_audio: Callable) -> None:
    path = write_audio("mic.wav", sine(300, 0.25, rate=16000), rate=16000)
    backend = VirtualBackend(RATE, 2, BLOCK, signals={"default": path})
    with Engine(backend, rate=RATE, channels=2, blocksize=BLOCK) as engine:
        capture = engine.open_input()
        render(engine, 0.5)
        got = capture.read()
    assert got.shape == (RATE // 2, 2)
    np.testing.assert_allclose(got[: RATE // 4], got[RATE // 4 :], atol=1e-6)
    assert abs(got).max() == pytest.approx(0.5, abs=0.01)
