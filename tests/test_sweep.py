"""Sweeps: expansion, bad axes, local pool against a real Dask cluster, kill-and-resume,
failing points, plots."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from conftest import REPO, toy_raw
from odma_sim.cli import main
from odma_sim.sweep.spec import expand, load_sweep

ODMA = [sys.executable, "-m", "odma_sim.cli"]


def write_sweep(tmp: Path, axes: dict[str, Any], seeds: list[int] | None = None,
                mode: str = "grid", requests: int = 40, **base_over: Any) -> Path:
    over: dict[str, Any] = {
        "device": {"memory": {"capacity_bytes": 1072 + 32 * 200}},
        "engine": {"max_seq_len": 32, "max_batch": 8},
        "workload": {"arrivals": {"kind": "poisson", "rate_rps": 0.5},
                     "prompt_tokens": {"kind": "uniform", "low_tokens": 1, "high_tokens": 12},
                     "output_tokens": {"kind": "uniform", "low_tokens": 1,
                                       "high_tokens": 16},
                     "num_requests": requests},
        "allocators": [{"kind": "static"}, {"kind": "paged", "block_tokens": 4}],
        "output": {"records": False, "timeline": False},
    }
    base = toy_raw(**over)
    base.update(base_over)  # whole sections replaced (e.g. a preset name for device)
    (tmp / "base.yaml").write_text(yaml.safe_dump(base))
    sweep = {"name": "t", "base": "base.yaml", "mode": mode, "axes": axes,
             "seeds": seeds or [1, 2]}
    path = tmp / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    return path


def test_grid_zip_range_and_seeds(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, {"engine.max_batch": [1, 2, 4],
                                  "workload.arrivals.rate_rps": {"range": [0.5, 1.5, 0.5]}})
    spec, base, base_dir = load_sweep(path)
    pts = expand(spec, base, base_dir, str(path))
    assert len(pts) == 3 * 3 * 2
    assert [p.values["engine.max_batch"] for p in pts[::6]] == [1, 2, 4]  # first axis slowest
    assert {p.values["workload.arrivals.rate_rps"] for p in pts} == {0.5, 1.0, 1.5}
    assert [p.seed for p in pts[:2]] == [1, 2]
    assert len({p.point_id for p in pts}) == len(pts)
    assert pts[0].config["engine"]["max_batch"] == 1 and pts[0].config["seed"] == 1
    zpath = write_sweep(tmp_path, {"engine.max_batch": [1, 2],
                                   "engine.token_budget": [10, 20]}, mode="zip", seeds=[3])
    spec, base, base_dir = load_sweep(zpath)
    zp = expand(spec, base, base_dir, str(zpath))
    assert [(p.values["engine.max_batch"], p.values["engine.token_budget"]) for p in zp] == [
        (1, 10), (2, 20)]


def test_preset_fields_can_be_swept(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, {"device.memory.p_eff": [1, 8]},
                       device="mlu370-x4", model="deepseek-r1-distill-qwen-7b",
                       engine={"max_seq_len": 2048})
    spec, base, base_dir = load_sweep(path)
    pts = expand(spec, base, base_dir, str(path))
    assert [p.config["devices"][0]["memory"]["p_eff"] for p in pts[::2]] == [1.0, 8.0]
    assert pts[0].config["devices"][0]["memory"]["channels"] == 24


@pytest.mark.parametrize(("axes", "needles"), [
    ({"engine.max_bach": [1, 2]}, ["engine.max_bach", "did you mean 'max_batch'"]),
    ({"device.memory.peff": [1]}, ["peff", "did you mean 'p_eff'"]),
    ({"engine.max_batch": [1, -2]}, ["engine.max_batch", "-2", "engine.max_batch=-2"]),
    ({"engine.max_batch": {"range": [5, 1, 1]}}, ["range needs start <= stop"]),
])
def test_bad_axes_are_rejected_before_anything_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], axes: dict[str, Any],
        needles: list[str]) -> None:
    path = write_sweep(tmp_path, axes)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    for n in needles:
        assert n in err, err
    assert not out.exists()


def test_zip_needs_equal_lengths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sweep(tmp_path, {"engine.max_batch": [1, 2], "engine.token_budget": [9]},
                       mode="zip")
    assert main(["sweep", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "zipped axes must have equal lengths" in capsys.readouterr().err


def results(out: Path) -> pd.DataFrame:
    """The aggregate table; the CSV and the Parquet copies hold the same rows."""
    df = pd.read_parquet(out / "results.parquet")
    csv = pd.read_csv(out / "results.csv")
    assert list(csv.columns) == list(df.columns)
    assert csv["point_id"].tolist() == df["point_id"].tolist()
    return df


def test_failing_point_is_recorded_and_the_rest_complete(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("t,p,o\n0,3,4\n1,2,5\n")
    trace = {"path": str(good), "columns": {"timestamp": "t", "input_tokens": "p",
                                            "output_tokens": "o"}}
    path = write_sweep(tmp_path, {"workload.trace.path": [str(good), str(tmp_path / "no.csv")]},
                       seeds=[1])
    raw = yaml.safe_load((tmp_path / "base.yaml").read_text())
    raw["workload"] = {"arrivals": {"kind": "trace"}, "prompt_tokens": {"kind": "trace"},
                       "output_tokens": {"kind": "trace"}, "trace": trace}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--quiet", "--workers", "2"]) == 0
    df = results(out)
    assert set(df.status) == {"ok", "failed"}
    bad = df[df.status == "failed"]
    assert len(bad) == 1 and "trace file not found" in bad.error.iloc[0]
    assert (df[df.status == "ok"].completed == 2).all()


def test_local_pool_and_dask_cluster_agree(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, {"engine.max_batch": [1, 4]})
    local = tmp_path / "local"
    assert main(["sweep", str(path), "--out", str(local), "--quiet", "--workers", "2"]) == 0
    sched_file = tmp_path / "scheduler.json"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    dask = str(Path(sys.executable).parent / "dask")
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--dashboard-address", ":0", "--scheduler-file",
                               str(sched_file)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=env)]
    try:
        deadline = time.time() + 60
        while not sched_file.exists() and time.time() < deadline:
            time.sleep(0.2)
        procs.append(subprocess.Popen([dask, "worker", "--scheduler-file", str(sched_file),
                                       "--nworkers", "1", "--nthreads", "1",
                                       "--no-dashboard"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, env=env))
        address = json.loads(sched_file.read_text())["address"]
        remote = tmp_path / "remote"
        assert main(["sweep", str(path), "--out", str(remote), "--quiet", "--scheduler",
                     address]) == 0
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    assert (local / "results.csv").read_bytes() == (remote / "results.csv").read_bytes()
    assert len(results(local)) == 2 * 2 * 2  # points x seeds x allocators


def test_unreachable_scheduler(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sweep(tmp_path, {"engine.max_batch": [1]}, seeds=[1])
    assert main(["sweep", str(path), "--out", str(tmp_path / "o"), "--quiet", "--scheduler",
                 "tcp://127.0.0.1:9"]) == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


def test_kill_and_resume(tmp_path: Path) -> None:
    """SIGKILL a sweep mid-way (the whole process group), resume it: the table equals an
    uninterrupted run, without duplicate or missing rows or partial files."""
    path = write_sweep(tmp_path, {"workload.num_requests": [400, 401, 402, 403, 404, 405]},
                       seeds=[1, 2])
    whole = tmp_path / "whole"
    assert main(["sweep", str(path), "--out", str(whole), "--quiet", "--workers", "1"]) == 0
    out = tmp_path / "killed"
    proc = subprocess.Popen([*ODMA, "sweep", str(path), "--out", str(out), "--quiet",
                             "--workers", "1"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        done = list((out / "points").glob("*.json")) if (out / "points").exists() else []
        if len(done) >= 3:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    n_done = len(list((out / "points").glob("*.json")))
    assert 3 <= n_done < 12, "kill came too late to test a resume"
    assert not (out / "results.csv").exists()
    for f in (out / "points").glob("*.json"):
        json.loads(f.read_text())  # every point file on disk is complete
    assert main(["sweep", str(path), "--out", str(out), "--quiet", "--workers", "1"]) == 2
    assert main(["sweep", str(path), "--out", str(out), "--quiet", "--workers", "1",
                 "--resume"]) == 0
    assert (out / "results.csv").read_bytes() == (whole / "results.csv").read_bytes()
    df = results(out)
    assert not df.duplicated(["point_id", "name"]).any() and (df.status == "ok").all()
    assert not list((out / "points").glob(".*"))


def test_plots(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, {"engine.max_batch": [1, 4],
                                  "workload.arrivals.rate_rps": [0.3, 0.6]})
    out = tmp_path / "o"
    assert main(["sweep", str(path), "--out", str(out), "--quiet", "--workers", "2"]) == 0
    assert main(["plot", str(out), "--x", "workload.arrivals.rate_rps", "--y",
                 "ttft_p99_s", "--facet", "engine.max_batch"]) == 0
    assert main(["plot", str(out), "--x", "workload.arrivals.rate_rps", "--winner",
                 "engine.max_batch"]) == 0
    names = sorted(p.name for p in (out / "plots").iterdir())
    assert names == sorted([
        "ttft_p99_s_vs_workload.arrivals.rate_rps_by_engine.max_batch.png",
        "ttft_p99_s_vs_workload.arrivals.rate_rps_by_engine.max_batch.svg",
        "winner_tps_output_workload.arrivals.rate_rps_engine.max_batch.png",
        "winner_tps_output_workload.arrivals.rate_rps_engine.max_batch.svg"])


def test_plot_unknown_metric(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sweep(tmp_path, {"engine.max_batch": [1, 4]}, seeds=[1])
    out = tmp_path / "o"
    assert main(["sweep", str(path), "--out", str(out), "--quiet"]) == 0
    assert main(["plot", str(out), "--x", "engine.max_batch", "--y", "tps"]) == 2
    assert "no column 'tps'" in capsys.readouterr().err


def test_example_sweeps_expand() -> None:
    for name in ("racm-peff", "racm-alpha", "capacity-bandwidth", "load"):
        path = REPO / "configs" / "sweeps" / f"{name}.yaml"
        spec, base, base_dir = load_sweep(path)
        assert len(expand(spec, base, base_dir, str(path))) >= 10
