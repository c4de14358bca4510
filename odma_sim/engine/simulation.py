"""Assembles one simulated run (one device x one allocator) and runs it in SimPy."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from odma_sim.allocators.base import (
    Allocator,
    AllocatorContext,
    BucketedAllocator,
    allocators,
)
from odma_sim.config.experiment import AllocatorSpec
from odma_sim.engine.processes import arrival_process, engine_process, wake
from odma_sim.engine.request import Request
from odma_sim.engine.router import Router
from odma_sim.engine.scheduler import Scheduler
from odma_sim.engine.spec import EngineSpec
from odma_sim.hardware.component import Device
from odma_sim.hardware.cost import CostModel
from odma_sim.hardware.spec import DeviceSpec
from odma_sim.metrics.recorder import Recorder
from odma_sim.models.spec import ModelSpec
from odma_sim.predictors import FeatureTable, Predictor, PredictorContext, predictors
from odma_sim.predictors.process import LabelLog, PredictionStage, predictor_process, refit_process
from odma_sim.repartition.process import repartition_process
from odma_sim.workload.generate import REJECTED, TRUNCATED, IntArray, RequestTable


@dataclass
class RunResult:
    """Everything a run leaves behind: request records, the recorder, and its shape."""

    name: str
    allocator: AllocatorSpec
    device: DeviceSpec
    model: ModelSpec
    engine: EngineSpec
    requests: list[Request]
    recorder: Recorder
    arena_tokens: int
    capacity_tokens: int
    kv_bytes_per_token: int
    sim_time_s: float
    wall_time_s: float
    bucket_log: list[dict[str, Any]] = field(default_factory=list)
    predictor: str | None = None
    predictor_fit_wall_s: float = 0.0
    output_lengths: str = "synthetic"


def make_requests(table: RequestTable) -> list[Request]:
    """Fresh request objects for one run (each allocator gets its own copies)."""
    out = []
    arrival = table.arrival_s.tolist()
    prompt = table.prompt_tokens.tolist()
    output = table.output_tokens.tolist()
    status = table.status.tolist()
    task = table.task.tolist() if table.task is not None else [-1] * len(table)
    text: list[str | None] = [None] * len(table)
    if table.prompt_text is not None:
        text = list(table.prompt_text)
    for i in range(len(table)):
        req = Request(i, arrival[i], prompt[i], output[i], task=task[i], text=text[i],
                      truncated=status[i] == TRUNCATED)
        if status[i] == REJECTED:
            req.status = "rejected"
            req.drop_reason = "over_length"
        out.append(req)
    return out


def features(table: RequestTable, labels: bool) -> FeatureTable:
    n = len(table)
    return FeatureTable(
        request_id=np.arange(n, dtype=np.int64),
        prompt_tokens=table.prompt_tokens,
        task=table.task if table.task is not None else np.full(n, -1, dtype=np.int64),
        output_tokens=table.output_tokens if labels else None,
        text=table.prompt_text,
    )


def _learn_offline(allocs: list[Allocator], predictor: Predictor, history: RequestTable) -> (
        tuple[IntArray, float | None]):
    """Each allocator sets itself up from the predictor's view of the history split
    (call before ``precompute``: history ids overlap the run's). Returns the history's
    predicted lengths and the planner's expected waste."""
    preds = predictor.predict(make_requests(history))
    length = np.array([q.length_tokens for q in preds], dtype=np.int64)
    unc = np.array([q.uncertainty for q in preds], dtype=np.float64)
    waste = None
    for a in allocs:
        waste = a.learn_from_history(length, unc, history.output_tokens)
    return length, waste


def simulate(
    *,
    name: str,
    device: DeviceSpec,
    model: ModelSpec,
    engine: EngineSpec,
    allocator: AllocatorSpec,
    table: RequestTable,
    history: RequestTable | None = None,
    seed: int = 0,
    duration_s: float | None = None,
    keep_timeline: bool = True,
    on_done: Callable[[Request], None] | None = None,
) -> RunResult:
    """Run ``table`` through ``engine.replicas`` replicas of (device, allocator).

    Allocators that ask for predictions get a predictor trained on ``history`` in
    front of the router; those with a repartition spec get the repartitioner."""
    wall0 = time.perf_counter()
    env = simpy.Environment()
    recorder = Recorder(keep_timeline=keep_timeline)
    cost = CostModel(device, model, engine.tensor_parallel)
    cls = allocators.get(allocator.kind)
    ctx = AllocatorContext(
        arena_tokens=cost.kv_capacity_tokens,
        max_seq_len=engine.max_seq_len,
        max_new_tokens=engine.effective_max_new_tokens,
    )
    requests = make_requests(table)
    live = [q for q in requests if q.status != "rejected"]
    all_done = env.event()
    finished = [0]
    hooks: list[Callable[[Request], None]] = []

    def done(req: Request, now: float) -> None:
        recorder.population(now, -1)
        for hook in hooks:
            hook(req)
        if on_done is not None:
            on_done(req)
        finished[0] += 1
        if finished[0] == len(live) and not all_done.triggered:
            all_done.succeed()

    scheds, allocs = [], []
    capacity = 0
    for r in range(engine.replicas):
        alloc = cls(allocator.params, ctx)
        allocs.append(alloc)
        capacity += alloc.capacity_tokens
        sched = Scheduler(r, alloc, cost, engine, recorder, done)
        scheds.append(sched)
        env.process(engine_process(env, sched, Device(env, cost, f"{device.name}#{r}")))
    router = Router(scheds, engine.router)

    def dispatch(req: Request) -> None:
        wake(router.route(req))

    result = RunResult(name, allocator, device, model, engine, requests, recorder,
                       ctx.arena_tokens, capacity, cost.kv_bytes_per_token, 0.0, 0.0,
                       output_lengths=table.output_lengths)
    sink: Callable[[Request], None] = dispatch
    stage: PredictionStage | None = None
    pspec = allocs[0].predictor_spec
    if pspec is not None:
        if history is not None:
            history = history.select(history.status != REJECTED)
        if history is None or len(history) == 0:
            raise ValueError(f"allocator {allocator.name!r} needs a history to train on")
        fit0 = time.perf_counter()
        pctx = PredictorContext(seed, ctx.max_new_tokens,
                                len(table.task_names), list(table.task_names))
        predictor = predictors.get(pspec.kind)(pspec, pctx)
        predictor.fit(features(history, labels=True))
        result.predictor = pspec.kind
        hist_pred, waste = _learn_offline(allocs, predictor, history)
        if hasattr(predictor, "precompute"):
            predictor.precompute(features(table, labels=False))
        bounds = list(getattr(allocs[0], "boundaries", []))
        result.bucket_log.append({
            "time_s": 0.0, "event": "init", "applied": True,
            "boundaries": " ".join(map(str, bounds)),
            "best_waste_tokens": waste,
            "current_waste_tokens": None, "samples": float(len(history)),
        })
        result.predictor_fit_wall_s = time.perf_counter() - fit0
        stage = PredictionStage(predictor, dispatch)
        env.process(predictor_process(env, stage))
        sink = stage.submit
        labels = LabelLog(features(history, labels=True))
        hooks.append(lambda q: labels.add(q) if q.status == "finished" else None)
        if predictor.refit_period_s is not None:
            pp = predictor.params
            env.process(refit_process(
                env, predictor, labels, predictor.refit_period_s,
                getattr(pp, "refit_window", 2000), getattr(pp, "min_refit_samples", 1),
                all_done, lambda t, n: result.bucket_log.append({
                    "time_s": t, "event": "refit", "applied": True,
                    "boundaries": " ".join(map(str, getattr(allocs[0], "boundaries", []))),
                    "best_waste_tokens": None, "current_waste_tokens": None,
                    "samples": float(n)})))
        rep = allocs[0].repartition_spec
        if rep is not None and isinstance(allocs[0], BucketedAllocator):
            hist = allocs[0].histogram()
            hist.add(hist_pred, history.output_tokens)  # the offline prior; it decays away

            def observe(q: Request) -> None:
                if q.status == "finished" and q.predicted_output_tokens is not None:
                    hist.add([q.predicted_output_tokens], [q.output_tokens])

            hooks.append(observe)
            planner = allocs[0].planner(rep.hysteresis, rep.min_samples)
            env.process(repartition_process(env, planner, hist, allocs, bounds, rep.period_s,
                                            rep.half_life_s, result.bucket_log, all_done))
    env.process(arrival_process(env, live, sink, recorder))
    if not live:
        all_done.succeed()
    if engine.drain or duration_s is None:
        env.run(until=all_done)  # periodic processes must not stretch the run
    else:
        env.run(until=duration_s)
        for sched in scheds:
            sched.abandon(env.now)
        if stage is not None:
            for req in stage.abandon():
                req.status, req.drop_reason, req.finish_s = "dropped", "unfinished", env.now
                done(req, env.now)
    result.sim_time_s = env.now
    result.wall_time_s = time.perf_counter() - wall0
    return result
