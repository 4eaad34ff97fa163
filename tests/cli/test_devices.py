"""``audiosession devices`` on a real (private) PulseAudio server whose device ids are as long
as real ones: every id is shown whole, through a pipe at 80 columns, and as JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from support.commands import command_env
from support.pulse_server import PulseServer, start_or_skip

pytestmark = pytest.mark.real_server  # the module's own server, with the sinks it lists

SINKS = {
    "alsa_output.pci-0000_00_1f.3.analog-stereo": {"device.description": "Built-in Audio"},
    "bluez_output.00_1B_66_A1_B2_C3.1": {
        "device.description": "Headset",
        "device.intended_roles": "phone",
    },
}


@pytest.fixture(scope="module")
def pulse() -> Iterator[PulseServer]:
    server = start_or_skip(PulseServer(SINKS))
    try:
        yield server
    finally:
        server.stop()


def on(pulse: PulseServer) -> dict[str, str]:
    return command_env(AUDIOSESSION_BACKEND="pulse", PULSE_SERVER=pulse.server_string, COLUMNS="80")


def test_devices_as_json_name_every_device_its_default_and_the_communications_one(cli, pulse):
    result = cli("devices", "--json", env=on(pulse))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["backend"] == "pulse" and not report["null_sink"]
    outputs = [d for d in report["devices"] if d["kind"] == "audiooutput"]
    assert [d["id"] for d in outputs] == list(SINKS)
    assert [d["default"] for d in outputs] == [True, False]
    assert report["communications"] == "bluez_output.00_1B_66_A1_B2_C3.1"
    assert outputs[1]["roles"] == ["phone"] and outputs[1]["communications"]
    inputs = {d["id"] for d in report["devices"] if d["kind"] == "audioinput"}
    assert "alsa_output.pci-0000_00_1f.3.analog-stereo.monitor" in inputs


def test_the_devices_table_shows_every_id_whole_through_a_pipe_at_80_columns(cli, pulse):
    ids = [d["id"] for d in json.loads(cli("devices", "--json", env=on(pulse)).stdout)["devices"]]
    result = cli("devices", env=on(pulse))
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout
    cells = {cell.strip() for line in result.stdout.splitlines() for cell in line.split("│")}
    assert set(ids) <= cells, result.stdout
