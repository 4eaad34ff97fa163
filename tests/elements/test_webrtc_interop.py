"""``audiosession.webrtc`` refuses what it cannot convert, and says what to install without
aiortc (the call itself is tested on PulseAudio: tests/elements/test_webrtc_call.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from audiosession import MediaStream, MediaStreamTrackGenerator
from audiosession.webrtc import from_aiortc, to_aiortc


def test_without_aiortc_importing_webrtc_says_which_extra_to_install():
    script = (
        "import sys; sys.modules['aiortc'] = None\n"
        "import audiosession\n"
        "from audiosession import Audio, MediaStream  # the rest works without it\n"
        "import audiosession.webrtc\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "audiosession.errors.MissingDependencyError: WebRTC support needs aiortc, an "
        "optional extra: pip install audiosession[webrtc]"
    )
    assert "ModuleNotFoundError" not in result.stderr and "ImportError" not in result.stderr


def test_a_remote_track_is_received_only_on_the_connections_asyncio_loop(env):
    with pytest.raises(RuntimeError, match="asyncio loop that runs the RTCPeerConnection"):
        MediaStream([AudioStreamTrack()])


async def test_only_aiortc_audio_tracks_are_received(env):
    with pytest.raises(TypeError, match="takes an aiortc audio track"):
        from_aiortc(VideoStreamTrack())


def test_only_a_microphone_track_is_sent(env):
    with pytest.raises(TypeError, match="sends a microphone track"):
        to_aiortc(MediaStreamTrackGenerator(kind="audio"))


def test_a_track_of_a_library_without_an_integration_is_refused_saying_what_takes_one(env):
    class OtherLibrarysTrack:
        pass

    with pytest.raises(TypeError, match="once its integration is imported"):
        MediaStream([OtherLibrarysTrack()])


def test_importing_webrtc_alone_makes_aiortc_tracks_taken_as_they_are():
    # A fresh interpreter: nothing but the import registers aiortc's converter.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import asyncio\n"
            "from aiortc.mediastreams import AudioStreamTrack\n"
            "import audiosession.webrtc\n"
            "from audiosession import MediaStream, MediaStreamTrackGenerator\n"
            "async def main():\n"
            "    [track] = MediaStream([AudioStreamTrack()]).get_tracks()\n"
            "    assert isinstance(track, MediaStreamTrackGenerator), track\n"
            "    track.stop()\n"
            "asyncio.run(main())\n",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
