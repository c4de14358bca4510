"""The comparison table printed after a run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Fmt = Callable[[Any], str]


def _num(fmt: str, scale: float = 1.0) -> Fmt:
    if fmt == "d":
        return lambda v: "-" if v is None else str(v)
    return lambda v: "-" if v is None else format(v * scale, fmt)


# (header, summary key, formatter): what a user scans first.
COLUMNS: list[tuple[str, str, Fmt]] = [
    ("row", "name", str),
    ("done", "completed", _num("d")),
    ("rps", "rps", _num(".2f")),
    ("tok/s", "tps_output", _num(".0f")),
    ("kv_util", "kv_utilization", _num(".1%")),
    ("kv_occ", "kv_occupancy", _num(".1%")),
    ("batch", "mean_batch", _num(".1f")),
    ("alpha", "kv_alpha_eff", _num(".3f")),
    ("step_ms", "decode_step_mean_s", _num(".1f", 1e3)),
    ("ttft_p99_s", "ttft_p99_s", _num(".2f")),
    ("tpot_p50_ms", "tpot_p50_s", _num(".1f", 1e3)),
    ("preempt", "preemptions", _num("d")),
]

LEGEND = (
    "kv_util = final KV tokens / reserved KV tokens over finished requests; "
    "kv_occ = time-avg reserved / capacity; batch = time-avg running requests; "
    "alpha = achieved/streaming bandwidth of decode KV reads; step_ms = mean decode "
    "iteration; tok/s = output tokens per second of makespan."
)


def format_table(summaries: Sequence[dict[str, Any]]) -> str:
    cells = [[h for h, _, _ in COLUMNS]]
    for s in summaries:
        cells.append([fmt(s.get(key)) for _, key, fmt in COLUMNS])
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = []
    for j, row in enumerate(cells):
        rest = zip(row[1:], widths[1:], strict=True)
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in rest]
        lines.append("  ".join(parts))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
