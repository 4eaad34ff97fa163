"""Audio the program writes (``MediaStreamTrackGenerator``) played as a session's media element:
levels, underruns and back-pressure of a TTS-like writer, and the policy acting on it."""

from __future__ import annotations

import gc
import math

import numpy as np
import pytest
import soxr

from audiosession import (
    Audio,
    InvalidStateError,
    MediaStream,
    MediaStreamTrackGenerator,
    NotSupportedError,
)
from audiosession.elements.track_generator import START_SECONDS
from support.audio import RATE, silent, tone_level_db

STEP = 480 / RATE  # the virtual clock's step: one device block
BLOCK_SECONDS = 0.02  # what the TTS-like writer hands over at a time


def sine(
    freq: float, seconds: float, rate: int, channels: int = 1, amplitude: float = 0.5
) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    wave = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(wave[:, None], channels, axis=1)


def chirp(seconds: float, rate: int = RATE) -> np.ndarray:
    """200 Hz rising to 1200 Hz: every stretch of it differs from every other."""
    t = np.arange(int(round(seconds * rate))) / rate
    phase = 2 * np.pi * (200 * t + 1000 * t**2 / (2 * seconds))
    return (0.5 * np.sin(phase)).astype(np.float32)[:, None]


class Writer:
    """A TTS-like writer: hands ``signal`` over in 20 ms blocks at ``speed`` x real time (on
    the virtual clock), then closes the track; when faster than real time, only as far as
    ``write`` would not wait (the virtual clock cannot move while a write waits)."""

    def __init__(self, track: MediaStreamTrackGenerator, signal: np.ndarray, speed: float) -> None:
        self.track = track
        self.blocks = np.array_split(
            signal, max(1, round(len(signal) / (BLOCK_SECONDS * track.rate)))
        )
        self.speed = speed
        self.written = 0
        self.most_queued = 0.0
        self.started: float | None = None

    def due(self, now: float) -> bool:
        return self.written < len(self.blocks) and now >= self.written * BLOCK_SECONDS / self.speed

    def step(self, env) -> None:
        """Write what is due now, then move the clock one device block."""
        if self.started is None:
            self.started = env.now
        while self.due(env.now - self.started):
            block = self.blocks[self.written]
            if self.track.queued + len(block) / self.track.rate > self.track.max_queued:
                break  # write() would wait: a real writer blocks here
            self.track.write(block)
            self.written += 1
            self.most_queued = max(self.most_queued, self.track.queued)
            if self.done:
                self.track.close()  # the sentence is complete
        env.advance(STEP)

    def run(self, env, seconds: float) -> None:
        for _ in range(round(seconds / STEP)):
            self.step(env)

    @property
    def done(self) -> bool:
        return self.written == len(self.blocks)


def playing(track: MediaStreamTrackGenerator, window=None) -> Audio:
    element = Audio(window=window)
    element.src_object = MediaStream([track])
    element.play()
    return element


def gaps(output: np.ndarray, start: float, end: float) -> int:
    """How many separate silent stretches of 1 ms or more channel 0 has in [start, end) (a
    sine crosses zero, but never stays there for 48 samples)."""
    quiet = (np.abs(output[int(start * RATE) : int(end * RATE), 0]) < 1e-6).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet, [0]])))
    starts, ends = edges[::2], edges[1::2]
    return int(np.count_nonzero(ends - starts >= 48))


@pytest.mark.parametrize(("rate", "channels"), [(22050, 1), (48000, 2), (16000, 1)])
def test_a_writer_keeping_pace_is_heard_at_its_level_with_no_underrun(env, rate, channels):
    track = MediaStreamTrackGenerator(kind="audio", rate=rate, channels=channels)
    element = playing(track)
    writer = Writer(track, sine(440, 2.0, rate, channels), speed=1.0)
    writer.run(env, 2.5)
    assert writer.done and track.underruns == 0
    output = env.output()
    # Heard from START_SECONDS on, at the written level (0 dB = amplitude 0.5), both sides.
    assert tone_level_db(output, 440, START_SECONDS + 0.2, 1.0) == pytest.approx(0, abs=0.1)
    assert tone_level_db(output[:, 1:], 440, 1.0, 0.5) == pytest.approx(0, abs=0.1)
    # It starts once START_SECONDS are queued: after the third 20 ms block (written at
    # 40 ms), a little later where the resampler holds a few frames back.
    heard = np.flatnonzero(np.abs(output[:, 0]) > 1e-4)
    assert 2 * BLOCK_SECONDS <= heard[0] / RATE <= START_SECONDS + STEP
    assert gaps(output, heard[0] / RATE, 2.0) == 0
    assert element.ended and element.current_time == pytest.approx(2.0, abs=0.01)


def test_a_writer_slower_than_real_time_is_heard_with_counted_silences(env):
    track = MediaStreamTrackGenerator(kind="audio", rate=24000, channels=1)
    playing(track)
    writer = Writer(track, sine(440, 2.0, 24000), speed=0.7)
    writer.run(env, 3.0)
    output = env.output()
    first = np.flatnonzero(np.abs(output[:, 0]) > 1e-4)[0] / RATE
    silences = gaps(output, first, 2.9)
    # Each time the writer fell behind the track went dry once (an underrun, counted), was
    # silent until START_SECONDS were queued again, and went on at the written level.
    assert track.underruns >= 3 and silences == track.underruns
    loud = np.abs(output[int(START_SECONDS * RATE) : int(2.9 * RATE), 0]).max()
    assert loud == pytest.approx(0.5, abs=0.01)
    # Nothing was lost: all of it is heard, only later.
    assert element_heard_seconds(output) == pytest.approx(2.0, abs=0.02)


def element_heard_seconds(output: np.ndarray) -> float:
    """Seconds of channel 0 that are not silent (a 1 ms window counts if any sample sounds)."""
    usable = len(output) // 48 * 48
    windows = np.abs(output[:usable, 0]).reshape(-1, 48).max(axis=1)
    return float(np.count_nonzero(windows > 1e-6)) * 48 / RATE


def test_a_writer_faster_than_real_time_is_held_to_the_bound(env):
    track = MediaStreamTrackGenerator(kind="audio", rate=22050, channels=1)
    playing(track)
    writer = Writer(track, sine(440, 6.0, 22050), speed=5.0)
    writer.run(env, 3.0)
    # It could have written everything in 1.2 s; back-pressure kept it a second ahead.
    # (The resampler hands its output back in bursts of up to ~37 ms for 20 ms writes.)
    assert writer.most_queued <= track.max_queued + 0.04
    assert writer.most_queued > track.max_queued - 2 * BLOCK_SECONDS
    assert writer.written * BLOCK_SECONDS == pytest.approx(3.0 + track.max_queued, abs=0.1)
    assert track.underruns == 0
    assert tone_level_db(env.output(), 440, 2.5, 0.4) == pytest.approx(0, abs=0.1)
    # A write that would have to wait cannot wait on the virtual clock's thread: it says so
    # and queues nothing.
    queued = track.queued
    with pytest.raises(RuntimeError, match=r"virtual clock moves only in env\.advance\(\)"):
        track.write(sine(440, 0.5, 22050))
    assert track.queued == queued


def test_a_notification_ducks_generated_audio_by_14_db(env, media):
    speaker, ping = env.window(), env.window()
    speaker.navigator.audio_session.type = "playback"
    ping.navigator.audio_session.type = "transient"
    track = MediaStreamTrackGenerator(kind="audio", rate=22050, channels=1, window=speaker)
    playing(track, speaker)
    writer = Writer(track, sine(440, 4.0, 22050), speed=1.0)
    writer.run(env, 1.0)
    Audio(media.tone(1000, 1.0), window=ping).play()
    writer.run(env, 2.0)
    output = env.output()
    assert tone_level_db(output, 440, 0.7) == pytest.approx(0, abs=0.2)
    assert tone_level_db(output, 440, 1.5) == pytest.approx(-14, abs=0.5)  # ducked
    assert tone_level_db(output, 440, 2.8) == pytest.approx(0, abs=0.2)  # released
    assert track.underruns == 0


def test_a_voice_prompt_pauses_generated_audio_and_it_resumes_where_it_was(env, media):
    game, prompt = env.window(), env.window()
    game.navigator.audio_session.type = "playback"
    prompt.navigator.audio_session.type = "transient-solo"
    track = MediaStreamTrackGenerator(kind="audio", rate=RATE, channels=1, window=game)
    element = playing(track, game)
    signal = chirp(4.0)[:, 0]  # 200 Hz rising to 1.2 kHz
    writer = Writer(track, signal[:, None], speed=1.0)
    writer.run(env, 1.0)
    Audio(media.tone(3000, 0.5), window=prompt).play()
    writer.run(env, 2.0)
    output = env.output()[:, 0]
    events = [
        (r.type, r.time) for r in env.events if r.target is element and r.type in ("pause", "play")
    ]
    assert [kind for kind, _ in events] == ["play", "pause", "play"]
    paused_at, resumed_at = events[1][1], events[2][1]
    assert resumed_at == pytest.approx(1.5, abs=STEP)
    # While the prompt speaks, nothing of the chirp (then near 450 Hz) is heard.
    assert band_level_db(output, 200, 1200, paused_at + 0.01, resumed_at - 0.01) < -80
    # Before the prompt: the written signal, sample for sample, from its first sample.
    first = int(np.flatnonzero(np.abs(output) > 0)[0]) - 1  # the chirp's first sample is 0
    paused = int(round(paused_at * RATE))
    np.testing.assert_allclose(output[first:paused], signal[: paused - first], atol=1e-6)
    # After it (past the 4 ms fade-in): the signal again, sample for sample, going on where
    # it stopped, within a device block, 4 ms on (the fade-out of the pause played that much).
    after = int(round(resumed_at * RATE)) + 960
    at = where_in(signal, output[after : after + 480], near=paused - first)
    gone_by = at - (paused - first) - (after - int(round(resumed_at * RATE)))
    assert abs(gone_by - int(0.004 * RATE)) <= 480
    assert writer.most_queued <= track.max_queued and track.underruns == 0


def band_level_db(output: np.ndarray, low: float, high: float, start: float, end: float) -> float:
    """The level of what lies between ``low`` and ``high`` Hz in [start, end), in dB relative
    to a full-scale sine."""
    part = output[int(start * RATE) : int(end * RATE)].astype(np.float64)
    window = np.hanning(len(part))
    spectrum = np.abs(np.fft.rfft(part * window)) / (window.sum() / 2)
    freqs = np.fft.rfftfreq(len(part), 1 / RATE)
    band = spectrum[(freqs >= low) & (freqs <= high)]
    return 20 * math.log10(max(float(np.sqrt(np.sum(band**2))), 1e-12))


def where_in(signal: np.ndarray, heard: np.ndarray, near: int) -> int:
    """Where in ``signal`` (within a second of ``near``) ``heard`` is, sample for sample."""
    low = max(0, near - RATE)
    windows = np.lib.stride_tricks.sliding_window_view(signal[low : near + RATE], len(heard))
    errors = np.abs(windows - heard).max(axis=1)
    best = int(np.argmin(errors))
    assert errors[best] < 1e-6, f"what was heard is nowhere near {near} in the signal"
    return low + best


def test_close_is_the_end_and_ended_fires_when_the_last_block_was_heard(env):
    track = MediaStreamTrackGenerator(kind="audio", rate=RATE, channels=1)
    element = playing(track)
    ended = []
    element.onended = lambda event: ended.append(env.now)
    track.onended = lambda event: ended.append(("track", env.now))
    track.write(sine(440, 0.5, RATE))
    track.close()
    env.advance(0.3)
    assert not ended and track.ready_state == "live" and not element.ended
    env.advance(0.5)
    assert element.ended and track.ready_state == "ended"
    assert ended[0] == ("track", pytest.approx(0.5, abs=2 * STEP))
    assert ended[1] == pytest.approx(0.5, abs=2 * STEP)
    assert silent(env.output(), 0.52, 0.2)
    with pytest.raises(InvalidStateError, match="closed"):
        track.write(sine(440, 0.1, RATE))
    env.advance(0.5)
    assert env.navigator.audio_session.state == "inactive"


def test_stop_ends_the_element_at_once_and_drops_what_was_queued(env):
    track = MediaStreamTrackGenerator(kind="audio", rate=RATE, channels=1)
    element = playing(track)
    track.write(sine(440, 0.8, RATE))
    env.advance(0.3)
    track.stop()
    env.advance(0.2)
    assert element.ended and track.ready_state == "ended"
    assert silent(env.output(), 0.32, 0.15)
    assert not [r for r in env.events if r.target is track]  # no "ended": the program asked


def test_a_closed_or_stopped_track_holds_no_resampler_even_while_the_program_holds_it(env):
    def resamplers() -> int:
        gc.collect()
        return sum(isinstance(o, soxr.ResampleStream) for o in gc.get_objects())

    before = resamplers()
    closed, stopped = (MediaStreamTrackGenerator(kind="audio", rate=22050) for _ in range(2))
    elements = [playing(closed), playing(stopped)]
    for track in (closed, stopped):
        track.write(sine(440, 0.2, 22050))
    assert resamplers() == before + 2
    closed.close()
    stopped.stop()
    assert resamplers() == before
    env.advance(0.4)
    assert [e.ended for e in elements] == [True, True]
    assert tone_level_db(env.output(), 440, 0.1, 0.1) == pytest.approx(0, abs=0.1)  # the closed one


def test_a_disabled_track_is_silent_and_its_audio_still_goes_by(env):
    track = MediaStreamTrackGenerator(kind="audio", rate=RATE, channels=1)
    element = playing(track)
    track.write(sine(440, 0.9, RATE))
    track.close()
    env.advance(0.3)
    track.enabled = False
    env.advance(0.3)
    track.enabled = True
    env.advance(0.5)
    output = env.output()
    assert silent(output, 0.32, 0.26)
    assert tone_level_db(output, 440, 0.65, 0.2) == pytest.approx(0, abs=0.2)
    assert element.ended and element.current_time == pytest.approx(0.9, abs=0.01)


@pytest.mark.parametrize(
    ("block", "error", "message"),
    [
        (np.zeros((480, 2), np.float32), ValueError, r"\(frames, 1\) array.*shape \(480, 2\)"),
        (np.zeros(480, np.int32), TypeError, "float32 \\(or int16\\)"),
        (np.full((480, 1), np.nan, np.float32), ValueError, "NaN"),
    ],
)
def test_a_bad_block_is_refused_and_nothing_of_it_is_queued(env, block, error, message):
    track = MediaStreamTrackGenerator(kind="audio", rate=RATE, channels=1)
    with pytest.raises(error, match=message):
        track.write(block)
    assert track.queued == 0


def test_int16_blocks_are_scaled_from_their_full_range(env):
    track = MediaStreamTrackGenerator(kind="audio", rate=RATE, channels=1)
    playing(track)
    track.write((sine(440, 0.5, RATE) * 32767).astype(np.int16))
    env.advance(0.4)
    assert tone_level_db(env.output(), 440, 0.2, 0.1) == pytest.approx(0, abs=0.1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "video"}, "only audio"),
        ({"rate": 0}, "rate must be a positive whole number"),
        ({"channels": 1.5}, "channels must be a positive whole number"),
        ({"max_queued": 0.05}, "max_queued must be a number of seconds"),
    ],
)
def test_a_generator_with_bad_settings_is_refused(env, kwargs, message):
    with pytest.raises(ValueError, match=message):
        MediaStreamTrackGenerator(**kwargs)


def test_a_generated_track_plays_alone_in_its_stream(env):
    generated = MediaStreamTrackGenerator(kind="audio")
    other = MediaStreamTrackGenerator(kind="audio")
    element = Audio()
    with pytest.raises(NotSupportedError, match="MediaStream of its own"):
        element.src_object = MediaStream([generated, other])


def test_a_second_element_takes_the_track_over_and_the_first_ends(env):
    track = MediaStreamTrackGenerator(kind="audio", rate=RATE, channels=1)
    first = playing(track)
    track.write(sine(440, 1.0, RATE))
    env.advance(0.3)
    second = playing(track)
    env.advance(0.3)
    assert first.ended and not second.ended and track.ready_state == "live"
    assert math.isinf(second.duration)
    assert tone_level_db(env.output(), 440, 0.45, 0.1) == pytest.approx(0, abs=0.5)


def test_a_track_made_without_a_window_belongs_to_the_element_that_plays_it(env):
    other = env.window()
    other.navigator.audio_session.type = "ambient"
    track = MediaStreamTrackGenerator(kind="audio", rate=RATE, channels=1)
    playing(track, other)
    track.write(sine(440, 0.5, RATE))
    env.advance(0.3)
    assert track.window is other
    assert other.navigator.audio_session.state == "active"
    assert env.navigator.audio_session.state == "inactive"
