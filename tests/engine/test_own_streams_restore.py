"""The program's own streams on a server with ``module-stream-restore``: a ramped duck
writes many volumes, and none of them is what the module remembers; the user's volume is."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from audiosession.engine.backends.pulse.foreign import scaled
from audiosession.engine.backends.pulse.own_streams import OwnStreams
from support.bridged import SEVENTY_PERCENT
from support.own_players import Reports, SimpleTone
from support.pulse_server import PulseServer, level_db, require_pulse_tools, wait_for


@pytest.fixture(scope="module")
def pulse_server() -> Iterator[PulseServer]:
    """This module's own private server (the module's database is per server)."""
    require_pulse_tools()
    server = PulseServer().start()
    server.activate()
    try:
        server.pactl("load-module", "module-stream-restore")
        yield server
    finally:
        server.stop()


def test_a_stream_that_ends_mid_duck_leaves_the_users_volume_remembered(
    pulse_server: PulseServer, reports: Reports, watcher: OwnStreams
) -> None:
    with SimpleTone(440, application="first-player"):
        stream = reports.wait_for_stream("first-player")
        pulse_server.pactl("set-sink-input-volume", str(stream.index), "70%")
        assert wait_for(lambda: pulse_server.volume_of(stream.index)[0] == [SEVENTY_PERCENT] * 2)
        watcher.set_gain(stream.index, 0.2, 0.3)
        assert wait_for(
            lambda: pulse_server.volume_of(stream.index)[0] == scaled([SEVENTY_PERCENT] * 2, 0.2)
        )
    reports.wait_for("gone", stream.index)

    with SimpleTone(440, application="next-player"):
        after = reports.wait_for_stream("next-player")
        assert pulse_server.volume_of(after.index) == ([SEVENTY_PERCENT] * 2, False)
        heard = level_db(pulse_server.record_monitor("speakers", 0.5), 440)
    full = 20 * math.log10(0.5 / math.sqrt(2))
    assert heard - full == pytest.approx(60 * math.log10(0.7), abs=0.5)  # -9.3 dB
