"""The bridge on a PulseAudio server with ``module-stream-restore`` loaded (as every stock
``default.pa`` loads it): the module remembers the volume and mute of each kind of stream
(``sink-input-by-media-role:music``) and gives them to the next one. A duck or a mute of the
bridge must never be what it remembers; the user's volume must."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from support.audio import Media
from support.bridged import SEVENTY_PERCENT, Bridged, levels, wait_until
from support.pulse_server import PulseServer, require_pulse_tools


@pytest.fixture(scope="module")
def pulse_server() -> Iterator[PulseServer]:
    """This module's own private server (the module's database is per server), with
    ``module-stream-restore``; the ``bridged`` fixture runs the daemon against it."""
    require_pulse_tools()
    server = PulseServer().start()
    try:
        server.pactl("load-module", "module-stream-restore")
        yield server
    finally:
        server.stop()


def end_while_held(bridged: Bridged, media: Media, holder_type: str, held: str) -> None:
    """A ``music`` stream at the user's 70 % ends while our ``holder_type`` session holds it
    (``held``: the bridge's log line, with ``{index}``); then the holder ends too."""
    player, music = bridged.paplay(media.tone(440, 30.0), "music")
    bridged.server.pactl("set-sink-input-volume", str(music.index), "70%")  # remembered
    holder = bridged.player("holder", holder_type, media.tone(1000, 3.0))
    bridged.wait_log(held.format(index=music.index))
    mark = len(bridged.daemon.log())
    player.kill()
    bridged.wait_log(f"foreign stream #{music.index} ended", since=mark)
    holder.wait_for("ended")
    holder.quit()


def next_music_stream(bridged: Bridged, media: Media) -> tuple[tuple[list[int], bool], float]:
    """Start the next ``music`` stream with nothing holding it: its volume and mute as the
    server gave them, and its level on the speakers (dB re a full-scale tone)."""
    recorder = bridged.server.record("speakers.monitor")
    _, music = bridged.paplay(media.tone(440, 30.0), "music")
    time.sleep(0.6)
    db = levels(recorder.stop())
    return bridged.volume(music.index), float(np.median(db[-6:]))


def test_a_stream_that_ends_while_ducked_leaves_the_users_volume_remembered(
    bridged: Bridged, media: Media
) -> None:
    end_while_held(bridged, media, "transient", "ducked #{index} to")
    volume, level = next_music_stream(bridged, media)
    assert volume == ([SEVENTY_PERCENT], False)  # the user's 70 %, not the duck's 41 %
    assert level == pytest.approx(60 * math.log10(0.7), abs=0.5)  # -9.3 dB


def test_a_stream_that_ends_while_muted_by_a_prompt_is_not_remembered_muted(
    bridged: Bridged, media: Media
) -> None:
    end_while_held(bridged, media, "transient-solo", "muted #{index} (held by the policy)")
    volume, level = next_music_stream(bridged, media)
    assert volume == ([SEVENTY_PERCENT], False)  # not muted
    assert level == pytest.approx(60 * math.log10(0.7), abs=0.5)


def test_a_volume_the_user_sets_during_a_duck_is_what_is_remembered(
    bridged: Bridged, media: Media
) -> None:
    player, music = bridged.paplay(media.tone(440, 30.0), "music")
    ping = bridged.player("ping", "transient", media.tone(1000, 3.0))
    bridged.wait_log(f"ducked #{music.index} to")
    mark = len(bridged.daemon.log())
    bridged.server.pactl("set-sink-input-volume", str(music.index), "50%")
    bridged.wait_log("changed during a duck", since=mark)
    mark = len(bridged.daemon.log())
    player.kill()
    bridged.wait_log(f"foreign stream #{music.index} ended", since=mark)
    ping.wait_for("ended")
    ping.quit()

    volume, level = next_music_stream(bridged, media)
    assert volume == ([32768], False)  # the user's 50 %
    assert level == pytest.approx(60 * math.log10(0.5), abs=0.5)


def test_a_duck_that_ends_normally_leaves_the_volume_remembered_as_it_was(
    bridged: Bridged, media: Media
) -> None:
    _, music = bridged.paplay(media.tone(440, 30.0), "music")
    bridged.server.pactl("set-sink-input-volume", str(music.index), "70%")
    ping = bridged.player("ping", "transient", media.tone(1000, 0.5))
    bridged.wait_log(f"ducked #{music.index} to")
    ping.wait_for("ended")
    assert wait_until(lambda: bridged.volume(music.index) == ([SEVENTY_PERCENT], False))
    ping.quit()

    volume, _ = next_music_stream(bridged, media)
    assert volume == ([SEVENTY_PERCENT], False)
