"""The program's own sink-inputs that are not ours (``OwnStreams``) on a private PulseAudio
server: which are reported, and what a duck and a hold do to their sound on the monitor."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

from audiosession.engine.backends.pulse.backend import PulseBackend
from audiosession.engine.backends.pulse.foreign import scaled
from audiosession.engine.backends.pulse.own_streams import OwnStreams
from support.audio import Media
from support.own_players import Reports, SimpleTone
from support.pulse_server import RATE, PulseServer, level_db, wait_for


def heard_db(server: PulseServer, seconds: float = 0.5) -> float:
    """The 440 Hz level on the speakers' monitor over the next ``seconds``."""
    return level_db(server.record_monitor("speakers", seconds), 440)


def test_a_duck_of_an_own_stream_is_minus_14_db_and_its_volume_comes_back_exactly(
    pulse_server: PulseServer, reports: Reports, watcher: OwnStreams
) -> None:
    with SimpleTone(440):
        stream = reports.wait_for_stream("tone-player")
        reports.wait_for("playing", stream.index)
        assert (stream.pid, stream.role) == (os.getpid(), "music")
        before, _ = pulse_server.volume_of(stream.index)
        full = heard_db(pulse_server)

        watcher.set_gain(stream.index, 0.2, 0.1)
        assert wait_for(lambda: pulse_server.volume_of(stream.index)[0] == scaled(before, 0.2))
        assert heard_db(pulse_server) - full == pytest.approx(-14, abs=1)

        watcher.set_gain(stream.index, 1.0, 0.5)
        assert wait_for(lambda: pulse_server.volume_of(stream.index)[0] == before)
        assert heard_db(pulse_server) == pytest.approx(full, abs=0.5)
    reports.wait_for("gone", stream.index)


def test_a_ramped_duck_goes_down_in_steps(
    pulse_server: PulseServer, reports: Reports, watcher: OwnStreams
) -> None:
    with SimpleTone(440):
        stream = reports.wait_for_stream("tone-player")
        before, _ = pulse_server.volume_of(stream.index)
        recorder = pulse_server.record("speakers.monitor")
        watcher.set_gain(stream.index, 0.2, 0.8)
        assert wait_for(lambda: pulse_server.volume_of(stream.index)[0] == scaled(before, 0.2))
        recorded = recorder.stop()
    window = RATE // 10
    steps = [
        level_db(recorded[start : start + window], 440)
        for start in range(0, len(recorded) - window, window)
    ]
    between = [level for level in steps if steps[-1] + 1 < level < steps[0] - 1]
    assert len(between) >= 3, f"no ramp in {np.round(steps, 1)}"


def test_a_held_own_stream_is_silent_and_plays_at_its_level_again_when_resumed(
    pulse_server: PulseServer, reports: Reports, watcher: OwnStreams
) -> None:
    with SimpleTone(440):
        stream = reports.wait_for_stream("tone-player")
        full = heard_db(pulse_server)

        watcher.hold(stream.index, True)
        assert wait_for(lambda: pulse_server.volume_of(stream.index)[1])
        assert heard_db(pulse_server) < -60

        watcher.hold(stream.index, False)
        assert wait_for(lambda: not pulse_server.volume_of(stream.index)[1])
        assert heard_db(pulse_server) == pytest.approx(full, abs=0.5)


class Sine:
    def __init__(self) -> None:
        self.position = 0

    def __call__(self, frames: int) -> np.ndarray:
        t = (self.position + np.arange(frames)) / RATE
        self.position += frames
        return np.repeat((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None], 2, 1)


def test_a_stream_that_corks_is_reported_paused_and_is_muted_only_while_it_plays(
    pulse_server: PulseServer, reports: Reports, watcher: OwnStreams
) -> None:
    with PulseBackend(app_name="corking-player") as library:
        output = library.open_output(
            "speakers", "video", rate=RATE, channels=2, blocksize=480, render=Sine()
        )
        stream = reports.wait_for_stream("corking-player")
        reports.wait_for("playing", stream.index)
        assert stream.role == "video"
        watcher.hold(stream.index, True)
        assert wait_for(lambda: pulse_server.volume_of(stream.index)[1])

        output.drop_queued()  # the library pauses: it corks its stream
        reports.wait_for("paused", stream.index)
        assert wait_for(lambda: not pulse_server.volume_of(stream.index)[1])

        assert reports.heard.count(("playing", stream.index)) == 1
        output.set_idle(True)
        output.set_idle(False)  # it plays again, still held
        assert wait_for(lambda: reports.heard.count(("playing", stream.index)) == 2)
        assert wait_for(lambda: pulse_server.volume_of(stream.index)[1])
        assert heard_db(pulse_server) < -60


def test_only_the_programs_streams_not_ours_and_its_children_only_when_asked(
    pulse_server: PulseServer, media: Media, reports: Reports, watcher: OwnStreams
) -> None:
    with_children = Reports()
    family = OwnStreams(with_children, children=True)
    family.start()
    tone = media.tone(440, seconds=30)
    child = subprocess.Popen(["paplay", "--client-name=child-player", tone], env=pulse_server.env)
    # A grandchild whose parent exits at once: another process's, not a descendant.
    stranger = int(
        subprocess.run(
            ["sh", "-c", f"paplay --client-name=stranger {tone} >/dev/null 2>&1 & echo $!"],
            env=pulse_server.env,
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    )
    try:
        with PulseBackend() as ours:
            ours.open_output(
                "speakers", "music", rate=RATE, channels=2, blocksize=480, render=Sine()
            )
            assert wait_for(
                lambda: (
                    {s.properties.get("application.name") for s in pulse_server.sink_inputs()}
                    >= {"audiosession", "child-player", "stranger"}
                )
            )
            with SimpleTone(1000, application="last-player"):
                # Streams are reported in the order they appear: once the last one is, the
                # others would have been.
                reports.wait_for_stream("last-player")
                with_children.wait_for_stream("last-player")
        assert {s.program for s in reports.streams.values()} == {"last-player"}
        assert {s.program for s in with_children.streams.values()} == {
            "child-player",
            "last-player",
        }
    finally:
        family.close()
        child.kill()
        child.wait()
        os.kill(stranger, 9)
