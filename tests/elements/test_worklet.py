"""``AudioWorkletNode``: audio a Python ``process`` computes, heard through an AudioContext."""

from __future__ import annotations

import numpy as np
import pytest

from audiosession import AudioContext, AudioWorkletNode
from support.audio import RATE, silent, tone_level_db


class Sine:
    """A processor computing ``amplitude * sin(2 pi freq t)``, t counted from its first call."""

    def __init__(self, freq: float = 440.0, amplitude: float = 0.5) -> None:
        self.freq = freq
        self.amplitude = amplitude
        self.frame = 0
        self.calls = 0

    def wave(self, frames: int) -> np.ndarray:
        t = (self.frame + np.arange(frames)) / RATE
        self.frame += frames
        self.calls += 1
        return (self.amplitude * np.sin(2 * np.pi * self.freq * t)).astype(np.float32)

    def process(self, outputs: np.ndarray, frames: int) -> bool:
        outputs[:, 0] = self.wave(frames)
        return True


class WebSine(Sine):
    """The same, in the web's shape."""

    def process(self, inputs, outputs, parameters):  # type: ignore[override]
        assert inputs == [] and parameters == {}
        (channel,) = outputs[0]
        channel[:] = self.wave(len(channel))
        return True


class FailsAfter(Sine):
    """A sine that raises (or turns to NaN) once it has made ``seconds`` of audio."""

    def __init__(self, seconds: float, how: str, freq: float = 1000.0) -> None:
        super().__init__(freq)
        self.limit = int(seconds * RATE)
        self.how = how

    def process(self, outputs: np.ndarray, frames: int) -> bool:
        if self.frame >= self.limit:
            if self.how == "raise":
                raise ZeroDivisionError("the synthesizer divided by zero")
            outputs[:, 0] = np.nan
            return True
        return super().process(outputs, frames)


def expected_sine(freq: float, amplitude: float, frames: int) -> np.ndarray:
    t = np.arange(frames) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("processor", [Sine, WebSine])
def test_a_processor_computing_a_sine_is_heard_as_that_sine(env, processor):
    context = AudioContext()
    node = AudioWorkletNode(context, processor)
    node.connect(context.destination)
    env.advance(1.0)
    output = env.output()
    # From the first block the session let through, the output is the processor's samples,
    # each at its place (the context renders, silently, from its creation on).
    wave = expected_sine(440, 0.5, len(output))
    np.testing.assert_allclose(output[RATE // 4 :, 0], wave[RATE // 4 :], atol=1e-6)
    np.testing.assert_array_equal(output[:, 0], output[:, 1])
    assert env.navigator.audio_session.state == "active"
    assert node.underruns == 0 and isinstance(node.processor, processor)


def test_a_plain_function_can_be_the_processor(env):
    sine = Sine(660)
    context = AudioContext()
    AudioWorkletNode(context, lambda outputs, frames: sine.process(outputs, frames)).connect(
        context.destination
    )
    env.advance(0.5)
    assert tone_level_db(env.output(), 660, 0.3) == pytest.approx(0, abs=0.1)


@pytest.mark.parametrize("how", ["raise", "nan"])
def test_a_failing_processor_falls_silent_with_an_event_and_the_others_play_on(env, how):
    failing_context, other_context = AudioContext(), AudioContext()
    failing = AudioWorkletNode(failing_context, FailsAfter(0.5, how))
    failing.connect(failing_context.destination)
    AudioWorkletNode(other_context, Sine(440)).connect(other_context.destination)
    errors = []
    failing.onprocessorerror = lambda event: errors.append((event.message, env.now))
    env.advance(1.5)
    output = env.output()
    # The processor failed at its first call past 0.5 s (calls are 4096 frames long).
    failed_at = int(np.ceil(0.5 * RATE / 4096)) * 4096 / RATE
    ((message, when),) = errors
    assert message == (
        "ZeroDivisionError: the synthesizer divided by zero"
        if how == "raise"
        else "ValueError: process() gave samples that are NaN or infinite"
    )
    assert when <= failed_at + 0.02
    assert tone_level_db(output, 1000, 0.3) == pytest.approx(0, abs=0.1)
    assert tone_level_db(output, 1000, failed_at + 0.05, 0.5) < -100
    # After it the other node is heard alone, its sine sample for sample.
    heard = output[int(failed_at * RATE) + 480 :, 0]
    np.testing.assert_allclose(
        heard, expected_sine(440, 0.5, len(output))[int(failed_at * RATE) + 480 :], atol=1e-6
    )
    assert [r.type for r in env.events if r.target is failing] == ["processorerror"]


def test_a_processor_that_returns_false_ends_its_sound_without_an_event(env):
    class Beep(Sine):
        def process(self, outputs: np.ndarray, frames: int) -> bool:
            super().process(outputs, frames)
            return self.frame < RATE // 4

    context = AudioContext()
    node = AudioWorkletNode(context, Beep())
    node.connect(context.destination)
    env.advance(1.0)
    assert not silent(env.output(), 0.1, 0.1)
    assert silent(env.output(), 0.4, 0.5)
    assert not [r for r in env.events if r.target is node]


def test_closing_the_context_stops_calling_the_processor(env):
    sine = Sine()
    context = AudioContext()
    AudioWorkletNode(context, sine).connect(context.destination)
    env.advance(0.5)
    context.close()
    calls = sine.calls
    env.advance(0.5)
    assert sine.calls == calls and silent(env.output(), 0.52, 0.4)


@pytest.mark.parametrize(
    ("processor", "message"),
    [
        (42, "an object with a process method, a class or a function"),
        (lambda outputs: None, r"\(outputs, frames\) or the web's \(inputs, outputs, parameters\)"),
    ],
)
def test_a_processor_of_the_wrong_shape_is_refused(env, processor, message):
    with pytest.raises(TypeError, match=message):
        AudioWorkletNode(AudioContext(), processor)


def test_nothing_can_be_connected_into_a_processor_node(env):
    context = AudioContext()
    node = AudioWorkletNode(context, Sine())
    with pytest.raises(ValueError, match="has no inputs"):
        context.create_oscillator().connect(node)
