"""Real-time playback cost and dropouts on the portaudio backend, against paplay on one server.

Run: ``python benchmarks/portaudio.py [--seconds 10] [--counts 1,8,32]``

Both peers play to the same private PulseAudio server (tests/support/pulse_server.py), ours through
PortAudio's ALSA host API and ALSA's ``pulse`` plugin (a generated configuration,
tests/support/alsa_config.py), so the path is the one an ALSA-only board takes, plus the plugin.

- ours: a child process plays N WAV tones with ``Audio(...)`` elements of one
  ``playback`` session through the public API, as a user forces this backend
  (``AUDIOSESSION_BACKEND=portaudio``, ``AUDIOSESSION_DAEMON=off``: one PortAudio stream,
  ~70 ms latency). Cost = that process's CPU (every thread) + its device
  watcher's (the child process polling PortAudio once a second) + the server's.
- paplay: N ``paplay --latency-msec=70`` processes, one file each, on the same sink: the
  like-for-like peer. Cost = their CPU (/proc/<pid>/stat) + the server's.

``--blocksizes 480,4800`` measures ours again per engine block size, through one ``Engine`` on
the backend (the files as ``engine.ahead`` voices; latency 2 blocks above 480 frames): what
larger blocks would save where nothing needs low latency (PortAudio cannot overwrite what it
was given, so a pause would wait for up to that latency: docs/devices.md).

Dropouts, for both: gaps heard on the sink's monitor (``parec``) while everything plays, i.e.
5 ms windows of silence in a sum of tones that is never silent; for ours also the PortAudio
callbacks flagged ``output_underflow``. Printed: CPU seconds per second of audio, the ratio
paplay / ours, and the dropouts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from support.alsa_config import AlsaConfig
from support.pulse_server import PulseServer, process_cpu_seconds

HERE = Path(__file__).resolve().parent

RATE = 48000
LATENCY_MS = 70  # what the backend asks for with 480-frame blocks: 7 blocks (docs/devices.md)
GAP = RATE // 200  # 5 ms


def make_tones(directory: Path, count: int, seconds: float) -> list[str]:
    """``count`` stereo 48 kHz 16-bit WAV tones of ``seconds``, at 0.5 / count each."""
    paths = []
    t = np.arange(int(seconds * RATE)) / RATE
    for i in range(count):
        signal = (0.5 / count) * np.sin(2 * np.pi * (220 + 37 * i) * t)
        path = directory / f"tone{count}-{i:02d}.wav"
        sf.write(path, np.repeat(signal[:, None], 2, axis=1), RATE, subtype="PCM_16")
        paths.append(str(path))
    return paths


def gaps(recorded: np.ndarray) -> int:
    """Silent 5 ms windows in the recording (after its first sound)."""
    mono = np.abs(recorded[:, 0])
    start = int(np.argmax(mono > 1e-3))
    mono = mono[start : start + (len(mono) - start) // GAP * GAP]
    return int(np.sum(mono.reshape(-1, GAP).max(axis=1) < 1e-4))


def run_ours(
    server: PulseServer,
    env: dict[str, str],
    paths: list[str],
    seconds: float,
    blocksize: int | None = None,
) -> tuple[dict[str, float], np.ndarray]:
    kind = "--child" if blocksize is None else f"--engine-child={blocksize}"
    child = subprocess.Popen(
        [sys.executable, __file__, kind, str(seconds), str(server.pid), *paths],
        env={**env, "AUDIOSESSION_BACKEND": "portaudio", "AUDIOSESSION_DAEMON": "off"},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    ready = child.stdout.readline()
    if ready.strip() != "ready":
        child.wait()
        raise RuntimeError(f"the playing process did not start: {ready!r}")
    recorder = server.record("speakers.monitor")
    result = json.loads(child.stdout.readline())
    recorded = recorder.stop()
    child.wait(timeout=30)
    return result, recorded


def run_paplay(
    server: PulseServer, paths: list[str], seconds: float
) -> tuple[dict[str, float], np.ndarray]:
    players = [
        subprocess.Popen(
            ["paplay", f"--latency-msec={LATENCY_MS}", "--device=speakers", path],
            env=server.env,
            stdin=subprocess.DEVNULL,
        )
        for path in paths
    ]
    time.sleep(1.0)  # steady state, as for ours
    recorder = server.record("speakers.monitor")
    window = seconds
    cpu = sum(process_cpu_seconds(p.pid) for p in players)
    server_cpu = server.cpu_seconds()
    time.sleep(window)
    cpu = sum(process_cpu_seconds(p.pid) for p in players) - cpu
    server_cpu = server.cpu_seconds() - server_cpu
    recorded = recorder.stop()
    for player in players:
        player.terminate()
        player.wait()
    return {"client": cpu / window, "server": server_cpu / window}, recorded


def engine_child(blocksize: int, seconds: float, server_pid: int, paths: list[str]) -> None:
    """In the playing process: one engine on the portaudio backend with ``blocksize``, the
    files decoded ahead as its voices."""
    from audiosession.engine import Engine, open_audio
    from audiosession.engine.backends.portaudio.backend import PortAudioBackend
    from audiosession.engine.mixer import LoopingSource

    backend = PortAudioBackend(latency_blocks=None if blocksize <= 480 else 2)
    engine = Engine(backend, blocksize=blocksize)
    for path in paths:
        looping = LoopingSource(open_audio(path, rate=RATE, channels=2))
        buffer = engine.ahead(looping.produce)
        buffer.prime()
        engine.add_voice(buffer, device="speakers")
    time.sleep(1.0)
    print("ready", flush=True)
    underflows = backend.underflows
    cpu, server_cpu = time.process_time(), process_cpu_seconds(server_pid)
    time.sleep(seconds)
    result = {
        "client": (time.process_time() - cpu) / seconds,
        "watcher": 0.0,
        "server": (process_cpu_seconds(server_pid) - server_cpu) / seconds,
        "underflows": backend.underflows - underflows,
    }
    print(json.dumps(result), flush=True)
    engine.close()


def child(seconds: float, server_pid: int, paths: list[str]) -> None:
    """In the playing process: N elements through the public API on the portaudio backend."""
    import audiosession
    from audiosession import Audio, navigator
    from audiosession.engine.backends.portaudio.backend import PortAudioBackend

    navigator.audio_session.type = "playback"
    elements = []
    for path in paths:
        element = Audio(path)
        element.play().result(10)
        elements.append(element)
    backend = audiosession.platform().audio.backend  # forced by AUDIOSESSION_BACKEND
    assert isinstance(backend, PortAudioBackend)
    time.sleep(1.0)  # steady state (the watcher has started, the null sink is awake)
    watcher = backend._probe.pid if backend._probe is not None else None
    print("ready", flush=True)
    underflows = backend.underflows
    cpu, server_cpu = time.process_time(), process_cpu_seconds(server_pid)
    watcher_cpu = process_cpu_seconds(watcher) if watcher else 0.0
    time.sleep(seconds)
    result = {
        "client": (time.process_time() - cpu) / seconds,
        "watcher": ((process_cpu_seconds(watcher) if watcher else 0.0) - watcher_cpu) / seconds,
        "server": (process_cpu_seconds(server_pid) - server_cpu) / seconds,
        "underflows": backend.underflows - underflows,
    }
    print(json.dumps(result), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--counts", default="1,8,32")
    parser.add_argument("--blocksizes", default="", help="e.g. 480,4800: engine-level runs")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",")]
    with (
        tempfile.TemporaryDirectory(prefix="as-bench-portaudio-") as folder,
        PulseServer() as server,
    ):
        config = AlsaConfig(Path(folder) / "asound.conf", server.server_string)
        config.write({"speakers": "speakers"}, capture=None)
        env = dict(server.env, ALSA_CONFIG_PATH=config.config_path)
        print(
            f"CPU seconds per second of audio; {args.seconds:g} s per run; latency "
            f"{LATENCY_MS} ms; dropouts = silent 5 ms windows on the monitor"
        )
        print(
            f"{'N':>3} | {'ours: client + watcher + server':>34} | drops | underruns | "
            f"{'paplay@70ms: clients + server':>30} | drops | ratio"
        )
        for count in counts:
            paths = make_tones(Path(folder), count, args.seconds + 3.0)
            ours, heard = run_ours(server, env, paths, args.seconds)
            peer, peer_heard = run_paplay(server, paths, args.seconds)
            total = ours["client"] + ours["watcher"] + ours["server"]
            peer_total = peer["client"] + peer["server"]
            print(
                f"{count:>3} | "
                + f"{ours['client']:.3f} + {ours['watcher']:.3f} + "
                f"{ours['server']:.3f} = {total:.3f}".rjust(34)
                + f" | {gaps(heard):>5} | {int(ours['underflows']):>9} | "
                + f"{peer['client']:.3f} + {peer['server']:.3f} = {peer_total:.3f}".rjust(30)
                + f" | {gaps(peer_heard):>5} | {peer_total / total:.2f}"
            )
            for blocksize in [int(b) for b in args.blocksizes.split(",") if b.strip()]:
                ours, heard = run_ours(server, env, paths, args.seconds, blocksize)
                total = ours["client"] + ours["server"]
                print(
                    f"{count:>3} | engine, {blocksize} frames: "
                    f"{ours['client']:.3f} + {ours['server']:.3f} = {total:.3f} | "
                    f"drops {gaps(heard)} | underruns {int(ours['underflows'])}"
                )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(float(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
    elif len(sys.argv) > 1 and sys.argv[1].startswith("--engine-child="):
        engine_child(
            int(sys.argv[1].split("=")[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
        )
    else:
        sys.exit(main())
