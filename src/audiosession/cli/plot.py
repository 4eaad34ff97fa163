"""demo.png: one lane per session (states as coloured bands, gain as a line), levels below."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audiosession.cli.timeline import Rendering

DETAIL_COLOURS = {
    "active": ("#4caf50", "active"),
    "ducked": ("#aed581", "active, ducked (-14 dB)"),
    "paused": ("#ffa726", "interrupted: paused"),
    "delayed": ("#ab47bc", "interrupted: delayed"),
    "interrupted": ("#ffcc80", "interrupted"),
    "inactive": ("#eeeeee", "inactive"),
}
LANE_HEIGHT = 0.8
LEVEL_FLOOR = -60.0
LEVEL_WINDOW = 0.02


def levels(
    signal: np.ndarray, rate: int, window: float = LEVEL_WINDOW
) -> tuple[np.ndarray, np.ndarray]:
    """RMS level (dBFS, floored at ``LEVEL_FLOOR``) of channel 0 in windows of ``window`` s."""
    size = max(1, int(window * rate))
    count = len(signal) // size
    mono = signal[: count * size, 0].astype(np.float64).reshape(count, size)
    rms = np.sqrt(np.mean(mono**2, axis=1))
    db = 20 * np.log10(np.maximum(rms, 10 ** (LEVEL_FLOOR / 20)))
    return (np.arange(count) + 0.5) * window, db


def _runs(values: list[str]) -> list[tuple[int, int, str]]:
    """(first index, last index exclusive, value) of each run of equal values."""
    runs, start = [], 0
    for index in range(1, len(values) + 1):
        if index == len(values) or values[index] != values[start]:
            runs.append((start, index, values[start]))
            start = index
    return runs


def plot_timeline(rendering: Rendering, path: Path) -> None:
    """Draw the demo's timeline into ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.artist import Artist
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    timeline = rendering.timeline
    times = np.asarray(timeline.times)
    end = float(times[-1]) if len(times) else 1.0
    parties = timeline.parties
    figure, (lanes, bottom) = plt.subplots(
        2, 1, figsize=(13, 7.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.4]}
    )

    # -- one lane per session ---------------------------------------------------------------
    for row, (label, _) in enumerate(parties):
        base = len(parties) - 1 - row
        samples = timeline.lanes[label]
        edges = np.append(times, end)
        for first, last, detail in _runs([s.detail for s in samples]):
            colour = DETAIL_COLOURS.get(detail, DETAIL_COLOURS["interrupted"])[0]
            lanes.broken_barh(
                [(edges[first], edges[last] - edges[first])],
                (base, LANE_HEIGHT),
                facecolors=colour,
                edgecolors="none",
            )
        playing = np.array([s.state == "active" for s in samples])
        gains = np.array([s.gain if s.state == "active" else np.nan for s in samples])
        if playing.any():
            lanes.step(
                times, base + LANE_HEIGHT * gains, where="post", color="#1a237e", linewidth=1.6
            )
        route = timeline.routes.get(label)
        for first, last, key in _runs([f"{s.detail}|{s.why}" for s in samples]):
            detail, why = key.split("|", 1)
            text = "-14 dB" if detail == "ducked" else why
            if detail == "active" and route and route != rendering.default_device:
                text = f"routed to {route}"
            if text and edges[last] - edges[first] >= 0.085 * len(text) + 0.15:
                lanes.text(
                    edges[first] + 0.1,
                    base + 0.5 * LANE_HEIGHT,
                    text,
                    fontsize=8.5,
                    color="#212121",
                    va="center",
                    ha="left",
                    clip_on=True,
                )
    lanes.set_yticks([len(parties) - 1 - row + LANE_HEIGHT / 2 for row in range(len(parties))])
    lanes.set_yticklabels([f"{label}\n({type_})" for label, type_ in parties])
    lanes.set_ylim(-0.15, len(parties) + 0.55)
    lanes.set_ylabel("sessions (band: state; line: gain 0..1)")
    lanes.set_title(
        "audiosession demo: every session's state and gain, and what the devices received",
        loc="left",
    )
    for when, text in timeline.cues:
        for axes in (lanes, bottom):
            axes.axvline(when, color="#90a4ae", linestyle=":", linewidth=1)
        lanes.text(
            when + 0.08, len(parties) + 0.05, text, fontsize=8.5, color="#37474f", va="bottom"
        )
    handles: list[Artist] = [
        Patch(facecolor=colour, edgecolor="#9e9e9e", label=name)
        for colour, name in DETAIL_COLOURS.values()
        if name != "interrupted"
    ]
    handles.append(Line2D([], [], color="#1a237e", linewidth=1.6, label="gain (0 to 1)"))
    lanes.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=9,
        title="state",
        title_fontsize=9,
        frameon=False,
    )

    # -- what the devices received -----------------------------------------------------------
    x, db = levels(rendering.default_output, rendering.rate)
    bottom.plot(
        x,
        db,
        color="#1565c0",
        linewidth=1,
        label=f"{rendering.default_device} (speakers): demo.wav",
    )
    if rendering.communications_output is not None:
        x, db = levels(rendering.communications_output, rendering.rate)
        bottom.plot(
            x,
            db,
            color="#c62828",
            linewidth=1,
            label=f"{rendering.communications_device} (communications device)",
        )
    mic = np.asarray(timeline.mic_levels, dtype=float)
    if np.isfinite(mic).any():
        bottom.plot(
            times,
            np.where(np.isfinite(mic), mic, np.nan),
            color="#6d4c41",
            linewidth=1,
            linestyle="--",
            label="microphone input",
        )
    bottom.set_ylim(LEVEL_FLOOR, 0)
    bottom.set_ylabel("level (dBFS, RMS 20 ms)")
    bottom.set_xlabel("time (s)")
    bottom.set_xlim(0, end)
    bottom.grid(axis="y", color="#eceff1")
    bottom.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=9,
        frameon=False,
        title="output and input levels",
        title_fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
