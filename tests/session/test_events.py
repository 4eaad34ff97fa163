"""DOM event semantics of EventTarget, and where events fire in real mode."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from audiosession import Event, EventTarget, Window
from audiosession.loop import ThreadedLoop
from audiosession.platforms.embedded import EmbeddedPlatform
from audiosession.session.runtime import Runtime

from .toy import ToyElement


def test_listeners_run_in_registration_order_and_duplicates_are_ignored():
    target, calls = EventTarget(), []

    def first(event):
        calls.append("first")

    target.add_event_listener("ping", first)
    target.add_event_listener("ping", lambda e: calls.append("second"))
    target.add_event_listener("ping", first)
    assert target.dispatch_event(Event("ping")) is True
    assert calls == ["first", "second"]


def test_a_listener_removed_during_dispatch_is_not_called():
    target, calls = EventTarget(), []

    def remover(event):
        calls.append("remover")
        target.remove_event_listener("ping", victim)

    def victim(event):
        calls.append("victim")

    target.add_event_listener("ping", remover)
    target.add_event_listener("ping", victim)
    target.dispatch_event(Event("ping"))
    target.dispatch_event(Event("ping"))
    assert calls == ["remover", "remover"]


def test_an_exception_in_one_listener_is_logged_and_the_others_still_run(caplog):
    target, calls = EventTarget(), []

    def broken(event):
        raise RuntimeError("listener bug")

    target.add_event_listener("ping", broken)
    target.add_event_listener("ping", lambda e: calls.append("ran"))
    with caplog.at_level(logging.ERROR):
        target.dispatch_event(Event("ping"))
    assert calls == ["ran"]
    assert "listener bug" in caplog.text and "Traceback" in caplog.text


def test_once_listeners_run_once_and_handle_event_objects_work():
    target, calls = EventTarget(), []

    class Handler:
        def handle_event(self, event):
            calls.append(("object", event.type))

    target.add_event_listener("ping", lambda e: calls.append("once"), once=True)
    target.addEventListener("ping", Handler())
    target.dispatch_event(Event("ping"))
    target.dispatch_event(Event("ping"))
    assert calls == ["once", ("object", "ping"), ("object", "ping")]


def test_an_on_handler_keeps_its_place_when_replaced_and_leaves_when_set_to_none(env):
    session = env.navigator.audio_session
    calls = []
    session.add_event_listener("statechange", lambda e: calls.append("a"))
    session.onstatechange = lambda e: calls.append("handler 1")
    session.add_event_listener("statechange", lambda e: calls.append("b"))
    session.onstatechange = lambda e: calls.append("handler 2")
    session.dispatch_event(Event("statechange"))
    assert calls == ["a", "handler 2", "b"]
    session.onstatechange = None
    assert session.onstatechange is None
    calls.clear()
    session.dispatch_event(Event("statechange"))
    assert calls == ["a", "b"]


def test_dispatched_events_are_untrusted_and_fired_ones_trusted(env):
    session = env.navigator.audio_session
    seen = []
    session.add_event_listener("statechange", seen.append)
    session.dispatchEvent(Event("statechange"))
    ToyElement(env.default_window).play()
    env.run_until_idle()
    assert [event.isTrusted for event in seen] == [False, True]
    assert seen[1].currentTarget is None  # dispatch is over


def test_bad_listeners_and_events_are_refused():
    target = EventTarget()
    with pytest.raises(TypeError, match="callable"):
        target.add_event_listener("ping", 42)
    with pytest.raises(TypeError, match="Event"):
        target.dispatch_event("ping")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="non-empty"):
        Event("")


async def test_a_coroutine_listener_runs_on_the_asyncio_loop_it_was_added_from(env):
    session = env.navigator.audio_session
    done = asyncio.get_running_loop().create_future()

    async def listener(event):
        await asyncio.sleep(0)
        done.set_result((event.type, session.state, asyncio.get_running_loop()))

    session.add_event_listener("statechange", listener)
    ToyElement(env.default_window).play()
    env.run_until_idle()
    event_type, state, loop = await asyncio.wait_for(done, 5)
    assert (event_type, state) == ("statechange", "active")
    assert loop is asyncio.get_running_loop()


def test_in_real_mode_statechange_fires_on_the_dispatcher_thread_not_in_the_setter():
    loop = ThreadedLoop(name="test-dispatcher")
    runtime = Runtime(loop, EmbeddedPlatform)
    try:
        window = Window(runtime=runtime)
        session = window.navigator.audio_session
        fired = threading.Event()
        threads = []

        def on_state(event):
            threads.append(threading.current_thread().name)
            fired.set()

        session.onstatechange = on_state
        element = ToyElement(window)
        element.play()
        assert threads == []
        assert fired.wait(5)
        assert threads == ["test-dispatcher"]
        assert session.state == "active"
        loop.run_until_idle()
        assert len(threads) == 1
    finally:
        runtime.close()
        loop.close()


def test_a_slow_coroutine_listener_does_not_hold_up_the_loop():
    # Added with no asyncio loop running: it runs on a background asyncio loop, not on the
    # dispatcher thread, so the loop's next task runs while the listener is still awaiting.
    loop = ThreadedLoop(name="test-dispatcher")
    target = EventTarget()
    started, release, finished, next_task = (threading.Event() for _ in range(4))
    threads = []

    async def slow(event):
        threads.append(threading.current_thread().name)
        started.set()
        await asyncio.to_thread(release.wait, 10)
        finished.set()

    target.add_event_listener("ping", slow)
    try:
        loop.queue_task(target.dispatch_event, Event("ping"))
        assert started.wait(5)
        loop.queue_task(next_task.set)
        assert next_task.wait(5)
        assert not finished.is_set()
        release.set()
        assert finished.wait(5)
        assert threads != ["test-dispatcher"]
    finally:
        release.set()
        loop.close()
