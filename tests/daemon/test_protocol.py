"""The wire format: framing, messages, actions and devices (docs/protocol.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audiosession.engine.backend import DeviceInfo
from audiosession.policy import SetGain, SetRoute, SetState
from audiosession.types import AudioSessionState
from audiosession.wire.endpoint import default_socket_path
from audiosession.wire.protocol import (
    MAX_MESSAGE,
    OVERSIZED,
    LineDecoder,
    ProtocolError,
    decode_action,
    decode_device,
    decode_message,
    encode_action,
    encode_args,
    encode_device,
    encode_message,
)


def test_lines_are_split_on_newlines_across_chunks() -> None:
    decoder = LineDecoder()
    assert decoder.feed(b'{"a": 1}\n{"b"') == [b'{"a": 1}']
    assert decoder.feed(b": 2}\n\n") == [b'{"b": 2}', b""]
    assert decoder.buffered == 0


def test_an_oversized_line_is_reported_once_and_dropped_without_being_held() -> None:
    decoder = LineDecoder(limit=10)
    assert decoder.feed(b"x" * 8) == []
    assert decoder.feed(b"x" * 8) == [OVERSIZED]
    assert decoder.buffered == 0
    assert decoder.feed(b"y" * 1000) == []  # still the same long line: dropped as it comes
    assert decoder.buffered == 0
    assert decoder.feed(b"zz\nok\n") == [b"ok"]


def test_a_line_of_exactly_the_limit_passes_and_one_more_byte_does_not() -> None:
    decoder = LineDecoder(limit=4)
    assert decoder.feed(b"abcd\nabcde\nab\n") == [b"abcd", OVERSIZED, b"ab"]


@given(st.lists(st.binary(max_size=40), max_size=20), st.integers(1, 30))
def test_how_a_stream_is_chunked_does_not_change_its_lines(parts: list[bytes], limit: int) -> None:
    stream = b"".join(parts)
    whole = LineDecoder(limit).feed(stream)
    chunked: list[object] = []
    decoder = LineDecoder(limit)
    for part in parts:
        chunked += decoder.feed(part)
        assert decoder.buffered <= limit
    assert chunked == whole
    for line in whole:
        assert line is OVERSIZED or (b"\n" not in line and len(line) <= limit)


def test_messages_round_trip_as_one_line_of_json() -> None:
    data = encode_message({"id": 3, "op": "ping", "args": {"é": "ü"}})
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert decode_message(data[:-1]) == {"id": 3, "op": "ping", "args": {"é": "ü"}}


def test_a_message_over_the_limit_is_not_encoded() -> None:
    with pytest.raises(ProtocolError, match="over the 65536-byte limit"):
        encode_message({"blob": "x" * MAX_MESSAGE})


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"not json", "malformed JSON"),
        (b"[1, 2]", "must be a JSON object, not list"),
        (b"\xff\xfe", "not UTF-8"),
        (b"   ", "empty message"),
        (b"[" * 60000, "malformed JSON|nests too deeply"),
        (b'{"n": ' + b"9" * 5000 + b"}", "malformed JSON"),
    ],
)
def test_bad_messages_raise_protocol_errors_that_say_what_is_right(
    line: bytes, message: str
) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_message(line)


@pytest.mark.parametrize(
    "action",
    [
        SetState("window-1", AudioSessionState.INTERRUPTED),
        SetState("window-1", AudioSessionState.INACTIVE, 0.3),
        SetGain("window-2", 0.2, 0.1),
        SetRoute("window-3", "headset"),
        SetRoute("window-3", None),
    ],
)
def test_actions_round_trip(action: SetState | SetGain | SetRoute) -> None:
    assert decode_action(encode_action(action)) == action


def test_an_action_can_be_sent_under_the_clients_own_session_id() -> None:
    encoded = encode_action(SetGain("c4/window-1", 0.2, 0.1), "window-1")
    assert encoded == {"do": "gain", "session": "window-1", "gain": 0.2, "ramp": 0.1}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"do": "explode", "session": "w"}, "unknown action 'explode'"),
        ({"do": "state", "session": "w", "state": "sleepy"}, "bad state action"),
        ({"do": "gain", "session": "w"}, "without 'gain'"),
        ({"do": "route", "session": "", "device": None}, "non-empty string"),
        ([1], "must be a JSON object"),
    ],
)
def test_bad_actions_are_refused(data: object, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_action(data)


def test_devices_round_trip() -> None:
    device = DeviceInfo("headset", "USB headset", "audiooutput", frozenset({"phone"}), False)
    assert decode_device(encode_device(device)) == device
    with pytest.raises(ProtocolError, match="'audiooutput' or 'audioinput'"):
        decode_device({"id": "x", "kind": "speaker"})


def test_arbiter_calls_become_wire_arguments() -> None:
    assert encode_args("add", ("window-1", "window-1", "me")) == {
        "session": "window-1",
        "context": "window-1",
        "owner": "me",
    }
    assert encode_args("request_active", ("window-1", "transient-solo")) == {
        "session": "window-1",
        "type": "transient-solo",
    }
    assert encode_args("end_interruption", (None,)) == {}
    assert encode_args("device_removed", ("usb", {"window-1"})) == {
        "device": "usb",
        "sessions": ["window-1"],
    }
    with pytest.raises(ValueError, match="not an Arbiter operation: 'explode'"):
        encode_args("explode", ())


def test_the_socket_lives_in_xdg_runtime_dir_else_a_private_tmp_folder() -> None:
    assert Path(default_socket_path({"XDG_RUNTIME_DIR": "/run/user/1000"})) == Path(
        "/run/user/1000/audiosession/daemon.sock"
    )
    import os

    assert Path(default_socket_path({})) == Path(f"/tmp/audiosession-{os.getuid()}/daemon.sock")
    assert Path(default_socket_path({"TMPDIR": "/var/tmp/me"})) == Path(
        f"/var/tmp/me/audiosession-{os.getuid()}/daemon.sock"
    )
    assert Path(
        default_socket_path(
            {"AUDIOSESSION_DAEMON_SOCKET": "/x/y.sock", "XDG_RUNTIME_DIR": "/run/user/1"}
        )
    ) == Path("/x/y.sock")
