"""Voice processing of a call's microphone: what it removes, what it keeps, what it costs.

Run: ``python benchmarks/voice_processing.py`` (the public path: a call in virtual time with a
simulated room, processed and raw tracks of one microphone; CPU per second of processed audio
as the ratio of the run with processing to the run without), ``--realtime`` for a call in real
time on a private PulseAudio server (``audiosession call``, processed and with
``--no-processing``, alone and with a CPU hog per core: CPU of the call and the server per
second, dropouts of the far end on the sink's monitor), and ``--candidates`` for the
comparison of the implementations on the same recordings (docs/devices.md, *Voice
processing*; a candidate not installed is reported so).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from support.audio import (
    RATE,
    component_level_db,
    level_change_db,
    room_impulse_response,
    speech_like,
)
from support.pulse_server import PulseServer
from support.voice_call import (
    DOUBLE_TALK,
    ECHO_ONLY,
    NEAR_END_ALONE,
    RAW,
    call,
    near_end,
    stretch,
)

FRAME = RATE // 100


def figures(processed: np.ndarray, raw: np.ndarray) -> str:
    erle = -level_change_db(stretch(processed, ECHO_ONLY), stretch(raw, ECHO_ONLY))
    alone = level_change_db(stretch(processed, NEAR_END_ALONE), stretch(raw, NEAR_END_ALONE))
    voice = stretch(near_end()[:, None], DOUBLE_TALK)
    talk = component_level_db(stretch(processed, DOUBLE_TALK, 2400), voice)
    return f"ERLE {erle:5.1f} dB  near end alone {alone:+5.1f} dB  double talk {talk:+5.1f} dB"


def public_path(folder: Path) -> None:
    for name, constraints in (
        ("echo cancellation", {"noise_suppression": False, "auto_gain_control": False}),
        ("all three (web default)", {}),
    ):
        for delay in (0.02, 0.15):
            processed, raw, _ = call(folder, delay, constraints)
            print(f"{name:24} room {delay * 1000:3.0f} ms  {figures(processed, raw)}")
    spent = {}
    for name, constraints in (("processed", {}), ("raw", RAW)):
        start = time.process_time()
        call(folder, 0.05, constraints)
        spent[name] = time.process_time() - start
    cost = (spent["processed"] - spent["raw"]) / 12.0 * 1000
    print(
        f"CPU per second of processed audio: {cost:.1f}"
        f" ms (a 12 s call: {spent['processed']:.2f} s processed vs {spent['raw']:.2f} s raw)"
    )


def realtime(folder: Path, seconds: float) -> None:
    """``audiosession call`` on a private PulseAudio: the far end (white noise, looped) on the
    only sink, the microphone its monitor (a pure echo path), processed or raw."""
    from realtime import make_noise, measure, start_hogs, wait_for_streams

    (far_end,) = make_noise(folder, 1, seconds + 10)
    print("CPU seconds per second of audio (call process + server); dropouts of the far end")
    for hog in (False, True):
        hogs = start_hogs() if hog else []
        try:
            for processing in (True, False):
                with PulseServer({"speakers": {}}) as server:
                    command = [sys.executable, "-m", "audiosession", "call", "--remote", far_end]
                    command += ["--mic", "speakers.monitor", "--seconds", str(seconds + 5)]
                    command += [] if processing else ["--no-processing"]
                    env = dict(server.env, AUDIOSESSION_DAEMON="off", AUDIOSESSION_BACKEND="pulse")
                    call_process = subprocess.Popen(
                        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                    )
                    try:
                        assert call_process.stdout is not None
                        first = call_process.stdout.readline().strip()
                        wait_for_streams(server, 1)
                        client, srv, dropouts, windows = measure(
                            server, [call_process.pid], seconds
                        )
                    finally:
                        call_process.kill()
                        call_process.wait()
                label = ("processed" if processing else "raw") + (" + hog" if hog else "")
                print(
                    f"{label:16} CPU {client:.3f} + {srv:.3f}  dropouts {dropouts}/{windows}"
                    f"   ({first})"
                )
        finally:
            for process in hogs:
                process.kill()
                process.wait()


def candidates() -> None:
    far = speech_like(12, seed=3)
    far[int(9 * RATE) :] = 0
    near = near_end()
    for delay in (0.02, 0.15):
        echo = np.convolve(far, room_impulse_response(delay))[: len(far)]
        mic = (echo + near).astype(np.float32)
        for name, process in (("pywebrtc-audio", _pywebrtc), ("livekit APM", _livekit)):
            try:
                start = time.process_time()
                out = process(mic, far)
            except ImportError as error:
                print(f"{name:16} not installed ({error})")
                continue
            cpu = (time.process_time() - start) / 12 * 1000
            print(
                f"{name:16} room {delay * 1000:3.0f} ms  "
                f"{figures(out[:, None], mic[:, None])}  CPU {cpu:.1f} ms/s"
            )


def _pywebrtc(mic: np.ndarray, far: np.ndarray) -> np.ndarray:
    from pywebrtc_audio import AudioProcessor

    apm = AudioProcessor(sample_rate=RATE, num_channels=1, echo_cancellation=True)
    return np.concatenate(
        [apm.process(mic[i : i + FRAME], far[i : i + FRAME]) for i in range(0, len(mic), FRAME)]
    )


def _livekit(mic: np.ndarray, far: np.ndarray) -> np.ndarray:
    from livekit import rtc

    apm = rtc.AudioProcessingModule(echo_cancellation=True, high_pass_filter=True)
    out = np.empty_like(mic)
    as16 = [(np.clip(x, -1, 1) * 32767).astype(np.int16) for x in (mic, far)]
    for i in range(0, len(mic), FRAME):
        apm.process_reverse_stream(rtc.AudioFrame(as16[1][i : i + FRAME].tobytes(), RATE, 1, FRAME))
        apm.set_stream_delay_ms(0)
        frame = rtc.AudioFrame(as16[0][i : i + FRAME].tobytes(), RATE, 1, FRAME)
        apm.process_stream(frame)
        out[i : i + FRAME] = np.frombuffer(frame.data, np.int16) / 32768
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", action="store_true")
    parser.add_argument("--realtime", action="store_true")
    parser.add_argument("--seconds", type=float, default=20.0, help="per real-time run")
    args = parser.parse_args()
    import tempfile

    if args.candidates:
        candidates()
        return
    with tempfile.TemporaryDirectory() as folder:
        if args.realtime:
            realtime(Path(folder), args.seconds)
        else:
            public_path(Path(folder))


if __name__ == "__main__":
    main()
