"""The media element plays real files through the real engine; levels measured in the output."""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from collections.abc import Callable

import numpy as np
import pytest

from audiosession import (
    Audio,
    MediaError,
    NotFoundError,
    NotSupportedError,
)
from audiosession.engine.decode import MAX_CHANNELS, MAX_RATE
from support.audio import (
    RATE,
    db,
    dominant_frequency,
    largest_step,
    rms,
    silent,
    tone_level_db,
)

BLOCK = 480 / RATE


def statechanges(env):
    return [(r.window.name, r.state) for r in env.events if r.type == "statechange"]


def element_events(env, element):
    return [r.type for r in env.events if r.target is element and r.type != "timeupdate"]


def test_a_tone_file_plays_at_its_level(env, media):
    audio = Audio(media.tone(440, 2.0, amplitude=0.5))
    played = audio.play()
    env.advance(1.0)
    assert played.result() is None
    assert rms(env.output(), 0.2, 0.5) == pytest.approx(0.5 / math.sqrt(2), rel=1e-3)
    assert dominant_frequency(env.output(), 0.2) == pytest.approx(440, abs=5)
    assert env.navigator.audio_session.state == "active"
    # As in HTML: the load runs in parallel, so play() (called at once) fires first.
    assert element_events(env, audio) == [
        "loadstart",
        "play",
        "durationchange",
        "loadedmetadata",
        "canplay",
        "playing",
    ]


def test_pause_gives_silence_within_one_block_and_play_resumes_where_it_was(env, media):
    audio = Audio(media.tone(440, 5.0))
    audio.play()
    env.advance(1.0)
    audio.pause()
    position = audio.current_time
    env.advance(1.0)
    assert silent(env.output(), 1.0 + BLOCK, 1.0 - 2 * BLOCK)
    assert audio.paused and env.navigator.audio_session.state == "inactive"
    audio.play()
    env.advance(0.5)
    assert tone_level_db(env.output(), 440, 2.2) == pytest.approx(0, abs=0.1)
    assert audio.current_time == pytest.approx(position + 0.5, abs=2 * BLOCK)


def test_volume_half_is_minus_six_db(env, media):
    audio = Audio(media.tone(440, 3.0))
    audio.volume = 0.5
    audio.play()
    env.advance(1.0)
    assert db(rms(env.output(), 0.3, 0.5) / (0.5 / math.sqrt(2))) == pytest.approx(-6.02, abs=0.2)


def test_mute_and_unmute_ramp_without_clicks(env, media):
    audio = Audio(media.tone(440, 3.0, amplitude=0.9))
    audio.play()
    env.advance(0.5)
    signal_step = largest_step(env.output(), 0.1, 0.3)
    audio.muted = True
    env.advance(0.5)
    audio.muted = False
    env.advance(0.5)
    output = env.output()
    assert largest_step(output, 0.45, 0.1) <= signal_step
    assert largest_step(output, 0.95, 0.1) <= signal_step
    assert silent(output, 0.6, 0.3)
    assert tone_level_db(output, 440, 1.2, reference=0.9) == pytest.approx(0, abs=0.1)
    # A muted element is not audible: its session went inactive, and back.
    assert [s for _, s in statechanges(env)] == ["active", "inactive", "active"]


def test_ended_fires_at_the_end_of_the_file(env, media):
    audio = Audio(media.tone(440, 1.0))
    ended_at = []
    audio.add_event_listener("ended", lambda e: ended_at.append(env.now))
    audio.play()
    env.advance(2.0)
    assert ended_at and ended_at[0] == pytest.approx(1.0, abs=BLOCK + 1e-9)
    assert audio.ended and audio.paused
    assert element_events(env, audio)[-2:] == ["pause", "ended"]
    assert env.navigator.audio_session.state == "inactive"
    assert silent(env.output(), 1.0 + BLOCK, 0.5)


def test_loop_plays_again_without_a_gap(env, media):
    audio = Audio(media.tone(480, 0.25))  # 480 Hz: whole periods in 0.25 s
    audio.loop = True
    audio.play()
    env.advance(1.2)
    output = env.output()
    assert not audio.ended
    assert largest_step(output, 0.2, 0.9) <= largest_step(output, 0.05, 0.1) * 1.01
    assert min(rms(output, t, 0.02) for t in np.arange(0.01, 1.1, 0.02)) > 0.3


def test_loop_turned_on_just_before_the_end_plays_on_without_a_gap(env, media):
    audio = Audio(media.tone(480, 0.5))
    audio.play()
    env.advance(0.45)  # the end is decoded ahead already
    audio.loop = True
    env.advance(0.6)
    output = env.output()
    assert not audio.ended and not audio.paused
    assert largest_step(output, 0.4, 0.6) <= largest_step(output, 0.05, 0.1) * 1.01
    assert min(rms(output, t, 0.02) for t in np.arange(0.02, 1.0, 0.02)) > 0.3


def test_loop_turned_off_ends_at_the_end_of_the_pass_being_heard(env, media):
    audio = Audio(media.tone(480, 0.5))
    audio.loop = True
    audio.play()
    env.advance(0.98)  # in the second pass, the third one decoded ahead
    audio.loop = False
    env.advance(0.5)
    assert audio.ended
    assert ["pause", "ended"] == element_events(env, audio)[-2:]
    assert min(rms(output := env.output(), t, 0.02) for t in np.arange(0.02, 0.96, 0.02)) > 0.3
    assert silent(output, 1.0 + BLOCK, 0.4)


def test_loop_turned_off_drops_the_next_pass_already_decoded_ahead(media):
    # Real time: the worker decodes ahead past the loop point; turning the loop off must
    # end where the pass being heard ends, not after what was decoded of the next one.
    from audiosession.elements.playing_source import PlayingSource
    from audiosession.elements.sources import open_media_source
    from audiosession.engine import Engine, NullBackend

    engine = Engine(NullBackend())
    try:
        playing = PlayingSource(open_media_source(media.tone(480, 0.25), RATE, 2), True)
        buffer = playing.voice_source(engine, "tone")  # type: ignore[arg-type]
        deadline = time.monotonic() + 10

        def wait_until(condition: Callable[[], bool]) -> None:
            while not condition():
                assert time.monotonic() < deadline
                time.sleep(0.005)

        blocks = []
        for _ in range(40):  # 0.4 s: into the second pass
            wait_until(lambda: buffer.ready >= 480)
            blocks.append(buffer.read(480))
        wait_until(lambda: playing._looping.loop_count >= 2)  # the third pass is decoded
        assert playing.position == pytest.approx(0.4 - 0.25, abs=1e-6)
        playing.set_loop(False)
        while not buffer.ended:
            wait_until(lambda: buffer.ready >= 480 or buffer.ended_in_ring)
            blocks.append(buffer.read(480))
        playing.close()
    finally:
        engine.close()
    heard = np.concatenate(blocks)
    assert len(heard) == 2 * int(0.25 * RATE)
    assert buffer.underruns == 0


def test_current_time_seeks(env, media):
    audio = Audio(media.tone(440, 10.0))
    audio.play()
    env.advance(0.5)
    audio.current_time = 7.0
    env.advance(0.5)
    assert audio.current_time == pytest.approx(7.5, abs=2 * BLOCK)
    assert "seeked" in element_events(env, audio)
    with pytest.raises(ValueError, match="finite number >= 0"):
        audio.current_time = -1
    with pytest.raises(TypeError):
        audio.current_time = "7"


def test_elements_are_audible_only_when_they_make_sound(env, media):
    session = env.navigator.audio_session
    muted = Audio(media.tone())
    muted.muted = True
    muted.play()
    quiet = Audio(media.tone())
    quiet.volume = 0
    quiet.play()
    env.advance(0.5)
    assert session.state == "inactive"
    assert muted.current_time > 0.4  # it plays, unheard
    loud = Audio(media.tone())
    loud.play()
    env.advance(0.5)
    assert session.state == "active"
    assert statechanges(env) == [(env.default_window.name, "active")]


@pytest.mark.parametrize("volume", ["0.5", None, [1]])
def test_a_non_numeric_volume_raises_type_error(env, media, volume):
    audio = Audio(media.tone())
    with pytest.raises(TypeError, match="number from 0.0 to 1.0"):
        audio.volume = volume
    assert audio.volume == 1.0


@pytest.mark.parametrize("volume", [1.5, -0.1, float("nan")])
def test_a_volume_outside_zero_to_one_raises_value_error(env, media, volume):
    audio = Audio(media.tone())
    with pytest.raises(ValueError, match="from 0.0 to 1.0"):
        audio.volume = volume
    assert audio.volume == 1.0


def test_an_8khz_mono_file_plays_at_its_pitch_and_length(env, media):
    audio = Audio(media.tone(1000, 1.0, rate=8000, channels=1))
    audio.play()
    env.advance(1.5)
    output = env.output()
    assert dominant_frequency(output, 0.3) == pytest.approx(1000, abs=5)
    assert np.allclose(output[int(0.3 * RATE) :, 0][:1000], output[int(0.3 * RATE) :, 1][:1000])
    assert audio.ended
    assert not silent(output, 0.95, 0.03) and silent(output, 1.0 + 2 * BLOCK, 0.3)


def test_a_six_channel_file_is_downmixed_and_plays(env, media):
    audio = Audio(media.tone(440, 1.0, channels=6, amplitude=0.2))
    played = audio.play()
    env.advance(0.5)
    assert played.done() and played.exception() is None
    assert dominant_frequency(env.output(), 0.2) == pytest.approx(440, abs=5)
    assert rms(env.output(), 0.2, 0.2) > 0.05


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda m: str(m.folder / "missing.wav"), "no such file"),
        (lambda m: m.file("notes.wav", b"a text file, not audio\n" * 20), "not a decodable"),
        (lambda m: m.tone(440, 0.0, name="empty.wav"), "no audio"),
        (lambda m: str(m.folder), "directory"),
        # Before: decoding its first block took 770 ms on the audio thread, then it ended
        # silently.
        (
            lambda m: m.wav_claiming("absurd.wav", 2**31 - 1),
            f"declares 2147483647 Hz; the engine plays files from 1000 to {MAX_RATE} Hz",
        ),
        (
            lambda m: m.wav_claiming("crowd.wav", 48000, channels=1000, frames=48),
            f"declares 1000 channels; the engine plays files of 1 to {MAX_CHANNELS} channels",
        ),
        # Before: play() resolved and the element ended at 0.0 s without an error.
        (lambda m: m.damaged_mp3("damaged.mp3"), "its data is damaged"),
    ],
    ids=[
        "missing",
        "text-named-wav",
        "zero-length",
        "directory",
        "absurd-rate",
        "absurd-channels",
        "noise-after-mp3-header",
    ],
)
def test_a_bad_source_fails_clearly_and_others_keep_playing(env, media, make, reason):
    other = Audio(media.tone(440, 5.0), window=env.window())
    other.play()
    env.advance(0.3)
    bad_path = make(media)
    bad = Audio(bad_path)
    errors = []
    bad.onerror = lambda event: errors.append(bad.error)
    played = bad.play()
    env.advance(0.3)
    with pytest.raises(NotSupportedError) as failure:
        played.result()
    (error,) = errors
    assert isinstance(error, MediaError) and error.code == MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED
    assert bad_path in error.message and reason in error.message
    assert str(failure.value) == error.message
    assert env.navigator.audio_session.state == "inactive"  # never left active
    assert tone_level_db(env.output(), 440, 0.5) == pytest.approx(0, abs=0.1)


def test_a_truncated_mp3_plays_what_it_has(env, media, tmp_path):
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is needed to make the MP3 (scripts/setup --test installs it)"
    source = media.tone(440, 3.0, rate=44100, subtype="PCM_16")
    mp3 = tmp_path / "track.mp3"
    subprocess.run([ffmpeg, "-v", "error", "-i", source, "-b:a", "128k", str(mp3)], check=True)
    data = mp3.read_bytes()
    truncated = tmp_path / "truncated.mp3"
    truncated.write_bytes(data[: len(data) // 2])
    audio = Audio(str(truncated))
    audio.play()
    env.advance(3.0)
    assert audio.error is None
    assert audio.ended
    assert dominant_frequency(env.output(), 0.5) == pytest.approx(440, abs=5)
    assert not silent(env.output(), 1.0, 0.2)


def test_play_with_no_source_fails_with_not_supported(env):
    with pytest.raises(NotSupportedError, match="set src"):
        Audio().play().result()


def test_pause_before_playback_starts_rejects_play_with_abort(env, media):
    from audiosession import AbortError

    session = env.navigator.audio_session
    env.platform.interrupt("transient")
    audio = Audio(media.tone())
    played = audio.play()
    env.advance(0.2)
    assert not played.done()
    audio.pause()
    env.run_until_idle()
    with pytest.raises(AbortError, match="pause"):
        played.result()
    env.platform.end_interruption()
    env.advance(1.0)
    assert silent(env.output(), 0, 1.2) and session.state == "inactive"


def test_set_sink_id_routes_one_element_and_an_unknown_id_changes_nothing(env, media):
    audio = Audio(media.tone(440, 3.0))
    audio.play()
    env.advance(0.5)
    with pytest.raises(NotFoundError, match="'earbuds'.*default, headset"):
        audio.set_sink_id("earbuds").result()
    assert audio.sink_id == ""
    audio.set_sink_id("headset")
    env.advance(0.5)
    assert tone_level_db(env.output("headset"), 440, 0.7) == pytest.approx(0, abs=0.1)
    assert silent(env.output("default"), 0.55, 0.4)
    assert tone_level_db(env.output("default"), 440, 0.2) == pytest.approx(0, abs=0.1)


def test_data_and_file_urls_play(env, media):
    import base64
    from pathlib import Path

    path = media.tone(440, 0.5)
    data_url = "data:audio/wav;base64," + base64.b64encode(Path(path).read_bytes()).decode()
    for src in (Path(path).as_uri(), data_url):
        audio = Audio(src)
        audio.play()
        env.advance(0.7)
        assert audio.ended and audio.error is None
    assert tone_level_db(env.output(), 440, 0.2) == pytest.approx(0, abs=0.1)
    assert tone_level_db(env.output(), 440, 0.9) == pytest.approx(0, abs=0.1)


def test_an_unsupported_url_scheme_is_an_error(env):
    audio = Audio("ftp://example.com/track.mp3")
    played = audio.play()
    env.run_until_idle()
    with pytest.raises(NotSupportedError, match="unsupported URL scheme 'ftp'"):
        played.result()


def test_platform_record_returns_what_the_device_received(env, media):
    Audio(media.tone(440, 3.0)).play()
    env.advance(0.5)
    recording = env.platform.record()
    call = env.window()
    call.navigator.audio_session.type = "play-and-record"
    Audio(media.tone(550, 3.0), window=call).play()  # a second stream (role) on another device
    headset = env.platform.record("headset")
    env.advance(1.0)
    received = recording.stop()
    env.advance(0.5)
    assert np.array_equal(received, env.output()[int(0.5 * RATE) : int(1.5 * RATE)])
    assert np.array_equal(headset.stop(), env.output("headset")[int(0.5 * RATE) :])
    assert env.platform.record("default").stop().shape == (0, 2)
    with pytest.raises(NotFoundError):
        env.platform.record("earbuds")


def test_a_new_src_and_play_at_once_keep_playing(env, media):
    """The load steps pause the element and the session starts to go inactive; play() right
    after must win the race (note 14), not be paused by the late inactivation."""
    audio = Audio(media.tone(440, 5.0))
    audio.play()
    env.advance(0.5)
    audio.src = media.tone(660, 5.0)
    played = audio.play()
    env.advance(0.5)
    assert not audio.paused and played.done() and played.exception() is None
    assert env.navigator.audio_session.state == "active"
    assert tone_level_db(env.output(), 660, 0.85) == pytest.approx(0, abs=0.1)
