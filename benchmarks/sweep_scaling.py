"""Sweep throughput: points per minute on the local pool (1 and 2 workers) and through
a local Dask cluster (2 workers).

Runs configs/sweeps/load.yaml (15 points, each a three-allocator experiment) into a
temporary folder each time. Compare the rows within one run; the machines are shared.

    python benchmarks/sweep_scaling.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from odma_sim.sweep.run import run_sweep
from odma_sim.sweep.spec import expand, load_sweep

REPO = Path(__file__).resolve().parent.parent
SWEEP = REPO / "configs" / "sweeps" / "load.yaml"


def timed(workers: int, scheduler: str | None) -> tuple[int, float]:
    spec, base, base_dir = load_sweep(SWEEP)
    points = expand(spec, base, base_dir, str(SWEEP))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_sweep(spec, points, Path(tmp) / "out", workers=workers, scheduler=scheduler,
                  resume=False, progress=False)
        return len(points), time.perf_counter() - t0


def main() -> None:
    from distributed import LocalCluster

    rows = [("local pool, 1 worker", *timed(1, None)),
            ("local pool, 2 workers", *timed(2, None))]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        rows.append(("Dask LocalCluster, 2 workers", *timed(1, cluster.scheduler_address)))
    base = rows[0][1] / rows[0][2]
    print(f"{SWEEP.name}: points per minute (wall clock)")
    print(f"{'backend':<30}{'points':>8}{'wall_s':>9}{'points/min':>12}{'vs 1 worker':>13}")
    for name, n, wall in rows:
        rate = n / wall
        print(f"{name:<30}{n:>8}{wall:>9.1f}{60 * rate:>12.1f}{rate / base:>13.2f}")


if __name__ == "__main__":
    main()
