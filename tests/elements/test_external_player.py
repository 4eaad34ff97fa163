"""ExternalPlayer: audio the program plays elsewhere, in its session, in virtual time.

The player here is the program's own code (it keeps what the platform asked of it); the
platform's side is real: the policy, the session's algorithms, the other windows' audio.
"""

from __future__ import annotations

import pytest

from audiosession import Audio, ExternalPlayer, InvalidStateError


class ProgramPlayer:
    """What a program's player does with the platform's calls: pause, play, a gain."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.playing = False
        self.gain = 1.0

    def pause(self) -> None:
        self.playing = False
        self.calls.append(("pause",))

    def play(self) -> None:
        self.playing = True
        self.calls.append(("play",))

    def set_gain(self, gain: float, ramp: float) -> None:
        self.gain = gain
        self.calls.append(("gain", gain, ramp))

    def element(self, window, **options) -> ExternalPlayer:
        return ExternalPlayer(self.pause, self.play, self.set_gain, window=window, **options)


def states(env, window) -> list[str]:
    return [str(r.state) for r in env.events if r.type == "statechange" and r.window is window]


@pytest.fixture
def music(env):
    """A window whose program plays music through its own player."""
    window = env.window()
    player = ProgramPlayer()
    element = player.element(window)
    return window, player, element


def test_playing_activates_the_session_as_playback_and_paused_lets_it_go(env, music):
    window, player, element = music
    element.playing()
    env.advance(0.1)
    session = window.navigator.audio_session
    assert session.state == "active" and session.computed_type == "playback"
    element.paused()
    env.advance(0.5)
    assert session.state == "inactive"
    assert states(env, window) == ["active", "inactive"]
    assert [r.type for r in env.events if r.target is element] == ["play", "pause"]
    assert player.calls == []  # the program paused it: the platform did nothing to it


def test_a_notification_ducks_the_player_with_the_policys_ramps_and_restores_it(env, music, media):
    window, player, element = music
    element.playing()
    env.advance(0.2)
    ping = env.window()
    ping.navigator.audio_session.type = "transient"
    Audio(media.tone(1000, 0.5), window=ping).play()
    env.advance(0.2)
    assert player.calls == [("gain", 0.2, 0.1)] and element.gain == 0.2
    env.advance(1.0)
    assert player.calls == [("gain", 0.2, 0.1), ("gain", 1.0, 0.5)]
    assert window.navigator.audio_session.state == "active"


def test_a_voice_prompt_pauses_the_player_and_it_plays_on_after(env, music, media):
    window, player, element = music
    element.playing()
    env.advance(0.2)
    prompt = env.window()
    prompt.navigator.audio_session.type = "transient-solo"
    Audio(media.tone(700, 0.5), window=prompt).play()
    env.advance(0.2)
    assert player.calls == [("pause",)] and not element.is_playing
    element.paused()  # the player's own report of the pause it was told: an echo
    assert window.navigator.audio_session.state == "interrupted"
    env.advance(1.0)
    assert player.calls == [("pause",), ("play",)] and element.is_playing
    assert states(env, window) == ["active", "interrupted", "active"]


def test_a_player_the_user_paused_during_the_prompt_is_not_resumed(env, music, media):
    window, player, element = music
    element.playing()
    env.advance(0.2)
    env.platform.interrupt("transient")
    env.run_until_idle()
    assert player.calls == [("pause",)]
    element.ended()  # the user closed the track meanwhile
    env.platform.end_interruption()
    env.advance(1.0)
    assert player.calls == [("pause",)]
    assert window.navigator.audio_session.state == "inactive"


def test_another_player_stops_it_with_a_fade_then_a_pause_for_good(env, music):
    window, player, element = music
    element.playing()
    env.advance(0.2)
    other = ProgramPlayer()
    other.element(env.window()).playing()
    env.advance(1.0)
    assert player.calls == [("gain", 0.0, 0.3), ("pause",), ("gain", 1.0, 0.0)]
    assert window.navigator.audio_session.state == "inactive"
    assert other.calls == []


def test_a_held_activation_pauses_the_player_until_the_blocker_ends(env, music):
    window, player, element = music
    env.platform.interrupt("transient")
    element.playing()
    env.run_until_idle()
    assert player.calls == [("pause",)]
    assert window.navigator.audio_session.state == "interrupted"
    env.platform.end_interruption()
    env.run_until_idle()
    assert player.calls == [("pause",), ("play",)]
    assert window.navigator.audio_session.state == "active"


def test_its_kind_counts_for_the_auto_type(env):
    window = env.window()
    chime = ProgramPlayer().element(window, kind="event")
    chime.playing()
    env.run_until_idle()
    assert window.navigator.audio_session.computed_type == "transient"
    game = ProgramPlayer().element(env.window(), kind="game")
    assert game.default_type == "ambient"


def test_a_call_player_is_routed_to_the_communications_device(env):
    routes = []
    player = ProgramPlayer()
    call = env.window()
    call.navigator.audio_session.type = "play-and-record"
    element = player.element(call, route=routes.append)
    element.playing()
    env.run_until_idle()
    assert routes == ["default", "headset"]  # where the session was, then where calls go


def test_a_player_made_while_its_session_is_ducked_starts_ducked(env, music, media):
    window, player, element = music
    element.playing()
    ping = env.window()
    ping.navigator.audio_session.type = "transient"
    Audio(media.tone(1000, 1.0), window=ping).play()
    env.advance(0.2)
    second = ProgramPlayer()
    second.element(window).playing()
    env.run_until_idle()
    assert second.calls == [("gain", 0.2, 0.0)]


def test_close_leaves_nothing_registered(env, music, media):
    window, player, element = music
    with element:
        element.playing()
        env.advance(0.2)
    env.advance(0.5)
    assert window.navigator.audio_session.state == "inactive"
    assert element not in window.navigator.audio_session.elements or element._released
    ping = env.window()
    ping.navigator.audio_session.type = "transient"
    Audio(media.tone(1000, 0.3), window=ping).play()
    env.advance(1.0)
    assert player.calls == []
    with pytest.raises(InvalidStateError, match="closed"):
        element.playing()


def test_a_callback_that_raises_is_logged_and_the_session_goes_on(env, caplog):
    def broken() -> None:
        raise RuntimeError("the player is gone")

    window = env.window()
    element = ExternalPlayer(broken, broken, lambda gain, ramp: None, window=window)
    element.playing()
    env.run_until_idle()
    env.platform.interrupt("transient")
    env.run_until_idle()
    assert "the player is gone" in caplog.text
    assert window.navigator.audio_session.state == "interrupted"


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"kind": "musik"}, ValueError, r"kind must be .*'playback'.*'music'.*not 'musik'"),
        ({"kind": "auto"}, ValueError, "other than 'auto'"),
        ({"kind": 3}, TypeError, "kind must be"),
        ({"route": "headset"}, TypeError, "route must be callable or None, not 'headset'"),
    ],
)
def test_bad_options_raise_a_clear_error(env, options, error, message):
    with pytest.raises(error, match=message):
        ExternalPlayer(print, print, print, **options)


def test_a_callback_that_is_not_callable_is_named(env):
    with pytest.raises(TypeError, match="set_gain must be callable, not 0.5"):
        ExternalPlayer(print, print, 0.5)
