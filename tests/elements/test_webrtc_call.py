"""A call over WebRTC as an audio session, on a private PulseAudio server: two aiortc peers in
this process talk over 127.0.0.1; the far end's voice is heard on the communications device
(the headset) while the music pauses, and our fake microphone reaches the far end at its
level, silent while the call's session is interrupted, the connection staying up."""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections.abc import Iterator

import aioice.ice
import av
import numpy as np
import pytest
import soundfile as sf
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from audiosession import Audio, MediaStream, Window
from audiosession.engine.backends.pulse.backend import PulseBackend
from audiosession.loop import ThreadedLoop
from audiosession.platforms.embedded import EmbeddedPlatform
from audiosession.policy import PolicyConfig
from audiosession.session.runtime import Runtime
from audiosession.webrtc import to_aiortc
from support.pulse_server import PulseServer, level_db

RATE = 48000
VOICE, MIC, MUSIC = 440.0, 880.0, 330.0
AMPLITUDE = 0.3
LEVEL = 20 * math.log10(AMPLITUDE / math.sqrt(2))  # what level_db reads for them


@pytest.fixture
def runtime(pulse_server: PulseServer) -> Iterator[Runtime]:
    """A process-like runtime (real clock, dispatcher thread) on the private server."""
    loop = ThreadedLoop(name="webrtc-test-loop")
    runtime = Runtime(
        loop,
        lambda task_loop: EmbeddedPlatform(
            task_loop,
            config=PolicyConfig(),
            backend_factory=lambda: PulseBackend(server=pulse_server.server_string),
        ),
    )
    try:
        yield runtime
    finally:
        runtime.close()
        loop.close()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """aioice offers every address of the machine but 127.0.0.1 as host candidates: offer
    127.0.0.1 alone, so the peers' traffic never leaves the machine (no STUN, no TURN)."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda **_: ["127.0.0.1"])


@pytest.fixture
def fake_mic(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mic.wav"
    t = np.arange(2 * RATE) / RATE
    sf.write(path, AMPLITUDE * np.sin(2 * np.pi * MIC * t), RATE, subtype="FLOAT")
    monkeypatch.setenv("AUDIOSESSION_FAKE_MIC", str(path))


class Voice(MediaStreamTrack):
    """The far end's voice: a sine, sent in 20 ms stereo frames in real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.start: float | None = None
        self.pts = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.start is None:
            self.start = time.monotonic()
        else:
            self.pts += 960
            await asyncio.sleep(max(0.0, self.start + self.pts / RATE - time.monotonic()))
        t = (self.pts + np.arange(960)) / RATE
        samples = (AMPLITUDE * 32767 * np.sin(2 * np.pi * VOICE * t)).astype(np.int16)
        # Stereo: a mono frame would be upmixed by the encoder's resampler at -3 dB a side.
        frame = av.AudioFrame.from_ndarray(
            np.repeat(samples, 2)[None, :], format="s16", layout="stereo"
        )
        frame.sample_rate, frame.pts = RATE, self.pts
        frame.time_base = fractions.Fraction(1, RATE)
        return frame


class Heard:
    """What the far end receives: (arrival time, mono samples) per frame."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, np.ndarray]] = []

    async def listen(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            samples = frame.to_ndarray().reshape(-1, len(frame.layout.channels))
            self.frames.append((time.monotonic(), samples[:, 0] / 32768.0))

    def between(self, start: float, end: float) -> np.ndarray:
        parts = [samples for at, samples in self.frames if start <= at < end]
        return np.concatenate(parts)[:, None] if parts else np.zeros((0, 1))

    def seconds(self) -> float:
        return sum(len(samples) for _, samples in self.frames) / RATE


async def until(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        await asyncio.sleep(0.02)


async def record(pulse_server: PulseServer, seconds: float) -> dict[str, np.ndarray]:
    """What the headset and the speakers play during the next ``seconds``."""
    recorders = await asyncio.to_thread(
        lambda: {sink: pulse_server.record(f"{sink}.monitor") for sink in ("headset", "speakers")}
    )
    await asyncio.sleep(seconds)
    return await asyncio.to_thread(
        lambda: {sink: recorder.stop() for sink, recorder in recorders.items()}
    )


async def connect(caller: RTCPeerConnection, callee: RTCPeerConnection) -> None:
    """Offer and answer, handed over in this process (the signalling)."""
    await caller.setLocalDescription(await caller.createOffer())
    await callee.setRemoteDescription(caller.localDescription)
    await callee.setLocalDescription(await callee.createAnswer())
    await caller.setRemoteDescription(callee.localDescription)


async def test_a_webrtc_call_is_a_play_and_record_session_heard_on_the_headset(
    runtime: Runtime, pulse_server: PulseServer, media, fake_mic
) -> None:
    music_window, call_window = Window(runtime=runtime), Window(runtime=runtime)
    music_window.navigator.audio_session.type = "playback"
    music = Audio(media.tone(MUSIC, 2.0, amplitude=AMPLITUDE), window=music_window)
    music.loop = True
    await music.play()

    call = call_window.navigator.audio_session
    call.type = "play-and-record"
    stream = await call_window.navigator.media_devices.get_user_media(audio=True)
    ours, far = RTCPeerConnection(), RTCPeerConnection()
    ours.addTrack(to_aiortc(stream.get_audio_tracks()[0]))
    far.addTrack(Voice())
    far_end = Audio(window=call_window)
    heard = Heard()
    listening = []

    @ours.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        far_end.src_object = MediaStream([track])  # an aiortc track, taken as it is
        far_end.play()

    @far.on("track")
    def on_far_track(track: MediaStreamTrack) -> None:
        listening.append(asyncio.ensure_future(heard.listen(track)))

    try:
        await connect(ours, far)
        await until(lambda: heard.seconds() > 1.0 and call.state == "active" and not far_end.paused)
        # The far end's voice is heard on the headset at the level it was sent (Opus keeps
        # it within a dB); the music is paused by the call: nothing on the speakers.
        played = await record(pulse_server, 1.5)
        assert level_db(played["headset"], VOICE) == pytest.approx(LEVEL, abs=1.0)
        assert level_db(played["speakers"], MUSIC) < -80
        assert music.paused and music_window.navigator.audio_session.state == "interrupted"
        # Our fake microphone reaches the far end at its level.
        now = time.monotonic()
        assert level_db(heard.between(now - 1.0, now), MIC) == pytest.approx(LEVEL, abs=1.0)

        # The call's session is interrupted: the microphone is muted, the far end hears
        # silence, and the connection stays up.
        runtime.platform.interrupt("transient")
        await until(lambda: call.state == "interrupted")
        interrupted = time.monotonic()
        await asyncio.sleep(1.2)
        assert level_db(heard.between(interrupted + 0.2, time.monotonic()), MIC) < -60
        assert ours.connectionState == far.connectionState == "connected"

        runtime.platform.end_interruption()
        await until(lambda: call.state == "active")
        resumed = time.monotonic()
        await asyncio.sleep(1.2)
        assert level_db(heard.between(resumed + 0.2, time.monotonic()), MIC) == pytest.approx(
            LEVEL, abs=1.0
        )
        played = await record(pulse_server, 1.0)
        assert level_db(played["headset"], VOICE) == pytest.approx(LEVEL, abs=1.0)

        # Hanging up ends the far end's element; with the microphone stopped too the call's
        # session lets go, and the music plays again.
        await ours.close()
        await until(lambda: far_end.ended)
        stream.get_audio_tracks()[0].stop()
        await until(lambda: call.state == "inactive" and not music.paused)
    finally:
        await ours.close()
        await far.close()
        for task in listening:
            task.cancel()
