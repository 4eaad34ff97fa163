"""The policy (docs/design.md, *Platform policy*) heard in the output: every cell, the seed's
day, stacked causes."""

from __future__ import annotations

import pytest

from audiosession import Audio
from audiosession.policy import DEFAULT_TABLE, Effect, PolicyConfig
from audiosession.testing import VirtualEnvironment
from audiosession.types import AudioSessionType
from support.audio import silent, tone_level_db

TYPES = ["ambient", "transient", "playback", "transient-solo", "play-and-record"]
EXISTING_HZ, NEW_HZ = 440, 1000


def window_of(env, session_type):
    window = env.window()
    window.navigator.audio_session.type = session_type
    return window


def state(window) -> str:
    return str(window.navigator.audio_session.state)


def causes(env, window) -> tuple[str, ...]:
    (info,) = [s for s in env.platform.sessions() if s.id == window.name]
    return info.causes


def level(env, freq, at, device=None):
    return tone_level_db(env.output(device), freq, at, 0.1)


@pytest.mark.parametrize("existing_type", TYPES)
@pytest.mark.parametrize("new_type", TYPES)
def test_each_cell_of_the_table_is_heard(media, new_type, existing_type):
    effect = DEFAULT_TABLE[(AudioSessionType(new_type), AudioSessionType(existing_type))]
    with VirtualEnvironment() as env:
        old_window = window_of(env, existing_type)
        new_window = window_of(env, new_type)
        existing = Audio(media.tone(EXISTING_HZ, 20.0), window=old_window)
        existing.play()
        env.advance(1.0)
        # Calls go to the communications device: listen where each one plays.
        old_device = "headset" if existing_type == "play-and-record" else "default"
        new_device = "headset" if new_type == "play-and-record" else "default"
        arriving = Audio(media.tone(NEW_HZ, 1.0), window=new_window)
        played = arriving.play()
        env.advance(1.0)
        during_old = level(env, EXISTING_HZ, 1.6, old_device)
        during_new = level(env, NEW_HZ, 1.6, new_device)
        if effect is Effect.DELAY:
            # The new one waits: silent, play() pending, its session held.
            assert not played.done() and state(new_window) == "interrupted"
            assert during_new < -100 and during_old == pytest.approx(0, abs=0.1)
            assert any(c.startswith("delayed by") for c in causes(env, new_window))
            existing.pause()  # the blocker ends: the new one starts now
            env.advance(0.5)
            assert played.done() and state(new_window) == "active"
            assert level(env, NEW_HZ, 2.3, new_device) == pytest.approx(0, abs=0.1)
            return
        assert played.done() and during_new == pytest.approx(0, abs=0.1)
        env.advance(2.0)  # the new one ended at 2.0 s; releases take up to 0.5 s
        after_old = level(env, EXISTING_HZ, 3.5, old_device)
        if effect is Effect.MIX:
            assert during_old == pytest.approx(0, abs=0.1)
            assert after_old == pytest.approx(0, abs=0.1)
        elif effect is Effect.DUCK:
            assert during_old == pytest.approx(-14, abs=0.5)
            assert state(old_window) == "active"
            assert after_old == pytest.approx(0, abs=0.1)
        elif effect is Effect.PAUSE:
            assert max(level(env, EXISTING_HZ, at, old_device) for at in (1.1, 1.5, 1.85)) < -100
            assert state(old_window) == "active"
            assert after_old == pytest.approx(0, abs=0.1)
            # Resumed from where it was paused: it lost the second it was held.
            assert existing.current_time == pytest.approx(3.0, abs=0.05)
        elif effect is Effect.STOP:
            assert level(env, EXISTING_HZ, 1.0, old_device) > -14  # fading, not cut
            assert max(level(env, EXISTING_HZ, at, old_device) for at in (1.35, 2.0, 3.5)) < -100
            assert state(old_window) == "inactive" and existing.paused


def test_the_seeds_day_music_notification_prompt_call_and_a_second_player(media, monkeypatch):
    monkeypatch.setenv("AUDIOSESSION_FAKE_MIC", media.tone(300, 1.0, name="mic.wav"))
    with VirtualEnvironment() as env:
        music_window = window_of(env, "playback")
        music = Audio(media.tone(440, 30.0), window=music_window)
        music.play()
        env.advance(1.0)
        # A notification ducks the music.
        Audio(media.tone(1000, 0.5), window=window_of(env, "transient")).play()
        env.advance(1.5)
        # A voice prompt pauses it; it resumes after.
        Audio(media.tone(700, 1.0), window=window_of(env, "transient-solo")).play()
        env.advance(2.0)
        # An incoming call interrupts it and goes to the communications device.
        call_window = window_of(env, "play-and-record")
        call = Audio(media.tone(550, 3.0), window=call_window)
        call.play()
        call_window.navigator.media_devices.get_user_media(audio=True)
        env.advance(1.0)
        # A second player tries to start during the call: it is delayed.
        second_window = window_of(env, "playback")
        second = Audio(media.tone(880, 10.0), window=second_window)
        second_play = second.play()
        env.advance(1.0)
        assert not second_play.done() and state(second_window) == "interrupted"
        assert state(music_window) == "interrupted"
        call_window.close()  # hang up
        env.advance(1.5)
        output = env.output()
        assert level(env, 440, 0.5) == pytest.approx(0, abs=0.1)
        assert level(env, 440, 1.2) == pytest.approx(-14, abs=0.5)
        assert level(env, 1000, 1.2) == pytest.approx(0, abs=0.1)
        assert level(env, 440, 2.2) == pytest.approx(0, abs=0.1)
        assert level(env, 440, 3.0) < -100
        assert level(env, 700, 3.0) == pytest.approx(0, abs=0.1)
        assert level(env, 440, 4.0) == pytest.approx(0, abs=0.1)
        assert level(env, 550, 5.0, "headset") == pytest.approx(0, abs=0.1)
        assert silent(output, 4.55, 1.9)  # nothing on the speakers during the call
        # After the call the most recent request wins: the second player plays, the first
        # is stopped for good.
        assert second_play.done() and state(second_window) == "active"
        assert level(env, 880, 7.3) == pytest.approx(0, abs=0.1)
        assert level(env, 440, 7.3) < -100
        assert state(music_window) == "inactive" and music.paused


def test_a_session_ducked_by_two_notifications_comes_back_after_both(env, media):
    music = Audio(media.tone(440, 10.0), window=window_of(env, "playback"))
    music.play()
    env.advance(0.5)
    Audio(media.tone(1000, 1.0), window=window_of(env, "transient")).play()
    env.advance(0.5)
    Audio(media.tone(1200, 2.0), window=window_of(env, "transient")).play()
    env.advance(1.2)  # the first notification ended at 1.5 s; the second still plays
    assert level(env, 440, 1.6) == pytest.approx(-14, abs=0.5)
    env.advance(1.5)  # the second ended at 3.0 s; release takes 0.5 s
    assert level(env, 440, 3.6) == pytest.approx(0, abs=0.1)


def test_music_paused_by_a_prompt_then_a_call_resumes_only_after_both(env, media):
    music_window = window_of(env, "playback")
    music = Audio(media.tone(440, 20.0), window=music_window)
    music.play()
    env.advance(0.5)
    prompt_window = window_of(env, "transient-solo")
    Audio(media.tone(700, 2.0), window=prompt_window).play()
    env.advance(0.5)
    call_window = window_of(env, "play-and-record")
    Audio(media.tone(550, 2.0), window=call_window).play()
    env.advance(1.0)
    assert state(music_window) == "interrupted" and state(prompt_window) == "interrupted"
    assert max(level(env, 440, at) for at in (0.55, 1.0, 1.8)) < -60  # fades leak a little
    env.advance(1.2)  # the call ended at 3.0 s: the prompt resumes, the music still waits
    assert state(prompt_window) == "active" and state(music_window) == "interrupted"
    assert level(env, 700, 3.05) == pytest.approx(0, abs=0.1) and level(env, 440, 3.05) < -100
    env.advance(1.8)  # the prompt had 1.5 s left: it ends at 4.5 s, then the music
    assert state(music_window) == "active"
    assert level(env, 440, 4.8) == pytest.approx(0, abs=0.1)


@pytest.mark.parametrize("kind, after", [("transient", "active"), ("permanent", "inactive")])
def test_external_interruptions_hold_or_end_sessions_and_say_why(env, media, kind, after):
    window = window_of(env, "playback")
    music = Audio(media.tone(440, 10.0), window=window)
    music.play()
    env.advance(0.5)
    env.platform.interrupt(kind, reason="phone call on the modem")
    env.advance(0.5)
    if kind == "transient":
        assert state(window) == "interrupted"
        assert causes(env, window) == ("external: phone call on the modem",)
    assert silent(env.output(), 0.85, 0.15)
    env.platform.end_interruption()
    env.advance(0.5)
    assert state(window) == after
    assert music.paused is (kind == "permanent")
    if kind == "transient":
        assert level(env, 440, 1.3) == pytest.approx(0, abs=0.1)
    else:
        assert silent(env.output(), 1.05, 0.4)


def test_unplugging_headphones_pauses_music_and_nothing_bursts_from_the_speakers(env, media):
    from audiosession.engine.backend import DeviceInfo

    env.add_device(DeviceInfo("usb-phones", "USB headphones", "audiooutput"))
    music_window, ambient_window = window_of(env, "playback"), window_of(env, "ambient")
    music = Audio(media.tone(440, 10.0), window=music_window)
    music.set_sink_id("usb-phones")
    music.play()
    rain = Audio(media.tone(300, 10.0), window=ambient_window)
    rain.set_sink_id("usb-phones")
    rain.play()
    env.advance(1.0)
    assert level(env, 440, 0.5, "usb-phones") == pytest.approx(0, abs=0.1)
    env.remove_device("usb-phones")
    env.advance(1.0)
    assert state(music_window) == "inactive" and music.paused
    assert level(env, 440, 1.5) < -100  # no music on the speakers, not even a block
    assert silent(env.output(), 1.0, 0.0) or level(env, 440, 1.0, None) < -40
    assert level(env, 300, 1.5) == pytest.approx(0, abs=0.1)  # ambient moved and plays on


@pytest.mark.parametrize("closing", ["transient", "transient-solo"])
def test_closing_a_window_that_holds_others_releases_them_at_once(env, media, closing):
    music_window = window_of(env, "playback")
    Audio(media.tone(440, 10.0), window=music_window).play()
    env.advance(0.5)
    holder = window_of(env, closing)
    Audio(media.tone(1000, 10.0), window=holder).play()
    env.advance(0.5)
    holder.close()
    env.advance(0.6)
    assert state(music_window) == "active"
    assert level(env, 440, 1.5) == pytest.approx(0, abs=0.1)
    assert [s.id for s in env.platform.sessions()].count(holder.name) == 0


def test_a_configured_table_replaces_the_defaults(media):
    config = PolicyConfig(table={("transient", "playback"): "pause"}, duck_gain=0.5)
    with VirtualEnvironment(config=config) as env:
        Audio(media.tone(440, 10.0), window=window_of(env, "playback")).play()
        Audio(media.tone(300, 10.0), window=window_of(env, "ambient")).play()
        env.advance(0.5)
        Audio(media.tone(1000, 1.0), window=window_of(env, "transient")).play()
        env.advance(0.6)
        assert level(env, 440, 0.8) < -100  # paused, not ducked
        assert level(env, 300, 0.8) == pytest.approx(-6.02, abs=0.5)  # ducked to 0.5


def test_a_bad_configuration_file_is_reported_and_the_defaults_stay(
    media, tmp_path, monkeypatch, caplog
):
    from audiosession.policy import find_config

    bad = tmp_path / "audiosession.toml"
    bad.write_text('[table.transient]\nplayback = "shout"\n')
    monkeypatch.setenv("AUDIOSESSION_CONFIG", str(bad))
    with VirtualEnvironment(config=find_config()) as env:
        Audio(media.tone(440, 10.0), window=window_of(env, "playback")).play()
        env.advance(0.5)
        Audio(media.tone(1000, 1.0), window=window_of(env, "transient")).play()
        env.advance(0.6)
        assert level(env, 440, 0.8) == pytest.approx(-14, abs=0.5)
    assert "shout" in caplog.text and "table.transient.playback" in caplog.text
