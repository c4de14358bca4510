"""`odma-sim reproduce`: every run behind the paper's results, then figures and table.

The steps: calibrate one number per data set; run the Alpaca and NQ experiments (all
allocators, the paper's four cards as four replicas); evaluate the predictors; run the
drift scenario; sweep alpha on mlu370-x4 and hbm3-iso; sweep the offered load; draw
the nine figures; write paper_comparison.csv and .md. ``quick`` cuts every request
count so that the whole thing takes a few minutes, and says so in every output.
"""

from __future__ import annotations

import copy
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from tqdm import tqdm

from odma_sim import __version__
from odma_sim.config.loader import _resolve_preset, build_experiment
from odma_sim.experiment import ExperimentResult, run_experiment
from odma_sim.paper.calibrate import Fit, fit_length_scale, fit_max_new_tokens
from odma_sim.predictors.evaluate import Scores, evaluate_one
from odma_sim.report.output import write_json
from odma_sim.report.write import write_run
from odma_sim.sweep.run import run_sweep
from odma_sim.sweep.spec import SweepSpec, expand
from odma_sim.workload.generate import build_history, build_requests

REPO = Path(__file__).resolve().parents[2]
PAPER = REPO / "configs" / "paper"
TARGET_STATIC_UTIL = {"alpaca": 0.5505, "nq": 0.4254}


@dataclass(frozen=True)
class Sizes:
    """Request counts: the full run and the quick one."""

    requests: int
    history: int
    drift_s: float
    sweep_requests: int
    seeds: tuple[int, ...]

    @staticmethod
    def of(quick: bool) -> Sizes:
        if quick:
            return Sizes(1500, 1500, 300.0, 300, (1,))
        return Sizes(4000, 4000, 700.0, 1500, (1, 2, 3))


@dataclass
class Reproduction:
    out: Path
    quick: bool
    fits: dict[str, Fit] = field(default_factory=dict)
    experiments: dict[str, ExperimentResult] = field(default_factory=dict)
    scores: dict[str, list[Scores]] = field(default_factory=dict)
    sweeps: dict[str, pd.DataFrame] = field(default_factory=dict)


def _paper_raw(name: str, sizes: Sizes) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((PAPER / f"{name}.yaml").read_text())
    raw["workload"] = _resolve_preset("workloads", raw["workload"], base_dir=PAPER,
                                      source=str(PAPER / f"{name}.yaml"), key="workload")
    raw["workload"]["num_requests"] = sizes.requests
    raw["workload"]["history_requests"] = sizes.history
    raw["output"] = {"records": True, "timeline": False}
    if sizes.requests < 4000:
        raw["name"] += "-quick"
    return raw


def calibrate(rep: Reproduction, sizes: Sizes) -> dict[str, dict[str, Any]]:
    """Fit max_new_tokens on Alpaca, then NQ's length scale with that cap."""
    alpaca = _paper_raw("alpaca", sizes)
    rep.fits["alpaca"] = fit = fit_max_new_tokens(alpaca, TARGET_STATIC_UTIL["alpaca"])
    alpaca["engine"]["max_new_tokens"] = int(fit.value)
    nq = _paper_raw("nq", sizes)
    nq["engine"]["max_new_tokens"] = int(fit.value)
    rep.fits["nq"] = nq_fit = fit_length_scale(nq, TARGET_STATIC_UTIL["nq"])
    nq["workload"]["output_tokens"]["scale"] = nq_fit.value
    return {"alpaca": alpaca, "nq": nq}


def run_paper(rep: Reproduction, name: str, raw: dict[str, Any]) -> None:
    loaded = build_experiment(raw, path=PAPER / f"{name}.yaml")
    result = run_experiment(loaded, progress=False)
    write_run(result, rep.out / "runs" / name)
    rep.experiments[name] = result


S3_MAX_LEN = 2048  # S3-scheme buckets: 10 over [0, 2048), as `predictors evaluate`


def evaluate(rep: Reproduction, name: str, raw: dict[str, Any]) -> None:
    """Bucket accuracy on untruncated lengths, 10 buckets over [0, 2048)."""
    loaded = build_experiment(raw, path=PAPER / f"{name}.yaml")
    spec = loaded.spec
    cap = S3_MAX_LEN
    big = 1 << 30  # no truncation: lengths above the cap fall in the last bucket
    test = build_requests(spec.workload, seed=spec.seed, max_seq_len=big,
                          max_new_tokens=None, base_dir=PAPER)
    hist = build_history(spec.workload, seed=spec.seed, run_rows=len(test), max_seq_len=big,
                         max_new_tokens=None, base_dir=PAPER)
    rep.scores[name] = [evaluate_one(k, hist, test, seed=spec.seed, buckets=10, max_len=cap)
                        for k in ("s3", "odma", "oracle")]
    pd.DataFrame([s.row() for s in rep.scores[name]]).to_csv(
        rep.out / "runs" / f"predictors-{name}.csv", index=False)


def evaluate_all(rep: Reproduction, configs: dict[str, dict[str, Any]]) -> None:
    for name, raw in configs.items():
        evaluate(rep, name, raw)


def run_drift(rep: Reproduction, sizes: Sizes) -> None:
    raw: dict[str, Any] = yaml.safe_load((REPO / "configs" / "odma_drift.yaml").read_text())
    raw["workload"]["duration_s"] = sizes.drift_s
    if sizes.drift_s < 700:  # move the jump to the middle of the shorter run
        raw["workload"]["output_tokens"]["phases"][1]["start_s"] = sizes.drift_s / 2
        raw["name"] += "-quick"
    raw["allocators"] = [a for a in raw["allocators"] if a["kind"] in ("odma", "odma-static")]
    raw["output"] = {"records": True, "timeline": True}
    loaded = build_experiment(raw, path=REPO / "configs" / "odma_drift.yaml")
    result = run_experiment(loaded, progress=False)
    write_run(result, rep.out / "runs" / "drift")
    rep.experiments["drift"] = result


def _sweep(rep: Reproduction, name: str, base: dict[str, Any], axes: dict[str, Any],
           seeds: tuple[int, ...], workers: int) -> None:
    spec = SweepSpec(name=name, base=base, axes=axes, seeds=list(seeds))
    points = expand(spec, base, REPO / "configs" / "sweeps", name)
    out = rep.out / "sweeps" / name
    rep.sweeps[name] = run_sweep(spec, points, out, workers=workers, scheduler=None,
                                 resume=True, progress=False).results


def _sweep_base(sizes: Sizes, rate: float) -> dict[str, Any]:
    base: dict[str, Any] = yaml.safe_load((REPO / "configs/sweeps/base.yaml").read_text())
    base["workload"] = {"preset": "chat-classes", "num_requests": sizes.sweep_requests,
                        "history_requests": 1500,
                        "arrivals": {"kind": "poisson", "rate_rps": rate}}
    return base


def run_crossover(rep: Reproduction, sizes: Sizes, workers: int) -> None:
    """tps of static, paged and ODMA as the alpha of a 16-KiB chunk goes 0.2 to 1.0."""
    base = _sweep_base(sizes, 20.0)
    axes = {"device": ["mlu370-x4", "hbm3-iso"],
            "device.memory.random_access": [{"mode": "empirical", "alpha": a}
                                            for a in (0.2, 0.4, 0.6, 0.8, 1.0)]}
    _sweep(rep, "crossover", base, axes, sizes.seeds, workers)


def run_load(rep: Reproduction, sizes: Sizes, workers: int) -> None:
    base = _sweep_base(sizes, 1.0)
    axes = {"workload.arrivals.rate_rps": [1.0, 3.0, 5.0, 7.0, 9.0, 11.0]}
    _sweep(rep, "load", base, axes, sizes.seeds, workers)


def estimate_minutes(quick: bool) -> str:
    """Measured on the development machine (2 cores): quick about 1, full about 3."""
    return "about 1 to 2 minutes" if quick else "about 3 to 6 minutes"


def reproduce(out: Path, *, quick: bool, workers: int | None = None,
              progress: bool | None = None, log: Callable[[str], None] = print) -> Reproduction:
    """Run everything into ``out`` (figures/, runs/, sweeps/, the comparison table)."""
    from odma_sim.paper.figures import draw_all
    from odma_sim.paper.table import comparison, write_comparison

    sizes = Sizes.of(quick)
    workers = workers or os.cpu_count() or 1
    out.mkdir(parents=True, exist_ok=True)
    rep = Reproduction(out, quick)
    mode = "QUICK (reduced request counts)" if quick else "full"
    log(f"odma-sim reproduce, {mode} run: {estimate_minutes(quick)} on 2 cores")
    configs: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()

    def cal() -> None:
        configs.update(calibrate(rep, sizes))
        for name, f in rep.fits.items():
            log(f"  calibrated {name}: {f.parameter} = {f.value:g} gives static KV "
                f"utilisation {100 * f.achieved:.2f} % (paper {100 * f.target:.2f} %)")
        for name, raw in configs.items():
            (out / "runs").mkdir(exist_ok=True)
            (out / "runs" / f"{name}.config.yaml").write_text(
                yaml.safe_dump(build_experiment(copy.deepcopy(raw)).spec.to_config(),
                               sort_keys=False))

    steps: list[tuple[str, Callable[[], None]]] = [
        ("calibrate", cal),
        ("alpaca experiment", lambda: run_paper(rep, "alpaca", configs["alpaca"])),
        ("nq experiment", lambda: run_paper(rep, "nq", configs["nq"])),
        ("predictor accuracy", lambda: evaluate_all(rep, configs)),
        ("drift", lambda: run_drift(rep, sizes)),
        ("alpha crossover sweep", lambda: run_crossover(rep, sizes, workers)),
        ("load sweep", lambda: run_load(rep, sizes, workers)),
        ("figures", lambda: draw_all(rep)),
        ("comparison table", lambda: write_comparison(rep, comparison(rep))),
    ]
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=len(steps), disable=not show, unit="step", file=sys.stderr) as bar:
        for label, step in steps:
            bar.set_description(label)
            step()
            bar.update(1)
    write_json(out / "run.json", {"package_version": __version__, "quick": quick,
                                  "wall_time_s": round(time.perf_counter() - t0, 1),
                                  "fits": {k: vars(v) for k, v in rep.fits.items()}})
    return rep

