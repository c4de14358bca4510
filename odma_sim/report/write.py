"""What `odma-sim run` writes into its output directory."""

from __future__ import annotations

import platform
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from odma_sim import __version__
from odma_sim.experiment import ExperimentResult
from odma_sim.report.output import atomic_dir, resolved_config, safe_name, write_json
from odma_sim.report.plots import buckets_figure, summary_figure


def write_run(result: ExperimentResult, out: Path) -> None:
    """summary.json/.csv, records/, timeline/, config.resolved.yaml, run.json, timing.json,
    summary.png, and for bucketed allocators buckets.csv and buckets.png, all swapped in
    at once."""
    loaded = result.loaded
    spec = loaded.spec

    def fill(d: Path) -> None:
        write_json(d / "summary.json", result.summaries)
        result.summary_frame().to_csv(d / "summary.csv", index=False)
        (d / "config.resolved.yaml").write_text(
            resolved_config(spec.to_config(), spec.seed, loaded.source),
            encoding="utf-8",
        )
        write_json(d / "run.json", {
            "package": "odma-sim",
            "package_version": __version__,
            "seed": spec.seed,
            "config": loaded.source,
            "rows": [s["name"] for s in result.summaries],
            "requests": len(result.table),
            "files": {
                "summary.json": "one object per row (device x allocator); wall_time_s is null "
                                "here, see timing.json",
                "records/<row>.csv": "one row per request",
                "timeline/<row>.csv": "one row per engine iteration",
            },
        })
        write_json(d / "timing.json", {
            "note": "wall-clock times vary between runs, so they are kept out of summary.json",
            "python": platform.python_version(),
            "rows": {run.name: {"wall_time_s": run.wall_time_s, "sim_time_s": run.sim_time_s,
                                "predictor_fit_wall_s": run.predictor_fit_wall_s}
                     for run in result.runs},
        })
        bucketed = [run for run in result.runs if run.bucket_log]
        if bucketed:
            pd.DataFrame([{"row": run.name, **e} for run in bucketed for e in run.bucket_log]
                         ).to_csv(d / "buckets.csv", index=False)
            fig = buckets_figure([
                (run.name, run.bucket_log,
                 np.array([q.output_tokens for q in run.requests if q.status == "finished"]),
                 run.sim_time_s)
                for run in bucketed])
            fig.savefig(d / "buckets.png", dpi=100, metadata={"Software": None})
            plt.close(fig)
        if spec.output.records:
            (d / "records").mkdir()
            for run, recs in zip(result.runs, result.records, strict=True):
                recs.to_csv(d / "records" / f"{safe_name(run.name)}.csv", index=False)
        if spec.output.timeline:
            (d / "timeline").mkdir()
            for run in result.runs:
                tl: pd.DataFrame = run.recorder.timeline()
                tl.to_csv(d / "timeline" / f"{safe_name(run.name)}.csv", index=False)
        fig = summary_figure(result.summaries, title=f"{spec.name}: {spec.model.name}")
        fig.savefig(d / "summary.png", dpi=110, metadata={"Software": None})
        plt.close(fig)

    atomic_dir(out, fill)
