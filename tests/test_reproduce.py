"""`odma-sim reproduce --quick`: every figure and table, golden numbers, and the
direction of every headline effect."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO
from odma_sim.cli import main

GOLDEN = REPO / "tests" / "golden" / "reproduce_quick.json"
FIGURES = ["1_racm_curve", "2_length_distributions", "3_predictor_accuracy",
           "4_kv_utilization", "5_throughput_vs_static", "6_drift_boundaries", "7_ablations",
           "8_where_each_wins", "9_latency_vs_load"]


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (REPO.parent / "shared" / "data").is_dir() and "ODMA_SIM_DATA" not in os.environ:
        pytest.skip("the paper's workloads read ../shared/data, which is absent")
    out = tmp_path_factory.mktemp("rq") / "out"
    assert main(["reproduce", "--quick", "--out", str(out), "--quiet"]) == 0
    return out


def key_numbers(out: Path) -> dict[str, float]:
    """The numbers the golden file pins: fits, and per data set and allocator the KV
    utilisation, throughput and p99 TTFT; plus the comparison table."""
    nums: dict[str, float] = {}
    fits = json.loads((out / "fits.json").read_text())
    for ds, f in fits.items():
        nums[f"fit.{ds}"] = f["value"]
    for ds in ("alpaca", "nq", "drift"):
        for s in json.loads((out / "runs" / ds / "summary.json").read_text()):
            for k in ("kv_utilization", "tps_output", "ttft_p99_s"):
                nums[f"{ds}.{s['name']}.{k}"] = s[k]
    for r in pd.read_csv(out / "paper_comparison.csv").to_dict("records"):
        nums[f"table.{r['metric']}.{r['dataset']}"] = r["simulated"]
    return nums


def test_every_output_is_written(quick: Path) -> None:
    for f in FIGURES:
        for ext in ("png", "svg"):
            assert (quick / "figures" / f"{f}.{ext}").stat().st_size > 1000, f
    table = pd.read_csv(quick / "paper_comparison.csv")
    assert len(table) == 11 and table["simulated"].notna().all()
    assert (table["run"] == "quick").all()
    md = (quick / "paper_comparison.md").read_text()
    assert md.startswith("**QUICK run") and md.count("\n|") == 13
    assert json.loads((quick / "run.json").read_text())["quick"] is True
    assert "scale" in (quick / "runs" / "nq.config.yaml").read_text()


def test_calibration_hits_its_targets(quick: Path) -> None:
    table = pd.read_csv(quick / "paper_comparison.csv").set_index(["metric", "dataset"])
    for ds in ("Alpaca", "Google NQ"):
        row = table.loc[("KV utilisation, static", ds)]
        assert abs(row["difference"]) < 0.1 and "calibrated" in row["note"]
        assert "predicted" in table.loc[("KV utilisation, ODMA", ds)]["note"]


def test_golden_numbers(quick: Path) -> None:
    """Regressions, not float noise: every pinned number within 1e-6 relative."""
    nums = key_numbers(quick)
    if os.environ.get("ODMA_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(nums, indent=1, sort_keys=True) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert set(golden) == set(nums)
    for k, v in golden.items():
        assert math.isclose(nums[k], v, rel_tol=1e-6, abs_tol=1e-9), (k, nums[k], v)


def test_headline_directions(quick: Path) -> None:
    for ds in ("alpaca", "nq"):
        s = {r["name"]: r for r in json.loads((quick / "runs" / ds / "summary.json").read_text())}
        assert s["odma"]["kv_utilization"] > s["static"]["kv_utilization"] + 0.1
        assert s["oracle-buckets"]["kv_utilization"] >= s["odma"]["kv_utilization"]
    sweep = pd.read_parquet(quick / "sweeps" / "crossover" / "results.parquet")
    sweep["alpha"] = sweep["device.memory.random_access"].map(lambda x: json.loads(x)["alpha"])
    mean = sweep.groupby(["device", "name", "alpha"])["tps_output"].mean()
    mlu = mean.loc["mlu370-x4"]
    # ODMA serves more than static on mlu370-x4 at every alpha
    assert all(mlu.loc["odma"] > mlu.loc["static"])
    # paging loses more to scattered reads on LPDDR5 than on HBM3
    drop = {d: 1 - mean.loc[(d, "paged", 0.2)] / mean.loc[(d, "paged", 1.0)]
            for d in ("mlu370-x4", "hbm3-iso")}
    assert drop["mlu370-x4"] > 1.5 * drop["hbm3-iso"] > 0


def test_full_run_matches_the_readme(tmp_path: Path) -> None:
    """The README's comparison table is what the full `odma-sim reproduce` prints."""
    if not (REPO.parent / "shared" / "data").is_dir() and "ODMA_SIM_DATA" not in os.environ:
        pytest.skip("the paper's workloads read ../shared/data, which is absent")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    shown = readme.split("<!-- paper-table:begin -->\n")[1].split("<!-- paper-table:end -->")[0]
    out = tmp_path / "full"
    assert main(["reproduce", "--out", str(out), "--quiet"]) == 0
    assert (out / "paper_comparison.md").read_text(encoding="utf-8") == shown
