"""Figures: the run comparison (summary.png) and a device's random-access curve."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

# (summary key, panel title, scale, unit label)
SUMMARY_PANELS = [
    ("kv_utilization", "KV utilisation\n(final tokens / reserved)", 100.0, "%"),
    ("tps_output", "Throughput\n(output tokens / s)", 1.0, "tok/s"),
    ("kv_alpha_eff", "KV read efficiency alpha\n(achieved / streaming)", 1.0, ""),
    ("decode_step_mean_s", "Mean decode step", 1e3, "ms"),
    ("mean_batch", "Mean running batch", 1.0, "requests"),
    ("tpot_p50_s", "TPOT p50", 1e3, "ms"),
]


def summary_figure(summaries: Sequence[dict[str, Any]], title: str = "") -> Figure:
    """Grouped bars: one group per device, one bar per allocator, six metrics."""
    devices = list(dict.fromkeys(s["device"] for s in summaries))
    allocs = list(dict.fromkeys(s["name"].split("@")[0] for s in summaries))
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.8), constrained_layout=True)
    width = 0.8 / max(1, len(allocs))
    x = np.arange(len(devices))
    colors = plt.get_cmap("tab10")
    for ax, (key, label, scale, unit) in zip(axes.flat, SUMMARY_PANELS, strict=True):
        for j, a in enumerate(allocs):
            vals = []
            for d in devices:
                row = next((s for s in summaries
                            if s["device"] == d and s["name"].split("@")[0] == a), None)
                v = None if row is None else row.get(key)
                vals.append(np.nan if v is None else v * scale)
            bars = ax.bar(x + (j - (len(allocs) - 1) / 2) * width, vals, width,
                          label=a, color=colors(j))
            ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=1)
        ax.set_xticks(x, devices)
        ax.set_title(label, fontsize=10)
        if unit:
            ax.set_ylabel(unit)
        ax.margins(y=0.15)
    axes.flat[0].legend(fontsize=8, title="allocator", title_fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def racm_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], band: tuple[float, float] = (
        0.3, 0.7)) -> Figure:
    """alpha vs chunk size for several devices, with the paper's 0.3-0.7 band."""
    fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
    ax.axhspan(*band, color="0.9", label=f"paper's alpha {band[0]}-{band[1]}")
    for name, (size, alpha) in curves.items():
        ax.plot(size, alpha, marker="o", ms=3, label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("contiguous chunk size (bytes)")
    ax.set_ylabel("alpha = effective / streaming bandwidth")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    return fig


def buckets_figure(rows: Sequence[tuple[str, list[dict[str, Any]], np.ndarray, float]]) -> Figure:
    """One line per bucketed row: its boundaries over simulated time (left) and the
    output-length histogram with the first and last boundaries (right).
    ``rows``: (name, bucket log, true output lengths, end time of the run)."""
    fig, axes = plt.subplots(len(rows), 2, figsize=(12, 2.9 * len(rows)), squeeze=False,
                             constrained_layout=True)
    for r, (name, log, lengths, end_s) in enumerate(rows):
        plans = [e for e in log if e["event"] in ("init", "replan")]
        times = [e["time_s"] for e in plans] + [max(end_s, plans[-1]["time_s"])]
        bounds = [list(map(int, e["boundaries"].split())) for e in plans]
        bounds.append(bounds[-1])
        k = max(len(b) for b in bounds)
        left, right = axes[r, 0], axes[r, 1]
        for i in range(k - 1):  # the last boundary is always the maximum length
            left.step(times, [b[i] if i < len(b) - 1 else np.nan for b in bounds],
                      where="post", lw=1.2)
        updates = sum(1 for e in log if e["event"] == "replan" and e["applied"])
        left.set_title(f"{name}: bucket boundaries ({updates} updates)", fontsize=10)
        left.set_xlabel("simulated time (s)")
        left.set_ylabel("upper bound (tokens)")
        left.set_yscale("log")
        right.hist(lengths, bins=60, color="0.75")
        for b in bounds[0][:-1]:
            right.axvline(b, color="tab:blue", ls="--", lw=0.9)
        for b in bounds[-1][:-1]:
            right.axvline(b, color="tab:red", lw=0.9)
        right.set_title(f"{name}: true output lengths; first (--) and last (-) boundaries",
                        fontsize=10)
        right.set_xlabel("output tokens")
        right.set_ylabel("requests")
    return fig
