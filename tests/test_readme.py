"""README.md's examples run as written (with a short generated track.mp3 beside them)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from support.audio import tone_level_db
from support.examples import run_example
from support.players import require_libmpv

README = Path(__file__).parents[1] / "README.md"


def section_example(heading: str) -> str:
    """The Python example in README's section ``## heading``."""
    section = README.read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return code


def test_the_readme_example_plays_its_track_to_the_end(media, tmp_path):
    example = section_example("Example")
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is needed to make track.mp3 (scripts/setup --test installs it)"
    subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-i",
            media.tone(440, 1.0, subtype="PCM_16"),
            str(tmp_path / "track.mp3"),
        ],
        check=True,
    )
    script = example + '\nprint("ended", track.ended, navigator.audio_session.state)\n'
    result = run_example(script, tmp_path)
    assert result.returncode == 0, result.stderr
    word, ended, state = result.stdout.split()
    assert (word, ended) == ("ended", "True")
    assert state in ("active", "inactive")  # its inactivation may be a task away


def test_the_readme_voice_assistant_exits_with_nothing_on_stderr(tmp_path):
    # Its track resamples 22.05 kHz to the engine's 48 kHz: the resampler (a native soxr
    # object) is released before the interpreter finalizes, so nanobind reports no leak.
    result = run_example(section_example("Audio the program makes"), tmp_path)
    assert (result.returncode, result.stderr) == (0, "")


def test_the_readme_voice_assistant_speaks_its_sentence_to_the_end(tmp_path):
    recording = tmp_path / "speakers.wav"
    script = (
        section_example("Audio the program makes")
        + '\nprint("ended", assistant.ended, voice.underruns)\n'
    )
    result = run_example(script, tmp_path, AUDIOSESSION_BACKEND=f"wav:{recording}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ended", "True", "0"]
    # The whole sentence was heard: 41 letters of 20 ms, at the level written.
    output, rate = sf.read(recording, dtype="float32", always_2d=True)
    sounding = np.flatnonzero(np.abs(output[:, 0]) > 1e-3)
    assert (sounding[-1] - sounding[0]) / rate == pytest.approx(41 * 0.02, abs=0.01)
    assert np.abs(output[:, 0]).max() == pytest.approx(0.3, abs=0.01)


def test_the_readme_call_plays_the_far_end_and_captures_the_microphone(media, tmp_path):
    media.tone(550, 1.0, name="remote.wav")
    recording = tmp_path / "speakers.wav"
    script = (
        section_example("A call")
        + "\nprint(navigator.audio_session.state, microphone.ready_state, len(heard) / 48000)\n"
        + "import numpy as np\n"
        + "print(round(float(np.abs(np.fft.rfft(heard[:, 0])).argmax() * 48000 / len(heard))))\n"
    )
    result = run_example(
        script,
        tmp_path,
        AUDIOSESSION_BACKEND=f"wav:{recording}",
        AUDIOSESSION_FAKE_MIC=media.tone(330, 1.0, name="mic.wav"),
    )
    assert result.returncode == 0, result.stderr
    state, ready_state, seconds, frequency = result.stdout.split()
    assert ready_state == "ended"
    assert state in ("active", "inactive")  # its inactivation may be a task away
    assert float(seconds) == pytest.approx(2.0, abs=0.3)  # two seconds of the microphone
    assert int(frequency) == pytest.approx(330, abs=3)
    # The far end was heard (the WAV backend's one device is also the communications one).
    output, rate = sf.read(recording, dtype="float32", always_2d=True)
    assert tone_level_db(output, 550, 1.0) == pytest.approx(0, abs=0.5)


def mypy(*files: Path) -> subprocess.CompletedProcess[str]:
    """``mypy --strict`` on ``files``, as a user's project runs it on code using the package."""
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_readme_examples_pass_mypy_strict(tmp_path):
    examples = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(examples) >= 3
    files = []
    for number, example in enumerate(examples):
        files.append(tmp_path / f"example_{number}.py")
        files[-1].write_text(example)
    result = mypy(*files)
    assert result.returncode == 0, result.stdout


def test_a_type_checker_knows_the_entry_points_and_refuses_their_misuse(tmp_path):
    program = tmp_path / "program.py"
    program.write_text(
        "import audiosession\n"
        "from audiosession import navigator\n"
        "reveal_type(navigator)\n"
        "request = navigator.media_devices.get_user_media(audio=True)\n"
        "reveal_type(request)\n"
        "reveal_type(request.result())\n"
        "reveal_type(audiosession.run(until=1.0))\n"
        'audiosession.run(until="soon")\n'
        "request.get_audio_tracks()\n"
    )
    found = re.findall(r"program\.py:(\d+): (?:note|error): (.*)", mypy(program).stdout)
    assert found[:3] == [
        ("3", 'Revealed type is "audiosession.session.window.Navigator"'),
        ("5", 'Revealed type is "audiosession.elements.capture.UserMediaRequest"'),
        ("6", 'Revealed type is "audiosession.elements.capture.MediaStream"'),
    ]
    line, outcome = found[3]  # how a union of literals is spelled depends on mypy's version
    assert line == "7" and all(word in outcome for word in ("done", "stopped", "interrupted"))
    errors = [line for line, _ in found[4:]]
    assert errors[:2] == ["8", "9"], found  # until="soon"; a stream method on the promise


def test_the_readme_mpv_player_plays_its_track_through_mpv(media, tmp_path, pulse_server):
    require_libmpv()
    shutil.copy(media.tone(440, 1.0), tmp_path / "track.mp3")  # mpv knows a WAV by its content
    speakers = pulse_server.record("speakers.monitor")  # also keeps the sink from suspending
    script = (
        section_example("Your own player") + '\nprint("played", navigator.audio_session.state)\n'
    )
    result = run_example(script, tmp_path, AUDIOSESSION_BACKEND="pulse", **pulse_server.env)
    heard = speakers.stop()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "played"
    levels = [tone_level_db(heard, 440, t) for t in np.arange(0, len(heard) / 48000 - 0.1, 0.1)]
    assert max(levels) == pytest.approx(0, abs=1)  # the track, at its level, through mpv
