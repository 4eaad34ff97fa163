"""The MPRIS player of a window in a ``VirtualEnvironment`` (opted in), read with a D-Bus client."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from audiosession import Audio, MediaMetadata, Window
from audiosession.integrations import mpris
from audiosession.testing import VirtualEnvironment

PLAYER = "org.mpris.MediaPlayer2.Player"


class BusClient:
    """A plain D-Bus client (jeepney) on the private bus: names, properties, calls, signals."""

    def __init__(self, address: str) -> None:
        from jeepney import MatchRule
        from jeepney.io.blocking import open_dbus_connection

        self.connection = open_dbus_connection(bus=address)
        rule = MatchRule(
            type="signal",
            interface="org.freedesktop.DBus.Properties",
            member="PropertiesChanged",
            path=mpris.OBJECT_PATH,
        )
        self.connection.bus_proxy.AddMatch(rule)
        self.signals = self.connection.filter(rule, bufsize=100).queue

    def players(self) -> list[str]:
        names = self.connection.bus_proxy.ListNames()[0]
        return sorted(name for name in names if name.startswith(mpris.BUS_NAME_PREFIX))

    def wait_for_players(self, count: int, timeout: float = 3.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(players := self.players()) != count:
            if time.monotonic() > deadline:
                pytest.fail(f"expected {count} MPRIS player(s) on the bus, found {players}")
            time.sleep(0.02)
        return players

    def call(
        self,
        name: str,
        interface: str,
        method: str,
        signature: str | None = None,
        body: tuple[Any, ...] = (),
    ) -> tuple[Any, ...]:
        from jeepney import DBusAddress, new_method_call
        from jeepney.wrappers import unwrap_msg

        address = DBusAddress(mpris.OBJECT_PATH, bus_name=name, interface=interface)
        reply = self.connection.send_and_get_reply(
            new_method_call(address, method, signature, body), timeout=3
        )
        return unwrap_msg(reply)  # type: ignore[no-any-return]

    def get_all(self, name: str, interface: str = PLAYER) -> dict[str, Any]:
        (properties,) = self.call(
            name, "org.freedesktop.DBus.Properties", "GetAll", "s", (interface,)
        )
        return {key: value for key, (_, value) in properties.items()}

    def get(self, name: str, prop: str, interface: str = PLAYER) -> Any:
        (value,) = self.call(
            name, "org.freedesktop.DBus.Properties", "Get", "ss", (interface, prop)
        )
        return value[1]

    def next_change(self, prop: str, timeout: float = 3.0) -> Any:
        """The new value of ``prop`` in the next ``PropertiesChanged`` signal that has it."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.connection.recv_until_filtered(
                self.signals, timeout=max(0.0, deadline - time.monotonic())
            )
            interface, changed, _ = message.body
            if interface == PLAYER and prop in changed:
                return changed[prop][1]

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def bus(session_bus: str) -> Iterator[BusClient]:
    client = BusClient(session_bus)
    yield client
    client.close()


@pytest.fixture
def published_env(bus, monkeypatch) -> Iterator[VirtualEnvironment]:
    monkeypatch.setenv(mpris.ENABLE_ENV, "on")
    with VirtualEnvironment() as environment:
        yield environment


def mpris_thread_caught_up(timeout: float = 5.0) -> None:
    """Wait until the MPRIS thread has run every command submitted to it so far (it runs them
    in order): whatever publishing or failing was asked for has happened."""
    done = threading.Event()
    mpris.MprisService.shared().submit(done.set)
    assert done.wait(timeout), "the MPRIS thread did not catch up"


def play(
    env: VirtualEnvironment, media: Any, seconds: float = 5.0, window: Window | None = None
) -> Audio:
    """A track playing in ``window`` (the default one if None), whose program uses
    ``navigator.media_session`` (as every program with media keys does)."""
    window = window if window is not None else env.default_window
    window.navigator.media_session  # noqa: B018
    track = Audio(media.tone(440, seconds=seconds), window=window)
    track.play()
    env.advance(0.1)
    return track


def test_a_playing_window_is_published_with_its_status_and_metadata(published_env, bus, media):
    env = published_env
    env.navigator.media_session.metadata = MediaMetadata("Song", "Band", "LP")
    play(env, media)
    (name,) = bus.wait_for_players(1)
    properties = bus.get_all(name)
    assert properties["PlaybackStatus"] == "Playing"
    metadata = {key: value for key, (_, value) in properties["Metadata"].items()}
    assert metadata["xesam:title"] == "Song"
    assert metadata["xesam:artist"] == ["Band"]
    assert metadata["xesam:album"] == "LP"
    assert metadata["mpris:trackid"].startswith("/org/audiosession/track/")
    assert metadata["mpris:length"] == 5_000_000
    assert properties["CanPlay"] and properties["CanPause"] and properties["CanControl"]
    assert not properties["CanGoNext"] and not properties["CanGoPrevious"]
    root = bus.get_all(name, "org.mpris.MediaPlayer2")
    assert root["CanQuit"] is False and "window-1" in root["Identity"]


def test_a_window_that_plays_nothing_is_not_published(published_env, bus, media):
    env = published_env
    env.navigator.media_session.metadata = MediaMetadata("Song")
    Audio(media.tone(440, seconds=1))
    env.advance(0.5)
    mpris_thread_caught_up()
    assert bus.players() == []


def test_pause_and_play_methods_act_on_the_elements_and_signal_the_status(
    published_env, bus, media
):
    env = published_env
    track = play(env, media)
    (name,) = bus.wait_for_players(1)
    bus.call(name, PLAYER, "Pause")
    env.advance(0.1)
    assert track.paused
    assert bus.next_change("PlaybackStatus") == "Paused"
    bus.call(name, PLAYER, "PlayPause")
    env.advance(0.1)
    assert not track.paused
    assert bus.next_change("PlaybackStatus") == "Playing"
    assert bus.get(name, "PlaybackStatus") == "Playing"


def test_next_previous_and_set_position_call_the_handlers(published_env, bus, media):
    env = published_env
    calls: list[tuple[str, float | None]] = []
    session = env.navigator.media_session
    for action in ("nexttrack", "previoustrack", "seekto", "stop"):
        session.set_action_handler(action, lambda d: calls.append((str(d.action), d.seek_time)))
    play(env, media)
    (name,) = bus.wait_for_players(1)
    assert bus.get(name, "CanGoNext") and bus.get(name, "CanSeek")
    bus.call(name, PLAYER, "Next")
    bus.call(name, PLAYER, "Previous")
    bus.call(name, PLAYER, "SetPosition", "ox", ("/org/audiosession/track/1", 2_500_000))
    bus.call(name, PLAYER, "Stop")
    env.advance(0.1)
    assert calls == [("nexttrack", None), ("previoustrack", None), ("seekto", 2.5), ("stop", None)]


def test_seek_moves_by_the_offset_through_the_seek_handlers(published_env, bus, media):
    env = published_env
    offsets: list[tuple[str, float | None]] = []
    session = env.navigator.media_session
    for action in ("seekforward", "seekbackward"):
        session.set_action_handler(action, lambda d: offsets.append((str(d.action), d.seek_offset)))
    play(env, media)
    (name,) = bus.wait_for_players(1)
    bus.call(name, PLAYER, "Seek", "x", (5_000_000,))
    bus.call(name, PLAYER, "Seek", "x", (-1_500_000,))
    env.advance(0.1)
    assert offsets == [("seekforward", 5.0), ("seekbackward", 1.5)]


def test_playback_state_and_metadata_changes_are_signalled(published_env, bus, media):
    env = published_env
    session = env.navigator.media_session
    play(env, media)
    (name,) = bus.wait_for_players(1)
    session.playback_state = "paused"
    env.advance(0.1)
    assert bus.next_change("PlaybackStatus") == "Paused"
    metadata = MediaMetadata("First")
    session.metadata = metadata
    env.advance(0.1)
    changed = bus.next_change("Metadata")
    assert changed["xesam:title"] == ("s", "First")
    metadata.title = "Second"
    env.advance(0.1)
    assert bus.next_change("Metadata")["xesam:title"] == ("s", "Second")


def test_closing_the_window_or_leaving_playback_unpublishes_it(published_env, bus, media):
    env = published_env
    other = env.window()
    play(env, media)
    play(env, media, window=other)
    assert len(bus.wait_for_players(2)) == 2
    other.close()
    env.advance(1.0)
    bus.wait_for_players(1)
    env.navigator.audio_session.type = "transient"
    env.advance(1.0)
    bus.wait_for_players(0)


def test_a_paused_player_stays_published(published_env, bus, media):
    env = published_env
    track = play(env, media)
    bus.wait_for_players(1)
    track.pause()
    env.advance(2.0)
    (name,) = bus.wait_for_players(1)
    assert bus.get(name, "PlaybackStatus") == "Paused"


def test_without_a_session_bus_nothing_is_published_and_nothing_fails(monkeypatch, media, caplog):
    monkeypatch.setenv(mpris.ENABLE_ENV, "on")
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setattr(mpris.MprisService, "_shared", None)
    with caplog.at_level(logging.INFO), VirtualEnvironment() as env:
        env.navigator.media_session.metadata = MediaMetadata("Song")
        track = play(env, media)
        env.advance(1.0)
        assert not track.paused
    assert "no MPRIS player is published (DBUS_SESSION_BUS_ADDRESS is not set)" in caplog.text


def test_an_unreachable_session_bus_is_logged_once(monkeypatch, media, caplog, tmp_path):
    monkeypatch.setenv(mpris.ENABLE_ENV, "on")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    with caplog.at_level(logging.INFO), VirtualEnvironment() as env:
        for _ in range(2):
            play(env, media, window=env.window())
        env.advance(0.5)
        mpris_thread_caught_up()  # both windows' attempts are made (the second is skipped)
        env.advance(0.5)
    assert caplog.text.count("cannot connect to the session bus") == 1


def test_virtual_environments_do_not_publish_unless_asked(session_bus, bus, monkeypatch, media):
    monkeypatch.delenv(mpris.ENABLE_ENV, raising=False)
    with VirtualEnvironment() as env:
        env.navigator.media_session.metadata = MediaMetadata("Song")
        play(env, media)
        env.advance(0.5)
        mpris_thread_caught_up()
        assert bus.players() == []


def test_a_player_that_never_uses_media_session_is_published_too(published_env, bus, media):
    env = published_env
    Audio(media.tone(440, seconds=5)).play()
    env.advance(0.1)
    bus.wait_for_players(1, timeout=1.0)
