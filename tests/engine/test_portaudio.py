"""Sessions and elements on the portaudio backend: PortAudio's ALSA host API reaches the private
PulseAudio server through ALSA's pulse plugin, and we listen on the sinks' monitors."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from audiosession import Audio, Window
from audiosession.engine.backends.null import NullBackend
from audiosession.engine.backends.portaudio.backend import PortAudioBackend
from audiosession.engine.selection import select_backend
from audiosession.loop import ThreadedLoop
from audiosession.platforms.embedded import EmbeddedPlatform
from audiosession.policy import PolicyConfig
from audiosession.session.runtime import Runtime
from support.alsa_config import AlsaConfig, alsa_config, require_alsa_pulse_plugin
from support.audio import RATE, loud_runs
from support.chimes import chimes_heard, last_note
from support.pulse_server import PulseServer, level_db, wait_for
from support.voice_call import RAW

FULL = 20 * np.log10(0.5 / np.sqrt(2))
"""``level_db`` of a tone file of amplitude 0.5 played untouched."""

SILENT = 1e-4


@pytest.fixture
def alsa(pulse_server: PulseServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AlsaConfig:
    return alsa_config(pulse_server, tmp_path, monkeypatch)


def make_runtime(config: PolicyConfig | None = None) -> tuple[Runtime, ThreadedLoop]:
    loop = ThreadedLoop(name="portaudio-test-loop")

    def platform(task_loop):
        return EmbeddedPlatform(
            task_loop,
            config=config or PolicyConfig(),
            backend_factory=lambda: PortAudioBackend(poll_interval=0.2),
        )

    return Runtime(loop, platform), loop


@pytest.fixture
def runtime(alsa: AlsaConfig) -> Iterator[Runtime]:
    """A process-like runtime (real clock, dispatcher thread) on the portaudio backend."""
    runtime, loop = make_runtime()
    try:
        yield runtime
    finally:
        runtime.close()
        loop.close()


def heard(server: PulseServer, sink: str, seconds: float = 1.0) -> np.ndarray:
    return server.record_monitor(sink, seconds)


def sounding(server: PulseServer, sink: str, freq: float) -> bool:
    """Whether ``freq`` is heard on ``sink`` now (within 5 dB of a full-level tone)."""
    return level_db(heard(server, sink, 0.3), freq) > FULL - 5


def session_gain(runtime: Runtime, window: Window) -> float:
    session_id = window.navigator.audio_session.session_id
    return next(info.gain for info in runtime.platform.sessions() if info.id == session_id)


def test_the_backend_lists_the_pcms_with_the_default(alsa: AlsaConfig) -> None:
    with PortAudioBackend() as backend:
        outputs = {d.id: d for d in backend.list_devices() if d.kind == "audiooutput"}
        assert {"speakers", "headset", "mic", "default"} <= set(outputs)
        assert backend.default_output() == "default" and outputs["default"].is_default
        assert backend.default_input() == "default"
        assert backend.host_api == "ALSA"


def test_a_played_file_reaches_the_default_sink_at_its_level(
    runtime: Runtime, pulse_server: PulseServer, media
) -> None:
    window = Window(runtime=runtime)
    window.navigator.audio_session.type = "playback"
    Audio(media.tone(440, 5.0), window=window).play().result(5)
    assert runtime.platform.audio.backend.name == "portaudio"
    assert wait_for(lambda: sounding(pulse_server, "speakers", 440))
    assert level_db(heard(pulse_server, "speakers"), 440) == pytest.approx(FULL, abs=0.5)
    assert level_db(heard(pulse_server, "headset", 0.5), 440) < -80


def test_a_sound_is_heard_to_its_last_sample_as_the_device_stream_closes(
    runtime: Runtime, pulse_server: PulseServer, media
) -> None:
    heard = chimes_heard(runtime, pulse_server, media.chime("chime.wav"))
    assert len(loud_runs(heard)) == 2  # the two notes, and nothing else
    # The chime's last note whole: the device's stream closed once it had played its buffer.
    assert last_note(heard) == pytest.approx((0.05, 0.1), abs=0.002)


def test_a_notification_ducks_the_music_by_14_db_and_pause_is_silence(
    runtime: Runtime, pulse_server: PulseServer, media
) -> None:
    music_window, ping_window = Window(runtime=runtime), Window(runtime=runtime)
    music_window.navigator.audio_session.type = "playback"
    ping_window.navigator.audio_session.type = "transient"
    music = Audio(media.tone(440, 10.0), window=music_window)
    music.play().result(5)
    assert wait_for(lambda: sounding(pulse_server, "speakers", 440))
    before = level_db(heard(pulse_server, "speakers", 0.6), 440)
    Audio(media.tone(1000, 3.0), window=ping_window).play().result(5)
    assert wait_for(lambda: session_gain(runtime, music_window) <= 0.201)
    ducked = heard(pulse_server, "speakers", 0.8)
    assert level_db(ducked, 440) - before == pytest.approx(-14, abs=1.0)
    assert level_db(ducked, 1000) == pytest.approx(FULL, abs=1.0)  # the ping itself
    # Pause: silence once the device's latency has passed.
    recorder = pulse_server.record("speakers.monitor")
    music.pause()
    assert wait_for(lambda: music.paused)
    assert wait_for(lambda: level_db(heard(pulse_server, "speakers", 0.3), 440) < -80)
    paused_at = len(recorder.stop()) / RATE
    after = heard(pulse_server, "speakers", 0.5)
    assert level_db(after, 440) < -80, "the paused music is still heard"
    assert paused_at < 2.0


def test_set_sink_id_moves_an_element_to_the_second_pcm(
    runtime: Runtime, pulse_server: PulseServer, media
) -> None:
    window = Window(runtime=runtime)
    window.navigator.audio_session.type = "playback"
    audio = Audio(media.tone(660, 6.0), window=window)
    audio.play().result(5)
    assert wait_for(lambda: sounding(pulse_server, "speakers", 660))
    audio.set_sink_id("headset")
    assert wait_for(lambda: sounding(pulse_server, "headset", 660))
    assert level_db(heard(pulse_server, "headset"), 660) == pytest.approx(FULL, abs=0.5)
    assert level_db(heard(pulse_server, "speakers", 0.5), 660) < -80


def test_a_call_goes_to_the_communications_device_of_audiosession_toml(
    alsa: AlsaConfig, pulse_server: PulseServer, media
) -> None:
    runtime, loop = make_runtime(PolicyConfig(communications_device="headset"))
    try:
        window = Window(runtime=runtime)
        window.navigator.audio_session.type = "play-and-record"
        Audio(media.tone(550, 5.0), window=window).play().result(5)
        assert wait_for(lambda: sounding(pulse_server, "headset", 550))
        assert level_db(heard(pulse_server, "speakers", 0.5), 550) < -80
    finally:
        runtime.close()
        loop.close()


def test_capture_from_a_monitor_backed_pcm_delivers_what_was_played(
    runtime: Runtime, pulse_server: PulseServer, media
) -> None:
    window = Window(runtime=runtime)
    window.navigator.audio_session.type = "play-and-record"
    Audio(media.tone(440, 6.0), window=window).play().result(5)
    assert wait_for(lambda: sounding(pulse_server, "speakers", 440))
    # raw: what the tone plays is exactly the echo a processed track cancels
    stream = window.navigator.media_devices.get_user_media(audio=RAW).result(5)
    track = stream.get_audio_tracks()[0]
    track.read()  # drop what came before the tone was steady
    blocks: list[np.ndarray] = []
    assert wait_for(lambda: blocks.append(track.read()) or sum(map(len, blocks)) >= RATE)
    captured = np.concatenate(blocks)
    assert level_db(captured, 440) == pytest.approx(FULL, abs=0.5)
    track.stop()


def test_a_new_pcm_appears_and_removing_it_pauses_the_music_on_it(
    runtime: Runtime, alsa: AlsaConfig, pulse_server: PulseServer, media
) -> None:
    window, ambient_window = Window(runtime=runtime), Window(runtime=runtime)
    window.navigator.audio_session.type = "playback"
    ambient_window.navigator.audio_session.type = "ambient"
    session = window.navigator.audio_session
    background = Audio(media.tone(660, 20.0), window=ambient_window)
    background.play().result(5)
    assert wait_for(lambda: sounding(pulse_server, "speakers", 660))
    changes: list[object] = []
    window.navigator.media_devices.add_event_listener("devicechange", changes.append)
    # Plug in: a new PCM (on the headset sink) appears and fires devicechange.
    alsa.write(
        {
            "speakers": "speakers",
            "headset": "headset",
            "mic": "speakers.monitor",
            "usbphones": "headset",
        }
    )
    assert wait_for(lambda: changes)
    ids = [d.device_id for d in window.navigator.media_devices.enumerate_devices()]
    assert "usbphones" in ids
    # Music on it, while the background plays on: this process's PortAudio is re-initialised
    # to open the new device, and the background's stream is reopened.
    music = Audio(media.tone(440, 20.0), window=window)
    music.set_sink_id("usbphones")
    music.play().result(5)
    assert wait_for(lambda: sounding(pulse_server, "headset", 440))
    assert sounding(pulse_server, "speakers", 660)
    # Unplug: the music pauses (its session becomes inactive); none of it reaches the speakers.
    recorder = pulse_server.record("speakers.monitor")
    alsa.write({"speakers": "speakers", "headset": "headset", "mic": "speakers.monitor"})
    assert wait_for(lambda: session.state == "inactive" and music.paused)
    assert wait_for(lambda: level_db(heard(pulse_server, "headset", 0.3), 440) < -80)
    speakers = recorder.stop()
    assert level_db(speakers, 440) < -80  # not a block of music burst out of the speakers
    assert level_db(speakers, 660) == pytest.approx(FULL, abs=1.0)  # the ambient sound plays on
    assert "usbphones" not in [
        d.device_id for d in window.navigator.media_devices.enumerate_devices()
    ]


def backend_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "audiosession.engine.selection" and r.levelno >= logging.INFO
    ]


def test_auto_takes_portaudio_when_no_pulseaudio_answers_but_alsa_has_a_device(
    alsa: AlsaConfig,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/no-such-socket")
    with caplog.at_level(logging.INFO, logger="audiosession.engine"):
        backend = select_backend("auto")
    try:
        assert isinstance(backend, PortAudioBackend)
        lines = backend_lines(caplog)
        assert len(lines) == 1, lines
        assert lines[0].startswith("audio backend: portaudio (ALSA), default output 'default'")
        assert "pulse: " in lines[0] and "no-such-socket" in lines[0]  # why not pulse
    finally:
        backend.close()


def test_auto_takes_null_with_neither_pulseaudio_nor_an_alsa_device(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    require_alsa_pulse_plugin()
    dead = f"unix:{tmp_path}/no-such-socket"
    monkeypatch.setenv("PULSE_SERVER", dead)
    # Only our file: no sound card's PCM of this machine can be opened either.
    config = tmp_path / "asound.conf"
    config.write_text(f'pcm.!default {{ type pulse; server "{dead}" }}\n')
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(config))
    with caplog.at_level(logging.INFO, logger="audiosession.engine"):
        backend = select_backend("auto")
    assert isinstance(backend, NullBackend)
    lines = backend_lines(caplog)
    assert len(lines) == 1, lines
    assert lines[0].startswith("audio backend: null: no sound device found")
    assert "pulse: " in lines[0] and "portaudio: no output device in ALSA" in lines[0]


def test_backend_environment_variable_forces_portaudio(
    alsa: AlsaConfig, pulse_server: PulseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDIOSESSION_BACKEND", "portaudio")  # though PulseAudio answers
    backend = select_backend()
    try:
        assert isinstance(backend, PortAudioBackend)
    finally:
        backend.close()


def test_an_unknown_device_is_not_found_naming_the_known_ones(alsa: AlsaConfig) -> None:
    from audiosession.errors import NotFoundError

    with PortAudioBackend() as backend, pytest.raises(NotFoundError, match="'nowhere'.*speakers"):
        backend.open_output(
            "nowhere",
            "music",
            rate=RATE,
            channels=2,
            blocksize=480,
            render=lambda frames: np.zeros((frames, 2), np.float32),
        )


def test_an_underrun_is_counted_from_the_callback_flags(alsa: AlsaConfig) -> None:
    stall = threading.Event()

    def render(frames: int) -> np.ndarray:
        if stall.is_set():
            stall.clear()
            time.sleep(0.2)  # once, longer than the 70 ms the device holds: it runs dry
        return np.full((frames, 2), 0.1, np.float32)

    with PortAudioBackend() as backend:
        stream = backend.open_output(
            "speakers", "music", rate=RATE, channels=2, blocksize=480, render=render
        )
        assert wait_for(lambda: stream.blocks_rendered >= 300)  # 3 s: running steadily
        assert stream.underflows == 0
        stall.set()
        assert wait_for(lambda: stream.underflows >= 1)
        stream.close()


def test_the_devices_command_shows_the_portaudio_backend_and_its_pcms(alsa: AlsaConfig) -> None:
    from support.commands import command_env, run_command

    result = run_command(
        "devices",
        env=command_env(AUDIOSESSION_BACKEND="portaudio", ALSA_CONFIG_PATH=alsa.config_path),
    )
    assert result.returncode == 0, result.stderr
    assert "devices of the portaudio (ALSA) backend" in result.stdout
    assert "headset" in result.stdout and "no sound device" not in result.stdout
