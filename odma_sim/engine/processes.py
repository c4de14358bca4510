"""The thin SimPy processes: request arrivals and one engine loop per replica."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

import simpy

from odma_sim.engine.request import Request
from odma_sim.engine.scheduler import Scheduler
from odma_sim.hardware.component import Device
from odma_sim.metrics.recorder import Recorder


def wake(sched: Scheduler) -> None:
    """Wake a replica's engine process if it sleeps for lack of work."""
    if isinstance(sched.wakeup, simpy.Event) and not sched.wakeup.triggered:
        sched.wakeup.succeed()


def arrival_process(
    env: simpy.Environment, requests: Sequence[Request], sink: Callable[[Request], None],
    recorder: Recorder,
) -> Generator[Any, Any, None]:
    """Hands each request to ``sink`` (the router, or the prediction stage in front of
    it) at its arrival time: one event per distinct arrival time."""
    for req in requests:
        if req.arrival_s > env.now:
            yield env.timeout(req.arrival_s - env.now)
        recorder.population(env.now, +1)
        sink(req)


def engine_process(
    env: simpy.Environment, sched: Scheduler, device: Device
) -> Generator[Any, Any, None]:
    """Plan an iteration, hold the device for its duration, commit; sleep when idle."""
    while True:
        if not sched.has_work():
            sched.wakeup = env.event()
            yield sched.wakeup
            sched.wakeup = None
            continue
        it = sched.plan(env.now)
        if it is None:
            continue
        yield from device.occupy(it.cost.duration_s)
        sched.commit(it, env.now)
