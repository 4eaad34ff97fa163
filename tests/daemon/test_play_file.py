"""Sounds the daemon plays for clients (``play_file``), with raw clients against a daemon in a
thread that plays on the null sink in real time (what reaches a real sink, and at which level,
is tests/cli/test_notify.py's business)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audiosession.daemon import Daemon, DaemonThread
from audiosession.daemon.player import MAX_SOUNDS_PER_CLIENT, SoundCache
from audiosession.policy import PolicyConfig
from support.audio import Media
from support.raw_client import Raw, sound_event


@pytest.fixture
def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    monkeypatch.setenv("AUDIOSESSION_BACKEND", "null")
    runtime = tmp_path / "audiosession"
    runtime.mkdir(mode=0o700)
    server = Daemon(runtime / "daemon.sock", PolicyConfig(), play_sounds=True)
    with DaemonThread(server):
        yield server


def gains(raw: Raw, session: str) -> list[float]:
    """The gains pushed so far for ``session`` (from ``actions`` pushes)."""
    return [
        action["gain"]
        for push in raw.pushes
        if push.get("push") == "actions"
        for action in push["actions"]
        if action["do"] == "gain" and action["session"] == session
    ]


def test_a_sound_plays_as_a_transient_session_of_the_client_and_ends(
    daemon: Daemon, media: Media
) -> None:
    tone = media.tone(1000, 0.2, name="ping.wav")
    raw = Raw(daemon.socket_path)
    reply = raw.request("play_file", path=tone)
    assert reply["ok"], reply
    session = reply["session"]
    started = sound_event(raw, session)
    assert started["event"] == "started" and started["state"] == "active"
    assert started["duration"] == pytest.approx(0.2)
    rows = raw.request("sessions")["sessions"]
    assert [(r["client"], r["session"], r["type"], r["state"], r["owner"]) for r in rows] == [
        (raw.client, session, "transient", "active", f"notify ping.wav (pid {os.getpid()})")
    ]
    assert sound_event(raw, session)["event"] == "ended"
    assert raw.request("sessions")["sessions"] == []


def test_a_sound_ducks_another_clients_music_until_it_ends(daemon: Daemon, media: Media) -> None:
    music = Raw(daemon.socket_path)
    assert music.request("add", session="music", context="w", owner="player")["ok"]
    assert music.request("request_active", session="music", type="playback")["ok"]
    notifier = Raw(daemon.socket_path)
    session = notifier.request("play_file", path=media.tone(1000, 0.2))["session"]
    assert sound_event(notifier, session)["event"] == "started"
    assert music.next_push()["actions"][0]["gain"] == pytest.approx(0.2)  # -14 dB
    assert sound_event(notifier, session)["event"] == "ended"
    assert music.next_push()["actions"][0]["gain"] == pytest.approx(1.0)


def test_a_client_that_goes_away_stops_its_sound_and_releases_the_duck(
    daemon: Daemon, media: Media
) -> None:
    music = Raw(daemon.socket_path)
    music.request("add", session="music", context="w", owner="player")
    music.request("request_active", session="music", type="playback")
    notifier = Raw(daemon.socket_path)
    session = notifier.request("play_file", path=media.tone(1000, 0.2), loop=True)["session"]
    assert sound_event(notifier, session)["event"] == "started"
    assert music.next_push()["actions"][0]["gain"] == pytest.approx(0.2)
    notifier.close()  # Ctrl-C in `audiosession notify --loop`
    assert music.next_push()["actions"][0]["gain"] == pytest.approx(1.0)
    assert [r["session"] for r in music.request("sessions")["sessions"]] == ["music"]


def test_a_voice_prompt_holds_a_sound_and_lets_it_go_on(daemon: Daemon, media: Media) -> None:
    prompt = Raw(daemon.socket_path)
    prompt.request("add", session="prompt", context="w", owner="assistant")
    prompt.request("request_active", session="prompt", type="transient-solo")
    notifier = Raw(daemon.socket_path)
    session = notifier.request("play_file", path=media.tone(1000, 0.2))["session"]
    assert sound_event(notifier, session)["state"] == "interrupted"  # delayed by the prompt
    prompt.request("release", session="prompt")
    assert sound_event(notifier, session) == {
        "push": "sound",
        "session": session,
        "event": "state",
        "state": "active",
    }
    assert sound_event(notifier, session)["event"] == "ended"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"path": "ping.wav"}, "play_file: path must be absolute"),
        ({"path": ""}, "play_file: path must be a file's path of 1 to 4096 characters"),
        ({"path": "/x" * 3000}, "play_file: path must be a file's path of 1 to 4096 characters"),
        ({"path": "/tmp/a\0b"}, "play_file: path must be a file's path"),
        ({"path": "/tmp/a.wav", "volume": 2}, "play_file: volume must be a number from 0 to 1"),
        ({"path": "/tmp/a.wav", "volume": True}, "play_file: volume must be a number from 0 to 1"),
        ({"path": "/tmp/a.wav", "loop": "yes"}, "play_file: loop must be true or false"),
        ({"path": "/tmp/a.wav", "device": ""}, "play_file: device must be a non-empty string"),
        ({"path": "/tmp/a.wav", "speed": 2}, "play_file: unknown argument(s) 'speed'"),
    ],
)
def test_a_bad_request_gets_an_error_naming_what_is_wrong(
    daemon: Daemon, args: dict[str, Any], error: str
) -> None:
    raw = Raw(daemon.socket_path)
    reply = raw.request("play_file", **args)
    assert not reply["ok"] and reply["error"].startswith(error), reply
    assert raw.request("sessions")["sessions"] == []


def test_a_fifo_or_a_device_is_refused_without_being_opened(daemon: Daemon, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)  # opening it to read would wait for a writer for ever
    raw = Raw(daemon.socket_path)
    for path in (str(fifo), "/dev/zero"):
        session = raw.request("play_file", path=path)["session"]
        failed = sound_event(raw, session)
        assert failed == {
            "push": "sound",
            "session": session,
            "event": "failed",
            "error": f"cannot play {path!r}: not a regular file (a FIFO, device "
            "or socket); give an audio file",
        }
    assert raw.request("ping")["ok"]


def test_a_file_that_is_not_audio_fails_with_the_decoders_reason(
    daemon: Daemon, media: Media
) -> None:
    raw = Raw(daemon.socket_path)
    missing = raw.request("play_file", path=str(media.folder / "missing.wav"))["session"]
    assert sound_event(raw, missing)["error"].endswith("No such file or directory")
    bad = media.file("bad.wav", b"this is not audio")
    session = raw.request("play_file", path=bad)["session"]
    assert sound_event(raw, session)["error"].startswith(
        f"cannot play {bad!r}: not a decodable audio file"
    )


def test_an_unknown_device_fails_with_the_outputs_there_are(daemon: Daemon, media: Media) -> None:
    raw = Raw(daemon.socket_path)
    session = raw.request("play_file", path=media.tone(1000, 0.2), device="earbuds")["session"]
    assert sound_event(raw, session)["error"] == "no audio output device 'earbuds'; available: null"


def test_a_client_may_play_a_bounded_number_of_sounds_at_once(daemon: Daemon, media: Media) -> None:
    tone = media.tone(1000, 0.2)
    raw = Raw(daemon.socket_path)
    for _ in range(MAX_SOUNDS_PER_CLIENT):
        assert raw.request("play_file", path=tone, loop=True)["ok"]
    reply = raw.request("play_file", path=tone)
    assert reply == {
        "id": raw.ids,
        "ok": False,
        "error": f"play_file: a client may play {MAX_SOUNDS_PER_CLIENT} sounds at once",
    }


def test_a_daemon_that_plays_no_sounds_says_so(tmp_path: Path) -> None:
    runtime = tmp_path / "audiosession"
    runtime.mkdir(mode=0o700)
    with DaemonThread(Daemon(runtime / "daemon.sock", PolicyConfig())) as thread:
        raw = Raw(thread.daemon.socket_path, hello=False)
        hello = raw.send({"op": "hello", "version": 1, "program": "t"})
        assert "play-file" not in hello["features"]
        reply = raw.request("play_file", path="/tmp/ping.wav")
        assert reply["error"] == (
            "play_file: this daemon plays no sounds (started with play_sounds off)"
        )


def test_a_short_sound_is_decoded_once_and_again_when_its_file_changes(
    daemon: Daemon, media: Media
) -> None:
    tone = media.tone(1000, 0.2, name="ping.wav")
    player = daemon.service.player
    assert player is not None and player._engine is not None
    engine = player._engine.result()
    first = player._open(tone, engine)
    assert player._open(tone, engine)._samples is first._samples  # from the cache
    media.tone(500, 0.3, name="ping.wav")  # the same path, new contents
    again = player._open(tone, engine)
    assert again._samples is not first._samples and again.duration == pytest.approx(0.3)


def test_the_cache_keeps_within_its_budget_dropping_the_least_recently_played() -> None:
    cache = SoundCache(budget=3000, per_sound=1500)
    sounds = {key: np.zeros(250, np.float32) for key in range(4)}  # 1000 bytes each
    for key, samples in sounds.items():
        cache.put((key,), samples)
        cache.get((0,))  # the first is played again and again
    assert cache.bytes == 3000
    assert cache.get((0,)) is sounds[0] and cache.get((1,)) is None
    assert cache.get((3,)) is sounds[3]
    cache.put((9,), np.zeros(1000, np.float32))  # 4000 bytes: over the per-sound bound
    assert cache.get((9,)) is None and cache.bytes == 3000
    with pytest.raises(ValueError):
        sounds[0][0] = 1.0  # what the cache holds is read-only: every play shares it
