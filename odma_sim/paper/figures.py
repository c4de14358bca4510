"""The nine figures of the reproduction; each reads run results, so it works on any run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from odma_sim.config.presets import load_preset
from odma_sim.hardware.spec import DeviceSpec
from odma_sim.models.spec import ModelSpec
from odma_sim.predictors.evaluate import PAPER_ACCURACY
from odma_sim.report.device import racm_curve
from odma_sim.report.plots import racm_figure
from odma_sim.sweep.plots import seed_stats

if TYPE_CHECKING:
    from odma_sim.paper.reproduce import Reproduction

PAPER_UTIL = {"alpaca": {"static": 0.5505, "odma": 0.7245}, "nq": {"static": 0.4254,
                                                                  "odma": 0.6179}}
PAPER_TPS_GAIN = {"alpaca": 0.23, "nq": 0.27}
PAPER_RPS_GAIN = 0.29  # v1 abstract, data set not stated
ORDER = ["static", "paged", "s3", "odma", "odma-static", "odma-nopool", "odma-noroute",
         "oracle-buckets"]


def _summary(run_dir: Path) -> pd.DataFrame:
    import json

    return pd.DataFrame(json.loads((run_dir / "summary.json").read_text()))


def fig_racm(devices: Sequence[str] = ("mlu370-x4", "mlu370-x4-lpddr5x", "hbm3-iso",
                                       "a100-80gb", "h100-sxm")) -> Figure:
    """1. alpha against contiguous chunk size, with the paper's 0.3-0.7 band."""
    model = ModelSpec.model_validate(load_preset("models", "deepseek-r1-distill-qwen-7b",
                                                 base_dir=None, source="fig", key="m")[0])
    curves = {}
    for d in devices:
        spec = DeviceSpec.model_validate(load_preset("hardware", d, base_dir=None,
                                                     source="fig", key="d")[0])
        c = racm_curve(spec, model)
        curves[d] = (c["chunk_bytes"].to_numpy(), c["alpha"].to_numpy())
    fig = racm_figure(curves)
    fig.axes[0].set_title("Random-access efficiency by chunk size (mechanistic model)")
    return fig


def fig_lengths(run_dirs: dict[str, Path]) -> Figure:
    """2. output-length distributions with ODMA's learned boundaries (first, last)."""
    fig, axes = plt.subplots(1, len(run_dirs), figsize=(6 * len(run_dirs), 3.8),
                             squeeze=False, constrained_layout=True)
    for ax, (name, d) in zip(axes[0], run_dirs.items(), strict=True):
        recs = pd.read_csv(d / "records" / "odma.csv")
        ax.hist(recs["output_tokens"], bins=60, color="0.7")
        log = pd.read_csv(d / "buckets.csv")
        log = log[(log["row"] == "odma") & log["event"].isin(["init", "replan"])]
        for b in map(int, log["boundaries"].iloc[-1].split()[:-1]):
            ax.axvline(b, color="tab:red", lw=1)
        ax.set_title(f"{name}: output lengths, ODMA boundaries", fontsize=10)
        ax.set_xlabel("output tokens")
        ax.set_ylabel("requests")
    return fig


def fig_accuracy(tables: dict[str, pd.DataFrame]) -> Figure:
    """3. bucket accuracy of S3, ODMA and the oracle, paper values as markers."""
    fig, axes = plt.subplots(1, len(tables), figsize=(5 * len(tables), 3.8), squeeze=False,
                             constrained_layout=True)
    for ax, (name, t) in zip(axes[0], tables.items(), strict=True):
        x = np.arange(len(t))
        ax.bar(x - 0.2, 100 * t["s3_bucket_accuracy"], 0.4, label="S3 scheme (10 buckets)")
        ax.bar(x + 0.2, 100 * t["odma_bucket_accuracy"], 0.4, label="ODMA's learned buckets")
        for i, p in enumerate(t["predictor"]):
            ref = PAPER_ACCURACY.get(name, {}).get(p)
            if ref is not None:
                ax.plot(i, 100 * ref, "k*", ms=12, label="paper" if i == 0 else None)
        ax.set_xticks(x, t["predictor"])
        ax.set_ylim(0, 105)
        ax.set_ylabel("bucket accuracy (%)")
        ax.set_title(name, fontsize=10)
        ax.legend(fontsize=7)
    return fig


def _bars(ax: Any, df: pd.DataFrame, col: str, scale: float, title: str) -> list[str]:
    rows = [r for r in ORDER if r in set(df["name"])]
    vals = [float(df.loc[df["name"] == r, col].iloc[0]) * scale for r in rows]
    ax.bar(range(len(rows)), vals, color=[plt.get_cmap("tab10")(i) for i in range(len(rows))])
    ax.set_xticks(range(len(rows)), rows, rotation=40, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)
    return rows


def fig_kv_utilization(run_dirs: dict[str, Path]) -> Figure:
    """4. KV utilisation (final / reserved) per allocator, paper values as markers."""
    fig, axes = plt.subplots(1, len(run_dirs), figsize=(6 * len(run_dirs), 4),
                             squeeze=False, constrained_layout=True)
    for ax, (name, d) in zip(axes[0], run_dirs.items(), strict=True):
        df = _summary(d)
        rows = _bars(ax, df, "kv_utilization", 100, f"{name}: KV utilisation (%)")
        for alloc, ref in PAPER_UTIL.get(name, {}).items():
            if alloc in rows:
                ax.plot(rows.index(alloc), 100 * ref, "k*", ms=12)
    return fig


def fig_throughput(run_dirs: dict[str, Path]) -> Figure:
    """5. RPS and TPS relative to static, paper values as markers."""
    fig, axes = plt.subplots(2, len(run_dirs), figsize=(6 * len(run_dirs), 7),
                             squeeze=False, constrained_layout=True)
    for j, (name, d) in enumerate(run_dirs.items()):
        df = _summary(d)
        base = df.set_index("name").loc["static"]
        for i, (col, ref) in enumerate((("tps_output", PAPER_TPS_GAIN.get(name)),
                                        ("rps", PAPER_RPS_GAIN if name == "alpaca" else None))):
            rel = df.assign(rel=df[col] / base[col])
            rows = _bars(axes[i, j], rel, "rel", 1.0, f"{name}: {col} / static")
            axes[i, j].axhline(1.0, color="0.5", lw=0.8)
            if ref is not None:
                axes[i, j].plot(rows.index("odma"), 1 + ref, "k*", ms=12)
    return fig


def fig_drift(run_dir: Path) -> Figure:
    """6. boundaries over time under drift (dynamic vs static), and KV utilisation."""
    log = pd.read_csv(run_dir / "buckets.csv")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True,
                                      constrained_layout=True)
    styles = {"odma": "-", "odma-static": "--"}
    for row, style in styles.items():
        plans = log[(log["row"] == row) & log["event"].isin(["init", "replan"])]
        if plans.empty:
            continue
        times = plans["time_s"].tolist()
        bounds = [list(map(int, b.split()))[:-1] for b in plans["boundaries"]]
        tl = pd.read_csv(run_dir / "timeline" / f"{row}.csv")
        end = float(tl["start_s"].max())
        for k in range(len(bounds[0])):
            ys = [b[k] if k < len(b) else np.nan for b in bounds]
            top.step([*times, end], [*ys, ys[-1]], where="post", ls=style, lw=1,
                     color=plt.get_cmap("viridis")(k / max(1, len(bounds[0]) - 1)))
        edges = np.linspace(0, end, 40)
        idx = np.digitize(tl["start_s"], edges)
        used = tl.groupby(idx).apply(lambda g: (g.used_tokens * g.duration_s).sum())
        res = tl.groupby(idx).apply(lambda g: (g.reserved_tokens * g.duration_s).sum())
        bottom.plot(edges[np.asarray(used.index) - 1], 100 * used / res, ls=style, label=row)
    top.set_yscale("log")
    top.set_ylabel("bucket bounds (tokens)")
    top.set_title("dynamic (solid) vs static (dashed) boundaries under drift", fontsize=10)
    bottom.set_ylabel("used / reserved KV (%)")
    bottom.set_xlabel("simulated time (s)")
    bottom.legend(fontsize=8)
    return fig


def fig_ablations(run_dirs: dict[str, Path]) -> Figure:
    """7. ablations relative to full ODMA: throughput and KV utilisation."""
    names = ["odma", "odma-static", "odma-nopool", "odma-noroute", "oracle-buckets"]
    fig, axes = plt.subplots(1, len(run_dirs), figsize=(6 * len(run_dirs), 4),
                             squeeze=False, constrained_layout=True)
    for ax, (name, d) in zip(axes[0], run_dirs.items(), strict=True):
        df = _summary(d).set_index("name")
        x = np.arange(len(names))
        for k, col in enumerate(("tps_output", "kv_utilization")):
            vals = df[col].astype(float)
            rel = [float(vals[n]) / float(vals["odma"]) for n in names]
            ax.bar(x + (k - 0.5) * 0.4, rel, 0.4, label=col)
        ax.axhline(1.0, color="0.5", lw=0.8)
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{name}: relative to ODMA", fontsize=10)
        ax.legend(fontsize=8)
    return fig


def crossover_alpha(stats: pd.DataFrame, a: str, b: str) -> float | None:
    """The alpha where allocator ``a``'s mean tps crosses ``b``'s (linear interpolation
    between the two sweep points around a change of sign), or None if it never does."""
    sa = stats[stats["name"] == a].set_index("alpha")["mean"]
    sb = stats[stats["name"] == b].set_index("alpha")["mean"]
    diff = (sa - sb).dropna().sort_index()
    xs = diff.index.to_numpy(dtype=float)
    ds = diff.to_numpy(dtype=float)
    for i in range(len(xs) - 1):
        if ds[i] * ds[i + 1] < 0:
            return float(xs[i] + (xs[i + 1] - xs[i]) * ds[i] / (ds[i] - ds[i + 1]))
    return None


def fig_crossover(results: pd.DataFrame) -> Figure:
    """8. where each allocator wins: tps against alpha, crossover of ODMA and paging."""
    ok = results[results["status"] == "ok"].copy()
    ok["alpha"] = ok["device.memory.random_access"].map(
        lambda s: __import__("json").loads(s)["alpha"])
    devices = list(dict.fromkeys(ok["device"]))
    fig, axes = plt.subplots(1, len(devices), figsize=(6 * len(devices), 4), squeeze=False,
                             constrained_layout=True)
    for ax, dev in zip(axes[0], devices, strict=True):
        st = seed_stats(ok[ok["device"] == dev], ["name", "alpha"], "tps_output")
        for n, g in st.groupby("name"):
            ax.plot(g["alpha"], g["mean"], marker="o", label=n)
            ax.fill_between(g["alpha"], g["mean"] - g["ci95"], g["mean"] + g["ci95"],
                            alpha=0.2)
        x = crossover_alpha(st, "odma", "paged")
        if x is not None:
            ax.axvline(x, color="k", ls=":", lw=1)
            ax.annotate(f"ODMA and paging cross at alpha {x:.2f}", (x, ax.get_ylim()[0]),
                        xytext=(5, 10), textcoords="offset points", fontsize=8)
        else:
            below = st[st["alpha"] < 1.0]
            lead = below.groupby("name")["mean"].mean()
            ahead = "ODMA" if lead.get("odma", 0) >= lead.get("paged", 0) else "paging"
            ax.text(0.02, 0.02, f"no crossover: {ahead} ahead at every alpha < 1",
                    transform=ax.transAxes, fontsize=8)
        ax.set_xlabel("alpha of a 16-KiB chunk (empirical)")
        ax.set_ylabel("output tokens / s")
        ax.set_title(dev, fontsize=10)
        ax.legend(fontsize=8)
    return fig


def fig_latency(results: pd.DataFrame) -> Figure:
    """9. TTFT and TPOT p99 against offered load."""
    ok = results[results["status"] == "ok"]
    x = "workload.arrivals.rate_rps"
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for ax, col in zip(axes, ("ttft_p99_s", "tpot_p99_s"), strict=True):
        st = seed_stats(ok, ["name", x], col)
        for n, g in st.groupby("name"):
            ax.plot(g[x], g["mean"], marker="o", label=n)
            ax.fill_between(g[x], g["mean"] - g["ci95"], g["mean"] + g["ci95"], alpha=0.2)
        ax.set_yscale("log")
        ax.set_xlabel("offered load (requests / s)")
        ax.set_ylabel(f"{col} (s)")
        ax.legend(fontsize=8)
    return fig


def draw_all(rep: Reproduction) -> None:
    """Every figure as PNG and SVG under ``rep.out/figures``."""
    out = rep.out / "figures"
    out.mkdir(parents=True, exist_ok=True)
    runs = {n: rep.out / "runs" / n for n in ("alpaca", "nq")}
    tables = {n: pd.read_csv(rep.out / "runs" / f"predictors-{n}.csv") for n in runs}
    figures = {
        "1_racm_curve": fig_racm(),
        "2_length_distributions": fig_lengths(runs),
        "3_predictor_accuracy": fig_accuracy(tables),
        "4_kv_utilization": fig_kv_utilization(runs),
        "5_throughput_vs_static": fig_throughput(runs),
        "6_drift_boundaries": fig_drift(rep.out / "runs" / "drift"),
        "7_ablations": fig_ablations(runs),
        "8_where_each_wins": fig_crossover(rep.sweeps["crossover"]),
        "9_latency_vs_load": fig_latency(rep.sweeps["load"]),
    }
    note = " (QUICK run: reduced request counts)" if rep.quick else ""
    for name, fig in figures.items():
        if note:
            fig.suptitle(note.strip(" ()"), fontsize=9, color="tab:red")
        fig.savefig(out / f"{name}.png", dpi=100, metadata={"Software": None})
        fig.savefig(out / f"{name}.svg", metadata={"Date": None})
        plt.close(fig)
