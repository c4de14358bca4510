"""`odma-sim predictors evaluate`: the accuracy table, its CSV and confusion matrices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from odma_sim import __version__
from odma_sim.predictors.evaluate import PAPER_ACCURACY, Scores
from odma_sim.report.output import atomic_dir, write_json


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def format_scores(scores: list[Scores], paper: str | None) -> str:
    ref = PAPER_ACCURACY.get(paper or "", {})
    head = ["predictor", "S3-scheme acc", "ODMA-bucket acc", "paper acc", "MAE tok",
            "under", "over", "acc top-90% certain"]
    rows = [head]
    for s in scores:
        rows.append([
            s.predictor, _pct(s.s3_accuracy), _pct(s.odma_accuracy), _pct(ref.get(s.predictor)),
            f"{s.mae_tokens:.1f}", _pct(s.under_rate), _pct(s.over_rate),
            _pct(s.certain90_accuracy),
        ])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for j, r in enumerate(rows):
        lines.append("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in
                                                          zip(r[1:], widths[1:], strict=True)]))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_timing(scores: list[Scores]) -> str:
    """Wall-clock costs (machine-dependent, so apart from the table) and the latency the
    simulator charges."""
    return "\n".join(
        f"  {s.predictor}: trained in {s.train_wall_s:.2f} s, predicts in "
        f"{1e3 * s.predict_wall_s_per_request:.3f} ms per request here; the simulator "
        f"charges {1e3 * s.model_latency_s_per_request:.3f} ms per request (batch of 16)"
        for s in scores)


def confusion_figure(scores: list[Scores], title: str) -> Figure:
    fig, axes = plt.subplots(1, len(scores), figsize=(3.6 * len(scores), 3.6),
                             squeeze=False, constrained_layout=True)
    for ax, s in zip(axes[0], scores, strict=True):
        m = s.confusion.astype(float)
        share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        ax.set_title(f"{s.predictor}: {100 * s.s3_accuracy:.1f}%", fontsize=10)
        ax.set_xlabel("predicted bucket")
        ax.set_ylabel("true bucket")
        for (i, j), v in np.ndenumerate(m):
            if v:
                ax.text(j, i, int(v), ha="center", va="center", fontsize=6,
                        color="white" if share[i, j] > 0.5 else "black")
    fig.suptitle(title, fontsize=10)
    return fig


def write_evaluation(out: Path, scores: list[Scores], meta: dict[str, Any]) -> None:
    def fill(d: Path) -> None:
        pd.DataFrame([s.row() for s in scores]).to_csv(d / "predictors.csv", index=False)
        write_json(d / "run.json", {"package_version": __version__, **meta})
        fig = confusion_figure(scores, f"{meta['workload']}: S3-scheme buckets "
                                       f"({meta['buckets']} over [0, {meta['max_len']}))")
        fig.savefig(d / "confusion.png", dpi=110, metadata={"Software": None})
        plt.close(fig)

    atomic_dir(out, fill)
