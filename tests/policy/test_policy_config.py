"""Configuration files: every key, every kind of error, and the fallback to the defaults."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from audiosession.engine.backend import DeviceInfo
from audiosession.policy import (
    DEFAULT_TABLE,
    ConfigError,
    Effect,
    PolicyConfig,
    config_path,
    find_config,
    load_config,
    route_for,
)
from audiosession.types import AudioSessionType as T

FULL = """
[table.transient]
playback = "pause"
ambient = "mix"

[table.playback]
play-and-record = "deny"

[ducking]
gain = 0.5
attack = 0.05
release = 1

[stop]
fade = 0

[roles]
playback = "video"

[routing]
communications_device = "bluez_sink.headset"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "audiosession.toml"
    path.write_text(text)
    return path


def test_every_key_can_be_set(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))
    assert config.table[(T.TRANSIENT, T.PLAYBACK)] is Effect.PAUSE
    assert config.table[(T.TRANSIENT, T.AMBIENT)] is Effect.MIX
    assert config.table[(T.PLAYBACK, T.PLAY_AND_RECORD)] is Effect.DENY
    changed = {(T.TRANSIENT, T.PLAYBACK), (T.TRANSIENT, T.AMBIENT), (T.PLAYBACK, T.PLAY_AND_RECORD)}
    assert all(config.table[k] is v for k, v in DEFAULT_TABLE.items() if k not in changed)
    assert (config.duck_gain, config.duck_attack, config.duck_release) == (0.5, 0.05, 1.0)
    assert config.stop_fade == 0.0
    assert config.role("playback") == "video" and config.role(T.TRANSIENT) == "event"
    assert config.communications_device == "bluez_sink.headset"


def test_empty_file_is_the_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == PolicyConfig()


def test_defaults() -> None:
    config = PolicyConfig()
    assert (config.duck_gain, config.duck_attack, config.duck_release, config.stop_fade) == (
        0.2,
        0.1,
        0.5,
        0.3,
    )
    assert {t.value: config.role(t) for t in config.roles} == {
        "playback": "music",
        "transient": "event",
        "transient-solo": "a11y",
        "ambient": "animation",
        "play-and-record": "phone",
    }
    assert config.communications_device is None


BAD = [
    ("[table.transient\n", "(syntax)", "not valid TOML"),
    ("[volume]\nlevel = 1\n", "volume", "table, ducking, stop, roles, routing"),
    ("[ducking]\nlevel = 0.3\n", "ducking.level", "gain, attack, release"),
    ("[table.loud]\nplayback = 'duck'\n", "table.loud", "ambient, transient, playback"),
    ("[table.transient]\nauto = 'duck'\n", "table.transient.auto", "play-and-record"),
    ("[table.transient]\nplayback = 'dip'\n", "table.transient.playback", "mix, duck, pause"),
    ("[table.transient]\nplayback = 3\n", "table.transient.playback", "stop, delay, deny"),
    ("[table]\ntransient = 'duck'\n", "table.transient", "existing type = effect"),
    ("[ducking]\ngain = 1.5\n", "ducking.gain", "from 0 to 1"),
    ("[ducking]\ngain = -0.1\n", "ducking.gain", "from 0 to 1"),
    ("[ducking]\ngain = 'loud'\n", "ducking.gain", "from 0 to 1"),
    ("[ducking]\nattack = -0.1\n", "ducking.attack", "seconds"),
    ("[ducking]\nrelease = 500\n", "ducking.release", "seconds, from 0 to 10"),
    ("[stop]\nfade = -1\n", "stop.fade", "seconds"),
    ("[stop]\nfade = nan\n", "stop.fade", "seconds"),
    ("[stop]\nfade = true\n", "stop.fade", "seconds"),
    ("[roles]\nwhisper = 'a11y'\n", "roles.whisper", "ambient, transient"),
    ("[roles]\nplayback = ''\n", "roles.playback", "non-empty"),
    ("[routing]\ncommunications_device = 7\n", "routing.communications_device", "device id"),
    ("[routing]\nspeaker = 'x'\n", "routing.speaker", "communications_device"),
    ("ducking = 3\n", "ducking", "must be a table"),
]


@pytest.mark.parametrize(("text", "key", "allowed"), BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_file_names_file_key_and_allowed_values(
    tmp_path: Path, text: str, key: str, allowed: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message and key in message and allowed in message
    assert caught.value.key == key and caught.value.path == str(path)
    assert isinstance(caught.value, ValueError)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "nope.toml")


def test_find_config_reads_the_named_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[ducking]\ngain = 0.3\n")
    assert find_config({"AUDIOSESSION_CONFIG": str(path)}).duck_gain == 0.3


def test_find_config_reads_the_user_config_dir(tmp_path: Path) -> None:
    (tmp_path / "audiosession").mkdir()
    (tmp_path / "audiosession" / "audiosession.toml").write_text("[stop]\nfade = 1.0\n")
    assert find_config({"XDG_CONFIG_HOME": str(tmp_path)}).stop_fade == 1.0
    assert config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == (
        tmp_path / "audiosession" / "audiosession.toml",
        False,
    )


def test_find_config_without_a_file_is_the_defaults(tmp_path: Path) -> None:
    assert find_config({"XDG_CONFIG_HOME": str(tmp_path)}) == PolicyConfig()


def test_find_config_defaults_to_dot_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_path({})[0] == tmp_path / ".config" / "audiosession" / "audiosession.toml"
    assert config_path({"XDG_CONFIG_HOME": "relative"})[0].parent.parent == tmp_path / ".config"


def test_find_config_reports_a_bad_file_and_keeps_the_defaults(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "[ducking]\ngain = 2\n")
    with caplog.at_level(logging.WARNING, logger="audiosession.policy"):
        config = find_config({"AUDIOSESSION_CONFIG": str(path)})
    assert config == PolicyConfig()
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert str(path) in record.getMessage() and "ducking.gain" in record.getMessage()
    assert "0 to 1" in record.getMessage()


def test_find_config_reports_a_missing_named_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="audiosession.policy"):
        config = find_config({"AUDIOSESSION_CONFIG": str(tmp_path / "gone.toml")})
    assert config == PolicyConfig()
    assert "gone.toml" in caplog.text


def test_find_config_uses_the_process_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AUDIOSESSION_CONFIG", str(write(tmp_path, "[ducking]\ngain = 0.1\n")))
    assert find_config().duck_gain == 0.1


def test_policy_config_checks_python_values_too() -> None:
    with pytest.raises(ConfigError, match="duck_gain"):
        PolicyConfig(duck_gain=2)
    with pytest.raises(ConfigError, match="mix, duck"):
        PolicyConfig(table={(T.TRANSIENT, T.PLAYBACK): "boom"})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="ambient, transient"):
        PolicyConfig(table={(T.AUTO, T.PLAYBACK): Effect.MIX})
    with pytest.raises(ConfigError, match="communications_device"):
        PolicyConfig(communications_device="")


SPEAKERS = DeviceInfo("speakers", "Speakers", "audiooutput", is_default=True)
USB = DeviceInfo("usb", "USB headset", "audiooutput", frozenset({"phone"}))
BT = DeviceInfo("bt", "Bluetooth headset", "audiooutput", frozenset({"phone"}))
MIC = DeviceInfo("mic", "Headset mic", "audioinput", frozenset({"phone"}))


@pytest.mark.parametrize(
    ("type_", "devices", "configured", "expected"),
    [
        ("play-and-record", [SPEAKERS, USB, BT], "bt", "bt"),
        ("play-and-record", [SPEAKERS, USB, BT], "gone", "usb"),
        ("play-and-record", [SPEAKERS, USB], None, "usb"),
        ("play-and-record", [MIC, SPEAKERS], None, "speakers"),
        ("play-and-record", [SPEAKERS, MIC], "mic", "speakers"),
        ("playback", [SPEAKERS, USB], "usb", "speakers"),
        ("transient", [USB, SPEAKERS], None, "speakers"),
        ("ambient", [DeviceInfo("a", "A", "audiooutput"), USB], None, "a"),
        ("transient-solo", [MIC], None, None),
        ("playback", [], None, None),
    ],
)
def test_route_for(
    type_: str, devices: list[DeviceInfo], configured: str | None, expected: str | None
) -> None:
    config = PolicyConfig(communications_device=configured)
    assert route_for(type_, devices, config) == expected


DOCS = Path(__file__).resolve().parents[2] / "docs" / "policy.md"


def test_docs_example_file_loads(tmp_path: Path) -> None:
    text = DOCS.read_text()
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    config = load_config(write(tmp_path, example))
    assert config.table[(T.PLAYBACK, T.PLAY_AND_RECORD)] is Effect.DENY
    assert "playback/play-and-record" in repr(config)


def test_docs_table_is_the_shipped_table() -> None:
    lines = [line for line in DOCS.read_text().splitlines() if line.startswith("| ")]
    header = next(i for i, line in enumerate(lines) if line.startswith("| new \\ existing"))
    columns = [c.strip() for c in lines[header].split("|")[2:-1]]
    cells = {}
    for line in lines[header + 1 : header + 6]:
        new, *effects = [c.strip() for c in line.split("|")[1:-1]]
        for existing, effect in zip(columns, effects, strict=True):
            cells[(T(new), T(existing))] = Effect(effect)
    assert cells == dict(DEFAULT_TABLE)
