"""The PulseAudio backend (PulseAudio, and PipeWire's ``pipewire-pulse``): libpulse's bindings
(``bindings``, ``structs``; ``simple`` for its simple API), the connection that streams play
on (``connection``), the streams (``streams``), the pulsectl side that lists and watches
devices and listens for events (``control``, ``devices``), and the backend (``backend``)."""
