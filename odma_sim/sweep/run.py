"""Running a sweep's points on a local process pool or a Dask cluster, resumably."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from odma_sim import __version__
from odma_sim.config.loader import build_experiment
from odma_sim.errors import InputError
from odma_sim.experiment import run_experiment
from odma_sim.sweep.spec import Point, SweepSpec


def run_point(payload: dict[str, Any]) -> dict[str, Any]:
    """Run one point (in a worker process). A point that raises is returned as failed,
    with its error, so that the other points go on."""
    t0 = time.perf_counter()
    out: dict[str, Any] = {k: payload[k] for k in ("point_id", "index", "values", "seed")}
    try:
        loaded = build_experiment(payload["config"],
                                  path=Path(payload["base_dir"]) / "<sweep point>")
        result = run_experiment(loaded, progress=False)
        out.update(status="ok", summaries=result.summaries)
    except Exception as exc:
        out.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    out["wall_s"] = time.perf_counter() - t0
    return out


def payload(p: Point) -> dict[str, Any]:
    return {"point_id": p.point_id, "index": p.index, "values": p.values, "seed": p.seed,
            "config": p.config, "base_dir": p.base_dir}


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary sibling, then rename: readers see the old file or the new."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class SweepOutcome:
    ran: int
    skipped: int
    failed: int
    results: pd.DataFrame


def finished(points_dir: Path) -> dict[str, dict[str, Any]]:
    """Point files already on disk, by point id (partial writes never appear: see
    :func:`write_atomic`)."""
    done = {}
    for f in points_dir.glob("*.json"):
        rec = json.loads(f.read_text(encoding="utf-8"))
        done[rec["point_id"]] = rec
    return done


def _local(points: list[Point], workers: int) -> Iterator[dict[str, Any]]:
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_point, payload(p)) for p in points]
        for fut in as_completed(futures):
            yield fut.result()


def _dask(points: list[Point], address: str) -> Iterator[dict[str, Any]]:
    from distributed import Client
    from distributed import as_completed as dask_completed

    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the Dask scheduler ({exc})", source="--scheduler",
                         value=address, expected="the address of a running "
                         "dask scheduler, e.g. tcp://10.0.0.5:8786") from None
    with client:
        futures = [client.submit(run_point, payload(p), key=f"odma-point-{p.point_id}",
                                 pure=False) for p in points]
        for fut in dask_completed(futures):
            yield fut.result()


def run_sweep(spec: SweepSpec, points: list[Point], out: Path, *, workers: int,
              scheduler: str | None, resume: bool, progress: bool | None = None) -> SweepOutcome:
    """Run the points not yet finished in ``out``; write one file per point as it ends,
    then the aggregate table. Failed points are run again on resume."""
    points_dir = out / "points"
    if out.exists() and any(points_dir.glob("*.json")) and not resume:
        raise InputError("the output folder already holds sweep results", source="--out",
                         value=str(out), expected="--resume to continue it, or another --out")
    points_dir.mkdir(parents=True, exist_ok=True)
    for stale in points_dir.glob(".*.tmp"):  # left by a kill during a write
        stale.unlink()
    write_atomic(out / "sweep.json", json.dumps({
        "name": spec.name, "package_version": __version__, "mode": spec.mode,
        "axes": spec.axes, "seeds": spec.seeds,
        "points": [{"point_id": p.point_id, "index": p.index, "values": p.values,
                    "seed": p.seed} for p in points],
    }, indent=2, default=str) + "\n")
    done = finished(points_dir)
    todo = [p for p in points if done.get(p.point_id, {}).get("status") != "ok"]
    show = sys.stderr.isatty() if progress is None else progress
    failed = 0
    with tqdm(total=len(points), initial=len(points) - len(todo), disable=not show,
              unit="pt", desc=spec.name, file=sys.stderr, dynamic_ncols=True) as bar:
        if todo:
            stream = _dask(todo, scheduler) if scheduler else _local(todo, workers)
            for rec in stream:
                write_atomic(points_dir / f"{rec['point_id']}.json",
                             json.dumps(rec, indent=1, default=str) + "\n")
                failed += rec["status"] != "ok"
                bar.update(1)
                bar.set_postfix(failed=failed)
    results = aggregate(points, finished(points_dir))
    write_atomic(out / "results.csv", results.to_csv(index=False))
    fd, tmp = tempfile.mkstemp(prefix=".results.parquet.", suffix=".tmp", dir=out)
    os.close(fd)
    results.to_parquet(tmp, index=False)
    os.replace(tmp, out / "results.parquet")
    return SweepOutcome(len(todo), len(points) - len(todo), failed, results)


def _cell(v: Any) -> Any:
    return json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v


def aggregate(points: list[Point], records: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per point and allocator row (failed points: one row with the error), in
    point order, so the table does not depend on completion order or backend."""
    rows = []
    for p in points:
        rec = records.get(p.point_id)
        head = {"point_id": p.point_id, "point": p.index, "seed": p.seed,
                **{k: _cell(v) for k, v in p.values.items()}}
        if rec is None:
            rows.append({**head, "status": "missing", "error": None})
        elif rec["status"] != "ok":
            rows.append({**head, "status": "failed", "error": rec.get("error")})
        else:
            for s in rec["summaries"]:
                rows.append({**head, "status": "ok", "error": None, **s})
    return pd.DataFrame(rows)
