"""The one number per data set that the reproduction fits, and nothing else.

Static's KV utilisation is a pure function of the request table: a static slot holds
min(max_seq_len, prompt + max_new_tokens) and ends holding prompt + output - 1 tokens.
So the fits need no simulation: bisect the free parameter until static's utilisation
over the run's requests equals the paper's number.
- Alpaca: ``engine.max_new_tokens`` (the server's output cap, which static reserves);
- NQ: the scale of the modelled output lengths (``workload.output_tokens.scale``), with
  the max_new_tokens fitted on Alpaca.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from odma_sim.config.loader import LoadedExperiment, build_experiment
from odma_sim.experiment import request_table
from odma_sim.workload.generate import REJECTED, RequestTable


@dataclass(frozen=True)
class Fit:
    parameter: str
    value: float
    target: float
    achieved: float


def static_utilization(table: RequestTable, max_seq_len: int, max_new: int) -> float:
    """Final KV tokens over reserved tokens of static slots, over the accepted requests."""
    ok = table.status != REJECTED
    p, o = table.prompt_tokens[ok], table.output_tokens[ok]
    reserved = np.minimum(max_seq_len, p + max_new)
    return float((p + o - 1).sum() / reserved.sum())


def _util(loaded: LoadedExperiment) -> float:
    eng = loaded.spec.engine
    return static_utilization(request_table(loaded), eng.max_seq_len,
                              eng.effective_max_new_tokens)


def _bisect(f: Callable[[float], float], lo: float, hi: float, target: float,
            integer: bool, steps: int = 60) -> float:
    """x in [lo, hi] with f(x) closest to target; f monotone (either direction)."""
    rising = f(hi) > f(lo)
    for _ in range(steps):
        mid = (lo + hi) / 2
        if integer:
            mid = math.floor(mid)
            if mid in (lo, hi):
                break
        if (f(mid) < target) == rising:
            lo = mid
        else:
            hi = mid
    return min((lo, hi), key=lambda x: abs(f(x) - target))


def fit_max_new_tokens(raw: dict[str, Any], target: float) -> Fit:
    """The engine.max_new_tokens at which static's utilisation is ``target``."""
    max_seq = int(raw.get("engine", {}).get("max_seq_len", 2048))

    def util(x: float) -> float:
        r = copy.deepcopy(raw)
        r.setdefault("engine", {})["max_new_tokens"] = int(x)
        return _util(build_experiment(r))

    x = _bisect(util, 1, max_seq - 1, target, integer=True)
    return Fit("engine.max_new_tokens", int(x), target, util(x))


def fit_length_scale(raw: dict[str, Any], target: float) -> Fit:
    """The scale of the modelled output lengths at which static's utilisation is
    ``target`` (the workload's output source must have a ``scale``)."""

    def util(log_s: float) -> float:
        r = copy.deepcopy(raw)
        r["workload"] = dict(r["workload"])
        out = dict(r["workload"].get("output_tokens") or {})
        out["scale"] = math.exp(log_s)
        r["workload"]["output_tokens"] = out
        return _util(build_experiment(r))

    log_s = _bisect(util, math.log(0.05), math.log(20.0), target, integer=False, steps=40)
    return Fit("workload.output_tokens.scale", round(math.exp(log_s), 6), target,
               util(math.log(round(math.exp(log_s), 6))))
