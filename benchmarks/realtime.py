"""Real-time playback cost: our PulseAudio backend vs paplay, on a private null sink.

Run: ``python benchmarks/realtime.py [--seconds 10] [--underrun-seconds 60] [--counts 1,8,32]``

For N = 1, 8, 32 MP3 files (48 kHz stereo, made with ffmpeg), measured in the same run on one
private PulseAudio server (tests/pulse_server.py):

- ours: one process decodes the N files (``audiosession.engine.decode.open_audio`` if present,
  else soundfile + soxr) on a decode thread in 2048-frame chunks, and mixes them in NumPy into
  ONE output stream (one stream per role, as the engine opens them) of ``--blocksize`` frames
  through ``PulseBackend``. Cost = the process's CPU time (all threads) + the server's.
- paplay: N ``paplay`` processes, each playing one file on the same sink (default buffering,
  and again with ``--latency-msec`` equal to our stream's latency). Cost = their CPU time
  (/proc/<pid>/stat) + the server's.

Printed: CPU seconds per second of audio for each, and the ratio paplay / ours. Then an
underrun run: 32 streams at 256-frame blocks for ``--underrun-seconds`` seconds, counting
(a) the server's underflow notifications on our stream (``pa_stream`` underflow callback:
the sink found our buffer empty) and (b) blocks our render callback had to fill with silence
because the decode thread was late.
"""

from __future__ import annotations

import argparse
import collections
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

from audiosession.engine.pulse import DEFAULT_MIN_LATENCY, PulseBackend  # noqa: E402
from pulse_server import PulseServer, process_cpu_seconds  # noqa: E402

RATE = 48000
CHANNELS = 2
CHUNK = 2048


def make_mp3s(directory: str, count: int, seconds: float) -> list[str]:
    """``count`` different stereo 48 kHz MP3 tones of ``seconds`` seconds, made by ffmpeg."""
    paths = []
    for i in range(count):
        path = os.path.join(directory, f"tone{i:02d}.mp3")
        freq = 220 + 37 * i
        subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
             f"sine=frequency={freq}:sample_rate={RATE}:duration={seconds}", "-ac", "2",
             "-c:a", "libmp3lame", "-b:a", "192k", path],
            check=True,
        )
        paths.append(path)
    return paths


class Reader:
    """One decoded file: the engine's decoder if there is one, else soundfile + soxr."""

    def __init__(self, path: str) -> None:
        self._file: Any = None
        self._resampler: Any = None
        self._reader: Any = None
        try:
            from audiosession.engine.decode import open_audio

            self._reader = open_audio(path, rate=RATE, channels=CHANNELS)
            self.kind = "audiosession.engine.decode"
        except ImportError:
            import soundfile as sf
            import soxr

            self._file = sf.SoundFile(path)
            if self._file.samplerate != RATE:
                self._resampler = soxr.ResampleStream(self._file.samplerate, RATE, CHANNELS,
                                                      dtype="float32")
            self.kind = "soundfile + soxr"

    def read(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames at 48 kHz stereo (fewer at the end)."""
        if self._reader is not None:
            data: np.ndarray = self._reader.read(frames)
            return data
        data = self._file.read(frames, dtype="float32", always_2d=True)
        if self._resampler is not None:
            data = self._resampler.resample_chunk(data, last=len(data) < frames)
        return data


class Player:
    """N files decoded ahead on a thread and mixed block by block into one render callback."""

    def __init__(self, paths: list[str], blocksize: int) -> None:
        self.readers = [Reader(p) for p in paths]
        self.blocksize = blocksize
        self.gain = np.float32(1.0 / max(1, len(paths)))
        self.chunks: collections.deque[np.ndarray] = collections.deque()
        self.current: np.ndarray | None = None
        self.offset = 0
        self.starved = 0
        self.ended = False
        self._stop = threading.Event()
        self._space = threading.Semaphore(8)  # at most 8 chunks (~340 ms) decoded ahead
        self._thread = threading.Thread(target=self._decode, daemon=True)
        self._thread.start()

    def _decode(self) -> None:
        n = len(self.readers)
        stack = np.zeros((n, CHUNK, CHANNELS), dtype=np.float32)
        while not self._stop.is_set():
            if not self._space.acquire(timeout=0.1):
                continue
            longest = 0
            for i, reader in enumerate(self.readers):
                data = reader.read(CHUNK)
                stack[i, : len(data)] = data
                stack[i, len(data):] = 0
                longest = max(longest, len(data))
            if longest == 0:
                self.ended = True
                return
            # Voices stay in a (voices, frames, channels) stack; the render thread sums it.
            self.chunks.append(stack.copy())

    def render(self, frames: int) -> np.ndarray:
        """The output stream's render callback: the next ``frames`` of the mix."""
        out = np.empty((frames, CHANNELS), dtype=np.float32)
        done = 0
        while done < frames:
            if self.current is None or self.offset >= CHUNK:
                if not self.chunks:
                    if not self.ended:
                        self.starved += 1
                    out[done:] = 0
                    return out
                self.current = self.chunks.popleft()
                self.offset = 0
                self._space.release()
            take = min(frames - done, CHUNK - self.offset)
            np.sum(self.current[:, self.offset: self.offset + take], axis=0,
                   out=out[done: done + take])
            self.offset += take
            done += take
        out *= self.gain
        return out

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def measure_ours(server: PulseServer, paths: list[str], seconds: float, blocksize: int,
                 latency_blocks: int | None) -> dict[str, float]:
    backend = PulseBackend(server=server.server_string, latency_blocks=latency_blocks)
    player = Player(paths, blocksize)
    time.sleep(0.3)  # let the decode thread fill its queue
    stream = backend.open_output("speakers", "music", rate=RATE, channels=CHANNELS,
                                 blocksize=blocksize, render=player.render)
    time.sleep(1.0)
    underflows0, starved0, blocks0 = stream.underflows, player.starved, stream.blocks_rendered
    cpu0, srv0, t0 = time.process_time(), server.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    cpu1, srv1, t1 = time.process_time(), server.cpu_seconds(), time.monotonic()
    result = {
        "client": cpu1 - cpu0,
        "server": srv1 - srv0,
        "wall": t1 - t0,
        "underflows": stream.underflows - underflows0,
        "starved": player.starved - starved0,
        "blocks": stream.blocks_rendered - blocks0,
    }
    stream.close()
    player.close()
    backend.close()
    return result


def measure_paplay(server: PulseServer, paths: list[str], seconds: float,
                   latency_msec: float | None) -> dict[str, float]:
    args = ["paplay", "--device=speakers"]
    if latency_msec is not None:
        args.append(f"--latency-msec={latency_msec:g}")
    procs = []
    try:
        for path in paths:  # staggered: 32 simultaneous connects overflow the socket backlog
            procs.append(subprocess.Popen([*args, path], env=server.env,
                                          stdin=subprocess.DEVNULL))
            time.sleep(0.05)
        time.sleep(1.0)
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a paplay process exited early; is its file long enough?")
        cpu0 = sum(process_cpu_seconds(p.pid) for p in procs)
        srv0, t0 = server.cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        cpu1 = sum(process_cpu_seconds(p.pid) for p in procs)
        srv1, t1 = server.cpu_seconds(), time.monotonic()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=5)
    return {"client": cpu1 - cpu0, "server": srv1 - srv0, "wall": t1 - t0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="measured seconds per configuration (default 10)")
    parser.add_argument("--underrun-seconds", type=float, default=60.0,
                        help="length of the 32-stream underrun run (default 60; 0 skips it)")
    parser.add_argument("--counts", default="1,8,32", help="stream counts (default 1,8,32)")
    parser.add_argument("--blocksize", type=int, default=256, help="frames per block")
    parser.add_argument("--latency-blocks", type=int, default=None,
                        help="server-side buffer of our stream, in blocks (default: the "
                             "backend's, 4 blocks and at least 40 ms)")
    parser.add_argument("--switch-interval", type=float, default=None,
                        help="sys.setswitchinterval() for this run, in seconds (default: "
                             "Python's 0.005)")
    args = parser.parse_args(argv)
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    counts = [int(c) for c in args.counts.split(",") if c.strip()]
    if args.latency_blocks is None:
        args.latency_blocks = max(4, math.ceil(DEFAULT_MIN_LATENCY * RATE / args.blocksize))
    latency_ms = 1000 * args.blocksize * args.latency_blocks / RATE
    longest = max(args.seconds, args.underrun_seconds) + 5

    with tempfile.TemporaryDirectory(prefix="as-bench-") as tmp, \
            PulseServer({"speakers": {}}) as server:
        n_files = max(counts + ([32] if args.underrun_seconds > 0 else []))
        print(f"making {n_files} MP3 files of {longest:g} s ...", flush=True)
        paths = make_mp3s(tmp, n_files, longest)
        print(f"decoder: {Reader(paths[0]).kind}; blocks of {args.blocksize} frames; "
              f"our stream latency {latency_ms:.1f} ms; {os.cpu_count()} CPUs; "
              f"GIL switch interval {sys.getswitchinterval() * 1000:g} ms\n")
        header = (f"{'N':>3} {'ours cli':>9} {'ours srv':>9} {'ours tot':>9} "
                  f"{'paplay cli':>10} {'srv':>7} {'tot':>7} {'ratio':>6} "
                  f"{'paplay@' + format(latency_ms, '.0f') + 'ms':>12} {'srv':>7} {'tot':>7} "
                  f"{'ratio':>6} {'underruns':>9}")
        print("CPU seconds per second of audio (cli = client processes, srv = PulseAudio)")
        print(header)
        for n in counts:
            files = paths[:n]
            ours = measure_ours(server, files, args.seconds, args.blocksize,
                                args.latency_blocks)
            pap = measure_paplay(server, files, args.seconds, None)
            pap_low = measure_paplay(server, files, args.seconds, latency_ms)

            def per_s(r: dict[str, float], key: str) -> float:
                return r[key] / r["wall"]

            ours_tot = per_s(ours, "client") + per_s(ours, "server")
            pap_tot = per_s(pap, "client") + per_s(pap, "server")
            low_tot = per_s(pap_low, "client") + per_s(pap_low, "server")
            print(f"{n:>3} {per_s(ours, 'client'):>9.4f} {per_s(ours, 'server'):>9.4f} "
                  f"{ours_tot:>9.4f} {per_s(pap, 'client'):>10.4f} {per_s(pap, 'server'):>7.4f} "
                  f"{pap_tot:>7.4f} {pap_tot / max(ours_tot, 1e-9):>6.2f} "
                  f"{per_s(pap_low, 'client'):>12.4f} {per_s(pap_low, 'server'):>7.4f} "
                  f"{low_tot:>7.4f} {low_tot / max(ours_tot, 1e-9):>6.2f} "
                  f"{int(ours['underflows'] + ours['starved']):>9d}", flush=True)
        print("ratio = paplay total / ours total (> 1: we use less CPU)\n")

        if args.underrun_seconds > 0:
            n = 32
            print(f"underrun run: {n} MP3 streams mixed into one stream, blocks of "
                  f"{args.blocksize} frames, {args.underrun_seconds:g} s ...", flush=True)
            r = measure_ours(server, paths[:n], args.underrun_seconds, args.blocksize,
                             args.latency_blocks)
            expected = r["wall"] * RATE / args.blocksize
            print(f"  server underflows (pa_stream underflow callback): {int(r['underflows'])}")
            print(f"  blocks rendered as silence (decoder late):        {int(r['starved'])}")
            print(f"  blocks written: {int(r['blocks'])} (real time would be {expected:.0f})")
            print(f"  CPU per second of audio: ours {r['client'] / r['wall']:.4f} "
                  f"+ server {r['server'] / r['wall']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
