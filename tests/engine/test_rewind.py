"""Rendering again what a stream queued (engine/rewind.py), in virtual time: after going back
over some blocks and changing something, the stream renders exactly what it would have had the
change come at that block."""

from __future__ import annotations

import numpy as np
import pytest

from audiosession.engine.ahead import AheadBuffer
from audiosession.engine.gain import Gain
from audiosession.engine.mixer import Mixer, Voice
from audiosession.engine.rewind import StreamRenderer

RATE = 48000
BLOCK = 480
HISTORY = 100 * BLOCK


class Sine:
    """A producer: an endless sine, its position in seconds (``tell``) and seeks."""

    def __init__(self, freq: float) -> None:
        self.freq, self.frame = freq, 0

    def __call__(self, frames: int) -> np.ndarray:
        t = (self.frame + np.arange(frames)) / RATE
        self.frame += frames
        return np.repeat((0.5 * np.sin(2 * np.pi * self.freq * t))[:, None], 2, axis=1).astype(
            np.float32
        )

    def tell(self) -> float:
        return self.frame / RATE

    def seek(self, seconds: float) -> None:
        self.frame = int(seconds * RATE)


class Stream:
    """One mixer, one (device, role) stream, voices of sines decoded on demand."""

    def __init__(self) -> None:
        self.mixer = Mixer(RATE, 2)
        self.renderer = StreamRenderer(self.mixer, "out", "music", HISTORY)
        self.renderer.keep = True
        self.sources: list[Sine] = []

    def voice(self, freq: float, gain: Gain | None = None) -> tuple[Voice, AheadBuffer]:
        sine = Sine(freq)
        self.sources.append(sine)
        buffer = AheadBuffer(
            sine, rate=RATE, channels=2, workers=None, tell=sine.tell, history=HISTORY
        )
        voice = Voice(buffer, gains=[gain] if gain else [], device="out", role="music")
        self.mixer.add(voice)
        return voice, buffer

    def render(self, blocks: int) -> np.ndarray:
        return np.concatenate([self.renderer(BLOCK).copy() for _ in range(blocks)])


def test_a_pause_after_going_back_fades_out_where_it_went_back_to() -> None:
    ours, reference = Stream(), Stream()
    voice, _ = ours.voice(440)
    voice_ref, _ = reference.voice(440)
    queued = ours.render(30)
    assert ours.renderer.rewind(12 * BLOCK) == 12 * BLOCK
    voice.playing = False
    again = ours.render(12)
    expected_head = reference.render(18)
    voice_ref.playing = False
    expected_tail = reference.render(12)
    np.testing.assert_array_equal(queued[: 18 * BLOCK], expected_head)
    np.testing.assert_array_equal(again, expected_tail)
    assert np.max(np.abs(again[BLOCK:])) == 0.0  # faded out within the first block
    assert voice.frames_played == voice_ref.frames_played


def test_going_back_stops_at_the_first_block_boundary_within_the_frames_asked() -> None:
    ours = Stream()
    ours.voice(440)
    ours.render(10)
    assert ours.renderer.rewind(3 * BLOCK + 100) == 3 * BLOCK
    assert ours.renderer.rendered == 7 * BLOCK


def test_a_gain_set_mid_ramp_after_going_back_ramps_from_where_it_went_back_to() -> None:
    ours, reference = Stream(), Stream()
    gain, gain_ref = Gain(1.0), Gain(1.0)
    ours.voice(440, gain)
    reference.voice(440, gain_ref)
    ours.render(10)
    reference.render(10)
    gain.set(0.2, ramp=0.1)  # ten blocks
    gain_ref.set(0.2, ramp=0.1)
    ours.render(20)
    reference.render(5)  # up to the middle of the ramp
    assert ours.renderer.rewind(15 * BLOCK) == 15 * BLOCK
    gain.set(1.0, ramp=0.05)
    gain_ref.set(1.0, ramp=0.05)
    np.testing.assert_array_equal(ours.render(10), reference.render(10))


def test_a_voice_that_joined_after_the_block_starts_again_from_its_beginning() -> None:
    ours, reference = Stream(), Stream()
    ours.voice(440)
    reference.voice(440)
    ours.render(5)
    ours.voice(660)
    ours.render(5)
    assert ours.renderer.rewind(8 * BLOCK) == 8 * BLOCK  # to block 2: before it joined
    reference.render(2)
    reference.voice(660)
    np.testing.assert_array_equal(ours.render(8), reference.render(8))


def test_a_seek_after_the_block_is_heard_from_there() -> None:
    ours = Stream()
    voice, buffer = ours.voice(440)
    ours.render(10)
    sine = ours.sources[0]
    buffer.flush(lambda: sine.seek(5.0))
    assert ours.renderer.rewind(4 * BLOCK) == 4 * BLOCK
    assert buffer.position == pytest.approx(5.0)
    block = ours.render(1)
    expected = Sine(440)
    expected.seek(5.0)
    np.testing.assert_allclose(block, expected(BLOCK), atol=1e-6)


def test_position_goes_back_with_the_reader() -> None:
    ours = Stream()
    _, buffer = ours.voice(440)
    ours.render(50)
    assert buffer.position == pytest.approx(50 * BLOCK / RATE)
    ours.renderer.rewind(20 * BLOCK)
    assert buffer.position == pytest.approx(30 * BLOCK / RATE)


def test_nothing_goes_back_further_than_what_was_kept() -> None:
    ours = Stream()
    ours.voice(440)
    ours.render(150)
    assert ours.renderer.rewind(150 * BLOCK) <= HISTORY
    ours.renderer.keep = False
    ours.renderer.forget()
    ours.render(3)
    assert ours.renderer.rewind(2 * BLOCK) == 0


def test_a_source_that_cannot_go_back_keeps_the_stream_from_going_back() -> None:
    ours = Stream()
    ours.voice(440)

    class Plain:
        def read(self, frames: int) -> np.ndarray:
            return np.zeros((frames, 2), np.float32)

    ours.mixer.add(Voice(Plain(), device="out", role="music"))
    ours.render(10)
    assert not ours.renderer.steady()
    assert ours.renderer.rewind(5 * BLOCK) == 0
