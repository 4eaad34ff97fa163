"""``navigator.media_session`` in one process: the API's checks, and what the actions do."""

from __future__ import annotations

import logging
import threading

import pytest

from audiosession import Audio, MediaMetadata, MediaSession
from audiosession.elements.media_session import (
    MediaSessionAction,
    MediaSessionActionDetails,
    MediaSessionPlaybackState,
)


@pytest.fixture
def media_session(env) -> MediaSession:
    return env.navigator.media_session


def playing_track(env, media, freq: float = 440.0) -> Audio:
    track = Audio(media.tone(freq, seconds=5))
    track.play()
    env.advance(0.1)
    assert not track.paused
    return track


# -- the attributes ------------------------------------------------------------------------------


def test_navigator_has_one_media_session_under_both_spellings(env):
    assert isinstance(env.navigator.media_session, MediaSession)
    assert env.navigator.mediaSession is env.navigator.media_session
    assert env.window().navigator.media_session is not env.navigator.media_session


def test_defaults_are_no_metadata_and_playback_state_none(media_session):
    assert media_session.metadata is None
    assert media_session.playback_state == "none"


def test_playback_state_takes_the_three_values(media_session):
    for value in ("playing", "paused", "none"):
        media_session.playback_state = value
        assert media_session.playback_state == value
    media_session.playbackState = MediaSessionPlaybackState.PAUSED
    assert media_session.playback_state is MediaSessionPlaybackState.PAUSED


def test_an_unknown_playback_state_names_the_valid_ones_and_changes_nothing(media_session):
    media_session.playback_state = "paused"
    with pytest.raises(ValueError, match="'stopped'.*'none', 'paused', 'playing'"):
        media_session.playback_state = "stopped"
    with pytest.raises(TypeError, match="must be a str"):
        media_session.playback_state = 1  # type: ignore[assignment]
    assert media_session.playback_state == "paused"


def test_metadata_holds_title_artist_and_album(media_session):
    metadata = MediaMetadata("Song", "Band", "LP")
    media_session.metadata = metadata
    assert media_session.metadata is metadata
    assert (metadata.title, metadata.artist, metadata.album) == ("Song", "Band", "LP")
    media_session.metadata = None
    assert media_session.metadata is None


def test_metadata_takes_keywords_or_mdns_dictionary():
    by_keywords = MediaMetadata(title="Song", album="LP")
    by_dict = MediaMetadata(
        {"title": "Song", "album": "LP", "artwork": [{"src": "cover.png", "sizes": "96x96"}]}
    )
    assert (by_keywords.title, by_keywords.artist, by_keywords.album) == ("Song", "", "LP")
    assert (by_dict.title, by_dict.album) == ("Song", "LP")
    assert by_dict.artwork == ({"src": "cover.png", "sizes": "96x96"},)


@pytest.mark.parametrize(
    "make",
    [
        lambda: MediaMetadata(title=3),
        lambda: MediaMetadata("Song", artist=["Band"]),
        lambda: MediaMetadata({"title": "Song", "composer": "Bach"}),
        lambda: MediaMetadata(artwork="cover.png"),
        lambda: MediaMetadata(artwork=[{"url": "cover.png"}]),
    ],
)
def test_metadata_of_the_wrong_type_is_a_type_error(make):
    with pytest.raises(TypeError):
        make()


def test_metadata_attributes_are_checked_when_set():
    metadata = MediaMetadata("Song")
    metadata.title = "Other song"
    assert metadata.title == "Other song"
    with pytest.raises(TypeError, match="title must be a str, not int: 5"):
        metadata.title = 5  # type: ignore[assignment]
    assert metadata.title == "Other song"


def test_metadata_must_be_a_media_metadata_or_none(media_session):
    with pytest.raises(TypeError, match="MediaMetadata or None"):
        media_session.metadata = {"title": "Song"}  # type: ignore[assignment]
    assert media_session.metadata is None


def test_an_unknown_action_is_a_type_error_naming_the_valid_ones(media_session):
    with pytest.raises(
        TypeError,
        match="'fastforward' is not a media session action; "
        "expected one of 'play', 'pause'.*'nexttrack'",
    ):
        media_session.set_action_handler("fastforward", lambda details: None)
    with pytest.raises(TypeError, match="not a media session action"):
        media_session.set_action_handler(None, lambda details: None)  # type: ignore[arg-type]


def test_a_handler_must_be_callable_or_none(media_session):
    with pytest.raises(TypeError, match="callable or None"):
        media_session.set_action_handler("play", "play it")  # type: ignore[arg-type]


# -- the actions ---------------------------------------------------------------------------------


def test_default_pause_pauses_the_playing_elements_and_play_resumes_them(env, media, media_session):
    first, second = playing_track(env, media, 440), playing_track(env, media, 660)
    assert media_session.perform_action("pause")
    env.advance(0.1)
    assert first.paused and second.paused
    assert media_session.perform_action("play")
    env.advance(0.1)
    assert not first.paused and not second.paused


def test_default_play_resumes_the_element_paused_last(env, media, media_session):
    first, second = playing_track(env, media, 440), playing_track(env, media, 660)
    first.pause()
    env.advance(0.1)
    second.pause()
    env.advance(0.1)
    media_session.perform_action("play")
    env.advance(0.1)
    assert not second.paused and first.paused


def test_default_stop_pauses_and_other_actions_do_nothing_without_a_handler(
    env, media, media_session
):
    track = playing_track(env, media)
    assert not media_session.perform_action("nexttrack")
    env.advance(0.1)
    assert not track.paused
    assert media_session.perform_action("stop")
    env.advance(0.1)
    assert track.paused


def test_a_handler_replaces_the_default_and_none_restores_it(env, media, media_session):
    track = playing_track(env, media)
    calls: list[MediaSessionActionDetails] = []
    media_session.set_action_handler("pause", calls.append)
    media_session.perform_action("pause")
    env.advance(0.1)
    assert [details.action for details in calls] == [MediaSessionAction.PAUSE]
    assert calls[0]["action"] == "pause"
    assert not track.paused
    media_session.set_action_handler("pause", None)
    media_session.perform_action("pause")
    env.advance(0.1)
    assert track.paused and len(calls) == 1


def test_seek_details_reach_the_handler_and_a_handler_may_take_no_argument(media_session):
    seen: list[object] = []
    media_session.setActionHandler("seekto", lambda details: seen.append(details.seekTime))
    media_session.set_action_handler("nexttrack", lambda: seen.append("next"))
    media_session.perform_action("seekto", seek_time=12.5)
    media_session.perform_action("nexttrack")
    assert seen == [12.5, "next"]


def test_an_exception_in_a_handler_is_logged_not_raised(media_session, caplog):
    def broken(details: MediaSessionActionDetails) -> None:
        raise RuntimeError("boom")

    media_session.set_action_handler("nexttrack", broken)
    with caplog.at_level(logging.ERROR):
        assert media_session.perform_action("nexttrack")
    assert "boom" in caplog.text


def test_a_virtual_environment_publishes_nothing_by_default(env, media, media_session):
    playing_track(env, media)
    env.advance(1.0)
    assert "published" not in repr(media_session)


def test_a_coroutine_handler_runs(media_session):
    seen: list[str] = []
    ran = threading.Event()

    async def next_track(details: MediaSessionActionDetails) -> None:
        seen.append(str(details.action))
        ran.set()

    media_session.set_action_handler("nexttrack", next_track)
    media_session.perform_action("nexttrack")
    # Added with no asyncio loop running: it runs on the background listener loop.
    assert ran.wait(5)
    assert seen == ["nexttrack"]
