"""A media player for the MPRIS tests, using only the public API.

    python player.py TONE.wav

Plays TONE.wav looped in a ``playback`` session with metadata and a ``nexttrack`` handler, and
reports on stdout, one line each: ``ready``, ``paused True|False`` when the element's ``paused``
changes, ``action nexttrack`` when the handler runs, ``closed`` after the ``close`` command.
Commands on stdin: ``close`` (close the window), ``exit``.
"""

from __future__ import annotations

import sys
import threading

from audiosession import Audio, MediaMetadata, Window

_output = threading.Lock()


def report(*words: object) -> None:
    """One whole line on stdout (listeners run on the dispatcher thread, not the main one)."""
    with _output:
        sys.stdout.write(" ".join(map(str, words)) + "\n")
        sys.stdout.flush()


def main() -> None:
    window = Window()
    window.navigator.audio_session.type = "playback"
    media_session = window.navigator.media_session
    media_session.metadata = MediaMetadata(title="Test Tone", artist="The Testers", album="MPRIS")
    media_session.set_action_handler("nexttrack", lambda details: report("action", details.action))
    track = Audio(sys.argv[1], window=window)
    track.loop = True
    track.add_event_listener("play", lambda event: report("paused", track.paused))
    track.add_event_listener("pause", lambda event: report("paused", track.paused))
    track.play()
    report("ready")
    for line in sys.stdin:
        command = line.strip()
        if command == "close":
            window.close()
            report("closed")
        elif command == "exit":
            return


if __name__ == "__main__":
    main()
