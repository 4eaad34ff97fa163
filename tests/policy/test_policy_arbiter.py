"""The arbiter's scenarios: the seed's story, stacked causes, interruptions, devices, closing."""

from __future__ import annotations

import pytest

from audiosession.engine.backend import DeviceInfo
from audiosession.policy import (
    Arbiter,
    Effect,
    PolicyConfig,
    SetGain,
    SetRoute,
    SetState,
)
from audiosession.types import AudioSessionType as T

from .helpers import ACTIVE, INACTIVE, INTERRUPTED, arbiter, by_session

SPEAKERS = DeviceInfo("speakers", "Speakers", "audiooutput", is_default=True)
HEADSET = DeviceInfo("headset", "Headset", "audiooutput", frozenset({"phone"}))
HEADPHONES = DeviceInfo("headphones", "Headphones", "audiooutput")
MIC = DeviceInfo("mic", "Microphone", "audioinput", frozenset({"phone"}))


def test_seed_scenario_music_notification_prompt_call_second_player() -> None:
    policy = arbiter("music", "ping", "prompt", "call", "music2")
    policy.set_devices([SPEAKERS, HEADSET])
    assert policy.record("call").route == "speakers"  # still ambient

    policy.request_active("music", "playback")
    # A notification ducks the music, which comes back when it ends.
    assert by_session(policy.request_active("ping", "transient"))["music"] == [
        SetGain("music", 0.2, 0.1)
    ]
    assert by_session(policy.release("ping"))["music"] == [SetGain("music", 1.0, 0.5)]
    # A voice prompt pauses it and it resumes afterwards.
    assert by_session(policy.request_active("prompt", "transient-solo"))["music"] == [
        SetState("music", INTERRUPTED)
    ]
    assert policy.record("music").causes == ("paused by prompt",)
    assert by_session(policy.release("prompt"))["music"] == [SetState("music", ACTIVE)]
    # An incoming call interrupts it and goes to the communications device.
    actions = by_session(policy.request_active("call", "play-and-record"))
    assert actions["music"] == [SetState("music", INTERRUPTED)]
    assert actions["call"] == [SetRoute("call", "headset"), SetState("call", ACTIVE)]
    # A second player during the call is delayed.
    assert policy.request_active("music2", "playback") == [SetState("music2", INTERRUPTED)]
    assert policy.record("music2").causes == ("delayed by call",)
    # After the call the second player plays and the first is stopped (most recent wins).
    actions = by_session(policy.release("call"))
    assert actions["music"] == [SetState("music", INACTIVE)]  # it was silent: no fade
    assert actions["music2"] == [SetState("music2", ACTIVE)]
    assert policy.record("music").causes == ("stopped by music2",)
    assert policy.state_of("call") is INACTIVE


def test_oldest_request_is_reevaluated_first() -> None:
    policy = arbiter("a", "b", "c")
    policy.request_active("a", "playback")
    policy.request_active("c", "play-and-record")
    policy.request_active("b", "playback")
    assert [r.state for r in policy.snapshot()] == [INTERRUPTED, INTERRUPTED, ACTIVE]
    policy.release("c")
    assert policy.state_of("a") is INACTIVE and policy.state_of("b") is ACTIVE


def test_two_ducks_do_not_compound_and_release_after_both() -> None:
    policy = arbiter("music", "ping1", "ping2")
    policy.request_active("music", "playback")
    policy.request_active("ping1", "transient")
    assert "music" not in by_session(policy.request_active("ping2", "transient"))
    assert policy.gain_of("music") == pytest.approx(0.2)
    assert policy.record("music").causes == ("ducked by ping1", "ducked by ping2")
    assert "music" not in by_session(policy.release("ping1"))
    assert policy.gain_of("music") == 0.2
    assert by_session(policy.release("ping2"))["music"] == [SetGain("music", 1.0, 0.5)]


def test_paused_by_prompt_that_a_call_pauses_resumes_after_both() -> None:
    policy = arbiter("music", "prompt", "call")
    policy.request_active("music", "playback")
    policy.request_active("prompt", "transient-solo")
    policy.request_active("call", "play-and-record")
    assert policy.state_of("prompt") is INTERRUPTED
    assert policy.record("music").causes == ("paused by prompt",)
    # The call ends: the prompt resumes, the music still waits for it.
    actions = by_session(policy.release("call"))
    assert actions == {
        "prompt": [SetState("prompt", ACTIVE)],
        "call": [SetState("call", INACTIVE)],
    }
    assert policy.state_of("music") is INTERRUPTED
    assert by_session(policy.release("prompt"))["music"] == [SetState("music", ACTIVE)]


def test_paused_session_is_held_by_two_causes_until_both_end() -> None:
    policy = arbiter("music", "call1", "call2")
    policy.request_active("music", "playback")
    policy.request_active("call1", "play-and-record")
    policy.set_type("music", "playback")  # no change: nothing happens
    policy.interrupt("transient", "alarm")
    assert policy.record("music").causes == ("paused by call1",)
    assert policy.record("call1").causes == ("external: alarm",)
    policy.end_interruption("alarm")
    assert policy.state_of("call1") is ACTIVE
    assert policy.state_of("music") is INTERRUPTED
    assert policy.release("call1") == [
        SetState("music", ACTIVE),
        SetState("call1", INACTIVE),
    ]


def test_a_paused_ducker_stops_ducking_and_ducks_again_when_it_resumes() -> None:
    policy = arbiter("music", "ping", "prompt")
    policy.request_active("music", "ambient")
    policy.request_active("ping", "transient")
    assert policy.gain_of("music") == 0.2
    # transient-solo pauses both; the silent ping no longer ducks anything.
    policy.request_active("prompt", "transient-solo")
    assert policy.gain_of("music") == 1.0
    # prompt ends: music (older) resumes, then ping resumes and ducks it again; the
    # platform sees only the net change.
    actions = by_session(policy.release("prompt"))
    assert actions["music"] == [SetGain("music", 0.2, 0.1), SetState("music", ACTIVE)]
    assert actions["ping"] == [SetState("ping", ACTIVE)]


def test_reducked_in_one_operation_emits_nothing() -> None:
    policy = arbiter("music", "ping", "alarm")
    policy.request_active("music", "playback")
    policy.request_active("ping", "transient")
    policy.add("ping2", "window-ping", "ping2")  # same window as ping
    policy.request_active("ping2", "transient")
    assert policy.record("music").causes == ("ducked by ping", "ducked by ping2")
    # Releasing ping: music is still ducked by ping2, so nothing for music.
    assert policy.release("ping") == [SetState("ping", INACTIVE)]


def test_window_closed_while_ducking_or_pausing_releases_at_once() -> None:
    policy = arbiter("music", "ping", "game", "prompt")
    policy.request_active("music", "playback")
    policy.request_active("game", "ambient")
    policy.request_active("ping", "transient")
    assert policy.gain_of("music") == policy.gain_of("game") == 0.2
    assert policy.remove("ping") == [SetGain("music", 1.0, 0.5), SetGain("game", 1.0, 0.5)]
    assert "ping" not in policy
    policy.request_active("prompt", "transient-solo")
    assert policy.remove("prompt") == [SetState("music", ACTIVE), SetState("game", ACTIVE)]
    assert [r.id for r in policy.snapshot()] == ["music", "game"]


def test_removing_a_held_session_releases_what_it_held() -> None:
    policy = arbiter("music", "prompt", "call")
    policy.request_active("music", "playback")
    policy.request_active("prompt", "transient-solo")
    policy.request_active("call", "play-and-record")
    # Released by the prompt, the music meets the call again: delayed, still silent.
    assert policy.remove("prompt") == []
    assert policy.record("music").causes == ("delayed by call",)
    assert policy.release("call")[0] == SetState("music", ACTIVE)


def test_delayed_session_released_by_its_own_element_stopping() -> None:
    policy = arbiter("prompt", "music")
    policy.request_active("prompt", "transient-solo")
    policy.request_active("music", "playback")
    assert policy.release("music") == [SetState("music", INACTIVE)]
    assert policy.record("music").causes == ()
    assert "music" not in by_session(policy.release("prompt"))


def test_requests_when_already_active_or_held_change_nothing() -> None:
    policy = arbiter("music", "call")
    assert policy.request_active("music", "playback") == [SetState("music", ACTIVE)]
    assert policy.request_active("music", "playback") == []
    policy.request_active("call", "play-and-record")
    assert policy.request_active("music", "playback") == []
    assert policy.state_of("music") is INTERRUPTED


def test_transient_interruption_holds_actives_and_new_requests() -> None:
    policy = arbiter("music", "ping", "late")
    policy.request_active("music", "playback")
    policy.request_active("ping", "transient")
    actions = policy.interrupt("transient", "system sleep")
    assert actions == [
        SetGain("music", 1.0, 0.5),  # the silent ping ducks nothing any more
        SetState("music", INTERRUPTED),
        SetState("ping", INTERRUPTED),
    ]
    assert policy.record("music").causes == ("external: system sleep",)
    assert policy.interruptions == ("system sleep",)
    # A request during the interruption is held too.
    assert policy.request_active("late", "ambient") == [SetState("late", INTERRUPTED)]
    assert policy.record("late").causes == ("external: system sleep",)
    ended = by_session(policy.end_interruption())
    assert ended["music"] == [SetGain("music", 0.2, 0.1), SetState("music", ACTIVE)]
    assert ended["ping"] == [SetState("ping", ACTIVE)]
    # Re-evaluated oldest first: ping (older than late) does not duck it.
    assert ended["late"] == [SetState("late", ACTIVE)]
    assert policy.interruptions == ()


def test_two_transient_interruptions_end_one_by_one() -> None:
    policy = arbiter("music")
    policy.request_active("music", "playback")
    policy.interrupt("transient", "a")
    policy.interrupt("transient", "b")
    assert policy.end_interruption("a") == []
    assert policy.record("music").causes == ("external: b",)
    assert policy.end_interruption("unknown") == []
    assert policy.end_interruption("b") == [SetState("music", ACTIVE)]


def test_permanent_interruption_stops_everything_for_good() -> None:
    policy = arbiter("music", "call", "ping")
    policy.request_active("music", "playback")
    policy.request_active("call", "play-and-record")
    policy.request_active("ping", "transient")
    actions = policy.interrupt("permanent", "another program")
    assert actions == [
        SetState("music", INACTIVE),  # it was paused: no fade needed
        SetState("call", INACTIVE, 0.3),
        SetState("ping", INACTIVE, 0.3),
    ]
    assert policy.record("music").causes == ("permanently interrupted: another program",)
    assert all(r.gain == 1.0 for r in policy.snapshot())
    # Not resumed, and new requests are not held.
    assert policy.end_interruption() == []
    assert policy.request_active("music", "playback") == [SetState("music", ACTIVE)]
    assert policy.record("music").causes == ()


def test_bad_interruption_kind() -> None:
    policy = arbiter("music")
    with pytest.raises(ValueError, match="'transient' or 'permanent'"):
        policy.interrupt("forever")


def test_headphones_removed_stop_playback_without_fade_and_reroute() -> None:
    policy = arbiter("music", "ping", "game")
    policy.set_devices([SPEAKERS, HEADPHONES])
    policy.request_active("music", "playback")
    policy.request_active("game", "ambient")
    policy.request_active("ping", "transient")
    actions = policy.device_removed("headphones", ["music", "ping"])
    assert actions == [
        SetRoute("music", "speakers"),
        SetState("music", INACTIVE, 0.0),
        SetRoute("ping", "speakers"),
    ]
    assert policy.record("music").causes == ("device removed: headphones",)
    assert policy.state_of("ping") is ACTIVE and policy.state_of("game") is ACTIVE
    assert policy.devices == (SPEAKERS,)


def test_removing_the_communications_device_moves_the_call() -> None:
    policy = arbiter("call", "music")
    policy.set_devices([SPEAKERS, HEADSET, MIC])
    policy.request_active("music", "playback")
    assert policy.request_active("call", "play-and-record")[0] == SetRoute("call", "headset")
    assert policy.device_removed("headset", ["call"]) == [SetRoute("call", "speakers")]
    assert policy.state_of("call") is ACTIVE  # a call keeps going on the speakers


def test_removing_a_device_releases_what_the_stopped_music_held() -> None:
    config = PolicyConfig(table={(T.PLAYBACK, T.AMBIENT): Effect.DUCK})
    policy = arbiter("game", "music", config=config)
    policy.set_devices([SPEAKERS, HEADPHONES])
    policy.request_active("game", "ambient")
    policy.request_active("music", "playback")
    assert policy.gain_of("game") == 0.2
    assert policy.device_removed("headphones", ["music"]) == [
        SetGain("game", 1.0, 0.5),
        SetRoute("music", "speakers"),
        SetState("music", INACTIVE),
    ]


def test_blocker_becoming_playback_is_stopped_by_the_playback_it_delayed() -> None:
    policy = arbiter("prompt", "late")
    policy.request_active("prompt", "transient-solo")
    policy.request_active("late", "playback")
    # The delay cell no longer applies (playback over playback is stop): late is released,
    # meets the table again as the newer request, and stops the former prompt.
    actions = by_session(policy.set_type("prompt", "playback"))
    assert actions["prompt"] == [SetState("prompt", INACTIVE, 0.3)]
    assert actions["late"] == [SetState("late", ACTIVE)]


def test_set_devices_reports_only_changed_routes() -> None:
    policy = arbiter("music", "call")
    policy.set_type("call", "play-and-record")
    assert policy.set_devices([SPEAKERS]) == [
        SetRoute("music", "speakers"),
        SetRoute("call", "speakers"),
    ]
    assert policy.set_devices([SPEAKERS, HEADSET]) == [SetRoute("call", "headset")]
    assert policy.set_devices([SPEAKERS, HEADSET]) == []


def test_set_type_of_an_active_session_reruns_the_table() -> None:
    policy = arbiter("music", "voice")
    policy.set_devices([SPEAKERS, HEADSET])
    policy.request_active("music", "playback")
    policy.request_active("voice", "ambient")
    # ambient -> transient: now it ducks the music.
    assert by_session(policy.set_type("voice", "transient"))["music"] == [
        SetGain("music", 0.2, 0.1)
    ]
    # transient -> play-and-record: the duck becomes a pause; the route follows.
    actions = by_session(policy.set_type("voice", "play-and-record"))
    assert actions["music"] == [SetGain("music", 1.0, 0.5), SetState("music", INTERRUPTED)]
    assert actions["voice"] == [SetRoute("voice", "headset")]
    # -> ambient: it no longer imposes a pause; the music is re-evaluated and plays.
    actions = by_session(policy.set_type("voice", "ambient"))
    assert actions["music"] == [SetState("music", ACTIVE)]
    assert actions["voice"] == [SetRoute("voice", "speakers")]


def test_set_type_to_a_delayed_cell_keeps_an_active_session_active() -> None:
    policy = arbiter("prompt", "music")
    policy.request_active("prompt", "transient-solo")
    policy.request_active("music", "ambient")
    assert policy.state_of("music") is INTERRUPTED
    policy.release("prompt")
    policy.request_active("prompt", "ambient")
    assert policy.set_type("prompt", "transient-solo") == [SetState("music", INTERRUPTED)]
    # An active playback becoming play-and-record next to a call is not held.
    policy2 = arbiter("a", "b")
    policy2.request_active("a", "play-and-record")
    policy2.add("c", "window-c", "c")
    policy2.request_active("b", "ambient")
    assert by_session(policy2.set_type("b", "playback")).get("b") is None
    assert policy2.state_of("b") is ACTIVE


def test_set_type_of_a_held_session_keeps_the_hold() -> None:
    policy = arbiter("call", "music")
    policy.request_active("call", "play-and-record")
    policy.request_active("music", "playback")
    assert policy.set_type("music", "ambient") == []
    assert policy.record("music").causes == ("delayed by call",)
    # It is released only when the call ends, then plays with its new type.
    assert by_session(policy.release("call"))["music"] == [SetState("music", ACTIVE)]
    assert policy.record("music").type == "ambient"


def test_blocker_changing_type_releases_the_delay_it_no_longer_imposes() -> None:
    policy = arbiter("call", "music")
    policy.request_active("call", "play-and-record")
    policy.request_active("music", "playback")
    actions = by_session(policy.set_type("call", "ambient"))
    assert actions["music"] == [SetState("music", ACTIVE)]


def test_configured_deny_refuses_the_new_session_only() -> None:
    config = PolicyConfig(table={(T.PLAYBACK, T.PLAY_AND_RECORD): Effect.DENY})
    assert config.table[(T.PLAYBACK, T.PLAY_AND_RECORD)] is Effect.DENY
    policy = arbiter("call", "music", "game", config=config)
    policy.request_active("game", "ambient")
    policy.request_active("call", "play-and-record")
    assert policy.request_active("music", "playback") == [SetState("music", INACTIVE)]
    assert policy.state_of("call") is ACTIVE and policy.gain_of("game") == 0.2


def test_configured_table_and_levels_replace_the_defaults() -> None:
    config = PolicyConfig(
        table={(T.TRANSIENT, T.PLAYBACK): Effect.PAUSE, (T.PLAYBACK, T.PLAYBACK): Effect.MIX},
        duck_gain=0.5,
        duck_attack=0.05,
        stop_fade=1.0,
    )
    policy = arbiter("music", "music2", "ping", "game", config=config)
    policy.request_active("music", "playback")
    assert by_session(policy.request_active("music2", "playback")).get("music") is None
    actions = by_session(policy.request_active("ping", "transient"))
    assert actions["music"] == [SetState("music", INTERRUPTED)]
    policy.request_active("game", "ambient")
    assert policy.gain_of("game") == 1.0  # ping came first; ambient over transient mixes
    policy.release("game")
    policy.release("ping")
    policy.request_active("game", "ambient")
    assert by_session(policy.request_active("ping", "transient"))["game"] == [
        SetGain("game", 0.5, 0.05)
    ]


def test_unknown_ids_and_types_raise_and_change_nothing() -> None:
    policy = arbiter("music")
    before = policy.snapshot()
    with pytest.raises(KeyError, match="nobody"):
        policy.request_active("nobody", "playback")
    with pytest.raises(KeyError, match="nobody"):
        policy.device_removed("x", ["music", "nobody"])
    with pytest.raises(ValueError, match="auto"):
        policy.request_active("music", "auto")
    with pytest.raises(ValueError, match="play-and-record"):
        policy.set_type("music", "loud")
    with pytest.raises(TypeError):
        policy.set_type("music", 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already registered"):
        policy.add("music", "w", "o")
    with pytest.raises(TypeError, match="DeviceInfo"):
        policy.set_devices(["speakers"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="reason"):
        policy.interrupt("transient", None)  # type: ignore[arg-type]
    for call in (policy.release, policy.remove, policy.state_of, policy.gain_of):
        with pytest.raises(KeyError):
            call("nobody")
    assert policy.snapshot() == before


def test_snapshot_records() -> None:
    policy = Arbiter(devices=[SPEAKERS])
    assert policy.add("m", "w1", "player") == [SetRoute("m", "speakers")]
    policy.add("p", "w2", "notifier", "transient")
    policy.request_active("m", "playback")
    policy.request_active("p", "transient")
    music, ping = policy.snapshot()
    assert music.owner == "player" and music.context == "w1" and music.type == "playback"
    assert music.state == "active" and music.gain == 0.2 and music.route == "speakers"
    assert music.causes == ("ducked by notifier",)
    assert ping.causes == () and ping.gain == 1.0
    assert len(policy) == 2
