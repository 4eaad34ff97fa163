"""Gains ramp linearly to every new target, so a change never clicks."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from audiosession.engine import DEFAULT_RAMP, Gain

RATE = 48000


def test_steady_gain_is_a_plain_float() -> None:
    gain = Gain(0.5)
    assert gain.envelope(480, RATE) == 0.5
    assert isinstance(gain.envelope(480, RATE), float)


def test_change_ramps_linearly_over_the_default_ten_milliseconds() -> None:
    gain = Gain(1.0)
    gain.envelope(480, RATE)
    gain.set(0.0)
    ramp_frames = int(DEFAULT_RAMP * RATE)
    env = gain.envelope(1000, RATE)
    assert isinstance(env, np.ndarray) and env.dtype == np.float32
    expected = np.clip(1.0 - np.arange(1, 1001) / ramp_frames, 0.0, None)
    np.testing.assert_allclose(env, expected, atol=1e-6)
    assert gain.value == 0.0 and gain.target == 0.0
    assert gain.envelope(480, RATE) == 0.0


def test_ramp_spanning_blocks_is_continuous() -> None:
    gain = Gain(0.0)
    gain.envelope(1, RATE)
    gain.set(1.0, ramp=0.1)
    blocks = [gain.envelope(480, RATE) for _ in range(12)]
    env = np.concatenate([np.broadcast_to(b, (480,)) for b in blocks])
    steps = np.diff(env)
    assert steps.max() == pytest.approx(1 / 4800, rel=1e-3)
    assert env[4799] == pytest.approx(1.0) and env[-1] == 1.0


def test_zero_ramp_jumps_and_unheard_gain_takes_its_target_at_once() -> None:
    heard = Gain(1.0)
    heard.envelope(480, RATE)
    heard.set(0.25, ramp=0)
    assert heard.value == 0.25 and heard.envelope(480, RATE) == 0.25
    unheard = Gain(1.0)
    unheard.set(0.5)
    assert unheard.value == 0.5


def test_bad_values_are_refused_with_the_value_in_the_message() -> None:
    with pytest.raises(ValueError, match="-1"):
        Gain(-1)
    with pytest.raises(TypeError, match="'loud'"):
        Gain(1.0).set("loud")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ramp"):
        Gain(1.0).set(0.5, ramp=-0.1)


def test_shared_gain_ramps_once_for_each_follower() -> None:
    gain = Gain(1.0)
    first, second = gain.follower(), gain.follower()
    first.envelope(480, RATE)
    second.envelope(480, RATE)
    gain.set(0.0, ramp=0.01)
    env_a = first.envelope(480, RATE)
    env_b = second.envelope(480, RATE)
    np.testing.assert_array_equal(env_a, env_b)
    assert env_a[-1] == 0.0


def test_set_from_many_threads_ends_on_a_valid_target() -> None:
    gain = Gain(1.0)
    follower = gain.follower()
    stop = threading.Event()

    def setter(value: float) -> None:
        while not stop.is_set():
            gain.set(value)

    threads = [threading.Thread(target=setter, args=(v,)) for v in (0.2, 0.8)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(2000):
            env = np.asarray(follower.envelope(64, RATE))
            assert np.all((env >= 0.2 - 1e-6) & (env <= 1.0 + 1e-6))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
