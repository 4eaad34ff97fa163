"""``audiosession play URL``: what ``Audio(url)`` plays, the command plays, served by a real HTTP
server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.audio import from_lavfi
from support.http_server import AudioServer, Body, Route


@pytest.fixture
def http() -> Iterator[AudioServer]:
    server = AudioServer()
    yield server
    server.close()


def test_play_plays_a_url_to_its_end(cli, tmp_path, http):
    track = tmp_path / "x.mp3"
    from_lavfi("sine=frequency=440:sample_rate=48000:duration=0.6", track, "-ac", "1")
    url = http.add("/x.mp3", Route(Body(track.read_bytes())))
    result = cli("play", url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("x.mp3  0:00."), result.stdout
    assert "playing  session active (playback)" in lines[0]
    assert lines[-1].endswith("ended  session inactive (playback)")


def test_a_url_that_is_not_found_is_one_line_and_exit_status_2(cli, http):
    url = http.add("/missing.mp3", Route(status=404))
    result = cli("play", url)
    assert result.returncode == 2, result.stdout
    (line,) = result.stderr.splitlines()[-1:]
    assert line.startswith(f"audiosession play: {url}"), result.stderr
    assert "404" in line
