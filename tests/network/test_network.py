"""Media from HTTP URLs: a real server on 127.0.0.1, the real engine, levels measured."""

from __future__ import annotations

import math
import os
import subprocess
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from audiosession import Audio, NetworkError, NotSupportedError
from audiosession.elements import http_download, network
from audiosession.testing import VirtualEnvironment
from support.audio import RATE, dominant_frequency, silent, tone_level_db
from support.http_server import AudioServer, Body, Route, SineWav, refused_url
from support.requirements import need_tool

from .helpers import advance_fed, advance_realtime, network_source, run_until

BLOCK = 480 / RATE


def element_events(env, element, *, progress=False):
    """The element's events in order, without timeupdate (and progress unless asked)."""
    skip = {"timeupdate"} if progress else {"timeupdate", "progress"}
    return [r.type for r in env.events if r.target is element and r.type not in skip]


def ramp_wav(seconds: float) -> bytes:
    """A mono float WAV whose sample i is i / 2**22: the value says where in the file it is."""
    import io

    frames = int(seconds * RATE)
    buffer = io.BytesIO()
    sf.write(
        buffer, np.arange(frames, dtype=np.float64) / 2**22, RATE, subtype="FLOAT", format="WAV"
    )
    return buffer.getvalue()


def frame_at(output: np.ndarray, t: float) -> int:
    """Which frame of a ``ramp_wav`` was playing at ``t``."""
    return int(round(float(output[int(round(t * RATE)), 0]) * 2**22))


# -- progressive playback ---------------------------------------------------------------------


def test_a_trickled_mp3_plays_from_the_first_block_in_virtual_time(env, server, mp3_tone):
    # 64 kbit/s MP3 sent at 16 kB/s (twice real time): the whole body takes 30 s to arrive.
    # Virtual time waits for each block's audio (audiosession.testing): no gap, no waiting.
    url = server.add("/tone.mp3", Route(Body(mp3_tone), rate=16000))
    audio = Audio(url)
    played = audio.play()
    env.advance(1.5)
    channel = np.abs(env.output()[:, 0])
    onset = int(np.argmax(channel > 0.05)) / RATE
    assert channel.max() > 0.05 and onset < 0.05  # the encoder's priming samples, then sound
    assert tone_level_db(env.output(), 440, 1.2, 0.2) == pytest.approx(0, abs=1.0)
    assert played.done() and played.result() is None
    assert env.navigator.audio_session.state == "active"
    assert audio.duration == pytest.approx(60, abs=0.1)  # from Content-Length and the header
    events = element_events(env, audio, progress=True)
    assert events.index("loadstart") < events.index("loadedmetadata") < events.index("canplay")
    assert "progress" in events
    assert events.index("play") < events.index("playing") and "waiting" not in events
    assert network_source(audio).position < 2.0  # it is streaming, not downloaded


def test_virtual_time_renders_a_url_the_same_whatever_the_network_speed(server):
    # The same 2 s WAV from a fast server and from one slower than real time (96 kB/s for
    # 192 kB/s of audio). Before, the slow one gave silence and a pending play() after 1 s.
    body = SineWav(2.0)
    runs = []
    for name, rate in (("fast", None), ("slow", 96_000.0)):
        url = server.add(f"/{name}.wav", Route(body, content_type="audio/wav", rate=rate))
        with VirtualEnvironment() as env:
            audio = Audio(url)
            played = audio.play()
            env.advance(1.0)
            runs.append((env.output(), played.done(), element_events(env, audio)))
    (fast, fast_played, fast_events), (slow, slow_played, slow_events) = runs
    assert fast_played and slow_played
    assert fast_events == slow_events
    assert np.array_equal(fast, slow)
    for start in np.arange(0.05, 0.95, 0.1):  # sound from the first block, no gap
        assert tone_level_db(slow, 440, start) == pytest.approx(0, abs=0.2)


def test_a_stall_gives_silence_and_waiting_then_playing_when_data_returns(env, server, monkeypatch):
    monkeypatch.setattr(network, "STALLED_AFTER", 0.3)
    body = SineWav(10.0)
    route = Route(body, content_type="audio/wav", stall_at=len(body.header) + RATE * 4)
    audio = Audio(server.add("/stall.wav", route))
    audio.play()
    advance_fed(env, audio, 0.8)
    assert route.stalled.wait(5)
    advance_realtime(env, 1.2)  # the first second runs out at 1.0 s
    events = element_events(env, audio)
    assert "waiting" in events and "stalled" in events
    assert silent(env.output(), 1.0 + BLOCK, 0.95)  # silence, not the last block again
    assert env.navigator.audio_session.state == "active"
    assert not audio.paused
    route.resume.set()
    advance_fed(env, audio, 1.0)
    assert element_events(env, audio)[-1] == "playing"
    assert tone_level_db(env.output(), 440, 2.5, 0.2) == pytest.approx(0, abs=0.2)
    # media time stood still meanwhile (the decoder stops up to one read short of the stall)
    assert audio.current_time == pytest.approx(2.0, abs=0.1)


def test_thirty_minutes_stream_with_memory_bounded(server):
    rss = _RssPeak()
    body = SineWav(30 * 60.0)
    assert body.size > 300e6  # keeping the body would break the bound many times over
    url = server.add("/long.wav", Route(body, content_type="audio/wav"))
    levels: list[float] = []

    def on_block(device: str, block: np.ndarray) -> None:
        if len(levels) < 100_000:
            levels.append(float(np.max(np.abs(block[:, 0]))))

    began = time.monotonic()
    with VirtualEnvironment(blocksize=9600) as env:
        env.backend.record = False  # 30 minutes of output would be 700 MB by itself
        env.backend.on_block = on_block
        audio = Audio(url)
        rss.start()
        audio.play()
        advance_fed(env, audio, 30 * 60.0 + 0.5)
        rss.stop()
        assert audio.ended
    elapsed = time.monotonic() - began
    peak = (rss.peak - rss.baseline) / 2**20
    print(f"30 min stream: {elapsed:.1f} s, peak RSS {peak:.1f} MB above baseline")
    assert peak < 50
    heard = np.flatnonzero(np.array(levels) > 0.45)
    assert len(heard) >= 8_995  # 30 minutes of blocks of 0.2 s
    assert heard[-1] - heard[0] + 1 == len(heard)  # the tone throughout, no gap


class _RssPeak:
    """The process's peak resident memory while running, sampled every 10 ms."""

    def __init__(self) -> None:
        self.baseline = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def start(self) -> None:
        self.baseline = self.peak = self._rss()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._rss())


def test_a_stream_of_unknown_length_plays_to_its_end(env, server, mp3_tone):
    url = server.add(
        "/live.mp3", Route(Body(mp3_tone[: len(mp3_tone) // 20]), length=False, ranges=False)
    )
    audio = Audio(url)
    audio.play()
    advance_fed(env, audio, 1.0)
    assert audio.duration == math.inf  # no Content-Length: the length is not known
    assert tone_level_db(env.output(), 440, 0.8, 0.2) == pytest.approx(0, abs=1.0)
    advance_fed(env, audio, 2.5)  # 3 s of the 60 were sent
    assert audio.ended and element_events(env, audio)[-1] == "ended"
    assert silent(env.output(), 3.2, 0.2)


# -- seeking ----------------------------------------------------------------------------------


def test_an_mp3_seek_lands_within_one_block(env, server, mp3_onset):
    audio = Audio(server.add("/onset.mp3", Route(Body(mp3_onset))))
    audio.play()
    advance_fed(env, audio, 0.5)
    audio.current_time = 36.8  # the tone begins 0.2 s later
    advance_fed(env, audio, 0.5)
    channel = np.abs(env.output()[:, 0])
    onset = int(np.argmax(channel > 0.1)) / RATE
    assert onset == pytest.approx(0.7, abs=BLOCK)
    assert tone_level_db(env.output(), 440, 0.8, 0.15) == pytest.approx(0, abs=1.0)


def test_a_seek_uses_a_range_request_and_lands_within_one_block(env, server, monkeypatch):
    monkeypatch.setattr(network, "BUFFER_BYTES", 1 << 20)  # 37 s is far outside the ring
    url = server.add("/ramp.wav", Route(Body(ramp_wav(60.0)), content_type="audio/wav"))
    audio = Audio(url)
    audio.play()
    advance_fed(env, audio, 0.5)
    audio.current_time = 37.25
    advance_fed(env, audio, 0.5)
    assert abs(frame_at(env.output(), 0.5) - 37.25 * RATE) <= 480
    assert abs(frame_at(env.output(), 0.9) - 37.65 * RATE) <= 480
    assert audio.current_time == pytest.approx(37.75, abs=BLOCK)
    starts = [int(r.split("=")[1].rstrip("-")) for _, r in server.requests if r]
    assert any(start > 7_000_000 for start in starts), server.requests
    assert "seeked" in element_events(env, audio)


def test_a_seek_during_a_stall_requests_the_new_place_and_plays(env, server):
    body = Body(ramp_wav(60.0))
    route = Route(body, content_type="audio/wav", stall_at=44 + RATE * 4)  # after 1 s
    audio = Audio(server.add("/ramp.wav", route))
    audio.play()
    advance_fed(env, audio, 0.5)
    assert route.stalled.wait(5)
    advance_realtime(env, 0.7)
    assert "waiting" in element_events(env, audio)
    audio.current_time = 30.0  # the stalled connection is dropped; a range request follows
    advance_fed(env, audio, 0.3)
    assert abs(frame_at(env.output(), 1.25) - 30.05 * RATE) <= 480
    assert element_events(env, audio)[-1] == "playing"
    header = len(body.data) - 60 * RATE * 4
    assert server.requests[-1][1] == f"bytes={header + 30 * RATE * 4}-"


def test_without_ranges_a_seek_outside_the_buffer_is_refused(env, server, monkeypatch):
    monkeypatch.setattr(network, "BUFFER_BYTES", 1 << 20)
    url = server.add(
        "/ramp.wav", Route(Body(ramp_wav(60.0)), content_type="audio/wav", ranges=False)
    )
    audio = Audio(url)
    audio.play()
    advance_fed(env, audio, 0.5)
    source = network_source(audio)
    run_until(env, lambda: source.buffered_bytes[1] - source.buffered_bytes[0] == 1 << 20)
    with pytest.raises(NotSupportedError) as refused:
        audio.current_time = 37.25
    assert url in str(refused.value) and "does not support range requests" in str(refused.value)
    advance_fed(env, audio, 0.2)
    assert abs(frame_at(env.output(), 0.6) - 0.6 * RATE) <= 480  # it simply played on
    # The ring holds about 1.3 s behind the decoder (which is 2 s ahead) and the rest ahead.
    start, end = (round(b / (RATE * 4), 2) for b in source.buffered_bytes)
    assert start < 2.0 and end > 5.0, (start, end)
    audio.current_time = 4.0  # inside the buffered bytes: allowed
    advance_fed(env, audio, 0.3)
    assert abs(frame_at(env.output(), 0.8) - 4.1 * RATE) <= 480
    assert audio.error is None and not audio.paused


# -- failures ---------------------------------------------------------------------------------


def _undecodable() -> Route:
    return Route(Body(b"this is not audio at all\n" * 4000), content_type="audio/mpeg")


FAILURES = {
    # mode: (route or None for a refused connection, code, words in the message, play error)
    "404": (Route(status=404), 4, ["HTTP 404"], NotSupportedError),
    "text body": (
        Route(Body(b"hello\n" * 100), content_type="text/plain"),
        4,
        ["text/plain", "not audio"],
        NotSupportedError,
    ),
    "undecodable": (_undecodable(), 4, ["not decodable"], NotSupportedError),
    "refused": (None, 2, ["cannot connect"], NetworkError),
    "timeout": (Route(hang=True), 2, ["timed out"], NetworkError),
    "cut, no ranges": (
        Route(SineWav(10.0), content_type="audio/wav", ranges=False, cut_at=300_000),
        2,
        ["cut after 300000 of 1920044 bytes"],
        NetworkError,
    ),
    "cut, resumes fail": (
        Route(SineWav(10.0), content_type="audio/wav", cut_at=300_000),
        2,
        ["cut after 300000 of 1920044 bytes"],
        NetworkError,
    ),
    # Before: "the connection was cut after 0 bytes".
    "oversized headers": (
        Route(SineWav(1.0), content_type="audio/wav", headers={"X-Padding": "a" * 200_000}),
        2,
        ["response headers are larger than 100 kB"],
        NetworkError,
    ),
    # Before: a NetworkError ("try again"), though it will never play.
    "redirect to file:": (
        Route(redirect="file:///etc/passwd"),
        4,
        ["redirected to a file: URL", "only http: and https:"],
        NotSupportedError,
    ),
}


@pytest.mark.parametrize("mode", list(FAILURES))
def test_each_failure_gives_its_error_and_the_other_window_keeps_playing(
    env, server, media, monkeypatch, mode
):
    monkeypatch.setattr(http_download, "READ_TIMEOUT", 0.5)
    route, code, words, play_error = FAILURES[mode]
    url = refused_url() if route is None else server.add("/media", route)
    other = env.window()
    other.navigator.audio_session.type = "ambient"
    music = Audio(media.tone(1000, 5.0), window=other)
    music.play()
    env.advance(0.2)
    audio = Audio(url)
    played = audio.play()
    run_until(env, lambda: audio.error is not None)
    env.advance(0.5)
    assert audio.error.code == code
    assert url in audio.error.message
    for word in words:
        assert word in audio.error.message
    assert "error" in element_events(env, audio)
    assert isinstance(played.exception(), play_error)
    assert audio.paused and env.navigator.audio_session.state == "inactive"
    assert tone_level_db(env.output(), 1000, env.now - 0.3, 0.2) == pytest.approx(0, abs=0.2)
    assert dominant_frequency(env.output(), env.now - 0.3) == pytest.approx(1000, abs=5)
    again = audio.play()
    env.run_until_idle()
    assert isinstance(again.exception(), play_error)


def test_https_verifies_the_certificate(env, tmp_path, mp3_tone):
    openssl = need_tool("openssl")  # to make a test certificate
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server = AudioServer(tls=(str(cert), str(key)))
    try:
        url = server.add("/tone.mp3", Route(Body(mp3_tone)))
        audio = Audio(url)
        played = audio.play()
        run_until(env, lambda: audio.error is not None)
        assert audio.error.code == 2 and url in audio.error.message
        assert "CERTIFICATE_VERIFY_FAILED" in audio.error.message
        assert isinstance(played.exception(), NetworkError)
    finally:
        server.close()


def test_an_url_with_no_host_is_refused_at_once(env):
    audio = Audio("http:///nothing.mp3")
    env.run_until_idle()
    assert audio.error is not None and audio.error.code == 4
    assert "http:///nothing.mp3" in audio.error.message


def test_a_new_src_stops_the_old_download(env, server, mp3_tone):
    route = Route(Body(mp3_tone), rate=16000)
    audio = Audio(server.add("/tone.mp3", route))
    audio.play()
    advance_realtime(env, 0.3)
    old = network_source(audio)
    audio.src = server.add("/again.mp3", Route(Body(mp3_tone)))
    env.advance(0.1)
    audio.play()
    advance_fed(env, audio, 0.5)
    assert old._ring.closed and not math.isnan(audio.duration)
    assert tone_level_db(env.output(), 440, env.now - 0.2, 0.15) == pytest.approx(0, abs=1.0)


def test_a_slowloris_server_fails_the_load_at_its_deadline_and_is_dropped(
    env, server, monkeypatch, mp3_tone
):
    # One byte every 50 ms, headers included: no read ever times out. Before, play() stayed
    # pending for as long as the server kept dripping.
    monkeypatch.setattr(network, "LOAD_DEADLINE", 1.0)
    route = Route(Body(mp3_tone), drip=0.05)
    url = server.add("/slow.mp3", route)
    audio = Audio(url)
    played = audio.play()
    began = time.monotonic()
    run_until(env, lambda: audio.error is not None)
    failed_after = time.monotonic() - began
    assert audio.error.code == 2 and url in audio.error.message
    assert "no playable audio after 1 s" in audio.error.message
    assert "too slow to play" in audio.error.message
    assert isinstance(played.exception(), NetworkError)
    assert audio.paused and env.navigator.audio_session.state == "inactive"
    assert route.dropped.wait(5), "the download kept reading the slow server"
    assert failed_after >= 1.0
