"""The bridge's pure parts: the role → type mapping, volume scaling, the journal file."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest

from audiosession.daemon.bridge import BRIDGE_CLIENT, PulseBridge, type_for_role
from audiosession.engine.backends.pulse.foreign import ForeignStream, scaled
from audiosession.policy import Arbiter
from audiosession.types import AudioSessionType as T


class Host:
    arbiter = Arbiter()

    def dispatch(self, actions: object) -> None:
        pass

    def client_pids(self) -> set[int]:
        return set()

    def pids_adopting_descendants(self) -> set[int]:
        return set()


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("music", T.PLAYBACK),
        ("video", T.PLAYBACK),
        ("event", T.TRANSIENT),
        ("phone", T.PLAY_AND_RECORD),
        ("a11y", T.TRANSIENT_SOLO),
        ("game", T.AMBIENT),
        ("animation", T.AMBIENT),
        (None, T.AMBIENT),
        ("", T.AMBIENT),
    ],
)
def test_media_role_gives_the_session_type(role: str | None, expected: T) -> None:
    assert type_for_role(role) is expected


def test_a_duck_scales_the_cubic_volume_to_the_linear_gain() -> None:
    ducked = scaled([45875, 65536], 0.2)
    for before, after in zip([45875, 65536], ducked, strict=True):
        assert 20 * math.log10((after / before) ** 3) == pytest.approx(-13.98, abs=0.01)
    assert scaled([45875], 1.0) == [45875]


def test_the_journal_is_written_atomically_and_removed_when_empty(tmp_path: Path) -> None:
    journal = tmp_path / "volumes.json"
    bridge = PulseBridge(Host(), journal, "unix:/nowhere")
    stream = ForeignStream(7, 4242, "paplay", "music", False, original=[45875], ducked_to=[26828])
    bridge._streams[7] = stream
    bridge._write_journal()
    saved = json.loads(journal.read_text())
    assert saved == {
        "server": "unix:/nowhere",
        "streams": {
            "7": {
                "pid": 4242,
                "program": "paplay",
                "original": [45875],
                "ducked_to": [26828],
                "muted": False,
            }
        },
    }
    assert journal.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["volumes.json"]  # no temporary left
    stream.original = stream.ducked_to = None
    bridge._write_journal()
    assert not journal.exists()


def test_a_journal_of_another_server_is_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = tmp_path / "volumes.json"
    journal.write_text(json.dumps({"server": "unix:/elsewhere", "streams": {"3": {}}}))
    bridge = PulseBridge(Host(), journal, "unix:/nowhere")
    with caplog.at_level(logging.WARNING):
        bridge._restore_journal()
    assert journal.exists()
    assert "is for server 'unix:/elsewhere'" in caplog.text


def test_an_unreadable_journal_is_reported_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = tmp_path / "volumes.json"
    journal.write_text("{not json")
    bridge = PulseBridge(Host(), journal, "unix:/nowhere")
    with caplog.at_level(logging.WARNING):
        bridge._restore_journal()
    assert "ignoring the unreadable journal" in caplog.text
    assert BRIDGE_CLIENT == "pulse"
