"""Continuous batching for one replica: admission, growth, preemption, step pricing.

The scheduler is a plain object. :func:`~odma_sim.engine.processes.engine_process`
drives it in simulated time: ``plan`` an iteration, hold the device for its duration,
``commit`` it. Per-request work inside an iteration is vectorised over the running
batch; Python loops only touch requests that change state (admitted, crossing into a
new extent, overflowing, finishing).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from odma_sim.allocators.base import Allocator, Demand
from odma_sim.engine.request import Request
from odma_sim.engine.running import RunningSet
from odma_sim.engine.spec import EngineSpec
from odma_sim.hardware.cost import CostModel, StepCost
from odma_sim.metrics.recorder import Recorder


@dataclass(frozen=True)
class Iteration:
    start_s: float
    cost: StepCost
    running: int
    prefills: int
    stalled: int


class Scheduler:
    """FCFS continuous batching over one allocator and one cost model.

    Each iteration:
    1. every running request that needs a slot beyond its allocation asks the allocator
       to ``grow`` (oldest first); on failure the newest running request is preempted
       (recompute or swap, per the allocator) until the growth succeeds;
    2. if nothing was preempted, waiting requests are admitted in FCFS order while
       ``max_batch``, the token budget (prefill tokens + one per decode; a request
       alone in an iteration may exceed it) and the allocator allow; a request that
       cannot be admitted into an empty replica never can be, and is dropped;
    3. new and recomputed requests run a prefill, the others one decode token, and the
       step is priced on the extents of every decoding request.
    """

    def __init__(
        self,
        replica: int,
        allocator: Allocator,
        cost: CostModel,
        spec: EngineSpec,
        recorder: Recorder,
        on_done: Callable[[Request, float], None],
    ) -> None:
        self.replica = replica
        self.allocator = allocator
        self.cost = cost
        self.spec = spec
        self.recorder = recorder
        self.on_done = on_done
        self.geom = cost.geometry(allocator.kv_layout)
        self.kv_bytes_per_token = cost.kv_bytes_per_token
        self.waiting: deque[Request] = deque()
        self.rs = RunningSet()
        self._seq = 0
        self._full_oh: dict[int, float] = {}
        self.wakeup: object = None  # set by the engine process while idle

    # ------------------------------------------------------------------ queue
    def submit(self, req: Request) -> None:
        req.replica = self.replica
        self.waiting.append(req)

    def has_work(self) -> bool:
        return bool(self.waiting) or self.rs.n > 0

    @property
    def load(self) -> int:
        return len(self.waiting) + self.rs.n

    # ------------------------------------------------------------------ extents
    def _extent_oh(self, length: int) -> float:
        oh = self._full_oh.get(length)
        if oh is None:
            oh = float(self.cost.extent_overhead_s(length, self.geom))
            self._full_oh[length] = oh
        return oh

    def _reprice(self, i: int) -> None:
        """Point row i's pricing state at the extent holding its newest token."""
        rs = self.rs
        lengths = np.fromiter((n for _, n in rs.allocs[i].extents), dtype=np.int64)
        ends = np.cumsum(lengths)
        k = int(np.searchsorted(ends, rs.kv[i]))  # first extent whose end >= kv
        assert k < len(ends), "allocation smaller than the tokens it holds"
        rs.closed_oh[i] = float(self.cost.extent_overhead_s(lengths[:k], self.geom).sum())
        rs.ext_idx[i] = k
        rs.ext_end[i] = ends[k]
        rs.ext_start[i] = ends[k] - lengths[k]
        rs.cap[i] = int(ends[-1])

    def _advance(self, i: int) -> None:
        """Row i's newest token moved past its extent: close it, open the next."""
        rs = self.rs
        extents = rs.allocs[i].extents
        k = rs.ext_idx[i]
        kv = int(rs.kv[i])
        end = int(rs.ext_end[i])
        while kv > end:
            rs.closed_oh[i] += self._extent_oh(end - int(rs.ext_start[i]))
            k += 1
            rs.ext_start[i] = end
            end += extents[k][1]
            rs.ext_end[i] = end
        rs.ext_idx[i] = k

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _demand(req: Request) -> Demand:
        need = req.prompt_tokens + req.generated
        return Demand(req.id, req.prompt_tokens, need, req.predicted_output_tokens,
                      req.uncertainty)

    def _kv_bytes(self, req: Request) -> int:
        """Bytes of KV the request has materialised: every position but the newest."""
        return (req.prompt_tokens + req.generated - 1) * self.kv_bytes_per_token

    # ------------------------------------------------------------------ overflow
    def _preempt(self, row: int) -> float:
        """Evict a running request back to the head of the queue; returns copy time."""
        req, alloc = self.rs.remove(row)
        self.allocator.free(alloc)
        req.preemptions += 1
        if self.allocator.preemption == "swap":
            nbytes = self._kv_bytes(req)
            req.swapped = True
            req.swapped_bytes += nbytes
            self.waiting.appendleft(req)
            return self.cost.host_transfer_s(nbytes)
        self.waiting.appendleft(req)
        return 0.0

    def _grow(self, seq: int) -> tuple[float, bool]:
        """Make room for the request admitted as ``seq``; (copy time, preempted anyone).

        When the allocator cannot, its ``on_grow_failure`` decides: preempt the newest
        running request until it can (vLLM), preempt this request, or stall it."""
        rs = self.rs
        copy_s, preempted = 0.0, False
        i = rs.row_of.get(seq)
        if i is None:
            return copy_s, preempted
        req, alloc = rs.reqs[i], rs.allocs[i]
        policy = self.allocator.on_grow_failure
        counted = bool(rs.stalled[i])  # a stalled request's overflow is already counted
        while True:
            res = self.allocator.grow(alloc, int(rs.kv[i]))
            if res.ok:
                rs.stalled[i] = False
                if res.moved_tokens:
                    nbytes = res.moved_tokens * self.kv_bytes_per_token
                    req.overflows += int(not counted)
                    req.migrations += 1
                    req.migrated_bytes += nbytes
                    copy_s += self.cost.device_copy_s(nbytes)
                    self._reprice(i)
                else:
                    rs.cap[i] = alloc.capacity_tokens
                return copy_s, preempted
            if not counted:
                req.overflows += 1  # one overflow however many retries it takes
                counted = True
            if policy == "stall":
                rs.stalled[i] = True
                req.stalls += 1
                return copy_s, preempted
            victim = i if policy == "preempt_self" else rs.newest_row()
            is_self = victim == i
            copy_s += self._preempt(victim)
            preempted = True
            if is_self:
                return copy_s, preempted
            i = rs.row_of[seq]

    def _grow_all(self) -> tuple[float, bool]:
        """Grow every request that needs room, oldest first."""
        rs = self.rs
        copy_s, preempted = 0.0, False
        rows = np.flatnonzero(rs.kv[: rs.n] > rs.cap[: rs.n])
        for seq in sorted(int(rs.seq[r]) for r in rows):
            c, p = self._grow(seq)
            copy_s += c
            preempted |= p
        return copy_s, preempted

    # ------------------------------------------------------------------ iteration
    def plan(self, now: float) -> Iteration | None:
        rs = self.rs
        copy_s = 0.0
        preempted = False
        can_stall = self.allocator.on_grow_failure == "stall"
        if rs.n:
            c, preempted = self._grow_all()
            copy_s += c
            while can_stall and rs.n and bool(rs.stalled[: rs.n].all()):
                # nothing running can free memory: give up the newest stalled request,
                # then let the others try again with what it freed
                copy_s += self._preempt(rs.newest_row())
                preempted = True
                if rs.n:
                    copy_s += self._grow_all()[0]
        n_decode = rs.n
        # admission waits while anything is stalled, so that memory freed by finishing
        # requests goes to the stalled ones first (no starvation)
        if not preempted and not (can_stall and rs.n and bool(rs.stalled[: rs.n].any())):
            copy_s += self._admit(now, n_decode)
        n = rs.n
        if n == 0:
            if copy_s == 0.0:
                return None
            cost = StepCost(copy_s, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, copy_s)
            self._record(now, cost, 0, 0)
            return Iteration(now, cost, 0, 0, 0)
        kv = rs.kv[:n]
        stalled = rs.stalled[:n]
        n_st = int(np.count_nonzero(stalled)) if can_stall else 0
        crossed = kv > rs.ext_end[:n]
        for i in np.flatnonzero(crossed & ~stalled if n_st else crossed):
            self._advance(int(i))
        pre = rs.prefill[:n]
        n_pre = int(np.count_nonzero(pre))
        pt, pt2 = 0, 0.0
        if n_pre:
            t = kv[pre]
            pt = int(t.sum())
            pt2 = float(np.dot(t.astype(np.float64), t))
        if n_pre or n_st:
            dec = ~(pre | stalled)
            kv_dec, start_dec, closed_dec = kv[dec], rs.ext_start[:n][dec], rs.closed_oh[:n][dec]
        else:
            kv_dec, start_dec, closed_dec = kv, rs.ext_start[:n], rs.closed_oh[:n]
        ctx, oh = 0, 0.0
        if len(kv_dec):
            ctx = int(kv_dec.sum())
            oh = float(closed_dec.sum()) + float(
                self.cost.extent_overhead_s(kv_dec - start_dec, self.geom).sum()
            )
        cost = self.cost.step(
            prefill_tokens=pt,
            prefill_tokens_sq=pt2,
            decode_batch=n - n_pre - n_st,
            decode_context_tokens=ctx,
            kv_overhead_s=oh,
            copy_s=copy_s,
        )
        # a stalled request holds kv - 1 tokens: its newest position has no room yet
        self._record(now, cost, n, n_pre, used=int(kv.sum()) - n_st)
        return Iteration(now, cost, n, n_pre, n_st)

    def _record(self, now: float, cost: StepCost, running: int, prefills: int,
                used: int = 0) -> None:
        alloc = self.allocator
        unusable = 0
        if self.waiting:  # free memory only counts as fragmented while someone waits for it
            unusable = alloc.unusable_free_tokens(
                alloc.reservation_tokens(self._demand(self.waiting[0])))
        self.recorder.iteration(
            self.replica, now, cost, running, prefills, len(self.waiting), used,
            alloc.reserved_tokens, unusable,
        )

    def _admit(self, now: float, n_decode: int) -> float:
        """FCFS admission; returns swap-in copy time."""
        rs, spec, alloc = self.rs, self.spec, self.allocator
        budget = math.inf if spec.token_budget is None else spec.token_budget - n_decode
        copy_s = 0.0
        while self.waiting and rs.n < spec.max_batch:
            req = self.waiting[0]
            need = req.prompt_tokens + req.generated
            tokens = 1 if req.swapped else need
            if tokens > budget and rs.n:  # alone in an iteration, any prompt may run
                break
            demand = self._demand(req)
            got = alloc.admit(demand)
            if got is None:
                free = alloc.capacity_tokens - alloc.reserved_tokens
                if free >= alloc.reservation_tokens(demand):
                    self.recorder.frag_blocked_admissions += 1
                if rs.n == 0:  # an empty replica cannot take it: it never will
                    self.waiting.popleft()
                    self._drop(req, now, "does_not_fit")
                    continue
                break
            self.waiting.popleft()
            if math.isnan(req.admit_s):
                req.admit_s = now
                req.bucket, req.pool_admission = got.bucket, got.pool
                if got.bucket_bounds is not None:
                    req.bucket_lo_tokens, req.bucket_hi_tokens = got.bucket_bounds
            self._seq += 1
            row = rs.add(req, got, self._seq, prefill=not req.swapped)
            self._reprice(row)
            if req.swapped:
                nbytes = self._kv_bytes(req)
                copy_s += self.cost.host_transfer_s(nbytes)
                req.swapped_bytes += nbytes
                req.swapped = False
            elif req.generated:
                req.recompute_tokens += need
            budget -= tokens
        return copy_s

    def commit(self, it: Iteration, now: float) -> None:
        """The iteration ended at ``now``: every running request gained one token."""
        rs = self.rs
        n = rs.n
        if n == 0:
            return
        if it.stalled:
            active = ~rs.stalled[:n]
            rs.kv[:n] += active
            rs.gen[:n] += active
        else:
            rs.kv[:n] += 1
            rs.gen[:n] += 1
        if it.prefills:
            for i in np.flatnonzero(rs.prefill[:n] & (rs.gen[:n] == 1)):
                rs.reqs[int(i)].first_token_s = now
            rs.prefill[:n] = False
        for i in np.flatnonzero(rs.gen[:n] >= rs.target[:n])[::-1]:
            self._finish(int(i), now)

    def _finish(self, row: int, now: float) -> None:
        req, alloc = self.rs.remove(row)
        req.final_kv_tokens = req.prompt_tokens + req.generated - 1
        req.reserved_tokens = alloc.capacity_tokens
        self.allocator.free(alloc)
        req.finish_s = now
        req.status = "finished"
        self.on_done(req, now)

    def _drop(self, req: Request, now: float, reason: str) -> None:
        req.status = "dropped"
        req.drop_reason = reason
        req.finish_s = now
        self.on_done(req, now)

    def abandon(self, now: float) -> None:
        """End of a run without drain: report what is still queued or running."""
        while self.rs.n:
            req, alloc = self.rs.remove(self.rs.n - 1)
            self.allocator.free(alloc)
            self._drop(req, now, "unfinished")
        while self.waiting:
            self._drop(self.waiting.popleft(), now, "unfinished")
