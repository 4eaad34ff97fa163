"""The libpulse structures that both its APIs take (the asynchronous one of ``bindings`` and
the simple one of ``simple``): ctypes only, so the simple one loads nothing else."""

from __future__ import annotations

from ctypes import Structure, c_int, c_int64, c_long, c_uint8, c_uint32, c_uint64

__all__ = ["BufferAttr", "SampleSpec", "TimingInfo"]


class SampleSpec(Structure):
    """``pa_sample_spec``: a stream's sample format, rate and channels."""

    _fields_ = [("format", c_int), ("rate", c_uint32), ("channels", c_uint8)]


class BufferAttr(Structure):
    """``pa_buffer_attr``: a stream's buffer sizes in bytes (0xFFFFFFFF: the server's choice)."""

    _fields_ = [
        ("maxlength", c_uint32),
        ("tlength", c_uint32),
        ("prebuf", c_uint32),
        ("minreq", c_uint32),
        ("fragsize", c_uint32),
    ]


class TimingInfo(Structure):
    """``pa_timing_info``: where a stream's server reads and writes, and its sink's latency."""

    _fields_ = [
        ("timestamp_sec", c_long),
        ("timestamp_usec", c_long),
        ("synchronized_clocks", c_int),
        ("sink_usec", c_uint64),
        ("source_usec", c_uint64),
        ("transport_usec", c_uint64),
        ("playing", c_int),
        ("write_index_corrupt", c_int),
        ("write_index", c_int64),
        ("read_index_corrupt", c_int),
        ("read_index", c_int64),
        ("configured_sink_usec", c_uint64),
        ("configured_source_usec", c_uint64),
        ("since_underrun", c_int64),
    ]
