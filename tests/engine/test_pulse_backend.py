"""The PulseAudio backend on a private server: what the sinks really receive."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from audiosession.engine.backend import BackendUnavailableError, DeviceInfo
from audiosession.engine.backends.pulse.backend import PulseBackend
from audiosession.errors import NotFoundError
from support.pulse_server import PulseServer, SinkInput, require_pulse_tools, wait_for

RATE = 48000
BLOCK = 256
AMP = 0.5  # tone amplitude: RMS = AMP / sqrt(2) = -9.03 dBFS


def tone(freq: float, amp: float = AMP, channels: int = 2) -> Callable[[int], np.ndarray]:
    """A render callback producing a continuous sine."""
    pos = 0

    def render(frames: int) -> np.ndarray:
        nonlocal pos
        t = np.arange(pos, pos + frames) / RATE
        pos += frames
        x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
        return np.repeat(x[:, None], channels, axis=1)

    return render


def peak_hz(signal: np.ndarray) -> float:
    """Frequency of the strongest FFT bin of the first channel."""
    x = signal[:, 0] * np.hanning(len(signal))
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.argmax(spectrum) * RATE / len(signal))


def level_at(signal: np.ndarray, freq: float) -> float:
    """RMS of the component of the first channel at ``freq`` (±20 Hz), linear: the median
    over 100 ms windows, so one scheduling hiccup of this shared VM does not decide it."""
    window = RATE // 10
    if len(signal) >= 3 * window:
        return float(
            np.median(
                [
                    level_at(signal[i : i + window], freq)
                    for i in range(0, len(signal) - window + 1, window)
                ]
            )
        )
    x = signal[:, 0].astype(np.float64)
    spectrum = np.fft.rfft(x)
    bins = np.fft.rfftfreq(len(x), 1 / RATE)
    band = np.abs(bins - freq) <= 20
    return float(np.sqrt(2 * np.sum(np.abs(spectrum[band]) ** 2)) / len(x))


def db(x: float) -> float:
    return 20 * np.log10(max(x, 1e-12))


def ours(server: PulseServer) -> list[SinkInput]:
    """The playback streams this process has on the server."""
    return [
        s
        for s in server.sink_inputs()
        if s.properties.get("application.process.id") == str(os.getpid())
    ]


def record(server: PulseServer, sinks: list[str], seconds: float) -> dict[str, np.ndarray]:
    """Record several sinks' monitors over the same interval; drop the first 0.1 s."""
    recorders = {sink: server.record(f"{sink}.monitor") for sink in sinks}
    time.sleep(seconds)
    return {sink: rec.stop()[RATE // 10 :] for sink, rec in recorders.items()}


def test_lists_both_null_sinks_with_default_and_intended_roles(backend: PulseBackend) -> None:
    devices = {d.id: d for d in backend.list_devices()}
    assert devices["speakers"] == DeviceInfo(
        "speakers", "Speakers", "audiooutput", frozenset(), True
    )
    assert devices["headset"] == DeviceInfo(
        "headset", "Headset", "audiooutput", frozenset({"phone"}), False
    )
    assert devices["speakers.monitor"].kind == "audioinput"
    assert devices["speakers.monitor"].label == "Monitor of Speakers"
    assert backend.default_output() == "speakers"
    assert backend.default_input() == "speakers.monitor"


def test_tone_reaches_the_default_sink_at_its_level(
    pulse_server: PulseServer, backend: PulseBackend
) -> None:
    stream = backend.open_output(
        "speakers", "music", rate=RATE, channels=2, blocksize=BLOCK, render=tone(440)
    )
    try:
        time.sleep(0.1)
        got = record(pulse_server, ["speakers"], 1.0)["speakers"]
    finally:
        stream.close()
    assert len(got) > 0.8 * RATE
    assert peak_hz(got) == pytest.approx(440, abs=2)
    assert db(level_at(got, 440)) == pytest.approx(db(AMP / np.sqrt(2)), abs=0.2)
    assert stream.underflows == 0


def test_stream_on_headset_is_heard_there_and_not_on_speakers(
    pulse_server: PulseServer, backend: PulseBackend
) -> None:
    stream = backend.open_output(
        "headset", "phone", rate=RATE, channels=2, blocksize=BLOCK, render=tone(1000)
    )
    try:
        time.sleep(0.1)
        got = record(pulse_server, ["headset", "speakers"], 1.0)
    finally:
        stream.close()
    headset, speakers = got["headset"], got["speakers"]
    assert peak_hz(headset) == pytest.approx(1000, abs=2)
    assert db(level_at(headset, 1000)) == pytest.approx(db(AMP / np.sqrt(2)), abs=0.2), (
        f"{len(headset)} frames; silent at {np.flatnonzero(np.abs(headset[:, 0]) < 1e-6)[:5]}"
    )
    assert np.max(np.abs(speakers)) < 1e-4, f"speakers peak at {np.argmax(np.abs(speakers))}"


@pytest.mark.parametrize("role", ["music", "phone", "event", "a11y", "animation"])
def test_stream_carries_the_media_role_asked(
    pulse_server: PulseServer, backend: PulseBackend, role: str
) -> None:
    stream = backend.open_output(
        "speakers", role, rate=RATE, channels=2, blocksize=BLOCK, render=tone(440)
    )
    try:
        inputs = ours(pulse_server)
        index = stream.index
    finally:
        stream.close()
    assert [(s.role, s.sink, s.index) for s in inputs] == [(role, "speakers", index)]
    assert ours(pulse_server) == []


def test_two_streams_of_one_process_with_different_roles_coexist(
    pulse_server: PulseServer, backend: PulseBackend
) -> None:
    music = backend.open_output(
        "speakers", "music", rate=RATE, channels=2, blocksize=BLOCK, render=tone(440, 0.25)
    )
    call = backend.open_output(
        "speakers", "phone", rate=RATE, channels=2, blocksize=BLOCK, render=tone(1000, 0.25)
    )
    try:
        roles = sorted((s.role or "", s.sink) for s in ours(pulse_server))
        time.sleep(0.1)
        got = record(pulse_server, ["speakers"], 1.0)["speakers"]
    finally:
        music.close()
        call.close()
    assert roles == [("music", "speakers"), ("phone", "speakers")]
    for freq in (440, 1000):
        assert db(level_at(got, freq)) == pytest.approx(db(0.25 / np.sqrt(2)), abs=0.3)


def test_removing_a_sink_reports_the_new_list_and_silences_its_stream(
    pulse_server: PulseServer, backend: PulseBackend
) -> None:
    lists: list[list[str]] = []
    changed = threading.Event()

    def on_change(devices: list[DeviceInfo]) -> None:
        lists.append([d.id for d in devices])
        changed.set()

    backend.watch_devices(on_change)
    time.sleep(0.2)
    module = pulse_server.load_null_sink("usb", **{"device.description": "USB headphones"})
    assert changed.wait(5), "no callback after a sink was added"
    assert "usb" in lists[-1]
    stream = backend.open_output(
        "usb", "music", rate=RATE, channels=2, blocksize=BLOCK, render=tone(440)
    )
    changed.clear()
    pulse_server.unload_module(module)
    assert changed.wait(5), "no callback after a sink was removed"
    assert "usb" not in lists[-1] and "usb.monitor" not in lists[-1]
    assert "speakers" in lists[-1]
    # The stream is not moved to the speakers by the server: the engine decides
    # (docs/design.md, *Platform policy*).
    got = record(pulse_server, ["speakers"], 0.5)["speakers"]
    stream.close()
    assert np.max(np.abs(got)) < 1e-4
    assert ours(pulse_server) == []


def test_capture_from_a_sink_monitor_delivers_the_played_samples(backend: PulseBackend) -> None:
    blocks: list[np.ndarray] = []
    out = backend.open_output(
        "speakers", "music", rate=RATE, channels=2, blocksize=BLOCK, render=tone(660)
    )
    inp = backend.open_input(
        "speakers.monitor",
        rate=RATE,
        channels=2,
        blocksize=BLOCK,
        deliver=lambda block: blocks.append(block.copy()),
    )
    try:
        # 1.2 s of the monitor, however late the first block comes on a busy machine.
        assert wait_for(lambda: len(blocks) * BLOCK >= 1.2 * RATE, seconds=10)
    finally:
        inp.close()
        out.close()
    assert all(b.shape == (BLOCK, 2) and b.dtype == np.float32 for b in blocks)
    got = np.concatenate(blocks)[RATE // 5 :]
    assert len(got) > 0.8 * RATE
    assert peak_hz(got) == pytest.approx(660, abs=2)
    assert db(level_at(got, 660)) == pytest.approx(db(AMP / np.sqrt(2)), abs=0.2)
    # Sample-exact: the capture is the sine we rendered, up to its phase, in (nearly) every
    # 100 ms window; a dropout from this shared VM's scheduling may spoil one.
    window = RATE // 10
    ref = tone(660)(window)[:, 0]
    scores = []
    for start in range(0, len(got) - window + 1, window):
        part = got[start : start + window, 0]
        corr = np.abs(np.fft.irfft(np.fft.rfft(part) * np.conj(np.fft.rfft(ref))))
        scores.append(corr.max() / (np.linalg.norm(part) * np.linalg.norm(ref) + 1e-12))
    assert np.median(scores) > 0.99 and np.mean(np.array(scores) > 0.99) >= 0.75, scores


def test_unknown_sink_raises_not_found_naming_it(backend: PulseBackend) -> None:
    with pytest.raises(NotFoundError, match="'no-such-sink'.*speakers"):
        backend.open_output(
            "no-such-sink", "music", rate=RATE, channels=2, blocksize=BLOCK, render=tone(440)
        )


def test_bad_format_is_refused_with_the_value(backend: PulseBackend) -> None:
    with pytest.raises(ValueError, match="channels.*0"):
        backend.open_output(
            "speakers", "music", rate=RATE, channels=0, blocksize=BLOCK, render=tone(440)
        )


def test_no_server_fails_fast_with_a_clear_error(tmp_path: object) -> None:
    start = time.monotonic()
    with pytest.raises(BackendUnavailableError, match="no-such-socket"):
        PulseBackend(server=f"unix:{tmp_path}/no-such-socket")
    assert time.monotonic() - start < 1.0


def test_a_refused_connection_gives_libpulses_reason(tmp_path: object) -> None:
    server = f"unix:{tmp_path}/no-such-socket"
    with pytest.raises(BackendUnavailableError) as caught:
        PulseBackend(server=server)
    assert str(caught.value) == f"cannot connect to {server}: Connection refused"


@pytest.mark.real_server  # a server of its own, stopped mid-stream
def test_server_going_away_ends_streams_without_crashing() -> None:
    require_pulse_tools()
    server = PulseServer({"speakers": {}}).start()
    try:
        backend = PulseBackend(server=server.server_string)
        stream = backend.open_output(
            "speakers", "music", rate=RATE, channels=2, blocksize=BLOCK, render=tone(440)
        )
        time.sleep(0.2)
        assert stream.blocks_rendered > 0
        assert server.process is not None
        server.process.kill()
        server.process.wait()
        deadline = time.monotonic() + 5
        while not stream.failed and time.monotonic() < deadline:
            time.sleep(0.02)
        assert stream.failed
        # While the server is away a new stream waits for it (it opens when it is back).
        waiting = backend.open_output(
            "speakers", "music", rate=RATE, channels=2, blocksize=BLOCK, render=tone(440)
        )
        assert waiting.failed and waiting.index is None
        waiting.close()
        stream.close()
        backend.close()
    finally:
        server.stop()
