"""The other commands, run as a user runs them: exit codes, stderr, progress, Ctrl-C."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from support.audio import Media
from support.commands import COMMANDS, command_env
from support.requirements import unavailable


@pytest.fixture
def tone(media: Media) -> str:
    return media.tone(440, 0.6, name="tone.wav")


def test_version(cli):
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == "audiosession 0.1.0"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(cli, command):
    result = cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "example:" in result.stdout
    assert f"audiosession {command}" in result.stdout.split("example:")[1]


def test_play_shows_progress_and_ends_with_the_file(cli, tone):
    result = cli("play", tone)
    assert result.returncode == 0, result.stderr
    assert "tone.wav" in result.stdout and "/ 0:00.6" in result.stdout
    assert "playing  session active (playback)" in result.stdout
    assert "ended" in result.stdout.splitlines()[-1]
    # Without a sound card it says so, once.
    assert result.stderr.count("no sound device found") == 1


@pytest.mark.parametrize(
    "command,session_type",
    [("notify", "transient"), ("prompt", "transient-solo"), ("ambient", "ambient")],
)
def test_typed_players_declare_their_type(cli, tone, command, session_type):
    result = cli(command, tone)
    assert result.returncode == 0, result.stderr
    assert f"session active ({session_type})" in result.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["play", "missing.wav"], "audiosession play: no such file: missing.wav"),
        (["play", "{bad}"], "audiosession play: cannot play '{bad}': not a decodable audio file"),
        (
            ["play", "{tone}", "--type", "music"],
            "audiosession play: error: argument --type: invalid choice: 'music'",
        ),
        (
            ["play", "{tone}", "--device", "speakers"],
            "audiosession play: no audio output device 'speakers'; available: null",
        ),
        (
            ["play", "{tone}", "--volume", "2"],
            "audiosession play: error: argument --volume: volume must be from 0 to 1, not 2",
        ),
        (["notify", "{tone}", "{tone}"], "audiosession: error: unrecognized arguments"),
        (
            ["call", "--mic", "nope", "--seconds", "1"],
            "audiosession call: no audio input device 'nope'; available: null",
        ),
        (["call", "--remote", "missing.wav"], "audiosession call: no such file: missing.wav"),
        (["dance"], "audiosession: error: argument COMMAND: invalid choice: 'dance'"),
    ],
)
def test_a_mistake_is_one_line_on_stderr_and_exit_status_2(cli, media, tone, args, message):
    bad = media.file("bad.wav", b"this is not audio")
    args = [a.format(tone=tone, bad=bad) for a in args]
    result = cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(message.format(bad=bad)), lines[0]


def test_ctrl_c_stops_playback_cleanly_with_exit_status_130(tmp_path, media):
    looped = media.tone(440, 2.0, name="loop.wav")
    # SIGINT as a terminal delivers it, even when the suite itself runs where SIGINT is
    # ignored (a background job of a script), which the command would inherit.
    process = subprocess.Popen(
        [sys.executable, "-m", "audiosession", "play", looped, "--loop"],
        cwd=tmp_path,
        env=command_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the progress line: it is playing
        assert "playing" in first
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert "stopped (Ctrl-C)" in stderr


def test_call_prints_the_microphone_input_level(cli, media):
    mic = media.tone(300, 1.0, name="mic.wav")  # amplitude 0.5: RMS -9 dBFS
    remote = media.tone(550, 1.0, name="remote.wav")
    result = cli(
        "call", "--remote", remote, "--seconds", "1.2", env=command_env(AUDIOSESSION_FAKE_MIC=mic)
    )
    assert result.returncode == 0, result.stderr
    assert "microphone Fake microphone" in result.stdout and "far end remote.wav" in result.stdout
    levels = [line for line in result.stdout.splitlines() if line.startswith("input")]
    assert levels and all("session active" in line for line in levels)
    assert any("-9.0 dB" in line for line in levels), result.stdout


def test_call_processes_its_microphone_as_a_browser_does_unless_told_not_to(cli):
    processed = cli("call", "--seconds", "0.3")
    assert processed.returncode == 0, processed.stderr
    assert "(echo cancellation, noise suppression, auto gain control)" in processed.stdout
    raw = cli("call", "--seconds", "0.3", "--no-processing")
    assert raw.returncode == 0, raw.stderr
    assert "microphone Silent input (raw)" in raw.stdout, raw.stdout


def test_devices_lists_outputs_inputs_default_and_communications(cli):
    result = cli("devices")
    assert result.returncode == 0, result.stderr
    assert "output" in result.stdout and "input" in result.stdout
    assert "Null output" in result.stdout and "communications" in result.stdout
    assert "no sound device found" in result.stdout
    assert "devices of the null backend" in result.stdout


def test_status_prints_the_sessions_table(cli):
    result = cli("status")
    assert result.returncode == 0, result.stderr
    assert "session(s) on the" in result.stdout
    for column in ("type", "state", "gain", "causes", "route"):
        assert column in result.stdout


def test_python_dash_m_audiosession_cli_also_works(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "audiosession.cli", "--version"],
        env=command_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout.startswith("audiosession ")


def test_the_installed_console_script_runs(tmp_path):
    script = shutil.which("audiosession")
    if script is None:
        venv = os.path.join(os.path.dirname(sys.executable), "audiosession")
        script = venv if os.path.exists(venv) else None
    if script is None:
        unavailable("the audiosession console script is not installed (pip install -e .)")
    result = subprocess.run(
        [script, "--version"], env=command_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "audiosession 0.1.0"
