"""The PulseAudio / PipeWire bridge of the daemon (docs/bridge.md): the streams of programs
that do not use this package take part in the policy table.

Each *foreign* playback stream (a sink-input that is not ours) becomes a session of the
daemon's built-in pseudo-client ``pulse`` (session id = the sink-input index, context = the
stream's process), typed from its ``media.role``; it asks to be active when it starts or
uncorks and releases when it corks or ends. Actions the policy decides for those sessions are
applied to the sound server instead of being pushed to a client:

- ``SetGain`` (a duck): the sink-input's volume becomes its own volume × gain (in amplitude,
  per channel; PulseAudio ducks at once, as its own ``module-role-ducking`` does); gain 1
  restores exactly the volume it had (the raw ``pa_volume_t`` values).
- ``SetState`` ``interrupted`` / ``inactive``: the sink-input is muted (a client cannot cork
  another client's stream; PulseAudio's own ``module-role-cork`` mutes it too); ``active``
  unmutes it. A stream the user had muted is left alone.

Each volume or mute the bridge changes is written to a journal (``volumes.json`` next to the
daemon's socket, replaced atomically) before it is changed and dropped once restored, so a
daemon killed mid-duck restores the streams at its next start. If the user changes a ducked
stream's volume (or unmutes a muted one), the user wins: the bridge forgets what it had saved
and does not touch that stream again for that duck.

Modules: ``pulse_bridge`` (``PulseBridge``: the policy glue and its threads) and ``journal``
(the journal file). The volume arithmetic, the duck, the mute and what
``module-stream-restore`` remembers are the pulse backend's (``engine.backends.pulse.foreign``
and ``memory``), shared with the program's own streams (``engine.backends.pulse.own_streams``).

Only ``pulsectl`` (the native protocol's client API) is used, so it runs the same against
PulseAudio and PipeWire's ``pipewire-pulse``. ``pulsectl`` blocks, so the bridge has two
threads with one connection each: one listens for sink-input events, the other queries and
changes streams; the policy itself runs on the daemon's asyncio loop
(``loop.call_soon_threadsafe``), never blocked by the sound server.
"""

from .journal import JournalError
from .pulse_bridge import (
    BRIDGE_CLIENT,
    OUR_APPLICATION,
    ROLE_TYPES,
    BridgeHost,
    PulseBridge,
    type_for_role,
)

__all__ = [
    "BRIDGE_CLIENT",
    "OUR_APPLICATION",
    "ROLE_TYPES",
    "BridgeHost",
    "JournalError",
    "PulseBridge",
    "type_for_role",
]
