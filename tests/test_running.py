"""run() and stop() keep a script alive: in virtual time they move the clock."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import audiosession
from audiosession import Audio


def test_run_until_an_element_returns_at_its_end(env, media):
    audio = Audio(media.tone(440, 1.5))
    audio.play()
    assert audiosession.run(until=audio) == "done"
    assert audio.ended and env.now == pytest.approx(1.5, abs=0.02)


def test_run_until_seconds_and_stop_from_a_listener(env, media):
    assert audiosession.run(until=0.5) == "done"
    assert env.now == pytest.approx(0.5, abs=0.011)
    audio = Audio(media.tone(440, 5.0))
    audio.add_event_listener("playing", lambda e: audiosession.stop())
    audio.play()
    assert audiosession.run() == "stopped"
    assert env.now < 0.6


def test_run_rejects_what_it_cannot_wait_for(env):
    with pytest.raises(TypeError, match="takes an element"):
        audiosession.run(until="forever")
    with pytest.raises(ValueError, match=">= 0"):
        audiosession.run(until=-1)


def test_a_plain_script_plays_a_file_to_its_end_in_real_time(media):
    script = textwrap.dedent(f"""
        import time, audiosession
        from audiosession import navigator, Audio
        navigator.audio_session.type = "playback"
        track = Audio({media.tone(440, 0.5)!r})
        track.play()
        start = time.monotonic()
        print(audiosession.run(until=track), navigator.audio_session.state,
              round(time.monotonic() - start, 1))
    """)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"AUDIOSESSION_BACKEND": "null", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    reason, state, seconds = result.stdout.split()
    assert reason == "done" and state in ("active", "inactive")
    assert float(seconds) >= 0.45  # paced by the real clock, not rendered at once


@pytest.mark.parametrize("rate", [22050, 48000])
def test_a_script_that_exits_while_its_generated_audio_plays_prints_nothing(rate):
    # The track is still live and its element playing at exit: the dispatcher thread is
    # stopped at exit, so what its pending tasks held (the track, its resampler at 22.05 kHz)
    # is released with the rest.
    script = textwrap.dedent(f"""
        import numpy as np, audiosession
        from audiosession import Audio, MediaStream, MediaStreamTrackGenerator
        track = MediaStreamTrackGenerator(kind="audio", rate={rate}, channels=1)
        speech = Audio()
        speech.src_object = MediaStream([track])
        speech.play()
        t = np.arange({rate // 2}) / {rate}
        track.write((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))
        audiosession.run(until=0.2)
        print(speech.paused, track.ready_state)
    """)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"AUDIOSESSION_BACKEND": "null", "AUDIOSESSION_DAEMON": "off", "PATH": "/usr/bin:/bin"},
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.split() == ["False", "live"]


def run_script(script: str) -> list[str]:
    """Run ``script`` in a new process on the null backend (real time); its output's words."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"AUDIOSESSION_BACKEND": "null", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_in_real_time_run_wakes_for_what_it_waits_for_not_on_a_poll():
    # Each wait ends on its own event: a stop() from another thread, a future settled from
    # another thread, the seconds asked for, the timeout; and between them the loop has no
    # task to run (run() does not poll it).
    words = run_script("""
        import concurrent.futures, threading, time, audiosession
        from audiosession.session.runtime import current_runtime
        loop = current_runtime().loop
        threading.Timer(0.2, audiosession.stop).start()
        start = time.monotonic()
        print(audiosession.run(), time.monotonic() - start)
        future = concurrent.futures.Future()
        threading.Timer(0.2, future.set_result, (None,)).start()
        start = time.monotonic()
        print(audiosession.run(until=future), time.monotonic() - start)
        before = loop.batches_run
        start = time.monotonic()
        print(audiosession.run(until=0.3), time.monotonic() - start)
        print(audiosession.run(until=5.0, timeout=0.2), loop.batches_run - before)
    """)
    assert words[0::2] == ["stopped", "done", "done", "timeout"]
    stopped_after, settled_after, slept = (float(w) for w in words[1:6:2])
    assert 0.19 <= stopped_after < 10 and 0.19 <= settled_after < 10 and 0.29 <= slept < 10
    assert words[7] == "0"
