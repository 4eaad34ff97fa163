"""The engine on the PulseAudio backend: voices reach the right sink in the right role stream."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from audiosession.engine.engine import DeviceRemoved, Engine
from audiosession.engine.selection import select_backend
from support.pulse_server import PulseServer

RATE = 48000


class Sine:
    """An endless sine source (the mixer's ``Source`` protocol)."""

    def __init__(self, freq: float, amp: float = 0.5) -> None:
        self.freq, self.amp, self.pos = freq, amp, 0

    def read(self, frames: int) -> np.ndarray:
        t = np.arange(self.pos, self.pos + frames) / RATE
        self.pos += frames
        x = (self.amp * np.sin(2 * np.pi * self.freq * t)).astype(np.float32)
        return np.repeat(x[:, None], 2, axis=1)


def level_db(signal: np.ndarray, freq: float) -> float:
    spectrum = np.fft.rfft(signal[:, 0].astype(np.float64))
    bins = np.fft.rfftfreq(len(signal), 1 / RATE)
    band = np.abs(bins - freq) <= 20
    rms = np.sqrt(2 * np.sum(np.abs(spectrum[band]) ** 2)) / len(signal)
    return float(20 * np.log10(max(rms, 1e-12)))


def test_select_backend_picks_pulse_when_a_server_answers(pulse_server: PulseServer) -> None:
    backend = select_backend("auto")
    try:
        assert backend.name == "pulse"
        assert backend.default_output() == "speakers"
    finally:
        backend.close()


def test_engine_voices_play_on_their_device_with_their_role(pulse_server: PulseServer) -> None:
    engine = Engine(select_backend("pulse"), blocksize=256)
    try:
        engine.add_voice(Sine(440), role="music")
        engine.add_voice(Sine(1000), device="headset", role="phone")
        time.sleep(0.2)
        recorders = {s: pulse_server.record(f"{s}.monitor") for s in ("speakers", "headset")}
        time.sleep(1.0)
        got = {s: r.stop()[RATE // 10 :] for s, r in recorders.items()}
        streams = sorted(
            (s.sink, s.role or "")
            for s in pulse_server.sink_inputs()
            if s.properties.get("application.process.id") == str(os.getpid())
        )
    finally:
        engine.close()
    assert streams == [("headset", "phone"), ("speakers", "music")]
    expected = 20 * np.log10(0.5 / np.sqrt(2))
    assert level_db(got["speakers"], 440) == pytest.approx(expected, abs=0.3)
    # Absent: below -40 dB relative (FFT leakage of the other tone alone is about -50 dB).
    assert level_db(got["speakers"], 1000) < expected - 40
    assert level_db(got["headset"], 1000) == pytest.approx(expected, abs=0.3)
    assert level_db(got["headset"], 440) < expected - 40


def test_unplugging_a_sink_moves_its_voices_to_the_default(pulse_server: PulseServer) -> None:
    removed = threading.Event()
    events: list[object] = []

    def on_event(event: object) -> None:
        events.append(event)
        if isinstance(event, DeviceRemoved):
            removed.set()

    module = pulse_server.load_null_sink("usb")
    engine = Engine(select_backend("pulse"), blocksize=256, on_event=on_event)
    try:
        voice = engine.add_voice(Sine(440), device="usb", role="music")
        time.sleep(0.2)
        pulse_server.unload_module(module)
        assert removed.wait(5), f"no DeviceRemoved; events: {events}"
        held = pulse_server.record_monitor("speakers", 0.4)
        voice.playing = True  # what the platform does for a session that may play on
        time.sleep(0.3)
        got = pulse_server.record_monitor("speakers", 0.8)[RATE // 10 :]
    finally:
        engine.close()
    event = next(e for e in events if isinstance(e, DeviceRemoved))
    assert event.device_id == "usb" and voice in event.voices
    assert np.max(np.abs(held)) < 1e-3  # held silent until its owner decides
    assert level_db(got, 440) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.3)
