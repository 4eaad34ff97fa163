"""``navigator`` has all its attributes as soon as it exists, whatever was imported before."""

from __future__ import annotations

import pytest

from support.examples import run_example

ATTRIBUTES = {
    "audio_session": "AudioSession",
    "audioSession": "AudioSession",
    "media_devices": "MediaDevices",
    "mediaDevices": "MediaDevices",
    "media_session": "MediaSession",
    "mediaSession": "MediaSession",
}


def test_every_navigator_attribute_exists_right_after_importing_navigator_alone(tmp_path):
    names = ", ".join(f"navigator.{attribute}" for attribute in ATTRIBUTES)
    script = f"from audiosession import navigator\nfor x in ({names}): print(type(x).__name__)"
    result = run_example(script, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == list(ATTRIBUTES.values())


def test_the_spec_spellings_are_the_same_objects(env):
    navigator = env.navigator
    assert navigator.mediaDevices is navigator.media_devices
    assert navigator.mediaSession is navigator.media_session
    assert navigator.audioSession is navigator.audio_session


def test_an_unknown_attribute_is_an_attribute_error(env):
    with pytest.raises(AttributeError, match="'Navigator' object has no attribute 'mediaDevice'"):
        env.navigator.mediaDevice  # noqa: B018
