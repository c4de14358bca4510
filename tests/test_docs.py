"""The README stays true: its config reference, its quickstart table, its examples."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from odma_sim.config import build_experiment, load_experiment
from odma_sim.config.reference import config_reference
from odma_sim.experiment import run_experiment
from odma_sim.report.table import format_table

README = (REPO / "README.md").read_text(encoding="utf-8")


def fenced_after(heading: str, lang: str) -> str:
    """The first ```lang block after ``heading`` in the README."""
    start = README.index(heading)
    m = re.compile(rf"```{lang}\n(.*?)```", re.S).search(README, start)
    assert m is not None, f"no {lang} block after {heading}"
    return m.group(1)


def test_config_reference_is_current() -> None:
    assert config_reference() in README, (
        "README config reference is stale: run `odma-sim config-reference --update README.md`"
    )


RUN_TABLES = re.findall(r"<!-- run-table:begin (\S+) -->\n```\n(.*?)```\n<!-- run-table:end -->",
                        README, re.S)


def test_readme_has_run_tables() -> None:
    assert [c for c, _ in RUN_TABLES] == [
        "configs/quickstart.yaml", "configs/odma_alpaca_like.yaml", "configs/odma_drift.yaml"]


@pytest.mark.parametrize(("config", "shown"), RUN_TABLES, ids=[c for c, _ in RUN_TABLES])
def test_run_table_matches_a_fresh_run(config: str, shown: str) -> None:
    """Every comparison table in the README is what `odma-sim run <config>` prints."""
    res = run_experiment(load_experiment(REPO / config), progress=False)
    assert format_table(res.summaries) == shown.rstrip("\n")


EVAL_TABLES = re.findall(r"<!-- eval-table:begin (\S+) -->\n```\n(.*?)```\n<!-- eval-table:end -->",
                         README, re.S)


def test_readme_has_eval_tables() -> None:
    assert [w for w, _ in EVAL_TABLES] == ["alpaca", "nq", "alpaca-reference"]


@pytest.mark.parametrize(("workload", "shown"), EVAL_TABLES, ids=[w for w, _ in EVAL_TABLES])
def test_eval_table_matches_a_fresh_evaluation(shared_data: Path, workload: str,
                                               shown: str) -> None:
    """Every predictor-accuracy table in the README is what
    `odma-sim predictors evaluate --workload <preset>` prints."""
    from odma_sim.cli import _load_workload
    from odma_sim.predictors.evaluate import evaluate_one
    from odma_sim.report.predictors import format_scores
    from odma_sim.workload.generate import build_history, build_requests

    spec, _, _, paper = _load_workload(workload)
    test = build_requests(spec, seed=0, max_seq_len=1 << 30, max_new_tokens=None)
    hist = build_history(spec, seed=0, run_rows=len(test), max_seq_len=1 << 30,
                         max_new_tokens=None)
    scores = [evaluate_one(k, hist, test, seed=0)
              for k in ("constant", "s3", "odma", "noisy", "oracle")]
    assert format_scores(scores, paper) == shown.rstrip("\n")


def test_example_config_validates() -> None:
    raw = yaml.safe_load(fenced_after("## Writing a config", "yaml"))
    spec = build_experiment(raw).spec
    assert [d.name for d in spec.devices] == ["mlu370-x4", "mlu-peff2"]
    assert spec.devices[1].memory.p_eff == 2.0


def test_trace_example_matches_the_shipped_experiment() -> None:
    snippet = yaml.safe_load(fenced_after("### Bringing your own trace", "yaml"))
    shipped = yaml.safe_load((REPO / "experiments/example_trace_replay.yaml").read_text())
    for key in ("arrivals", "prompt_tokens", "output_tokens"):
        assert snippet["workload"][key] == shipped["workload"][key]
    assert snippet["workload"]["trace"]["columns"] == shipped["workload"]["trace"]["columns"]


def test_shipped_configs_validate() -> None:
    for path in [REPO / "configs/quickstart.yaml",
                 REPO / "experiments/example_trace_replay.yaml"]:
        load_experiment(path)


def test_azure_experiment_validates(shared_data: Path) -> None:
    assert (shared_data / "azure-llm-2023").is_dir()
    spec = load_experiment(REPO / "experiments/azure_conv_replay.yaml").spec
    assert spec.workload.trace is not None


def test_allocator_example_plugs_in(tmp_path: Path) -> None:
    """The README's 'Adding an allocator' code registers, runs and passes the contract."""
    code = fenced_after("## Adding an allocator", "python")
    (tmp_path / "half_alloc.py").write_text(code)
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        sys.path.insert(0, {str(REPO / "tests")!r})
        import half_alloc  # noqa: F401  (registers 'half')
        from conftest import toy
        from odma_sim.experiment import run_experiment
        res = run_experiment(toy(workload={{"num_requests": 3}},
                                 allocators=[{{"kind": "half", "slot_tokens": 4}}]),
                             progress=False)
        s = res.summaries[0]
        assert s["completed"] == 3 and s["allocator"] == "half", s
        import test_allocator_contract as c
        c.VARIANTS[:] = [("half", {{"slot_tokens": 64}})]
        c.test_invariants_under_random_operations("half", {{"slot_tokens": 64}})
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
