"""Benchmark of the PulseAudio bridge: a foreign call silencing foreign music, ours vs
PulseAudio's own ``module-role-cork``; and a prompt silencing a program's own (adopted) stream
vs a foreign one.

    python benchmarks/bridge.py [--trials 30] [--part cork|adopted|both]

Two private PulseAudio servers (tests/support/pulse_server.py) run side by side in the same run:

- **ours**: the audiosession daemon (a real process, ``PULSE_SERVER`` pointed at the server)
  with its bridge; no role module loaded.
- **PulseAudio**: ``module-role-cork`` loaded (its defaults: a ``phone`` stream corks
  ``music`` and ``video`` streams, which for a client such as paplay means muting them, as our
  bridge does); no daemon.

On each, ``paplay --property=media.role=music`` plays a long tone, and each trial starts
``paplay --property=media.role=phone`` (a short tone), waits for the music to be muted, kills
the call and waits for the music to be unmuted. One observer client per server (pulsectl,
subscribed to sink-input events) timestamps the call's sink-input appearing and the music's
mute. Printed, per server: the latency from starting the ``paplay`` of the call to the music
being muted, and from the call's stream appearing to the music being muted (distributions:
median, p99), and the ratio of the medians (ours / PulseAudio). Trials alternate between the
two servers.

**Adopted vs foreign** (``--part adopted``): on one private server with the daemon, a program
of our own (tests/support/tone_program.py: it sets its type and plays a 400 Hz tone through
libpulse-simple, nothing else of ours) and a foreign ``paplay`` (1600 Hz) play side by side,
both ``ambient`` (the program's type; the paplay's ``media.role=game``) so that neither stops
the other. Each trial runs ``audiosession prompt`` (900 Hz, 0.4 s) from another process, which
interrupts both at once: the program's stream through the client (the daemon's push, its
session, its adopted player's mute), the paplay's through the bridge. The speakers' monitor is
recorded; in its own timeline each latency is from the prompt becoming audible to the tone
falling silent (each moment where a 20 ms window's level crosses -6 dB). Printed: both
distributions, the difference of the medians and their ratio (adopted / foreign).
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pulsectl
import soundfile as sf
from latency import describe  # benchmarks/latency.py, beside this script

import support
from support.audio import tone_level_db
from support.pulse_server import PulseServer

HERE = os.path.dirname(os.path.abspath(__file__))

RATE = 48000


def tone(path: Path, freq: float, seconds: float, amplitude: float = 0.5) -> str:
    t = np.arange(int(seconds * RATE)) / RATE
    sf.write(path, amplitude * np.sin(2 * np.pi * freq * t), RATE, subtype="FLOAT")
    return str(path)


class Observer:
    """A pulsectl client timestamping sink-input events (an event thread) and answering
    whether a stream is muted (a query connection, used by the caller's thread)."""

    def __init__(self, server: PulseServer) -> None:
        self.events: queue.Queue[tuple[float, str, int]] = queue.Queue()
        self._stop = threading.Event()
        self._events = pulsectl.Pulse("bench-observer-events", server=server.server_string)
        self.query = pulsectl.Pulse("bench-observer", server=server.server_string)
        self._events.event_mask_set("sink_input")
        self._events.event_callback_set(self._on_event)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _on_event(self, event: Any) -> None:
        kind = next((k for k in ("new", "change", "remove") if event.t == k), "change")
        self.events.put((time.monotonic(), kind, int(event.index)))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._events.event_listen(timeout=0.2)

    def drain(self) -> None:
        while not self.events.empty():
            self.events.get_nowait()

    def muted(self, index: int) -> bool:
        return bool(self.query.sink_input_info(index).mute)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._events.close()
        self.query.close()


class Rig:
    """One server with a music stream playing, and its observer."""

    def __init__(self, name: str, server: PulseServer, music: str) -> None:
        self.name = name
        self.server = server
        self.observer = Observer(server)
        self.music_proc = subprocess.Popen(
            ["paplay", "--property=media.role=music", music],
            env=server.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.music = self._wait_stream(self.music_proc.pid)
        self.from_start: list[float] = []
        self.from_stream: list[float] = []

    def _wait_stream(self, pid: int, timeout: float = 5.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for info in self.observer.query.sink_input_list():
                if info.proplist.get("application.process.id") == str(pid):
                    return int(info.index)
            time.sleep(0.005)
        raise RuntimeError(f"{self.name}: no stream of pid {pid}")

    def trial(self, call: str) -> None:
        observer = self.observer
        observer.drain()
        started = time.monotonic()
        proc = subprocess.Popen(
            ["paplay", "--property=media.role=phone", call],
            env=self.server.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        call_seen: float | None = None
        muted_at: float | None = None
        deadline = started + 5
        while muted_at is None and time.monotonic() < deadline:
            try:
                at, kind, index = observer.events.get(timeout=0.5)
            except queue.Empty:
                continue
            if kind == "new" and index != self.music and call_seen is None:
                call_seen = at
            elif kind == "change" and index == self.music and observer.muted(self.music):
                muted_at = at
        proc.kill()
        proc.wait()
        if muted_at is None or call_seen is None:
            raise RuntimeError(f"{self.name}: the music was not muted within 5 s")
        self.from_start.append(muted_at - started)
        self.from_stream.append(muted_at - call_seen)
        deadline = time.monotonic() + 5
        while observer.muted(self.music):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: the music stayed muted after the call")
            time.sleep(0.005)

    def close(self) -> None:
        self.music_proc.kill()
        self.music_proc.wait()
        self.observer.close()


def start_daemon(root: Path, server: PulseServer) -> subprocess.Popen[bytes]:
    env = daemon_env(root, server)
    runtime = root / "run"
    runtime.mkdir(mode=0o700)
    (root / "config").mkdir()
    log = root / "daemon.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "audiosession.daemon"], env=env, stdout=out, stderr=out
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if "PulseAudio bridge on" in log.read_text(errors="replace"):
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(str(runtime / "audiosession" / "daemon.sock"))
            return proc
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"the daemon's bridge did not start:\n{log.read_text()}")


def daemon_env(root: Path, server: PulseServer) -> dict[str, str]:
    """The environment of the daemon's clients (and of the daemon) of ``start_daemon``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIOSESSION_")}
    env.update(
        XDG_RUNTIME_DIR=str(root / "run"),
        XDG_CONFIG_HOME=str(root / "config"),
        PULSE_SERVER=server.server_string,
    )
    return env


TONE_PROGRAM = Path(support.__file__).with_name("tone_program.py")
PROGRAM_HZ, FOREIGN_HZ, PROMPT_HZ = 400, 1600, 900
AMPLITUDE = 0.25  # three tones at once stay below full scale on the monitor
WINDOW = 0.02  # seconds of each level measured on the monitor
HOP = 0.001


def crossing(recorded: np.ndarray, freq: float, *, rising: bool, after: float = 0.0) -> float:
    """The first moment (a window's centre, s) after ``after`` where the ``freq`` level
    crosses -6 dB re ``AMPLITUDE``, rising or falling."""
    for start in np.arange(after, len(recorded) / RATE - WINDOW, HOP):
        level = tone_level_db(recorded, freq, start, WINDOW, reference=AMPLITUDE)
        if (level > -6) if rising else (level < -6):
            return float(start + WINDOW / 2)
    raise RuntimeError(f"the {freq} Hz tone never {'rose' if rising else 'fell'} on the monitor")


def adopted_vs_foreign(root: Path, trials: int) -> None:
    server = PulseServer().start()
    daemon = program = foreign = None
    try:
        daemon = start_daemon(root, server)
        env = {**daemon_env(root, server), "AUDIOSESSION_DAEMON": "required"}
        env["AUDIOSESSION_BACKEND"] = "pulse"
        program = subprocess.Popen(
            [sys.executable, str(TONE_PROGRAM), "--type", "ambient"]
            + ["--freq", str(PROGRAM_HZ), "--amplitude", str(AMPLITUDE)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert program.stdout is not None
        while program.stdout.readline().strip() != b"state active":
            pass
        music = tone(root / "foreign.wav", FOREIGN_HZ, 3600.0, AMPLITUDE)
        foreign = subprocess.Popen(["paplay", "--property=media.role=game", music], env=server.env)
        prompt = tone(root / "prompt.wav", PROMPT_HZ, 0.4, AMPLITUDE)
        observer = Observer(server)
        time.sleep(0.5)
        streams = [
            s
            for s in observer.query.sink_input_list()
            if s.proplist.get("application.process.id") in (str(program.pid), str(foreign.pid))
        ]
        adopted: list[float] = []  # from the prompt command's start
        bridged: list[float] = []
        heard: list[tuple[float, float]] = []  # (adopted, foreign) from the prompt heard
        for _ in range(trials):
            recorder = server.record("speakers.monitor")
            # The monotonic time of the recording's first frame (to parec's buffering, ~20 ms,
            # the same for both tones).
            first_frame = time.monotonic() - len(recorder.recorded()) / RATE
            launched = time.monotonic() - first_frame
            subprocess.run(
                [sys.executable, "-m", "audiosession", "prompt", prompt],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 5
            while any(observer.muted(s.index) for s in streams):
                if time.monotonic() > deadline:
                    raise RuntimeError("a tone stayed muted after the prompt")
                time.sleep(0.005)
            time.sleep(0.1)
            recorded = recorder.stop()
            onset = crossing(recorded, PROMPT_HZ, rising=True)
            own = crossing(recorded, PROGRAM_HZ, rising=False, after=launched)
            other = crossing(recorded, FOREIGN_HZ, rising=False, after=launched)
            adopted.append(own - launched)
            bridged.append(other - launched)
            heard.append((own - onset, other - onset))
        observer.close()
        print("audiosession prompt silencing a tone (silence on the speakers' monitor):")
        print("  from the start of `audiosession prompt`:")
        print(f"    the program's own stream (adopted): {describe(adopted)}")
        print(f"    a foreign paplay (bridged)        : {describe(bridged)}")
        ratio = statistics.median(adopted) / statistics.median(bridged)
        print(f"    ratio of medians (adopted / foreign): {ratio:.2f}")
        print("  from the prompt heard (negative: silent before the prompt sounds):")
        print(f"    adopted: {describe([own for own, _ in heard])}")
        print(f"    foreign: {describe([other for _, other in heard])}")
        later = statistics.median(own - other for own, other in heard)
        print(f"    adopted later than foreign, median of the trials: {later * 1000:+.1f} ms")
    finally:
        for proc in (foreign, program):
            if proc is not None:
                proc.kill()
                proc.wait()
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(10)
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30, help="calls per server")
    parser.add_argument("--part", choices=("cork", "adopted", "both"), default="both")
    args = parser.parse_args()
    if args.part in ("adopted", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            adopted_vs_foreign(Path(tmp), args.trials)
    if args.part == "adopted":
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        music = tone(root / "music.wav", 440, 600.0)
        call = tone(root / "call.wav", 300, 0.3)
        ours_server = PulseServer().start()
        theirs_server = PulseServer().start()
        daemon = None
        rigs: list[Rig] = []
        try:
            theirs_server.pactl("load-module", "module-role-cork")
            daemon = start_daemon(root, ours_server)
            ours = Rig("ours", ours_server, music)
            theirs = Rig("module-role-cork", theirs_server, music)
            rigs = [ours, theirs]
            time.sleep(0.3)  # the bridge has made the music a session
            for _ in range(args.trials):
                for rig in rigs:
                    rig.trial(call)
            print("a foreign phone stream muting a foreign music stream:")
            for rig in rigs:
                print(f"  {rig.name:17s} from paplay start   : {describe(rig.from_start)}")
                print(f"  {'':17s} from stream appearing: {describe(rig.from_stream)}")
            for label, ours_values, theirs_values in (
                ("from paplay start", ours.from_start, theirs.from_start),
                ("from stream appearing", ours.from_stream, theirs.from_stream),
            ):
                ratio = statistics.median(ours_values) / statistics.median(theirs_values)
                print(f"  ratio of medians {label} (ours / module-role-cork): {ratio:.2f}")
        finally:
            for rig in rigs:
                rig.close()
            if daemon is not None:
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(10)
            ours_server.stop()
            theirs_server.stop()


if __name__ == "__main__":
    main()
