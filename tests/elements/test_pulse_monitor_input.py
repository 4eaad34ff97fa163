"""A default input that is a sink's monitor (a machine without a microphone) is said once, by
the library and by ``audiosession call``; a real default input, or a monitor asked for, is not."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

import audiosession.elements.capture  # noqa: F401 (registers navigator.media_devices)
from audiosession import Window
from audiosession.session.runtime import Runtime
from support.commands import command_env, run_command
from support.pulse_runtime import runtime_on
from support.pulse_server import PulseServer, start_or_skip

pytestmark = pytest.mark.real_server  # the module's own server, with a microphone

MONITOR_WARNING = "the monitor of output 'speakers'"


@pytest.fixture(scope="module")
def server_with_a_microphone() -> Iterator[PulseServer]:
    """A private server whose default source is a real input (module-null-source ``mic``)."""
    server = start_or_skip(PulseServer(null_source=True))
    try:
        server.pactl("set-default-source", "mic")
        yield server
    finally:
        server.stop()


def open_microphones(runtime: Runtime, *audio: object) -> list[str]:
    """The labels of the tracks ``get_user_media(audio=...)`` gives, one per argument."""
    window = Window(runtime=runtime)
    window.navigator.audio_session.type = "play-and-record"
    labels = []
    for constraints in audio:
        stream = window.navigator.media_devices.get_user_media(audio=constraints).result(5)
        (track,) = stream.get_audio_tracks()
        labels.append(track.label)
        track.stop()
    return labels


def monitor_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and MONITOR_WARNING in r.getMessage()
    ]


def test_a_monitor_as_default_input_is_said_once_per_device(
    pulse_server: PulseServer, caplog: pytest.LogCaptureFixture
) -> None:
    with runtime_on(pulse_server) as runtime, caplog.at_level(logging.WARNING):
        labels = open_microphones(runtime, True, True, {"device_id": "speakers.monitor"})
    assert labels == ["Monitor of Speakers"] * 3
    (warning,) = monitor_warnings(caplog)  # once, not per track
    assert "'Monitor of Speakers' (speakers.monitor)" in warning
    assert "get_user_media(audio={'device_id': ...})" in warning


def test_a_real_default_input_is_captured_without_a_word(
    server_with_a_microphone: PulseServer, caplog: pytest.LogCaptureFixture
) -> None:
    with runtime_on(server_with_a_microphone) as runtime, caplog.at_level(logging.WARNING):
        assert open_microphones(runtime, True) == ["Null Input"]
    assert not monitor_warnings(caplog)


def call_stderr(server: PulseServer, *options: str) -> str:
    env = command_env(PULSE_SERVER=server.server_string)
    env.pop("AUDIOSESSION_BACKEND")  # the real device: the private server
    result = run_command("call", "--seconds", "0.3", *options, env=env)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_audiosession_call_says_its_microphone_is_the_speakers_monitor(
    pulse_server: PulseServer,
) -> None:
    stderr = call_stderr(pulse_server)
    assert stderr.count(MONITOR_WARNING) == 1, stderr
    assert "--mic ID" in stderr
    assert MONITOR_WARNING not in call_stderr(pulse_server, "--mic", "speakers.monitor")


def test_audiosession_call_on_a_real_microphone_says_nothing_of_it(
    server_with_a_microphone: PulseServer,
) -> None:
    assert MONITOR_WARNING not in call_stderr(server_with_a_microphone)
