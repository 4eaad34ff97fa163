"""A sounddevice ``OutputStream`` in the session, playing to the private PulseAudio through
PortAudio's ALSA host API and ALSA's pulse plugin: a notification ducks it by 14 dB and it
comes back to its level, a call pauses it (silence, its callback's position held) and it plays
on after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audiosession import Audio, Window
from audiosession.engine.backends.portaudio.host import reinitialise_portaudio
from audiosession.session.runtime import Runtime
from support.alsa_config import alsa_config
from support.audio import RATE
from support.mpris import wait_for
from support.players import FULL, SILENT, heard, wait_until_heard, wait_until_silent
from support.pulse_server import PulseServer, level_db

TONE = 440


class Tone:
    """A sounddevice callback that plays a 440 Hz sine of amplitude 0.5, phase kept."""

    def __init__(self) -> None:
        self.frames = 0

    def __call__(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        t = (self.frames + np.arange(frames)) / RATE
        outdata[:] = (0.5 * np.sin(2 * np.pi * TONE * t))[:, np.newaxis]
        self.frames += frames


@pytest.fixture
def stream_on_speakers(
    pulse_server: PulseServer, runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[list[str], Any, Tone]]:
    """A ``SessionOutputStream`` in a ``playback`` window, on ALSA's ``speakers`` PCM (the
    private server's speakers), playing the tone; the window's states as ``statechange``
    told them."""
    alsa_config(pulse_server, tmp_path, monkeypatch)
    import sounddevice

    reinitialise_portaudio(sounddevice)  # PortAudio reads the ALSA configuration afresh
    from audiosession.integrations.sounddevice import SessionOutputStream

    window = Window(runtime=runtime)
    session = window.navigator.audio_session
    session.type = "playback"
    states: list[str] = []
    session.add_event_listener("statechange", lambda event: states.append(session.state))
    tone = Tone()
    stream = SessionOutputStream(
        tone,
        window=window,
        device="speakers",
        samplerate=RATE,
        channels=2,
        blocksize=480,
        latency=0.1,
    )
    try:
        stream.start()
        yield states, stream, tone
    finally:
        stream.close()


def test_a_notification_ducks_the_stream_by_14_db_and_it_comes_back_exactly(
    runtime, pulse_server, media, stream_on_speakers
):
    _, stream, _ = stream_on_speakers
    wait_until_heard(pulse_server, TONE, "the stream")
    before = heard(pulse_server, TONE)
    assert before == pytest.approx(FULL, abs=0.5)
    ping = Window(runtime=runtime)
    ping.navigator.audio_session.type = "transient"
    Audio(media.tone(1000, 1.5), window=ping).play().result(5)
    wait_for(lambda: stream.gain == 0.2, "the duck's ramp to end")
    assert heard(pulse_server, TONE) - before == pytest.approx(-14, abs=1.0)
    wait_for(lambda: stream.gain == 1.0, "the duck's release", timeout=10)
    assert heard(pulse_server, TONE) == pytest.approx(before, abs=0.5)


def test_a_call_pauses_the_stream_and_it_plays_on_from_where_it_was(
    runtime, pulse_server, media, stream_on_speakers
):
    states, stream, tone = stream_on_speakers
    wait_until_heard(pulse_server, TONE, "the stream")

    call = Window(runtime=runtime)
    call.navigator.audio_session.type = "play-and-record"  # on the headset: phone
    Audio(media.tone(550, 10.0), window=call).play().result(5)
    wait_for(lambda: states == ["active", "interrupted"], "the stream's session to be interrupted")
    wait_until_silent(pulse_server, TONE, "the stream")
    held = tone.frames
    assert level_db(pulse_server.record_monitor("speakers", 0.5), TONE) < SILENT
    assert tone.frames == held  # its callback is not called while it is paused

    call.close()
    wait_for(
        lambda: states == ["active", "interrupted", "active"], "the stream's session to be active"
    )
    wait_until_heard(pulse_server, TONE, "the stream")
    assert tone.frames > held
    assert heard(pulse_server, TONE) == pytest.approx(FULL, abs=0.5)
    assert stream.player.is_playing
