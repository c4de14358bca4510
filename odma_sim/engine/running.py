"""The running batch as parallel numpy arrays, so per-step work is vectorised."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from odma_sim.allocators.base import Allocation
from odma_sim.engine.request import Request

IntArray = npt.NDArray[np.int64]


class RunningSet:
    """Requests holding KV memory. Row i of every array belongs to ``reqs[i]``.

    - ``kv``: slots the next step needs (prompt + tokens generated so far);
    - ``gen`` / ``target``: tokens generated and the true output length;
    - ``cap``: slots the allocation holds;
    - ``ext_start`` / ``ext_end``: token positions covered by the extent the newest
      token lives in; ``closed_oh``: read overhead of the full extents before it;
    - ``seq``: admission order (the newest has the largest);
    - ``prefill``: the request runs a prefill (first, recompute) this iteration;
    - ``stalled``: it overflowed, found no room and sits out iterations until it does.
    Removal swaps the last row in, so rows are not in admission order.
    """

    def __init__(self, capacity: int = 64) -> None:
        self.n = 0
        self._alloc_arrays(capacity)
        self.reqs: list[Request] = []
        self.allocs: list[Allocation] = []
        self.ext_idx: list[int] = []
        self.row_of: dict[int, int] = {}  # seq -> row

    kv: IntArray
    gen: IntArray
    target: IntArray
    cap: IntArray
    ext_start: IntArray
    ext_end: IntArray
    closed_oh: npt.NDArray[np.float64]
    seq: IntArray
    prefill: npt.NDArray[np.bool_]
    stalled: npt.NDArray[np.bool_]
    # (array name, dtype) of every per-row array
    _FIELDS: tuple[tuple[str, type], ...] = (
        ("kv", np.int64), ("gen", np.int64), ("target", np.int64), ("cap", np.int64),
        ("ext_start", np.int64), ("ext_end", np.int64), ("closed_oh", np.float64),
        ("seq", np.int64), ("prefill", np.bool_), ("stalled", np.bool_),
    )

    def _alloc_arrays(self, capacity: int) -> None:
        """(Re)allocate every per-row array with room for ``capacity`` rows."""
        for name, dtype in self._FIELDS:
            new: npt.NDArray[Any] = np.zeros(capacity, dtype=dtype)
            if hasattr(self, name):
                new[: self.n] = getattr(self, name)[: self.n]
            setattr(self, name, new)
        self.capacity = capacity

    def add(self, req: Request, alloc: Allocation, seq: int, prefill: bool) -> int:
        if self.n == self.capacity:
            self._alloc_arrays(2 * self.capacity)
        i = self.n
        self.kv[i] = req.prompt_tokens + req.generated
        self.gen[i] = req.generated
        self.target[i] = req.output_tokens
        self.cap[i] = alloc.capacity_tokens
        self.seq[i] = seq
        self.prefill[i] = prefill
        self.stalled[i] = False
        self.closed_oh[i] = 0.0
        self.reqs.append(req)
        self.allocs.append(alloc)
        self.ext_idx.append(0)
        self.row_of[seq] = i
        self.n += 1
        return i

    def remove(self, i: int) -> tuple[Request, Allocation]:
        """Drop row i by moving the last row into it; the request's counters are synced."""
        last = self.n - 1
        req, alloc = self.reqs[i], self.allocs[i]
        req.generated = int(self.gen[i])
        del self.row_of[int(self.seq[i])]
        if i != last:
            for name, _ in self._FIELDS:
                arr = getattr(self, name)
                arr[i] = arr[last]
            self.reqs[i] = self.reqs[last]
            self.allocs[i] = self.allocs[last]
            self.ext_idx[i] = self.ext_idx[last]
            self.row_of[int(self.seq[i])] = i
        self.reqs.pop()
        self.allocs.pop()
        self.ext_idx.pop()
        self.n -= 1
        return req, alloc

    def newest_row(self) -> int:
        return int(np.argmax(self.seq[: self.n]))
