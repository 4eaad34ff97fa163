"""A call in virtual time, for the voice-processing tests and benchmark: the far end plays on
the headset, a simulated room brings it back into the microphone on top of a near-end voice,
and a raw track of the same microphone beside the processed one is the level without
processing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf

from audiosession import Audio, MediaStreamTrack
from audiosession.testing import SimulatedRoom, VirtualEnvironment
from support.audio import RATE, room_impulse_response, speech_like

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


@contextmanager
def virtual_call(
    folder: Path, delay: float, constraints: dict
) -> Iterator[tuple[VirtualEnvironment, MediaStreamTrack, MediaStreamTrack]]:
    """(env, processed, raw): a call in a room with the far end at ``delay``, its far end
    playing and the near end speaking from ``NEAR_END_FROM``; two tracks of the microphone,
    one with ``constraints``, one raw."""
    room = SimulatedRoom("headset", "default", room_impulse_response(delay))
    with VirtualEnvironment(room=room) as env:
        env.backend.set_signal("default", near_end())
        env.navigator.audio_session.type = "play-and-record"
        devices = env.navigator.media_devices
        asked = devices.get_user_media(audio=constraints), devices.get_user_media(audio=RAW)
        env.run_until_idle()
        (processed,), (raw,) = (request.result(0).get_tracks() for request in asked)
        Audio(far_end_file(folder)).play()
        yield env, processed, raw


def listen(
    env: VirtualEnvironment, tracks: tuple[MediaStreamTrack, ...], seconds: float
) -> list[np.ndarray]:
    """What each track captures in the next ``seconds``."""
    blocks: list[list[np.ndarray]] = [[] for _ in tracks]
    for _ in range(round(seconds / 0.1)):
        env.advance(0.1)
        for track, kept in zip(tracks, blocks, strict=True):
            kept.append(track.read())
    return [np.concatenate(kept) for kept in blocks]


def call(folder: Path, delay: float, constraints: dict) -> tuple[np.ndarray, np.ndarray, dict]:
    """(processed, raw, settings): the two tracks of a whole call with the far end at
    ``delay``."""
    with virtual_call(folder, delay, constraints) as (env, processed, raw):
        heard = listen(env, (processed, raw), CALL_SECONDS)
        return heard[0], heard[1], processed.get_settings()


def stretch(track: np.ndarray, span: tuple[float, float], extra: int = 0) -> np.ndarray:
    return track[int(span[0] * RATE) : int(span[1] * RATE) + extra, 0]
