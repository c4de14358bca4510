"""Assembles one simulated run (one device x one allocator) and runs it in SimPy."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import simpy

from odma_sim.allocators.base import AllocatorContext, allocators
from odma_sim.config.experiment import AllocatorSpec
from odma_sim.engine.processes import arrival_process, engine_process
from odma_sim.engine.request import Request
from odma_sim.engine.router import Router
from odma_sim.engine.scheduler import Scheduler
from odma_sim.engine.spec import EngineSpec
from odma_sim.hardware.component import Device
from odma_sim.hardware.cost import CostModel
from odma_sim.hardware.spec import DeviceSpec
from odma_sim.metrics.recorder import Recorder
from odma_sim.models.spec import ModelSpec
from odma_sim.workload.generate import REJECTED, TRUNCATED, RequestTable


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


def make_requests(table: RequestTable) -> list[Request]:
    """Fresh request objects for one run (each allocator gets its own copies)."""
    out = []
    arrival = table.arrival_s.tolist()
    prompt = table.prompt_tokens.tolist()
    output = table.output_tokens.tolist()
    status = table.status.tolist()
    for i in range(len(table)):
        req = Request(i, arrival[i], prompt[i], output[i], truncated=status[i] == TRUNCATED)
        if status[i] == REJECTED:
            req.status = "rejected"
            req.drop_reason = "over_length"
        out.append(req)
    return out


def simulate(
    *,
    name: str,
    device: DeviceSpec,
    model: ModelSpec,
    engine: EngineSpec,
    allocator: AllocatorSpec,
    table: RequestTable,
    duration_s: float | None = None,
    keep_timeline: bool = True,
    on_done: Callable[[Request], None] | None = None,
) -> RunResult:
    """Run ``table`` through ``engine.replicas`` replicas of (device, allocator)."""
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

    def done(req: Request, now: float) -> None:
        recorder.population(now, -1)
        if on_done is not None:
            on_done(req)

    scheds = []
    capacity = 0
    for r in range(engine.replicas):
        alloc = cls(allocator.params, ctx)
        capacity += alloc.capacity_tokens
        sched = Scheduler(r, alloc, cost, engine, recorder, done)
        scheds.append(sched)
        env.process(engine_process(env, sched, Device(env, cost, f"{device.name}#{r}")))
    requests = make_requests(table)
    live = [q for q in requests if q.status != "rejected"]
    env.process(arrival_process(env, live, Router(scheds, engine.router), recorder))
    if engine.drain or duration_s is None:
        env.run()
    else:
        env.run(until=duration_s)
        for sched in scheds:
            sched.abandon(env.now)
    return RunResult(
        name=name,
        allocator=allocator,
        device=device,
        model=model,
        engine=engine,
        requests=requests,
        recorder=recorder,
        arena_tokens=ctx.arena_tokens,
        capacity_tokens=capacity,
        kv_bytes_per_token=cost.kv_bytes_per_token,
        sim_time_s=env.now,
        wall_time_s=time.perf_counter() - wall0,
    )
