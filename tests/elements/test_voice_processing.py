"""A call's microphone track cancels the echo of what the call plays, in virtual time: the far
end plays on the headset, a simulated room (20-150 ms to the microphone, -10 dB) brings it back
into the microphone on top of a near-end voice; a raw track of the same microphone beside it
is the level without processing."""

from __future__ import annotations

import pytest

from support.audio import component_level_db, level_change_db
from support.voice_call import (
    DOUBLE_TALK,
    ECHO_CANCELLATION_ONLY,
    ECHO_ONLY,
    NEAR_END_ALONE,
    call,
    near_end,
    stretch,
)


@pytest.mark.parametrize("delay", [0.02, 0.15])
def test_echo_cancellation_removes_the_far_end_and_keeps_the_near_end(tmp_path, delay):
    processed, raw, settings = call(tmp_path, delay, ECHO_CANCELLATION_ONLY)
    assert settings["echo_cancellation"] is True
    assert settings["noise_suppression"] is settings["auto_gain_control"] is False

    echo_return_loss_enhancement = -level_change_db(
        stretch(processed, ECHO_ONLY), stretch(raw, ECHO_ONLY)
    )
    assert echo_return_loss_enhancement >= 25
    alone = level_change_db(stretch(processed, NEAR_END_ALONE), stretch(raw, NEAR_END_ALONE))
    assert abs(alone) <= 3
    voice = stretch(near_end()[:, None], DOUBLE_TALK)
    double_talk = component_level_db(stretch(processed, DOUBLE_TALK, 2400), voice)
    assert abs(double_talk) <= 6
    print(
        f"delay {delay}: ERLE {echo_return_loss_enhancement:.1f} dB, near end alone "
        f"{alone:+.1f} dB, in double talk {double_talk:+.1f} dB"
    )
