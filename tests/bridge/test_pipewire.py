"""The bridge, unchanged, against PipeWire's PulseAudio server (``pipewire-pulse``), which
Debian desktops use by default: foreign streams are ducked, muted and restored exactly, a
foreign call interrupts our playback, and a daemon killed mid-duck restores at its next start.
Volumes and mutes are read with ``pactl``."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.audio import Media
from support.bridged import SEVENTY_PERCENT, Bridged, wait_until
from support.pipewire_server import PipeWireServer


@pytest.fixture
def media(tmp_path: Path) -> Media:
    return Media(tmp_path)


@pytest.fixture
def bridged_pw(tmp_path: Path, pipewire_server: PipeWireServer) -> Iterator[Bridged]:
    processes = Bridged(tmp_path, pipewire_server)  # type: ignore[arg-type]
    processes.start_daemon()
    try:
        yield processes
    finally:
        processes.close()


def test_pipewire_foreign_music_is_ducked_muted_and_restored_exactly(
    bridged_pw: Bridged, media: Media
) -> None:
    bridged = bridged_pw
    assert "on PipeWire" in bridged.daemon.log()
    _, music = bridged.paplay(media.tone(440, 30.0), "music")
    bridged.server.pactl("set-sink-input-volume", str(music.index), "70%")
    assert wait_until(lambda: bridged.volume(music.index) == ([SEVENTY_PERCENT], False))

    ping = bridged.player("ping", "transient", media.tone(1000, 1.0))
    ping.wait_for("playing")
    assert wait_until(lambda: bridged.volume(music.index)[0] != [SEVENTY_PERCENT])
    assert bridged.volume(music.index) == ([round(SEVENTY_PERCENT * 0.2 ** (1 / 3))], False)
    rows = ping.ask("sessions")["sessions"]
    assert [
        (r["owner"].split(" (")[0], r["type"], r["gain"])
        for r in rows
        if r["id"] == f"pulse/{music.index}"
    ] == [("pulse: paplay", "playback", 0.2)]
    ping.wait_for("ended")
    assert wait_until(lambda: bridged.volume(music.index) == ([SEVENTY_PERCENT], False))

    prompt = bridged.player("prompt", "transient-solo", media.tone(1000, 1.0))
    prompt.wait_for("playing")
    assert wait_until(lambda: bridged.volume(music.index)[1])
    prompt.wait_for("ended")
    assert wait_until(lambda: bridged.volume(music.index) == ([SEVENTY_PERCENT], False))
    assert not bridged.journal.exists()


def test_pipewire_foreign_phone_stream_interrupts_our_playback(
    bridged_pw: Bridged, media: Media
) -> None:
    bridged = bridged_pw
    music = bridged.player("music", "playback", media.tone(440, 1.0), loop=True)
    music.wait_for("state", state="active")
    call, _ = bridged.paplay(media.tone(300, 1.0), "phone")
    music.wait_for("state", state="interrupted", timeout=3)
    call.wait(10)
    music.wait_for("state", state="active", timeout=3)


def test_pipewire_daemon_killed_mid_duck_restores_at_next_start(
    bridged_pw: Bridged, media: Media
) -> None:
    bridged = bridged_pw
    _, music = bridged.paplay(media.tone(440, 30.0), "music")
    bridged.server.pactl("set-sink-input-volume", str(music.index), "70%")
    assert wait_until(lambda: bridged.volume(music.index)[0] == [SEVENTY_PERCENT])
    ping = bridged.player("ping", "transient", media.tone(1000, 1.0), loop=True)
    ping.wait_for("playing")
    assert wait_until(lambda: bridged.volume(music.index)[0] != [SEVENTY_PERCENT])
    bridged.daemon.kill(signal.SIGKILL)
    ping.kill()
    time.sleep(0.2)
    assert bridged.volume(music.index)[0] != [SEVENTY_PERCENT]
    bridged.start_daemon()
    assert wait_until(lambda: bridged.volume(music.index) == ([SEVENTY_PERCENT], False))
    assert not bridged.journal.exists()
