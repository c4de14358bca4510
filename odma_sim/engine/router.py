"""Spreads arriving requests over replicas: round-robin or least-loaded."""

from __future__ import annotations

from collections.abc import Sequence

from odma_sim.engine.request import Request
from odma_sim.engine.scheduler import Scheduler


class Router:
    """``round_robin`` cycles through replicas; ``least_loaded`` picks the replica with
    the fewest queued plus running requests (lowest index on ties)."""

    def __init__(self, replicas: Sequence[Scheduler], policy: str) -> None:
        if policy not in ("round_robin", "least_loaded"):
            raise ValueError(f"unknown router policy {policy!r}")
        self.replicas = list(replicas)
        self.policy = policy
        self._next = 0

    def route(self, req: Request) -> Scheduler:
        if self.policy == "round_robin":
            sched = self.replicas[self._next]
            self._next = (self._next + 1) % len(self.replicas)
        else:
            sched = min(self.replicas, key=lambda s: s.load)
        sched.submit(req)
        return sched
