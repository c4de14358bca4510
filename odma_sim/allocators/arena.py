"""A real address space of KV token slots with a coalescing free list (first-fit or best-fit)."""

from __future__ import annotations

import bisect
from typing import Literal

Fit = Literal["first_fit", "best_fit"]


class Arena:
    """Contiguous runs of token slots in [0, size).

    Free runs are kept sorted by address and merged with their neighbours on free, so
    external fragmentation is whatever the allocation order leaves behind.
    - ``first_fit`` takes the lowest-addressed free run that is large enough;
    - ``best_fit`` takes the smallest such run (lowest address on ties).
    Both are O(number of free runs) per allocation, which stays small because runs
    coalesce.
    """

    def __init__(self, size_tokens: int, fit: Fit = "first_fit") -> None:
        if size_tokens < 0:
            raise ValueError("arena size must be >= 0")
        self.size_tokens = size_tokens
        self.fit = fit
        self._starts: list[int] = [0] if size_tokens else []
        self._lengths: dict[int, int] = {0: size_tokens} if size_tokens else {}
        self._used: dict[int, int] = {}
        self.free_tokens = size_tokens

    # ------------------------------------------------------------------ queries
    @property
    def used_tokens(self) -> int:
        return self.size_tokens - self.free_tokens

    def largest_free_run(self) -> int:
        return max(self._lengths.values(), default=0)

    def free_tokens_in_runs_shorter_than(self, n_tokens: int) -> int:
        return sum(length for length in self._lengths.values() if length < n_tokens)

    def free_runs(self) -> list[tuple[int, int]]:
        return [(s, self._lengths[s]) for s in self._starts]

    def allocated(self) -> list[tuple[int, int]]:
        return sorted(self._used.items())

    # ------------------------------------------------------------------ updates
    def alloc(self, n_tokens: int) -> int | None:
        """Reserve ``n_tokens`` contiguous slots; the start slot, or None if no run fits."""
        if n_tokens <= 0:
            raise ValueError("allocation size must be positive")
        if n_tokens > self.free_tokens:
            return None
        best: int | None = None
        if self.fit == "first_fit":
            for s in self._starts:
                if self._lengths[s] >= n_tokens:
                    best = s
                    break
        else:
            best_len = self.size_tokens + 1
            for s in self._starts:
                length = self._lengths[s]
                if n_tokens <= length < best_len:
                    best, best_len = s, length
                    if length == n_tokens:
                        break
        if best is None:
            return None
        length = self._lengths.pop(best)
        i = bisect.bisect_left(self._starts, best)
        if length == n_tokens:
            del self._starts[i]
        else:
            self._starts[i] = best + n_tokens
            self._lengths[best + n_tokens] = length - n_tokens
        self._used[best] = n_tokens
        self.free_tokens -= n_tokens
        return best

    def free(self, start: int, n_tokens: int) -> None:
        """Return a run obtained from :meth:`alloc`, merging it with free neighbours."""
        assert self._used.get(start) == n_tokens, "free of a run that was not allocated"
        del self._used[start]
        self.free_tokens += n_tokens
        i = bisect.bisect_left(self._starts, start)
        end = start + n_tokens
        # merge with the following run
        if i < len(self._starts) and self._starts[i] == end:
            n_tokens += self._lengths.pop(end)
            del self._starts[i]
        # merge with the preceding run
        if i > 0:
            prev = self._starts[i - 1]
            if prev + self._lengths[prev] == start:
                self._lengths[prev] += n_tokens
                return
        self._starts.insert(i, start)
        self._lengths[start] = n_tokens
