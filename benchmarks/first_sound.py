"""Time to first sound: from the call (or the command) to the first sample heard on the sink.

Run: ``python benchmarks/first_sound.py [--trials 10] [--quiet 1.5] [--cases a,b,...]``

One private PulseAudio server (tests/support/pulse_server.py) with a null sink ``speakers``;
``parec --latency-msec=5`` on its monitor is the common ear for every case. A trial is "call
made" (``time.monotonic()`` just before it, in whichever process makes it) -> "first sample
above 0.05 heard" (when parec handed over the chunk that holds it: a null sink gives its monitor
what it renders as it renders it, so that is the first moment anything can hear it, give or
take parec's 5 ms fragments). The sound is a 100 ms 1 kHz WAV at 0.5 (48 kHz stereo,
16-bit); the paused element plays a 2 s one. Before each trial the sink has been silent for
``--quiet`` seconds (a quiet spell), except where the case says "back to back" (0.1 s after
the last sound).

Cases (each a process of its own, so one case's streams never affect another's):

- ``first``: a new ``Audio(wav).play()`` as the first sound of a process (a ``transient``
  session; the process has imported audiosession and set the type, nothing more).
- ``warm``: a new ``Audio(wav).play()`` in a process that has played before, after a quiet
  spell.
- ``back``: the same, back to back.
- ``paused``: ``play()`` of a paused element (played once, paused mid-sound, quiet spell).
- ``again``: ``play()`` of an element that has played to its end, as a game plays one effect
  over and over (its file rested at its end: this ``play()`` opens it again, docs/media.md).
- ``sounddevice``: ``sounddevice.play(data, 48000)`` in a warm process: PortAudio -> ALSA's
  ``pulse`` plugin (a generated ALSA configuration, tests/support/alsa_config.py) -> the same
  server.
- ``paplay``: ``paplay wav`` from a new process (the clock starts before it is spawned).
- ``notify``: ``audiosession notify wav`` from a new process, no daemon running.
- ``notify-daemon``: the same with ``audiosession daemon`` running (started once, with the
  same server; its socket through ``AUDIOSESSION_DAEMON_SOCKET``).
- ``python``: not a sound, the floor under any Python command: ``python -c pass`` (the
  interpreter the command runs on, with the same environment) from its spawn to its exit.

Printed: median, range and the ratios of the median to paplay's and sounddevice's. The
machine's load average is printed too: on a shared machine compare ratios within one run.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from support.alsa_config import AlsaConfig
from support.pulse_server import RATE, PulseServer

HERE = Path(__file__).resolve().parent

LOUD = 0.05
"""A sample above this is the sound (the tone is at 0.5)."""

SILENT = 1e-3
"""Below this the sink is silent (the quiet spell)."""

CASES = (
    "first",
    "warm",
    "back",
    "paused",
    "again",
    "sounddevice",
    "paplay",
    "notify",
    "notify-daemon",
    "python",
)


def write_tone(path: Path, seconds: float) -> str:
    """A 1 kHz tone at 0.5 of ``seconds``, 48 kHz stereo 16-bit WAV."""
    t = np.arange(int(seconds * RATE)) / RATE
    signal = 0.5 * np.sin(2 * np.pi * 1000 * t)
    sf.write(path, np.repeat(signal[:, None], 2, axis=1), RATE, subtype="PCM_16")
    return str(path)


class Ear:
    """``parec --latency-msec=5`` of a monitor: when each loud sample arrived."""

    def __init__(self, server: PulseServer, device: str = "speakers.monitor") -> None:
        self._process = subprocess.Popen(
            [
                "parec",
                f"--device={device}",
                "--format=float32le",
                f"--rate={RATE}",
                "--channels=2",
                "--latency-msec=5",
                "--raw",
                "--client-name=first-sound-ear",
            ],
            env=server.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._changed = threading.Condition()
        self._loud: list[float] = []  # when each chunk with a loud sample arrived
        self._last_sound = time.monotonic()  # the time of the last sample above SILENT
        self._pending = b""
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        assert self._process.stdout is not None
        frame = 8
        while True:
            data = self._process.stdout.read1(65536)  # type: ignore[attr-defined]
            arrived = time.monotonic()
            if not data:
                return
            data = self._pending + data
            usable = len(data) - len(data) % frame
            self._pending = data[usable:]
            samples = np.abs(np.frombuffer(data[:usable], dtype=np.float32)[0::2])
            loud = np.flatnonzero(samples > LOUD)
            sound = np.flatnonzero(samples > SILENT)
            with self._changed:
                if len(loud):
                    self._loud.append(arrived)
                if len(sound):
                    self._last_sound = arrived
                self._changed.notify_all()

    def heard_after(self, start: float, timeout: float = 5.0) -> float:
        """Seconds from ``start`` to the first loud sample heard after it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for when in self._loud:
                    if when >= start:
                        return when - start
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no sound within {timeout} s")
                self._changed.wait(left)

    def wait_quiet(self, seconds: float, timeout: float = 30.0) -> None:
        """Wait until nothing above ``SILENT`` has been heard for ``seconds``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while time.monotonic() - self._last_sound < seconds:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the sink did not go quiet for {seconds} s")
                self._changed.wait(0.01)
            self._loud.clear()

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=5)


class Child:
    """A process that makes the calls (``--child KIND``): one command per line on stdin, it
    answers each with the ``time.monotonic()`` taken just before its call."""

    def __init__(self, kind: str, env: dict[str, str], *paths: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--child", kind, *paths],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._expect("ready")

    def _expect(self, word: str) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith(word):
            self.close()
            raise RuntimeError(f"the {word!r} child said {line!r}")
        return line

    def call(self, command: str) -> float:
        """Send ``command``; return when the call was made (monotonic seconds)."""
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return float(self._expect("at").split()[1])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def child_ours(tone: str, long_tone: str) -> None:
    """In a playing process: elements of a ``transient`` session through the public API."""
    import audiosession
    from audiosession import Audio, navigator

    navigator.audio_session.type = "transient"
    kept: list[Audio] = []
    paused: Audio | None = None
    again = Audio(tone)
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "new":
            start = time.monotonic()
            element = Audio(tone)
            element.play()
            kept.append(element)
        elif command == "resume":
            if paused is None:
                paused = Audio(long_tone)
                paused.play().result(10)  # played once; paused below; the element stays
                time.sleep(0.1)
                paused.pause()
                time.sleep(0.5)
            start = time.monotonic()
            paused.play()
        elif command == "again":
            if not again.ended:  # played once to its end (heard out) before the first trial
                again.play().result(10)
                audiosession.run(until=again, timeout=5.0)
                time.sleep(0.5)
            start = time.monotonic()
            again.play()
        elif command == "pause":
            assert paused is not None
            start = time.monotonic()
            paused.pause()
        else:
            raise SystemExit(f"unknown command {command!r}")
        print(f"at {start!r}", flush=True)
    for element in kept:  # stdin closed: let the last sound play out
        audiosession.run(until=element, timeout=5.0)


def child_sounddevice(tone: str) -> None:
    """In a playing process: ``sounddevice.play`` of the tone (PortAudio -> ALSA -> pulse)."""
    import sounddevice as sd

    data, rate = sf.read(tone, dtype="float32")
    sd.default.device = "speakers"
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "new":
            raise SystemExit(f"unknown command {line.strip()!r}")
        start = time.monotonic()
        sd.play(data, rate)
        print(f"at {start!r}", flush=True)


class Spawner:
    """Trials that start ``command`` as a new process each (the clock starts before the
    spawn); each process finishes while the next trial waits for its quiet spell."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.command, self.env = command, env
        self.running: list[subprocess.Popen[bytes]] = []

    def __call__(self) -> float:
        self.wait()
        start = time.monotonic()
        self.running.append(
            subprocess.Popen(
                self.command, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
            )
        )
        return start

    def wait(self) -> None:
        """Wait for the processes started so far to end."""
        for process in self.running:
            process.wait(timeout=30)
        self.running.clear()


def spawned(
    command: list[str], env: dict[str, str], trials: int, ear: Ear, quiet: float
) -> list[float]:
    """``trials`` latencies of ``command`` started anew each time (after one not counted)."""
    spawner = Spawner(command, env)
    try:
        measure(ear, spawner, 1, quiet)  # the files and the programs are in the page cache
        return measure(ear, spawner, trials, quiet)
    finally:
        spawner.wait()


def measure(
    ear: Ear,
    trial: Callable[[], float],
    trials: int,
    quiet: float,
    after: Callable[[], None] | None = None,
) -> list[float]:
    """``trials`` latencies (seconds) of ``trial`` (it returns when its call was made)."""
    results = []
    for _ in range(trials):
        ear.wait_quiet(quiet)
        start = trial()
        results.append(ear.heard_after(start))
        if after is not None:
            time.sleep(0.15)
            after()
    return results


def run_case(
    case: str,
    server: PulseServer,
    ear: Ear,
    env: dict[str, str],
    folder: Path,
    tone: str,
    long_tone: str,
    trials: int,
    quiet: float,
) -> list[float]:
    cli = str(Path(sys.executable).with_name("audiosession"))
    if case == "first":

        def first() -> float:
            child = Child("ours", env, tone, long_tone)
            try:
                return child.call("new")
            finally:
                threading.Thread(target=child.close, daemon=True).start()

        return measure(ear, first, trials, quiet)
    if case in ("warm", "back"):
        child = Child("ours", env, tone, long_tone)
        try:
            measure(ear, lambda: child.call("new"), 1, quiet)  # the process has played
            return measure(ear, lambda: child.call("new"), trials, quiet if case == "warm" else 0.1)
        finally:
            child.close()
    if case == "paused":
        child = Child("ours", env, tone, long_tone)
        try:
            return measure(
                ear, lambda: child.call("resume"), trials, quiet, after=lambda: child.call("pause")
            )
        finally:
            child.close()
    if case == "again":
        child = Child("ours", env, tone, long_tone)
        try:
            return measure(ear, lambda: child.call("again"), trials, quiet)
        finally:
            child.close()
    if case == "sounddevice":
        config = AlsaConfig(folder / "asound.conf", server.server_string)
        config.write({"speakers": "speakers"}, capture=None)
        child = Child("sounddevice", dict(env, ALSA_CONFIG_PATH=config.config_path), tone)
        try:
            measure(ear, lambda: child.call("new"), 1, quiet)
            return measure(ear, lambda: child.call("new"), trials, quiet)
        finally:
            child.close()
    if case == "paplay":
        return spawned(["paplay", "--device=speakers", tone], env, trials, ear, quiet)
    if case == "notify":
        no_daemon = dict(env, AUDIOSESSION_DAEMON_SOCKET=str(folder / "no-daemon.sock"))
        return spawned([cli, "notify", tone], no_daemon, trials, ear, quiet)
    if case == "notify-daemon":
        socket = folder / "daemon" / "daemon.sock"
        socket.parent.mkdir(mode=0o700, exist_ok=True)
        daemon_env = dict(env, AUDIOSESSION_DAEMON_SOCKET=str(socket))
        daemon = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "audiosession.daemon",
                "--socket",
                str(socket),
                "--no-pulse-bridge",
            ],
            env=daemon_env,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while not socket.exists():
                if time.monotonic() > deadline or daemon.poll() is not None:
                    raise RuntimeError("the daemon did not start")
                time.sleep(0.02)
            return spawned([cli, "notify", tone], daemon_env, trials, ear, quiet)
        finally:
            daemon.terminate()
            daemon.wait(timeout=10)
    if case == "python":
        return [ran_for([sys.executable, "-c", "pass"], env) for _ in range(trials)]
    raise ValueError(f"unknown case {case!r}; the cases are {', '.join(CASES)}")


def ran_for(command: list[str], env: dict[str, str]) -> float:
    """Seconds from spawning ``command`` to its exit."""
    start = time.monotonic()
    subprocess.run(command, env=env, check=True)
    return time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument(
        "--quiet",
        type=float,
        default=1.5,
        help="seconds of silence before each trial (default 1.5)",
    )
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    results: dict[str, list[float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="as-bench-first-") as name,
        PulseServer(sinks={"speakers": {}}) as server,
    ):
        folder = Path(name)
        tone = write_tone(folder / "tone.wav", 0.1)
        long_tone = write_tone(folder / "long.wav", 2.0)
        env = dict(server.env, AUDIOSESSION_BACKEND="auto", AUDIOSESSION_DAEMON="auto")
        env.pop("AUDIOSESSION_DAEMON_SOCKET", None)
        # The processes run the tree this script is in (as the script does), with its
        # bytecode cached as an installed package's is.
        source = str(HERE.parent / "src")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        compileall.compile_dir(source, quiet=1)
        ear = Ear(server)
        # An idle null sink sleeps in 2 s blocks; the one in progress when the ear arrived
        # would hold the first trial back.
        time.sleep(2.5)
        try:
            for case in cases:
                results[case] = run_case(
                    case, server, ear, env, folder, tone, long_tone, args.trials, args.quiet
                )
                print(
                    f"  {case}: " + " ".join(f"{v * 1000:.1f}" for v in results[case]),
                    file=sys.stderr,
                    flush=True,
                )
        finally:
            ear.close()
    print(
        f"time to first sound, {args.trials} trials each, quiet spell {args.quiet:g} s; "
        f"load average {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)"
    )
    peers = {
        name: statistics.median(results[name])
        for name in ("paplay", "sounddevice")
        if name in results
    }
    header = f"{'case':<15} {'median':>9} {'range':>17}"
    for name in peers:
        header += f" {'/ ' + name:>14}"
    print(header)
    for case, values in results.items():
        ms = np.array(values) * 1000
        line = f"{case:<15} {np.median(ms):6.1f} ms {ms.min():6.1f} - {ms.max():6.1f} ms"
        for peer in peers.values():
            line += f" {np.median(ms) / (peer * 1000):13.2f}x"
        print(line)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        if sys.argv[2] == "ours":
            child_ours(*sys.argv[3:5])
        else:
            child_sounddevice(sys.argv[3])
    else:
        sys.exit(main())
