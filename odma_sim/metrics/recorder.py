"""Hooks the engines call: iteration rows, population changes and memory integrals."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from odma_sim.hardware.cost import StepCost

TIMELINE_COLUMNS = [
    "replica", "start_s", "duration_s", "running", "prefills", "waiting", "used_tokens",
    "reserved_tokens", "free_unusable_tokens", "kv_stream_s", "kv_overhead_s", "copy_s",
]


@dataclass
class Recorder:
    """Accumulates what one simulated run emits. No SimPy inside, no file output.

    Memory integrals are token-seconds: each iteration contributes its used and
    reserved KV slots times its duration (slots are constant within an iteration).
    """

    keep_timeline: bool = True
    rows: list[tuple[object, ...]] = field(default_factory=list)
    used_token_s: float = 0.0
    reserved_token_s: float = 0.0
    unusable_token_s: float = 0.0
    decode_steps: int = 0
    decode_step_s: float = 0.0
    decode_kv_stream_s: float = 0.0
    decode_kv_overhead_s: float = 0.0
    iterations: int = 0
    busy_s: float = 0.0
    running_s: float = 0.0
    # admission attempts (at most one per iteration, the head of the queue) refused
    # although enough slots were free in total: external fragmentation at work
    frag_blocked_admissions: int = 0
    # population (Little's law): integral of requests in the system over time
    in_system: int = 0
    in_system_s: float = 0.0
    _last_change_s: float = 0.0

    def iteration(
        self,
        replica: int,
        start_s: float,
        cost: StepCost,
        running: int,
        prefills: int,
        waiting: int,
        used_tokens: int,
        reserved_tokens: int,
        free_unusable_tokens: int,
    ) -> None:
        dt = cost.duration_s
        self.iterations += 1
        self.busy_s += dt
        self.running_s += running * dt
        self.used_token_s += used_tokens * dt
        self.reserved_token_s += reserved_tokens * dt
        self.unusable_token_s += free_unusable_tokens * dt
        if running > prefills:
            self.decode_steps += 1
            self.decode_step_s += dt
            self.decode_kv_stream_s += cost.kv_stream_s
            self.decode_kv_overhead_s += cost.kv_overhead_s
        if self.keep_timeline:
            self.rows.append((
                replica, start_s, dt, running, prefills, waiting, used_tokens, reserved_tokens,
                free_unusable_tokens, cost.kv_stream_s, cost.kv_overhead_s, cost.copy_s,
            ))

    def population(self, now_s: float, delta: int) -> None:
        """A request entered (+1) or left (-1) the system at ``now_s``."""
        self.in_system_s += self.in_system * (now_s - self._last_change_s)
        self._last_change_s = now_s
        self.in_system += delta

    def timeline(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=TIMELINE_COLUMNS)
