"""Simulation speed: requests and simulated seconds per wall-clock second.

Runs the quickstart workload on mlu370-x4 with 10,000 requests (override with
--requests) through each allocator and prints one row per allocator (wall time
includes training and refitting the predictors). Absolute numbers depend on the
machine; compare rows (and the ratio to the static row) within one run.

    python benchmarks/speed.py [--requests N] [--rate RPS]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml

from odma_sim.config.loader import build_experiment
from odma_sim.engine.simulation import simulate
from odma_sim.experiment import history_table, request_table

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--rate", type=float, default=20.0, help="arrival rate (req/s)")
    ap.add_argument("--device", default="mlu370-x4")
    args = ap.parse_args()

    raw = yaml.safe_load((REPO / "configs" / "quickstart.yaml").read_text())
    raw["devices"] = [args.device]
    raw["workload"]["num_requests"] = args.requests
    raw["workload"]["arrivals"]["rate_rps"] = args.rate
    raw["allocators"] = [{"kind": "static"}, {"kind": "paged"},
                         {"kind": "paged", "name": "paged-per-head", "kv_layout": "per_head"},
                         {"kind": "odma"}, {"kind": "s3"}]
    loaded = build_experiment(raw, path=REPO / "configs" / "quickstart.yaml")
    spec = loaded.spec
    t0 = time.perf_counter()
    table = request_table(loaded)
    history = history_table(loaded, len(table))
    t_gen = time.perf_counter() - t0
    print(f"{args.requests} requests on {args.device} at {args.rate} req/s "
          f"(workload generated in {t_gen:.2f} s)")
    header = (f"{'allocator':<16}{'wall_s':>8}{'sim_s':>10}{'iterations':>12}"
              f"{'req/wall_s':>12}{'sim_s/wall_s':>14}{'iter/wall_s':>13}{'vs static':>11}")
    print(header)
    base = None
    for alloc in spec.allocators:
        t0 = time.perf_counter()
        run = simulate(name=alloc.name, device=spec.devices[0], model=spec.model,
                       engine=spec.engine, allocator=alloc, table=table, history=history,
                       seed=spec.seed, keep_timeline=False)
        wall = time.perf_counter() - t0
        rate = args.requests / wall
        base = base or rate
        print(f"{alloc.name:<16}{wall:8.2f}{run.sim_time_s:10.1f}{run.recorder.iterations:12d}"
              f"{rate:12.0f}{run.sim_time_s / wall:14.1f}{run.recorder.iterations / wall:13.0f}"
              f"{rate / base:11.2f}")


if __name__ == "__main__":
    main()
