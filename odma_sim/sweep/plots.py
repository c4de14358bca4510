"""Sweep figures: metric against an axis with seed confidence bands, and a winner map."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from odma_sim.errors import InputError


def _check(df: pd.DataFrame, *cols: str | None) -> None:
    for c in cols:
        if c is not None and c not in df.columns:
            axes = [k for k in df.columns if "." in k]
            raise InputError(f"the sweep results have no column '{c}'", source="results",
                             value=c, expected=f"an axis ({', '.join(axes)}) or a metric "
                             "such as tps_output, kv_utilization, ttft_p99_s")


def seed_stats(df: pd.DataFrame, keys: list[str], y: str) -> pd.DataFrame:
    """Mean over seeds and a 95 % normal confidence half-width (0 with one seed)."""
    g = df.groupby(keys, dropna=False)[y]
    out = g.agg(["mean", "std", "count"]).reset_index()
    out["ci95"] = 1.96 * out["std"].fillna(0.0) / np.sqrt(out["count"].clip(lower=1))
    return out


def line_figure(df: pd.DataFrame, x: str, y: str, hue: str = "name",
                facet: str | None = None) -> Figure:
    """``y`` against ``x``, one line per ``hue`` and a panel per ``facet`` value; the
    band is the 95 % confidence interval of the mean over seeds."""
    ok = df[df["status"] == "ok"]
    _check(ok, x, y, hue, facet)
    facets = [None] if facet is None else sorted(ok[facet].dropna().unique().tolist())
    cols = min(3, len(facets))
    rows = math.ceil(len(facets) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.8 * rows), squeeze=False,
                             constrained_layout=True)
    for ax, fv in zip(axes.flat, facets, strict=False):
        part = ok if fv is None else ok[ok[facet] == fv]
        stats = seed_stats(part, [hue, x], y)
        for h, g in stats.groupby(hue):
            g = g.sort_values(x)
            ax.plot(g[x], g["mean"], marker="o", ms=3, label=str(h))
            ax.fill_between(g[x], g["mean"] - g["ci95"], g["mean"] + g["ci95"], alpha=0.2)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        if fv is not None:
            ax.set_title(f"{facet} = {fv}", fontsize=10)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(facets):]:
        ax.set_visible(False)
    return fig


def winner_figure(df: pd.DataFrame, x: str, y: str, metric: str = "tps_output",
                  hue: str = "name") -> Figure:
    """Over the (``x``, ``y``) grid, which ``hue`` has the highest mean ``metric``;
    each cell is annotated with the winner's margin over the runner-up."""
    ok = df[df["status"] == "ok"]
    _check(ok, x, y, metric, hue)
    stats = seed_stats(ok, [x, y, hue], metric)
    xs = sorted(stats[x].unique().tolist())
    ys = sorted(stats[y].unique().tolist())
    names = sorted(stats[hue].unique().tolist())
    win = np.full((len(ys), len(xs)), np.nan)
    margin = np.full((len(ys), len(xs)), np.nan)
    for (xv, yv), g in stats.groupby([x, y]):
        g = g.sort_values("mean", ascending=False)
        i, j = ys.index(yv), xs.index(xv)
        win[i, j] = names.index(g[hue].iloc[0])
        if len(g) > 1 and g["mean"].iloc[1] > 0:
            margin[i, j] = g["mean"].iloc[0] / g["mean"].iloc[1] - 1.0
    colors = plt.get_cmap("tab10")
    cmap = ListedColormap([colors(k) for k in range(len(names))])
    fig, ax = plt.subplots(figsize=(1.1 * len(xs) + 3, 0.7 * len(ys) + 2.2),
                           constrained_layout=True)
    ax.imshow(win, cmap=cmap, vmin=-0.5, vmax=len(names) - 0.5, aspect="auto",
              origin="lower")
    for (i, j), m in np.ndenumerate(margin):
        if not np.isnan(win[i, j]):
            label = names[int(win[i, j])] + ("" if np.isnan(m) else f"\n+{100 * m:.0f}%")
            ax.text(j, i, label, ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(xs)), [f"{v:g}" if isinstance(v, int | float) else str(v)
                                   for v in xs], rotation=45)
    ax.set_yticks(range(len(ys)), [f"{v:g}" if isinstance(v, int | float) else str(v)
                                   for v in ys])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"highest mean {metric} (margin over the runner-up)", fontsize=10)
    return fig
