"""The PortAudio device watcher, a child process of the backend: ``python -m
audiosession.engine.backends.portaudio.watcher HOSTAPI INTERVAL`` owns no stream and
re-initialises its own PortAudio every INTERVAL seconds, printing the device list as one JSON
line whenever it changes (docs/devices.md, "PortAudio")."""

from __future__ import annotations

import json
import os
import sys
import threading

from ...backend import DeviceInfo
from .host import Snapshot, enumerate_devices, load_sounddevice, reinitialise_portaudio

__all__ = ["FULL_ENUMERATION_EVERY", "alsa_signature", "decode_snapshot", "watch_main"]


def encode_snapshot(snapshot: Snapshot) -> str:
    return json.dumps(
        {
            "devices": [
                [d.id, d.label, d.kind, sorted(d.intended_roles), d.is_default]
                for d in snapshot.devices
            ],
            "default_output": snapshot.default_output,
            "default_input": snapshot.default_input,
        }
    )


def decode_snapshot(line: str) -> Snapshot:
    data = json.loads(line)
    return Snapshot(
        tuple(DeviceInfo(d[0], d[1], d[2], frozenset(d[3]), bool(d[4])) for d in data["devices"]),
        data["default_output"],
        data["default_input"],
    )


FULL_ENUMERATION_EVERY = 10
"""Polls between two enumerations when nothing the cheap ALSA check looks at has changed."""

_ALSA_FILES = (
    "/etc/asound.conf",
    "~/.asoundrc",
    "~/.config/alsa/asoundrc",
    "/etc/alsa/conf.d",
    "/usr/share/alsa/alsa.conf.d",
    "/dev/snd",
    "/proc/asound/cards",
)


def alsa_signature() -> tuple[object, ...]:
    """What ALSA's device list depends on, cheaply: the configuration files (those of
    ``ALSA_CONFIG_PATH``, else the system's and the user's) and the sound cards present. While
    it stays the same, re-initialising PortAudio (~25 ms of CPU here) would list the same
    devices, except for devices that come and go behind a plugin (a sound server's)."""
    config = os.environ.get("ALSA_CONFIG_PATH", "/usr/share/alsa/alsa.conf").split(":")
    state: list[object] = []
    for path in (*config, *_ALSA_FILES):
        try:
            info = os.stat(os.path.expanduser(path))
        except OSError:
            continue
        state.append((path, info.st_ino, info.st_mtime_ns, info.st_size))
    try:
        with open("/proc/asound/cards") as cards:
            state.append(cards.read())
    except OSError:
        pass
    return tuple(state)


def watch_main(host_api: str, interval: float) -> None:
    """The child process: every ``interval`` seconds, enumerate ``host_api``'s devices (on ALSA
    only when ``alsa_signature()`` changed, or every ``FULL_ENUMERATION_EVERY`` polls; at once
    when a line arrives on stdin), print each new list as a JSON line; exit at end of stdin."""
    sd = load_sounddevice()
    wake = threading.Event()
    parent_gone = threading.Event()

    def read_requests() -> None:
        for _ in sys.stdin:
            wake.set()
        parent_gone.set()
        wake.set()

    threading.Thread(target=read_requests, daemon=True).start()
    last = None
    signature: tuple[object, ...] | None = None
    polls, asked = 0, True
    while not parent_gone.is_set():
        now = alsa_signature() if host_api == "ALSA" else None
        if asked or now is None or now != signature or polls % FULL_ENUMERATION_EVERY == 0:
            reinitialise_portaudio(sd)
            line = encode_snapshot(enumerate_devices(sd, host_api)[0])
            if line != last:
                try:
                    print(line, flush=True)
                except BrokenPipeError:
                    return
                last = line
        signature, polls = now, polls + 1
        asked = wake.wait(interval)
        wake.clear()


if __name__ == "__main__":
    watch_main(sys.argv[1], float(sys.argv[2]))
