"""Runs an experiment: one request stream through every device x allocator pair."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from tqdm import tqdm

from odma_sim.config.loader import LoadedExperiment
from odma_sim.engine.simulation import RunResult, simulate
from odma_sim.metrics.summary import records, summarize
from odma_sim.workload.generate import RequestTable, build_history, build_requests


@dataclass
class ExperimentResult:
    """Results of every row, in config order (devices outer, allocators inner)."""

    loaded: LoadedExperiment
    table: RequestTable
    runs: list[RunResult] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    records: list[pd.DataFrame] = field(default_factory=list)

    def summary_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.summaries)


def needs_history(loaded: LoadedExperiment) -> bool:
    """Whether any allocator trains a predictor (and so needs a history split)."""
    return any(getattr(a.params, "predictor", None) is not None
               for a in loaded.spec.allocators)


def history_table(loaded: LoadedExperiment, run_rows: int) -> RequestTable:
    spec = loaded.spec
    return build_history(
        spec.workload,
        seed=spec.seed,
        run_rows=run_rows,
        max_seq_len=spec.engine.max_seq_len,
        max_new_tokens=spec.engine.max_new_tokens,
        base_dir=loaded.base_dir,
        source=loaded.source,
    )


def request_table(loaded: LoadedExperiment) -> RequestTable:
    spec = loaded.spec
    return build_requests(
        spec.workload,
        seed=spec.seed,
        max_seq_len=spec.engine.max_seq_len,
        max_new_tokens=spec.engine.max_new_tokens,
        base_dir=loaded.base_dir,
        source=loaded.source,
    )


def _tick(bar: tqdm) -> None:
    bar.update(1)


def row_name(alloc_name: str, device_name: str, n_devices: int) -> str:
    return alloc_name if n_devices == 1 else f"{alloc_name}@{device_name}"


def run_experiment(loaded: LoadedExperiment, *, progress: bool | None = None) -> ExperimentResult:
    """Simulate every (device, allocator) row on the identical request table.

    ``progress``: None shows a bar only when stderr is a terminal.
    """
    spec = loaded.spec
    table = request_table(loaded)
    history = history_table(loaded, len(table)) if needs_history(loaded) else None
    result = ExperimentResult(loaded, table)
    rows = [(d, a) for d in spec.devices for a in spec.allocators]
    live = len(table) - table.n_rejected
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=live * len(rows), disable=not show, unit="req", file=sys.stderr,
              desc=spec.name, dynamic_ncols=True) as bar:
        for device, alloc in rows:
            name = row_name(alloc.name, device.name, len(spec.devices))
            bar.set_postfix_str(name)
            run = simulate(
                name=name,
                device=device,
                model=spec.model,
                engine=spec.engine,
                allocator=alloc,
                table=table,
                history=history,
                seed=spec.seed,
                duration_s=spec.workload.duration_s,
                keep_timeline=spec.output.timeline,
                on_done=lambda _req: _tick(bar),
            )
            recs = records(run)
            result.runs.append(run)
            result.records.append(recs)
            result.summaries.append(summarize(run, recs))
    return result
