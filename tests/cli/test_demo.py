"""``audiosession demo``: the timeline it prints, and the sound and picture it writes."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiosession.cli.sounds import (
    MUSIC_DRONE_AMPLITUDE,
    MUSIC_DRONE_HZ,
    RADIO_DRONE_AMPLITUDE,
    RADIO_DRONE_HZ,
)
from support.audio import rms, segment, silent, tone_level_db


def music_db(output: np.ndarray, at: float) -> float:
    """The music's drone in ``output`` at ``at`` s, in dB against the drone as recorded."""
    return tone_level_db(output, MUSIC_DRONE_HZ, at, reference=MUSIC_DRONE_AMPLITUDE)


def radio_db(output: np.ndarray, at: float) -> float:
    return tone_level_db(output, RADIO_DRONE_HZ, at, reference=RADIO_DRONE_AMPLITUDE)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG file"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_demo_prints_each_statechange_and_policy_decision_as_it_happens(virtual_demo):
    result, _ = virtual_demo
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    expected_in_order = [
        "music          statechange -> active",
        "music          policy: ducked by notification",
        # A player's file loads in parallel (as in HTML): its session asks to become active
        # in the block after play(), where the policy's decision is sampled after the
        # statechanges it caused.
        "music          statechange -> interrupted",
        "music          policy: paused by voice prompt",
        "music          policy: paused by call",
        "call           policy: routed to headset (communications device)",
        "call           microphone open: Fake microphone",
        "second player  statechange -> interrupted",
        "second player  policy: delayed by call",
        "music          policy: stopped by second player",
        "second player  statechange -> active",
    ]
    position = 0
    for text in expected_in_order:
        found = [i for i, line in enumerate(lines) if text in line and i >= position]
        assert found, f"{text!r} not printed after line {position}:\n{result.stdout}"
        position = found[0]
    # Each line starts with the (virtual) time it happened at.
    ducked = next(line for line in lines if "ducked by notification" in line)
    assert ducked.lstrip().startswith("2.0")


def test_demo_wav_holds_each_phase_of_the_timeline(virtual_demo):
    _, out = virtual_demo
    output, rate = sf.read(out / "demo.wav", always_2d=True)
    assert rate == 48000 and output.shape[1] == 2
    assert 17.5 < len(output) / rate < 20
    # Music alone, at its own level.
    assert music_db(output, 1.0) == pytest.approx(0, abs=0.3)
    # The notification ducks it by 14 dB (after the 100 ms attack), then it comes back.
    assert music_db(output, 2.4) == pytest.approx(-14, abs=0.5)
    assert music_db(output, 2.8) == pytest.approx(-14, abs=0.5)
    assert music_db(output, 4.0) == pytest.approx(0, abs=0.3)
    # The voice prompt pauses it: the prompt is heard, the music is not.
    assert music_db(output, 5.5) < -50 and music_db(output, 6.5) < -50
    assert rms(output, 5.5, 1.0) > 0.01
    # ... and it resumes after the prompt.
    assert music_db(output, 8.0) == pytest.approx(0, abs=0.3)
    # The call goes to the headset: the speakers are silent during it (the second player
    # is delayed, the music paused).
    assert silent(output, 9.1, 4.8)
    # After the call the second player plays and the music is gone for good.
    assert radio_db(output, 15.0) == pytest.approx(0, abs=0.5)
    assert radio_db(output, 17.0) == pytest.approx(0, abs=0.5)
    assert music_db(output, 15.0) < -50 and music_db(output, 17.0) < -50


def test_demo_call_is_heard_on_the_communications_device_only(virtual_demo):
    _, out = virtual_demo
    headset, rate = sf.read(out / "demo-communications.wav", always_2d=True)
    assert silent(headset, 0.0, 8.9)
    assert rms(headset, 9.1, 4.8) > 0.02
    assert silent(headset, 14.1, 3.0)
    assert np.max(np.abs(segment(headset, 9.0, 5.0))) > 0.1


def test_demo_png_is_a_picture_of_sensible_size(virtual_demo):
    _, out = virtual_demo
    width, height = png_size(out / "demo.png")
    assert 1000 <= width <= 2400 and 600 <= height <= 1400
    assert 30_000 < (out / "demo.png").stat().st_size < 2_000_000


def test_demo_refuses_to_overwrite_without_force(virtual_demo, cli):
    _, out = virtual_demo
    before = (out / "demo.wav").stat().st_mtime_ns
    result = cli("demo", "--virtual", "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--force" in result.stderr
    assert "demo.wav already exists" in result.stderr
    assert (out / "demo.wav").stat().st_mtime_ns == before


def test_demo_without_a_sound_device_says_so_in_one_line_and_renders_virtually(tmp_path, cli):
    (tmp_path / "demo.png").write_bytes(b"an earlier demo")
    result = cli("demo", "--force", "--out", str(tmp_path))  # --force: overwrites demo.png
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        "No sound device found: rendering the demo in virtual time instead (nothing to hear; "
        "see demo.wav)."
    ]
    assert "virtual time" in result.stdout.splitlines()[0]
    assert (tmp_path / "demo.wav").exists()
    assert png_size(tmp_path / "demo.png")[0] > 1000


def test_demo_out_must_be_a_directory(tmp_path, cli):
    (tmp_path / "file").write_text("x")
    result = cli("demo", "--virtual", "--out", str(tmp_path / "file"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"audiosession demo: --out {tmp_path / 'file'} is a file, not a directory; name a directory"
    ]
