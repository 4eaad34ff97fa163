"""A client process for the daemon tests: plays a file with the public API and reports.

    python player.py --type playback --src tone.wav [--loop] [--no-play]

Prints one JSON object per line on stdout (``t`` is ``time.monotonic()``, the same clock in
every process): ``ready`` (with the platform's name), ``state`` (each ``statechange``, with
``wav_time``: how far into the WAV output it came), ``playing``, ``ended``, and answers to
commands read from stdin, one per line: ``play``, ``pause``, ``sessions``, ``position`` (the
element's ``current_time``), ``clock`` (when sample 0 of this process's WAV output played),
``quit``. Run with ``AUDIOSESSION_BACKEND=wav:PATH`` so what it really played is in PATH.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time

# Before audiosession is imported: importing ``navigator`` makes the default window, and so
# picks the platform; what that logs (a squatted socket, say) reaches the handlers set by then.
logging.basicConfig(
    level=logging.INFO,
    stream=sys.stderr,
    format="%(relativeCreated)d %(levelname)s %(name)s: %(message)s",
)

import audiosession  # noqa: E402
from audiosession import Audio, navigator  # noqa: E402

_out_lock = threading.Lock()


def say(event: str, **fields: object) -> None:
    with _out_lock:
        print(json.dumps({"t": time.monotonic(), "event": event, **fields}), flush=True)


def wav_time() -> float | None:
    """Seconds of the wav backend's file rendered so far: where in it "now" is."""
    backend = audiosession.platform().audio.backend
    fmt = getattr(backend, "_format", None)
    if fmt is None:
        return None
    rate, _, blocksize = fmt
    return backend.blocks_rendered * blocksize / rate


def wav_start() -> float | None:
    """``time.monotonic()`` at which sample 0 of the wav backend's file was rendered."""
    backend = audiosession.platform().audio.backend
    fmt = getattr(backend, "_format", None)
    if fmt is None:
        return None
    rate, _, blocksize = fmt
    period = blocksize / rate
    best = None
    for _ in range(40):
        now = time.monotonic()
        estimate = now - backend.blocks_rendered * period
        best = estimate if best is None else max(best, estimate)
        time.sleep(period * 0.37)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--type", default="playback")
    parser.add_argument("--src", required=True)
    parser.add_argument("--loop", action="store_true")
    parser.add_argument("--no-play", action="store_true")
    args = parser.parse_args()

    session = navigator.audio_session
    session.type = args.type
    element = Audio(args.src)
    element.loop = args.loop
    session.add_event_listener(
        "statechange", lambda e: say("state", state=str(session.state), wav_time=wav_time())
    )
    element.add_event_listener("playing", lambda e: say("playing"))
    element.add_event_listener("ended", lambda e: say("ended"))
    element.add_event_listener("play", lambda e: say("play-event"))
    element.add_event_listener("pause", lambda e: say("pause-event"))
    platform = audiosession.platform()
    say("ready", platform=platform.name, connected=getattr(platform, "connected", None))
    if not args.no_play:
        element.play()

    for line in sys.stdin:
        command = line.strip()
        if command == "play":
            element.play()
            say("play")
        elif command == "pause":
            asked = time.monotonic()  # pause() itself releases others, before it returns
            element.pause()
            say("pause", asked=asked)
        elif command == "sessions":
            rows = [
                {
                    "id": s.id,
                    "owner": s.owner,
                    "type": str(s.computed_type),
                    "state": str(s.state),
                    "gain": s.gain,
                }
                for s in audiosession.platform().sessions()
            ]
            say("sessions", sessions=rows, connected=getattr(platform, "connected", None))
        elif command == "position":
            say("position", current_time=element.current_time)
        elif command == "clock":
            say("clock", wav_start=wav_start())
        elif command == "quit":
            break
    say("bye")


if __name__ == "__main__":
    main()
