"""The spec layer: AudioSession's type, state, algorithms and events, in virtual time."""

from __future__ import annotations

import pytest

from audiosession import AudioSessionState, AudioSessionType, Event, InvalidStateError
from audiosession.testing import VirtualEnvironment

from .toy import ToyElement

ALL_TYPES = ["auto", "playback", "transient", "transient-solo", "ambient", "play-and-record"]


def statechanges(env: VirtualEnvironment, window=None) -> list[tuple[str, str]]:
    """(window, new state) of every statechange so far, in order."""
    return [
        (record.window.name, record.state)
        for record in env.events
        if record.type == "statechange" and (window is None or record.window is window)
    ]


# -- attributes ---------------------------------------------------------------------------------


def test_defaults_are_auto_and_inactive_and_the_object_is_stable(env):
    navigator = env.navigator
    assert navigator.audio_session is navigator.audio_session
    assert navigator.audioSession is navigator.audio_session
    assert navigator.audio_session.type == "auto"
    assert navigator.audio_session.type is AudioSessionType.AUTO
    assert navigator.audio_session.state == "inactive"
    assert navigator.audio_session.state is AudioSessionState.INACTIVE
    assert env.events == []


@pytest.mark.parametrize("value", ALL_TYPES)
def test_each_type_round_trips_synchronously(env, value):
    session = env.navigator.audio_session
    session.type = value
    assert session.type == value
    assert isinstance(session.type, AudioSessionType)
    session.type = AudioSessionType(value)
    assert session.type == value


def test_an_unknown_type_raises_value_error_naming_the_valid_types_and_changes_nothing(env):
    session = env.navigator.audio_session
    session.type = "ambient"
    env.run_until_idle()
    with pytest.raises(ValueError) as error:
        session.type = "music"
    message = str(error.value)
    assert "'music'" in message
    for name in ALL_TYPES:
        assert repr(name) in message
    assert session.type == "ambient"
    assert env.run_until_idle() == 0


@pytest.mark.parametrize("value", [None, 3, b"playback", ["playback"]])
def test_a_non_string_type_raises_type_error(env, value):
    session = env.navigator.audio_session
    with pytest.raises(TypeError, match="must be a str"):
        session.type = value
    assert session.type == "auto"
    assert env.run_until_idle() == 0


def test_setting_the_same_type_schedules_nothing(env):
    session = env.navigator.audio_session
    session.type = "auto"
    assert env.run_until_idle() == 0
    session.type = "playback"
    assert env.run_until_idle() == 1
    session.type = "playback"
    assert env.run_until_idle() == 0


def test_several_sets_in_one_task_apply_once_with_the_last_value(env):
    session = env.navigator.audio_session
    toy = ToyElement(env.default_window, "playback")
    session.type = "playback"
    session.type = "transient"
    session.type = "ambient"
    assert env.run_until_idle() == 1
    assert toy.updated == 1  # "update the type" 3.5 ran once
    assert session._applied_type is AudioSessionType.AMBIENT
    reported = [s for s in env.platform.sessions() if s.id == env.default_window.name]
    assert reported[0].computed_type == "ambient"


# -- compute the audio session type -------------------------------------------------------------


def test_computed_type_follows_audible_elements_ambient_playback_play_and_record(env):
    window = env.default_window
    session = env.navigator.audio_session
    ambient, playback, capture = (
        ToyElement(window, "ambient"),
        ToyElement(window, "playback"),
        ToyElement(window, "play-and-record"),
    )
    assert session.computed_type == "ambient"  # no audible element
    seen = []
    for element in (ambient, playback, capture):
        element.play()
        env.run_until_idle()
        seen.append(session.computed_type)
    assert seen == ["ambient", "playback", "play-and-record"]
    assert statechanges(env) == [(window.name, "active")]
    computed = {s.id: s.computed_type for s in env.platform.sessions()}
    assert computed[window.name] == "play-and-record"  # the platform learnt the change


def test_an_explicit_type_overrides_the_computed_one_and_auto_restores_it(env):
    session = env.navigator.audio_session
    ToyElement(env.default_window, "playback").play()
    env.run_until_idle()
    session.type = "transient"
    assert session.computed_type == "transient"
    env.run_until_idle()
    session.type = "auto"
    assert session.computed_type == "playback"


# -- state --------------------------------------------------------------------------------------


def test_an_element_becoming_audible_activates_the_session_with_one_statechange(env):
    session = env.navigator.audio_session
    heard = []
    session.add_event_listener("statechange", lambda event: heard.append(session.state))
    element = ToyElement(env.default_window)
    element.play()
    assert session.state == "inactive"  # nothing fires synchronously
    assert heard == []
    env.run_until_idle()
    assert session.state == "active"
    assert heard == ["active"]
    ToyElement(env.default_window).play()  # a second audible element changes nothing
    env.advance(1)
    assert heard == ["active"]


def test_the_last_audible_element_going_silent_inactivates_the_session(env):
    session = env.navigator.audio_session
    first, second = ToyElement(env.default_window), ToyElement(env.default_window)
    first.play()
    second.play()
    env.run_until_idle()
    first.pause()
    env.run_until_idle()
    assert session.state == "active"  # the other one still plays
    second.pause()
    env.run_until_idle()
    assert session.state == "inactive"
    assert statechanges(env) == [("window-1", "active"), ("window-1", "inactive")]


def test_an_interruption_suspends_audible_elements_and_its_end_resumes_exactly_those(env):
    session = env.navigator.audio_session
    playing, idle = ToyElement(env.default_window), ToyElement(env.default_window)
    playing.play()
    env.run_until_idle()
    env.platform.interrupt("transient", reason="incoming call")
    env.run_until_idle()
    assert session.state == "interrupted"
    assert (playing.suspended, playing.playing) == (1, False)
    assert session.interrupted_elements == (playing,)
    env.platform.end_interruption()
    env.run_until_idle()
    assert session.state == "active"
    assert (playing.resumed, playing.playing) == (1, True)
    assert (idle.suspended, idle.resumed, idle.playing) == (0, 0, False)
    assert statechanges(env) == [
        ("window-1", "active"),
        ("window-1", "interrupted"),
        ("window-1", "active"),
    ]


def test_an_element_the_program_paused_while_interrupted_stays_paused(env):
    session = env.navigator.audio_session
    element = ToyElement(env.default_window)
    element.play()
    env.run_until_idle()
    env.platform.interrupt("transient")
    env.run_until_idle()
    element.pause()
    env.run_until_idle()
    assert session.state == "interrupted"
    env.platform.end_interruption()
    env.run_until_idle()
    assert element.resumed == 0 and not element.playing
    # The seed's handler would play() now; it did not, so the session lets go (note 7).
    env.advance(1)
    assert session.state == "inactive"


def test_the_seed_handler_resumes_what_it_paused_on_interruption(env):
    """The seed's music example: pause on "interrupted", play on "active"."""
    session = env.navigator.audio_session
    session.type = "playback"
    audio = ToyElement(env.default_window)
    audio.play()

    def on_state(event):
        if session.state == "interrupted":
            audio.pause()
        elif session.state == "active":
            audio.play()

    session.add_event_listener("statechange", on_state)
    env.advance(0.5)
    env.platform.interrupt("transient")
    env.advance(0.5)
    assert not audio.playing
    env.platform.end_interruption()
    env.advance(1)
    assert session.state == "active" and audio.playing


def test_a_permanent_interruption_clears_interrupted_elements_and_resumes_nothing(env):
    session = env.navigator.audio_session
    element = ToyElement(env.default_window)
    element.play()
    env.run_until_idle()
    env.platform.interrupt("permanent")
    env.advance(0.5)  # the platform fades it out first (300 ms)
    assert session.state == "inactive"
    assert session.interrupted_elements == ()
    assert element.suspended == 1 and not element.playing
    env.platform.end_interruption()
    env.advance(1)
    assert session.state == "inactive" and element.resumed == 0


def test_an_interruption_kind_must_be_transient_or_permanent(env):
    with pytest.raises(ValueError, match="'transient' or 'permanent'"):
        env.platform.interrupt("forever")


# -- browsing contexts --------------------------------------------------------------------------


def test_two_auto_frames_of_one_page_both_stay_active(env):
    page = env.default_window
    frame = env.window(parent=page)
    ToyElement(page).play()
    ToyElement(frame).play()
    env.advance(1)
    assert page.navigator.audio_session.state == "active"
    assert frame.navigator.audio_session.state == "active"


def test_an_explicit_exclusive_child_frame_inactivates_its_parents_auto_session(env):
    page = env.default_window
    frame = env.window(parent=page)
    music = ToyElement(page, "playback")
    music.play()
    env.run_until_idle()
    frame.navigator.audio_session.type = "playback"
    ToyElement(frame, "playback").play()
    env.run_until_idle()
    assert frame.navigator.audio_session.state == "active"
    assert page.navigator.audio_session.state == "inactive"
    assert music.suspended == 1 and not music.playing
    assert page.navigator.audio_session.interrupted_elements == ()  # not resumed later


@pytest.mark.parametrize("frame_type", ["ambient", "transient"])
def test_a_non_exclusive_frame_never_inactivates_or_is_inactivated(env, frame_type):
    page = env.default_window
    frame = env.window(parent=page)
    frame.navigator.audio_session.type = frame_type
    ToyElement(frame, "playback").play()
    env.run_until_idle()
    page.navigator.audio_session.type = "playback"
    ToyElement(page, "playback").play()
    env.advance(1)
    assert frame.navigator.audio_session.state == "active"
    assert page.navigator.audio_session.state == "active"


def test_the_selected_session_is_the_latest_exclusive_one_and_hands_over(env):
    page = env.default_window
    first, second = env.window(parent=page), env.window(parent=page)
    a, b = ToyElement(first, "playback"), ToyElement(second, "playback")
    assert page.selected_audio_session is None
    a.play()
    env.run_until_idle()
    assert page.selected_audio_session is first.navigator.audio_session
    b.play()
    env.run_until_idle()
    assert page.selected_audio_session is second.navigator.audio_session
    b.pause()
    env.run_until_idle()
    assert page.selected_audio_session is first.navigator.audio_session
    a.pause()
    env.run_until_idle()
    assert page.selected_audio_session is None


# -- events -------------------------------------------------------------------------------------


def test_statechange_targets_the_session_does_not_bubble_and_calls_onstatechange(env):
    session = env.navigator.audio_session
    seen: list[Event] = []
    order: list[str] = []
    session.add_event_listener("statechange", lambda e: order.append("listener 1"))
    session.onstatechange = lambda e: (seen.append(e), order.append("handler"))
    session.addEventListener("statechange", lambda e: order.append("listener 2"))
    ToyElement(env.default_window).play()
    env.run_until_idle()
    (event,) = seen
    assert event.type == "statechange"
    assert event.target is session and event.bubbles is False and event.cancelable is False
    assert event.is_trusted
    assert order == ["listener 1", "handler", "listener 2"]


def test_statechange_never_fires_for_an_unchanged_state(env):
    session = env.navigator.audio_session
    element = ToyElement(env.default_window)
    element.play()
    env.run_until_idle()
    env.platform.interrupt("transient")
    env.platform.interrupt("transient", reason="second")
    env.run_until_idle()
    session.type = "playback"
    env.run_until_idle()
    assert statechanges(env) == [("window-1", "active"), ("window-1", "interrupted")]


def test_the_same_script_gives_the_same_event_log():
    def script() -> list[tuple[float, str, str, str | None]]:
        with VirtualEnvironment() as env:
            music, ping = env.window(), env.window()
            ping.navigator.audio_session.type = "transient"
            ToyElement(music).play()
            env.advance(0.3)
            notification = ToyElement(ping, "transient")
            notification.play()
            env.advance(0.2)
            env.platform.interrupt()
            env.advance(0.2)
            env.platform.end_interruption()
            notification.pause()
            env.advance(1)
            return [(r.time, r.window.name, r.type, r.state) for r in env.events]

    first = script()
    assert len(first) >= 6
    assert script() == first


# -- windows ------------------------------------------------------------------------------------


def test_a_closed_window_ends_its_session_and_frees_its_elements(env):
    page = env.window()
    frame = env.window(parent=page)
    element = ToyElement(frame)
    element.play()
    ToyElement(page).play()
    env.run_until_idle()
    page.close()
    assert page.closed and frame.closed
    assert frame.navigator.audio_session.state == "inactive"
    assert frame.navigator.audio_session.elements == ()
    assert element.audible is False
    assert {s.id for s in env.platform.sessions()}.isdisjoint({page.name, frame.name})
    with pytest.raises(InvalidStateError, match="closed"):
        frame.navigator.audio_session.type = "playback"
    env.advance(1)
    assert statechanges(env, page) == [(page.name, "active")]  # nothing fires after close
    page.close()  # closing twice is harmless


def test_a_child_frame_of_a_closed_window_cannot_be_opened(env):
    page = env.window()
    page.close()
    with pytest.raises(ValueError, match="closed"):
        env.window(parent=page)
