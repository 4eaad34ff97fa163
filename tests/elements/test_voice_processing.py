"""A call's microphone track cancels the echo of what the call plays, in virtual time: the far
end plays on the headset, a simulated room (20-150 ms to the microphone, -10 dB) brings it back
into the microphone on top of a near-end voice; a raw track of the same microphone beside it
is the level without processing."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiosession import Audio
from audiosession.testing import SimulatedRoom, VirtualEnvironment

sys.path.insert(0, str(Path(__file__).parents[1]))

from audio import (  # noqa: E402
    RATE,
    component_level_db,
    level_change_db,
    room_impulse_response,
    speech_like,
)

FAR_END_SECONDS = 9.0
NEAR_END_FROM = 7.0
CALL_SECONDS = 12.0
ECHO_ONLY = (2.0, 7.0)  # after 2 s of convergence, 5 s of far end alone
DOUBLE_TALK = (7.5, 9.0)
NEAR_END_ALONE = (9.5, 12.0)
RAW = {"echo_cancellation": False, "noise_suppression": False, "auto_gain_control": False}
ECHO_CANCELLATION_ONLY = {"noise_suppression": False, "autoGainControl": False}


def near_end() -> np.ndarray:
    voice = np.zeros(int(CALL_SECONDS * RATE), np.float32)
    voice[int(NEAR_END_FROM * RATE) :] = speech_like(CALL_SECONDS - NEAR_END_FROM, seed=7)
    return voice


def far_end_file(folder: Path) -> str:
    far = np.zeros(int(CALL_SECONDS * RATE), np.float32)
    far[: int(FAR_END_SECONDS * RATE)] = speech_like(FAR_END_SECONDS, seed=3)
    path = folder / "far-end.wav"
    sf.write(path, far, RATE)
    return str(path)


def call(folder: Path, delay: float, constraints: dict) -> tuple[np.ndarray, np.ndarray, dict]:
    """(processed, raw, settings): the two tracks of a call with the far end at ``delay``."""
    room = SimulatedRoom("headset", "default", room_impulse_response(delay))
    with VirtualEnvironment(room=room) as env:
        env.backend.set_signal("default", near_end())
        env.navigator.audio_session.type = "play-and-record"
        devices = env.navigator.media_devices
        asked = devices.get_user_media(audio=constraints), devices.get_user_media(audio=RAW)
        env.run_until_idle()
        (processed,), (raw,) = (request.result(0).get_tracks() for request in asked)
        Audio(far_end_file(folder)).play()
        blocks: dict[str, list[np.ndarray]] = {"processed": [], "raw": []}
        for _ in range(int(CALL_SECONDS / 0.1)):
            env.advance(0.1)
            blocks["processed"].append(processed.read())
            blocks["raw"].append(raw.read())
        settings = processed.get_settings()
    return (np.concatenate(blocks["processed"]), np.concatenate(blocks["raw"]), settings)


def stretch(track: np.ndarray, span: tuple[float, float], extra: int = 0) -> np.ndarray:
    return track[int(span[0] * RATE) : int(span[1] * RATE) + extra, 0]


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
