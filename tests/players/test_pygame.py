"""pygame-ce's mixer in the session, playing to the private PulseAudio through SDL's pulseaudio
driver: a notification ducks its music and its sound effects alike by 14 dB, back to their
level after; a call pauses them with pygame's own pause and they play on after it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from audiosession import Audio, Window
from audiosession.errors import InvalidStateError
from audiosession.session.runtime import Runtime
from support.audio import RATE
from support.mpris import wait_for
from support.players import FULL, SILENT, require_pygame, wait_until_heard, wait_until_silent
from support.pulse_server import PulseServer, level_db

MUSIC, EFFECT = 440, 660


@pytest.fixture
def mixer(pulse_server: PulseServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """pygame's mixer, open on the private server."""
    pygame = require_pygame()
    monkeypatch.setenv("SDL_AUDIODRIVER", "pulseaudio")
    pygame.mixer.init(frequency=RATE, size=-16, channels=2, buffer=4096)
    try:
        yield pygame.mixer
    finally:
        pygame.mixer.quit()


def game(runtime: Runtime, mixer: Any, media: Any) -> tuple[list[str], Any, Any]:
    """A ``playback`` window whose game plays looped music and a looped sound effect through
    pygame: its session's states as ``statechange`` told them, its session player (told it
    plays), the effect's channel."""
    from audiosession.integrations.pygame import session_mixer

    window = Window(runtime=runtime)
    session = window.navigator.audio_session
    session.type = "playback"
    states: list[str] = []
    session.add_event_listener("statechange", lambda event: states.append(session.state))
    mixer.music.load(media.tone(MUSIC, 30.0, subtype="PCM_16", name="music.wav"))
    mixer.music.play(-1)
    channel = mixer.Sound(media.tone(EFFECT, 2.0, subtype="PCM_16", name="effect.wav")).play(-1)
    player = session_mixer(window=window)
    player.playing()
    return states, player, channel


def test_a_notification_ducks_the_music_and_the_sound_effects_by_14_db(
    runtime, pulse_server, media, mixer
):
    states, player, channel = game(runtime, mixer, media)
    wait_until_heard(pulse_server, MUSIC, "the music")
    wait_until_heard(pulse_server, EFFECT, "the sound effect")
    before = pulse_server.record_monitor("speakers", 0.6)
    volumes = mixer.music.get_volume(), channel.get_volume()  # pygame's music starts at 127/128
    ping = Window(runtime=runtime)
    ping.navigator.audio_session.type = "transient"
    Audio(media.tone(1000, 2.0), window=ping).play().result(5)
    wait_for(
        lambda: mixer.music.get_volume() <= 0.2 and channel.get_volume() <= 0.2,
        "the duck's ramp to end",
    )
    ducked = pulse_server.record_monitor("speakers", 0.6)
    for freq in (MUSIC, EFFECT):
        assert level_db(ducked, freq) - level_db(before, freq) == pytest.approx(-14, abs=1.0)
    wait_for(
        lambda: (mixer.music.get_volume(), channel.get_volume()) == volumes,
        "the duck's release",
        timeout=10,
    )
    after = pulse_server.record_monitor("speakers", 0.6)
    for freq in (MUSIC, EFFECT):
        assert level_db(after, freq) == pytest.approx(level_db(before, freq), abs=0.5)
    player.close()


def test_a_call_pauses_the_music_and_the_sound_effects_and_they_play_on_after(
    runtime, pulse_server, media, mixer
):
    states, player, channel = game(runtime, mixer, media)
    wait_until_heard(pulse_server, MUSIC, "the music")
    wait_until_heard(pulse_server, EFFECT, "the sound effect")

    call = Window(runtime=runtime)
    call.navigator.audio_session.type = "play-and-record"
    Audio(media.tone(550, 10.0), window=call).play().result(5)
    wait_for(lambda: states == ["active", "interrupted"], "the game's session to be interrupted")
    wait_for(lambda: not mixer.music.get_busy(), "pygame to pause the music")
    wait_until_silent(pulse_server, MUSIC, "the music")
    during = pulse_server.record_monitor("speakers", 0.6)
    assert level_db(during, MUSIC) < SILENT and level_db(during, EFFECT) < SILENT

    call.close()
    wait_for(
        lambda: states == ["active", "interrupted", "active"], "the game's session to be active"
    )
    wait_for(lambda: mixer.music.get_busy(), "pygame to play the music on")
    wait_until_heard(pulse_server, MUSIC, "the music")
    after = pulse_server.record_monitor("speakers", 0.6)
    for freq in (MUSIC, EFFECT):
        assert level_db(after, freq) == pytest.approx(FULL, abs=0.5)
    assert player.is_playing
    player.close()


def test_session_mixer_needs_the_mixer_initialised(runtime):
    pygame = require_pygame()
    from audiosession.integrations.pygame import session_mixer

    assert not pygame.mixer.get_init()
    with pytest.raises(InvalidStateError, match=r"pygame.mixer.init\(\) first"):
        session_mixer(window=Window(runtime=runtime))
