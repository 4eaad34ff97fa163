"""Mixing: levels, click-free gain changes, endings, loops and audibility, as heard."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from audiosession.engine import (
    AudibilityChanged,
    Engine,
    Gain,
    LoopingSource,
    Mixer,
    Voice,
    VoiceEnded,
    open_audio,
)
from audiosession.engine.mixer import DECLICK
from support.engine import (
    BLOCK,
    RATE,
    ArraySource,
    db,
    dominant_frequency,
    output,
    render,
    rms,
    sine,
    sound_extent,
)


def test_tone_file_plays_at_its_rms(engine: Engine, write_audio: Callable) -> None:
    path = write_audio("tone.wav", sine(440, 1.0, amplitude=0.5))
    engine.add_voice(open_audio(path, rate=RATE, channels=2))
    render(engine, 1.2)
    out = output(engine)
    assert rms(out[int(0.1 * RATE) : int(0.9 * RATE)]) == pytest.approx(0.5 / np.sqrt(2), rel=1e-3)
    assert dominant_frequency(out[:RATE]) == pytest.approx(440, abs=0.5)


def test_volume_half_is_minus_6_db(engine: Engine) -> None:
    full = engine.add_voice(ArraySource(sine(440, 1.0, channels=2)))
    half = engine.add_voice(
        ArraySource(sine(440, 1.0, channels=2)), gains=[Gain(0.5)], device="headset"
    )
    render(engine, 1.0)
    ratio = rms(output(engine, "headset")[4800:]) / rms(output(engine)[4800:])
    assert db(ratio) == pytest.approx(-6.02, abs=0.2)
    assert full.frames_played == half.frames_played == RATE


def test_product_of_gains_applies(engine: Engine) -> None:
    engine.add_voice(ArraySource(np.full((RATE, 2), 0.5)), gains=[Gain(0.5), Gain(0.4)])
    render(engine, 0.5)
    np.testing.assert_allclose(output(engine)[:4800], 0.1, atol=1e-6)


@pytest.mark.parametrize("change_at", [0.25, 0.2537, 0.31])
@pytest.mark.parametrize("target", [0.0, 0.2, 1.0])
def test_gain_change_at_any_time_does_not_click(
    engine: Engine, change_at: float, target: float
) -> None:
    gain = Gain(0.6)
    engine.add_voice(ArraySource(sine(1000, 1.0, amplitude=0.9, channels=2)), gains=[gain])
    backend = engine.backend
    render(engine, change_at)
    gain.set(target)
    render(engine, 0.2)
    out = output(engine)[:, 0]
    around = out[int(change_at * RATE) - BLOCK : int((change_at + 0.05) * RATE)]
    signal_steps = np.abs(np.diff(0.9 * np.sin(2 * np.pi * 1000 * np.arange(RATE) / RATE)))
    assert np.abs(np.diff(around)).max() < signal_steps.max()
    assert backend is engine.backend


def test_instant_gain_change_would_click(engine: Engine) -> None:
    """The measure above is meaningful: a jump without a ramp does exceed it."""
    gain = Gain(0.0)
    engine.add_voice(ArraySource(np.full((RATE, 2), 0.9)), gains=[gain])
    render(engine, 0.1)
    gain.set(0.9, ramp=0)
    render(engine, 0.1)
    step = np.abs(np.diff(output(engine)[:, 0])).max()
    assert step > 0.5


def test_voice_ends_at_the_files_duration(engine: Engine, write_audio: Callable) -> None:
    events: list[object] = []
    engine.on_event = events.append
    path = write_audio("short.wav", sine(440, 0.7337))
    voice = engine.add_voice(open_audio(path, rate=RATE, channels=2))
    ended_at = None
    for block in range(200):
        render(engine, BLOCK / RATE)
        if any(isinstance(e, VoiceEnded) for e in events) and ended_at is None:
            ended_at = (block + 1) * BLOCK / RATE
    assert ended_at == pytest.approx(0.7337, abs=BLOCK / RATE)
    assert [e.voice for e in events if isinstance(e, VoiceEnded)] == [voice]
    assert voice.ended and voice.frames_played == round(0.7337 * RATE)
    _start, end = sound_extent(output(engine))
    assert end == pytest.approx(0.7337 * RATE, abs=2)


def test_short_block_is_padded_with_silence(engine: Engine) -> None:
    engine.add_voice(ArraySource(np.full((700, 2), 0.5)))
    render(engine, 0.1)
    out = output(engine)
    assert np.all(out[:700] == 0.5) and np.all(out[700:] == 0)


def test_looping_source_repeats_without_a_gap(engine: Engine, write_audio: Callable) -> None:
    # 0.1 s of 440 Hz holds exactly 44 periods, so the loop is seamless if there is no gap.
    path = write_audio("loop.wav", sine(440, 0.1, amplitude=0.5), subtype="FLOAT")
    looped = LoopingSource(open_audio(path, rate=RATE, channels=2))
    engine.add_voice(looped)
    render(engine, 1.0)
    out = output(engine)[:, 0]
    expected = sine(440, 1.0, amplitude=0.5)[:, 0]
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert looped.loop_count == 9


def test_looping_source_stops_after_its_loops(engine: Engine) -> None:
    class Seekable(ArraySource):
        def seek(self, seconds: float) -> None:
            self.position = int(seconds * RATE)

    voice = engine.add_voice(LoopingSource(Seekable(np.full((1000, 2), 0.5)), loops=3))
    render(engine, 0.2)
    assert voice.ended and voice.frames_played == 3000
    assert sound_extent(output(engine)) == (0, 3000)


def test_paused_voice_is_neither_read_nor_heard(engine: Engine) -> None:
    source = ArraySource(np.full((RATE, 2), 0.5))
    voice = engine.add_voice(source)
    render(engine, 0.1)
    voice.playing = False
    render(engine, 0.1)
    voice.playing = True
    render(engine, 0.1)
    out = output(engine)
    fade = int(DECLICK * RATE)
    # Pausing fades out over DECLICK (reading only those frames), then silence; playing
    # again fades in over DECLICK, then the source continues where it was.
    assert np.all(np.diff(out[4800 : 4800 + fade, 0]) < 0) and out[4800, 0] == 0.5
    assert np.all(out[4800 + fade : 9600] == 0)
    assert np.all(np.diff(out[9600 : 9600 + fade, 0]) > 0) and out[9600, 0] == 0.0
    assert np.all(out[9600 + fade :] == 0.5)
    assert source.position == 9600 + fade


def test_pausing_and_resuming_a_loud_tone_does_not_click(engine: Engine) -> None:
    tone = 0.9 * np.sin(2 * np.pi * 1025 * np.arange(RATE) / RATE)  # blocks end at a peak
    voice = engine.add_voice(ArraySource(np.repeat(tone[:, None], 2, axis=1)))
    for playing in (True, False, True, False, True):
        voice.playing = playing
        render(engine, 0.05)
    out = output(engine)[:, 0]
    assert np.max(np.abs(np.diff(out))) <= np.max(np.abs(np.diff(tone))) * 1.0001


def test_audibility_follows_the_source_with_a_hold() -> None:
    events: list[object] = []
    mixer = Mixer(RATE, 2, on_event=events.append)
    signal = np.concatenate(
        [
            np.zeros((4800, 2)),  # 0.0-0.1 s: silence
            np.full((4800, 2), 0.3),  # 0.1-0.2 s: sound
            np.zeros((960, 2)),  # 20 ms gap: shorter than the hold
            np.full((4800, 2), 0.3),
            np.zeros((RATE, 2)),  # then silence for good
        ]
    )
    voice = mixer.add(
        Voice(ArraySource(signal), device="out", watch_audibility=True, gains=[Gain(0.0)])
    )
    changes = []
    for block in range(int(1.0 * RATE / BLOCK)):
        mixer.render("out", "music", BLOCK)
        for event in events:
            assert isinstance(event, AudibilityChanged) and event.voice is voice
            changes.append((round((block + 1) * BLOCK / RATE, 3), event.audible))
        events.clear()
    # Audible at 0.1 s although its gain is 0 (audibility is the source's); inaudible
    # 0.1 s (the hold) after the sound stops at 0.32 s.
    assert changes == [(0.11, True), (0.42, False)]


def test_level_reports_the_peak_of_the_last_block() -> None:
    mixer = Mixer(RATE, 2)
    voice = mixer.add(
        Voice(ArraySource(sine(100, 1.0, amplitude=0.7, channels=2)), device="out", meter=True)
    )
    mixer.render("out", "music", 4800)
    assert voice.level == pytest.approx(0.7, abs=1e-3)


def test_failing_source_ends_its_voice_and_not_the_others(engine: Engine) -> None:
    class Broken:
        def read(self, frames: int) -> np.ndarray:
            raise OSError("disk on fire")

    events: list[object] = []
    engine.on_event = events.append
    bad = engine.add_voice(Broken())
    engine.add_voice(ArraySource(np.full((RATE, 2), 0.25)))
    render(engine, 0.05)
    assert bad.ended and any(isinstance(e, VoiceEnded) and e.voice is bad for e in events)
    assert np.all(output(engine)[:2400] == 0.25)
