"""The repartitioner in simulated time: re-plan bucket boundaries every period."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import simpy

from odma_sim.allocators.base import Allocator
from odma_sim.repartition.planner import JointHistogram, Planner


def repartition_process(
    env: simpy.Environment,
    planner: Planner,
    hist: JointHistogram,
    allocs: Sequence[Allocator],
    current: list[int],
    period_s: float,
    half_life_s: float | None,
    log: list[dict[str, Any]],
    done: simpy.Event,
) -> Generator[Any, Any, None]:
    """Every ``period_s``: plan from the histogram of completed requests, apply the plan
    to every replica's allocator if it passes hysteresis, log it, then decay the
    histogram. Ends when the run's requests are done."""
    decay = 1.0 if half_life_s is None else 0.5 ** (period_s / half_life_s)
    while True:
        yield env.any_of([env.timeout(period_s), done])
        if done.triggered:
            return
        plan = planner.plan(hist, current)
        if plan.applied:
            current = plan.boundaries
            for a in allocs:
                a.set_boundaries(current)
        log.append({
            "time_s": env.now, "event": "replan", "applied": plan.applied,
            "boundaries": " ".join(map(str, current)),
            "best_waste_tokens": plan.expected_waste,
            "current_waste_tokens": plan.current_waste, "samples": plan.samples,
        })
        hist.decay(decay)
