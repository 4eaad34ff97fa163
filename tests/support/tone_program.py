"""A program that sets its type and plays a tone through libpulse-simple on a thread of its own,
with no other code of ours: what tests/bridge/test_own_streams_daemon.py and
benchmarks/bridge.py run.

    python tone_program.py [--type TYPE] [--freq HZ] [--amplitude A]
                           [--child SOUND.wav [--child-first]]

Sets ``navigator.audio_session.type`` (default ``playback``) and plays a sine (default 440 Hz,
amplitude 0.5; stereo, 48 kHz) through ``pa_simple`` called from ctypes, as a library that
knows nothing of audiosession would. With ``--child``, it plays nothing itself and runs
``paplay SOUND.wav`` as a child process instead; with ``--child-first`` too, it starts the
child before it uses ``navigator`` at all, and uses it once told ``join``. Reports on stdout,
one line each: ``playing`` once the stream is open (or the child started: ``child <pid>``),
``state <state>`` at each ``statechange`` of its session. Commands on stdin: ``join``,
``exit``. ``media.role`` comes from ``PULSE_PROP_media.role``.
"""

from __future__ import annotations

import argparse
import ctypes
import math
import struct
import subprocess
import sys
import threading

RATE = 48000
CHANNELS = 2
S16LE = 3  # PA_SAMPLE_S16LE
PLAYBACK = 1  # PA_STREAM_PLAYBACK

_output = threading.Lock()


def report(*words: object) -> None:
    with _output:
        sys.stdout.write(" ".join(map(str, words)) + "\n")
        sys.stdout.flush()


class SampleSpec(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("rate", ctypes.c_uint32), ("channels", ctypes.c_uint8)]


def play_tone(stop: threading.Event, freq: int, amplitude: float) -> None:
    """The tone, until ``stop``, in 20 ms blocks written to a ``pa_simple`` stream."""
    lib = ctypes.CDLL("libpulse-simple.so.0")
    lib.pa_simple_new.restype = ctypes.c_void_p
    lib.pa_simple_new.argtypes = [
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.POINTER(SampleSpec),
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_int),
    ]
    lib.pa_simple_write.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_int),
    ]
    lib.pa_simple_free.argtypes = [ctypes.c_void_p]
    error = ctypes.c_int(0)
    spec = SampleSpec(S16LE, RATE, CHANNELS)
    stream = lib.pa_simple_new(
        None, b"tone-player", PLAYBACK, None, b"tone", ctypes.byref(spec), None, None, error
    )
    if not stream:
        report("error", error.value)
        return
    report("playing")
    # One second holds whole periods: written again and again, 20 ms at a time.
    wave = (amplitude * math.sin(2 * math.pi * freq * n / RATE) for n in range(RATE))
    samples = (round(32767 * value) for value in wave)
    second = b"".join(struct.pack("<hh", sample, sample) for sample in samples)
    block = len(second) // 50
    position = 0
    try:
        while not stop.is_set():
            data = second[position : position + block]
            position = (position + block) % len(second)
            if lib.pa_simple_write(stream, data, len(data), ctypes.byref(error)) < 0:
                report("error", error.value)
                return
    finally:
        lib.pa_simple_free(stream)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--type", default="playback")
    parser.add_argument("--freq", type=int, default=440)
    parser.add_argument("--amplitude", type=float, default=0.5)
    parser.add_argument("--child")
    parser.add_argument("--child-first", action="store_true")
    options = parser.parse_args()

    def join() -> None:
        from audiosession import navigator  # made as it is first asked for

        session = navigator.audio_session
        session.type = options.type
        session.add_event_listener("statechange", lambda event: report("state", session.state))

    stop = threading.Event()
    child: subprocess.Popen[bytes] | None = None
    if not options.child_first:
        join()
    if options.child:
        child = subprocess.Popen(["paplay", options.child])
        report("child", child.pid)
    else:
        tone = (stop, options.freq, options.amplitude)
        threading.Thread(target=play_tone, args=tone, daemon=True).start()
    for line in sys.stdin:
        if line.strip() == "join":
            join()
        elif line.strip() == "exit":
            break
    stop.set()
    if child is not None:
        child.kill()
        child.wait()


if __name__ == "__main__":
    main()
