"""What a media element holds, and for how long: a file is open only while the element plays
(or for a short while after a pause), and an element the program dropped goes, with all it
holds, once it can play no more (docs/media.md, *What an element holds*)."""

from __future__ import annotations

import gc
import os
import weakref

import pytest

from audiosession import Audio, AudioContext, NotSupportedError, Window
from audiosession.elements.media_resting import IDLE_SOURCE_SECONDS
from support.audio import silent, tone_level_db


def open_files() -> set[str]:
    """The paths this process holds open."""
    paths = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            paths.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass  # the fd of the listing itself, closed meanwhile
    return paths


def element_events(env, element):
    return [r.type for r in env.events if r.target is element and r.type != "timeupdate"]


def played_and_dropped(path: str, window: Window | None = None) -> weakref.ref[Audio]:
    """``Audio(path, window=window).play()`` with no reference kept: a weak one to watch it."""
    audio = Audio(path, window=window)
    audio.play()
    return weakref.ref(audio)


def collect(env) -> None:
    """Collect garbage as a program's process would: the test environment's event log, which
    holds each event's target, is emptied first."""
    env.events.clear()
    gc.collect()


def test_an_ended_element_holds_no_file_and_plays_again_from_the_start(env, media):
    path = media.tone(440, 0.5)
    audio = Audio(path)
    audio.play()
    env.advance(0.3)
    assert path in open_files()
    env.advance(0.7)
    assert audio.ended and path not in open_files()
    assert audio.duration == pytest.approx(0.5)
    assert audio.current_time == pytest.approx(0.5, abs=0.01)
    played = audio.play()
    env.advance(0.3)
    assert played.result() is None
    assert tone_level_db(env.output(), 440, 1.1) == pytest.approx(0, abs=0.1)
    assert audio.current_time == pytest.approx(0.3, abs=0.02)
    # Played again as HTML does: no second load (no loadedmetadata), no error.
    assert element_events(env, audio)[-4:] == ["ended", "seeked", "play", "playing"]
    assert element_events(env, audio).count("loadedmetadata") == 1
    env.advance(0.5)
    assert audio.ended and path not in open_files()


def test_a_paused_element_closes_its_file_after_a_while_and_resumes_where_it_was(env, media):
    path = media.tone(440, 30.0)
    audio = Audio(path)
    audio.play()
    env.advance(1.0)
    audio.pause()
    env.advance(IDLE_SOURCE_SECONDS / 2)
    position = audio.current_time  # after the pause's 4 ms fade-out
    assert path in open_files()  # a pause and a play soon after cost nothing
    env.advance(IDLE_SOURCE_SECONDS)
    assert path not in open_files()
    assert (audio.current_time, audio.duration, audio.paused) == (position, 30.0, True)
    resumed_at = env.now
    audio.play()
    env.advance(0.5)
    assert path in open_files()
    assert tone_level_db(env.output(), 440, resumed_at + 0.1) == pytest.approx(0, abs=0.1)
    assert audio.current_time == pytest.approx(position + 0.5, abs=0.02)
    assert env.navigator.audio_session.state == "active"


def test_a_seek_while_the_file_is_closed_is_where_play_starts(env, media):
    path = media.tone(440, 10.0)
    audio = Audio(path)
    audio.play()
    env.advance(0.5)
    audio.pause()
    env.advance(IDLE_SOURCE_SECONDS + 1)
    assert path not in open_files()
    audio.current_time = 7.0
    assert audio.current_time == 7.0
    audio.current_time = 99.0  # past the end: at the end, as the file's own seek does
    assert audio.current_time == 10.0
    audio.current_time = 7.0
    env.run_until_idle()
    assert element_events(env, audio)[-1] == "seeked"
    audio.play()
    env.advance(0.5)
    assert audio.current_time == pytest.approx(7.5, abs=0.02)


def test_a_file_removed_while_closed_fails_play_and_leaves_other_elements_playing(env, media):
    gone = media.tone(440, 5.0, name="gone.wav")
    other = Audio(media.tone(660, 30.0))
    audio = Audio(gone)
    audio.play()
    env.advance(0.5)
    audio.pause()
    env.advance(IDLE_SOURCE_SECONDS + 1)
    other.play()
    os.remove(gone)
    played = audio.play()
    env.advance(0.5)
    with pytest.raises(NotSupportedError, match="gone.wav: no such file"):
        played.result()
    assert audio.error is not None and audio.paused
    assert element_events(env, audio)[-2:] == ["pause", "error"]
    assert tone_level_db(env.output(), 660, env.now - 0.2) == pytest.approx(0, abs=0.1)


def test_a_dropped_element_plays_to_its_end_and_is_then_collected(env, media):
    path = media.tone(440, 1.0)
    element = played_and_dropped(path)
    collect(env)
    env.advance(0.5)
    collect(env)
    assert element() is not None
    assert tone_level_db(env.output(), 440, 0.3) == pytest.approx(0, abs=0.1)
    env.advance(1.0)
    collect(env)
    assert element() is None
    assert path not in open_files()
    assert silent(env.output(), 1.1, 0.3)
    assert env.navigator.audio_session.elements == ()


def test_a_dropped_paused_element_is_collected(env, media):
    path = media.tone(440, 10.0)
    audio = Audio(path)
    audio.play()
    env.advance(0.5)
    audio.pause()
    element = weakref.ref(audio)
    del audio
    env.advance(IDLE_SOURCE_SECONDS + 1)
    collect(env)
    assert element() is None
    assert path not in open_files()


def test_a_dropped_element_interrupted_by_a_prompt_resumes_after_it(env, media):
    music_window, prompt_window = Window(), Window()
    music_window.navigator.audio_session.type = "playback"
    prompt_window.navigator.audio_session.type = "transient-solo"
    music_path = media.tone(440, 60.0)
    music = played_and_dropped(music_path, music_window)
    env.advance(1.0)
    Audio(media.tone(1000, 2 * IDLE_SOURCE_SECONDS), window=prompt_window).play()
    env.advance(0.5)
    assert music_window.navigator.audio_session.state == "interrupted"
    # Interrupted for longer than a paused element keeps its file: it stays, and comes back.
    env.advance(IDLE_SOURCE_SECONDS + 1)
    collect(env)
    assert music() is not None
    assert music_window.navigator.audio_session.state == "interrupted"
    assert tone_level_db(env.output(), 440, env.now - 0.5) < -60
    # The prompt's window closes: the music is back.
    prompt_window.close()
    env.advance(1.0)
    assert music_window.navigator.audio_session.state == "active"
    assert tone_level_db(env.output(), 440, env.now - 0.3) == pytest.approx(0, abs=0.1)


def test_closed_audio_contexts_and_stopped_microphone_tracks_are_collected(env):
    env.navigator.audio_session.type = "play-and-record"
    contexts, tracks = [], []
    for _ in range(20):
        context = AudioContext()
        oscillator = context.create_oscillator()
        oscillator.connect(context.destination)
        oscillator.start()
        contexts.append(weakref.ref(context))
        request = env.navigator.media_devices.get_user_media(audio=True)
        env.run_until_idle()
        track = request.result().get_audio_tracks()[0]
        tracks.append(weakref.ref(track))
    env.advance(0.5)
    collect(env)
    assert all(ref() is not None for ref in contexts + tracks)  # running, live: they stay
    for ref in contexts:
        ref().close()
    for ref in tracks:
        ref().stop()
    del context, oscillator, request, track
    env.advance(0.5)
    collect(env)
    assert [ref() for ref in contexts + tracks] == [None] * 40
    assert env.navigator.audio_session.elements == ()


def test_a_dropped_element_paused_by_the_media_keys_plays_on_at_the_play_key(env, media):
    path = media.tone(440, 60.0)
    music = played_and_dropped(path)
    env.advance(1.0)
    media_session = env.navigator.media_session
    assert media_session.perform_action("pause")
    env.advance(IDLE_SOURCE_SECONDS + 1)
    collect(env)
    assert music() is not None and path not in open_files()
    assert media_session.perform_action("play")
    env.advance(0.5)
    assert tone_level_db(env.output(), 440, env.now - 0.3) == pytest.approx(0, abs=0.1)
    assert music().current_time == pytest.approx(1.5, abs=0.02)
