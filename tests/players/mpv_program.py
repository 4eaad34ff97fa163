"""A program that plays music through python-mpv in its session, for the players' tests.

    python mpv_program.py MUSIC.wav CALL.wav

Plays MUSIC.wav looped through mpv in the default window's ``playback`` session (with
``session_player``), and reports on stdout, one line each: ``state <state>`` at each
``statechange`` of that session, ``mpv pause=<bool> at=<time-pos>`` when the player's
``play`` or ``pause`` fires and after the command ``where``, ``call at 0.5`` and ``call at 1.0``
once the call has played that long, ``elements <classes>`` after ``elements``. Commands on
stdin: ``call`` (a second window plays CALL.wav in a ``play-and-record`` session), ``hangup``
(it closes), ``where``, ``elements`` (the classes of the session's elements), ``exit``.
"""

from __future__ import annotations

import os
import sys
import threading

import mpv

from audiosession import Audio, Window, navigator
from audiosession.integrations.mpv import session_player

_output = threading.Lock()


def report(*words: object) -> None:
    with _output:
        sys.stdout.write(" ".join(map(str, words)) + "\n")
        sys.stdout.flush()


def main() -> None:
    # The private server's null sinks are suspended while idle; libmpv 0.35 gives up on a
    # suspended sink unless told it may wait for it.
    player = mpv.MPV(
        ao="pulse", pulse_allow_suspended=True, vo="null", video=False, loop_file="inf"
    )
    session = navigator.audio_session
    session.type = "playback"
    session.add_event_listener("statechange", lambda event: report("state", session.state))
    # With MPV_PROGRAM_ADAPTER=off the program has no code of ours for mpv: its stream is
    # adopted as the program's own.
    adapted = os.environ.get("MPV_PROGRAM_ADAPTER") != "off"
    music = session_player(player) if adapted else None

    def where(event: object = None) -> None:
        report(f"mpv pause={player.pause} at={player.time_pos or 0.0:.3f}")

    if music is not None:
        music.add_event_listener("play", where)
        music.add_event_listener("pause", where)
    player.play(sys.argv[1])
    call: Window | None = None
    for line in sys.stdin:
        command = line.strip()
        if command == "call":
            call = Window()
            call.navigator.audio_session.type = "play-and-record"
            voice = Audio(sys.argv[2], window=call)
            voice.loop = True
            marks = [0.5, 1.0]

            def on_time(event: object, voice: Audio = voice, marks: list[float] = marks) -> None:
                if marks and voice.current_time >= marks[0]:
                    report("call at", marks.pop(0))

            voice.add_event_listener("timeupdate", on_time)
            voice.play()
        elif command == "hangup" and call is not None:
            call.close()
        elif command == "where":
            where()
        elif command == "elements":
            report("elements", *sorted(type(e).__name__ for e in session.elements))
        elif command == "exit":
            if music is not None:
                music.close()
            player.terminate()
            return


if __name__ == "__main__":
    main()
