"""Real-time playback through ``Audio``: N looping MP3 elements in one process against N paplay.

Run: ``python benchmarks/realtime.py`` (about 25 minutes: 60 s per configuration), or shorter
while developing: ``python benchmarks/realtime.py --seconds 10 --counts 1,32 --no-hog``.

Everything plays on one private PulseAudio server with one null sink
(tests/support/pulse_server.py):

- ours: one Python process plays N ``Audio(path)`` elements, looping, volume 0.15, in one
  ``playback`` session: the public API and nothing else (``AUDIOSESSION_DAEMON=off``), and
  again with ``python -m audiosession.daemon`` running (the daemon's CPU is added to ours);
- paplay: N ``paplay`` processes playing the same files, with PulseAudio's default buffering
  and with ``--latency-msec`` equal to our streams' latency. A PulseAudio server takes 64
  clients at most, and parec and pactl are two: at N = 64 the row is 62 paplay ("x62").

The files are N different 44.1 kHz stereo MP3s of white noise (192 kbit/s, made by ffmpeg),
as long as a run, so paplay need not loop. For each configuration, once every stream plays:

- CPU seconds per second of audio: the player processes (all threads) + the PulseAudio
  server (+ the daemon), from /proc over the measured stretch;
- dropouts: the sink's monitor recorded with parec, cut into 5 ms windows; a window whose RMS
  is below 30 % of the median window's is a dropout (the whole stream went silent);
- ours also reports each voice's underruns (blocks whose decode-ahead buffer ran dry) and the
  server's underflow callbacks on our streams.

Each configuration is measured from 3 s after its streams appear (``SETTLE``): by then ours
queue long (up to 1 s in the server, docs/devices.md), as a player that plays on does. At the
end, each N's totals side by side: ours / paplay with its default buffer (~2 s) and with
``--latency-msec``, the ratios a run on a shared machine can be trusted for.

Then once more at N = 32 with a CPU hog per core (``nice 0`` busy loops) running beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audiosession.engine.backend import DEFAULT_MIN_LATENCY
from support.audio import from_lavfi
from support.pulse_server import PulseServer, PulseServerError, process_cpu_seconds

HERE = Path(__file__).resolve().parent

RATE = 48000
PAPLAY_MOST = 62
"""PulseAudio takes 64 clients at most; parec and pactl are two of them."""
WINDOW = 0.005
DROPOUT_FRACTION = 0.3
VOLUME = 0.15
SETTLE = 3.0
"""Seconds from the streams' start to the measured stretch: ours queue long once nothing
changed for a second (docs/realtime.md)."""

PLAYER = textwrap.dedent("""
    import json, sys, threading
    import audiosession
    from audiosession import Audio, navigator

    navigator.audio_session.type = "playback"
    elements = [Audio(path) for path in sys.argv[1:]]
    for element in elements:
        element.loop = True
        element.volume = {volume}
    for started in [element.play() for element in elements]:
        started.result(timeout=60)
    print(json.dumps({{"playing": len(elements)}}), flush=True)
    threading.Thread(target=lambda: (sys.stdin.readline(), audiosession.stop()),
                     daemon=True).start()
    audiosession.run()
    # Reading the counters only: the engine's voices and its PulseAudio streams.
    engine = audiosession.platform().audio.engine
    streams = list(engine._streams.values())
    print(json.dumps({{
        "underruns": [voice.underruns for voice in engine.voices],
        "underflows": sum(getattr(stream, "underflows", 0) for stream in streams),
        "streams": len(streams),
    }}), flush=True)
""").format(volume=VOLUME)


@dataclass
class Result:
    """One configuration's figures."""

    cpu_client: float  # CPU seconds per second of audio
    cpu_server: float
    windows: int
    dropouts: int
    underruns: list[int] = field(default_factory=list)
    underflows: int | None = None

    @property
    def cpu(self) -> float:
        return self.cpu_client + self.cpu_server


def make_noise(directory: Path, count: int, seconds: float) -> list[str]:
    """``count`` different 44.1 kHz stereo white-noise MP3s of ``seconds`` (192 kbit/s)."""
    paths = []
    for index in range(count):
        path = directory / f"noise{index}.mp3"
        if not path.exists():
            noise = (
                f"anoisesrc=color=white:amplitude=0.5:seed={index + 1}:sample_rate=44100:"
                f"duration={seconds}"
            )
            from_lavfi(noise, path, "-ac", "2", "-c:a", "libmp3lame", "-b:a", "192k")
        paths.append(str(path))
    return paths


def count_dropouts(recording: np.ndarray) -> tuple[int, int]:
    """(dropout windows, windows): 5 ms windows whose RMS is below 30 % of the median's."""
    size = int(WINDOW * RATE)
    edge = int(0.05 * RATE)  # parec's first and last moments are not the sink's
    signal_ = recording[edge : len(recording) - edge]
    windows = len(signal_) // size
    if windows == 0:
        return 0, 0
    frames = signal_[: windows * size].astype(np.float64).reshape(windows, size, -1)
    levels = np.sqrt(np.mean(np.square(frames), axis=(1, 2)))
    return int(np.count_nonzero(levels < DROPOUT_FRACTION * np.median(levels))), windows


def wait_for_streams(server: PulseServer, count: int, timeout: float = 60.0) -> None:
    """Wait until ``count`` playback streams are on the server and none is corked (with
    ``count`` 0: until there is none)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            inputs = server.sink_inputs()
        except PulseServerError:  # pactl refused at the server's connection limit: again
            inputs = None
        if (
            inputs is not None
            and (len(inputs) >= count if count else not inputs)
            and not any(i.corked for i in inputs)
        ):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(inputs or ())} streams, not {count}, on the server")
        time.sleep(0.1)


def measure(server: PulseServer, pids: list[int], seconds: float) -> tuple[float, float, int, int]:
    """Record the monitor for ``seconds`` while measuring CPU: (client, server per second of
    audio, dropouts, windows)."""
    time.sleep(SETTLE)  # let every stream settle after its start
    recorder = server.record("speakers.monitor")
    cpu0 = sum(process_cpu_seconds(pid) for pid in pids)
    server0, t0 = server.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    cpu1 = sum(process_cpu_seconds(pid) for pid in pids)
    server1, t1 = server.cpu_seconds(), time.monotonic()
    dropouts, windows = count_dropouts(recorder.stop())
    if server.process is None or server.process.poll() is not None:
        raise RuntimeError(f"the PulseAudio server died while measuring:\n{server.log()}")
    wall = t1 - t0
    return (cpu1 - cpu0) / wall, (server1 - server0) / wall, dropouts, windows


def run_ours(
    server: PulseServer,
    paths: list[str],
    seconds: float,
    env: dict[str, str],
    daemon_pid: int | None,
) -> Result:
    """N ``Audio`` elements in one process (through the daemon if one runs)."""
    player = subprocess.Popen(
        [sys.executable, "-c", PLAYER, *paths],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert player.stdin is not None and player.stdout is not None
        line = player.stdout.readline()
        if not line:
            raise RuntimeError("the player exited before playing (see its stderr above)")
        wait_for_streams(server, 1)
        pids = [player.pid] + ([daemon_pid] if daemon_pid else [])
        client, srv, dropouts, windows = measure(server, pids, seconds)
        player.stdin.write("stop\n")
        player.stdin.flush()
        report = json.loads(player.stdout.readline())
        player.wait(timeout=30)
    finally:
        if player.poll() is None:
            player.kill()
            player.wait()
    return Result(client, srv, windows, dropouts, report["underruns"], report["underflows"])


def run_paplay(
    server: PulseServer, paths: list[str], seconds: float, latency_ms: float | None
) -> Result:
    """N ``paplay`` processes on the same sink."""
    args = ["paplay", "--device=speakers"]
    if latency_ms is not None:
        args.append(f"--latency-msec={latency_ms:g}")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for path in paths:
            procs.append(start_paplay(server, args, path))
        wait_for_streams(server, len(paths))
        client, srv, dropouts, windows = measure(server, [p.pid for p in procs], seconds)
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a paplay process exited early; are the files long enough?")
    finally:
        # One at a time: the server runs SCHED_RR with a real-time CPU limit, and tearing
        # down 60 streams at once can exceed it (the kernel then kills the server).
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)
    return Result(client, srv, windows, dropouts)


def start_paplay(server: PulseServer, args: list[str], path: str) -> subprocess.Popen[bytes]:
    """One paplay, started again if the server refused it (many connecting at once overflow
    its socket's backlog)."""
    for _attempt in range(10):
        proc = subprocess.Popen(
            [*args, path], env=server.env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            proc.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            return proc  # connected and playing
        time.sleep(0.2)
    reason = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    raise RuntimeError(f"paplay could not connect: {reason}")


def start_daemon(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``python -m audiosession.daemon`` in the private runtime directory of ``env``."""
    sock = Path(env["XDG_RUNTIME_DIR"]) / "audiosession" / "daemon.sock"
    with open(log, "ab") as out:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "audiosession.daemon"], env=env, stdout=out, stderr=out
        )
    deadline = time.monotonic() + 15
    while not sock.exists():
        if daemon.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the daemon did not start; see {log}")
        time.sleep(0.05)
    return daemon


def start_hogs() -> list[subprocess.Popen[bytes]]:
    """One busy process per core, at nice 0."""
    return [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 1)
    ]


def row(label: str, n: int, result: Result) -> str:
    underruns = result.underruns
    voices = (
        f"{sum(underruns)} in {sum(1 for u in underruns if u)} of {len(underruns)} "
        f"voices (max {max(underruns, default=0)})"
        if underruns
        else "-"
    )
    underflows = "-" if result.underflows is None else str(result.underflows)
    return (
        f"{n:>3} {label:<22} {result.cpu_client:>8.3f} {result.cpu_server:>8.3f} "
        f"{result.cpu:>8.3f} {result.dropouts:>5d}/{result.windows:<6d} {underflows:>6} "
        f"  {voices}"
    )


HEADER = (
    f"{'N':>3} {'player':<22} {'client':>8} {'server':>8} {'total':>8} "
    f"{'dropouts':>12} {'underfl':>6}   voice underruns"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds",
        type=float,
        default=60.0,
        help="measured seconds per configuration (default 60)",
    )
    parser.add_argument("--counts", default="1,8,32,64", help="element counts (default 1,8,32,64)")
    parser.add_argument("--no-daemon", action="store_true", help="skip the runs with the daemon")
    parser.add_argument("--no-hog", action="store_true", help="skip the runs with CPU hogs")
    parser.add_argument(
        "--hog-count", type=int, default=32, help="N for the runs with CPU hogs (default 32)"
    )
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",") if c.strip()]
    latency_ms = 1000 * DEFAULT_MIN_LATENCY

    with tempfile.TemporaryDirectory(prefix="as-realtime-") as tmp:
        root = Path(tmp)
        most = max(counts + ([] if args.no_hog else [args.hog_count]))
        print(f"making {most} MP3 files of {args.seconds + 10:g} s ...", flush=True)
        paths = make_noise(root, most, args.seconds + 10)
        runtime = root / "run"
        runtime.mkdir(mode=0o700)
        load = os.getloadavg()
        print(
            f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
            f"{args.seconds:g} s per configuration; our streams' latency {latency_ms:g} ms\n"
            "CPU seconds per second of audio (client = the players' processes, all threads; "
            "server = PulseAudio);\ndropouts = 5 ms windows of the monitor below 30 % of the "
            "median RMS; underfl = the server's underflows on our streams\n"
        )
        print(HEADER, flush=True)
        results: dict[tuple[int, str], Result] = {}

        def measured(
            label: str, n: int, run: Callable[[PulseServer, dict[str, str]], Result]
        ) -> None:
            # A fresh server for each: the same start for every peer, and a server that
            # runs SCHED_RR with a real-time CPU limit can be killed by the kernel while it
            # tears 60 paplay streams down; that must not fall on the next configuration.
            with PulseServer({"speakers": {}}) as server:
                env = {k: v for k, v in server.env.items() if not k.startswith("AUDIOSESSION_")}
                env.update(
                    XDG_RUNTIME_DIR=str(runtime),
                    XDG_CONFIG_HOME=str(root / "config"),
                    AUDIOSESSION_BACKEND="pulse",
                )
                result = run(server, env)
            results[n, label] = result
            print(row(label, n, result), flush=True)

        def ours(files: list[str], daemon: bool) -> Callable[[PulseServer, dict[str, str]], Result]:
            def run(server: PulseServer, env: dict[str, str]) -> Result:
                if not daemon:
                    return run_ours(
                        server, files, args.seconds, dict(env, AUDIOSESSION_DAEMON="off"), None
                    )
                env = dict(env, AUDIOSESSION_DAEMON="required")
                process = start_daemon(env, root / "daemon.log")
                try:
                    return run_ours(server, files, args.seconds, env, process.pid)
                finally:
                    process.send_signal(signal.SIGTERM)
                    process.wait(timeout=10)

            return run

        def paplay(
            files: list[str], latency: float | None
        ) -> Callable[[PulseServer, dict[str, str]], Result]:
            return lambda server, _env: run_paplay(server, files, args.seconds, latency)

        def configurations(n: int, hog: bool) -> None:
            files = paths[:n]
            suffix = " + hog" if hog else ""
            measured("ours" + suffix, n, ours(files, daemon=False))
            if not args.no_daemon and not hog:
                measured("ours, daemon", n, ours(files, daemon=True))
            # Past the server's client limit paplay runs as many as it can (the row says so).
            peers = files[:PAPLAY_MOST]
            count = "" if len(peers) == n else f" x{len(peers)}"
            measured(f"paplay{count}" + suffix, n, paplay(peers, None))
            measured(f"paplay{count} {latency_ms:g} ms" + suffix, n, paplay(peers, latency_ms))
            ours_total = results[n, "ours" + suffix].cpu
            ratios.append(
                f"{n:>3}{suffix:<7} {ours_total:>6.3f}   "
                + "   ".join(
                    f"{results[n, label].cpu:>6.3f} ({ours_total / results[n, label].cpu:4.2f}x)"
                    for label in (
                        f"paplay{count}" + suffix,
                        f"paplay{count} {latency_ms:g} ms" + suffix,
                    )
                )
            )

        ratios: list[str] = []

        for n in counts:
            configurations(n, hog=False)
        if not args.no_hog:
            hogs = start_hogs()
            try:
                configurations(args.hog_count, hog=True)
            finally:
                for hog in hogs:
                    hog.kill()
                    hog.wait()
        print(
            f"\nCPU s per s, total, and ours / paplay:\n  N         ours   paplay (default)  "
            f" paplay {latency_ms:g} ms"
        )
        print("\n".join(ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
