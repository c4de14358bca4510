"""Bad configs, traces and flags: exit status 2, one paragraph naming the key and the
value, no traceback, and no output directory left behind."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import toy_raw
from odma_sim.cli import main


def write_config(tmp_path: Path, mutate: Callable[[dict[str, Any], Path], Any]) -> Path:
    raw = toy_raw()
    mutate(raw, tmp_path)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def trace_config(text: str, columns: dict[str, str] | None = None) -> Callable[
        [dict[str, Any], Path], None]:
    def mutate(raw: dict[str, Any], tmp: Path) -> None:
        (tmp / "t.csv").write_text(text)
        raw["workload"] = {
            "arrivals": {"kind": "trace"},
            "prompt_tokens": {"kind": "trace"},
            "output_tokens": {"kind": "trace"},
            "trace": {"path": "t.csv", "columns": columns or {
                "timestamp": "t", "input_tokens": "p", "output_tokens": "o"}},
        }
    return mutate


def _set(path: str, value: Any) -> Callable[[dict[str, Any], Path], None]:
    def mutate(raw: dict[str, Any], _: Path) -> None:
        node = raw
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return mutate


def _del(path: str) -> Callable[[dict[str, Any], Path], None]:
    def mutate(raw: dict[str, Any], _: Path) -> None:
        node = raw
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[k]
        del node[keys[-1]]
    return mutate


# (id, mutation, substrings the message must contain)
CASES: list[tuple[str, Callable[[dict[str, Any], Path], Any], list[str]]] = [
    ("missing-workload", _del("workload"), ["'workload'", "required key is missing"]),
    ("missing-rate", _set("workload.arrivals", {"kind": "poisson"}),
     ["workload.arrivals.rate_rps", "missing"]),
    ("negative-rate", _set("workload.arrivals", {"kind": "poisson", "rate_rps": -1}),
     ["workload.arrivals.rate_rps", "-1", "greater than 0"]),
    ("unknown-allocator", _set("allocators", [{"kind": "pagd"}]),
     ["allocators[0].kind", "'pagd'", "did you mean 'paged'", "static"]),
    ("wrong-type", _set("engine.max_batch", "many"),
     ["engine.max_batch", "'many'", "integer"]),
    ("unknown-key", _set("engine.max_bach", 3),
     ["engine.max_bach", "did you mean 'max_batch'", "max_seq_len"]),
    ("unknown-device", _set("device", "mlu370-x5"),
     ["'device'", "'mlu370-x5'", "mlu370-x4", "hbm3-iso"]),
    ("unknown-arrival-kind", _set("workload.arrivals", {"kind": "poison", "rate_rps": 1}),
     ["workload.arrivals.kind", "'poison'", "poisson"]),
    ("allocator-param-range", _set("allocators", [{"kind": "paged", "watermark": 1.5}]),
     ["allocators[0].watermark", "1.5", "less than 1"]),
    ("unknown-allocator-param", _set("allocators", [{"kind": "paged", "block_size": 16}]),
     ["allocators[0].block_size", "block_tokens"]),
    ("device-override-type", _set("device", {"preset": "mlu370-x4",
                                             "memory": {"p_eff": "high"}}),
     ["device.memory.p_eff", "'high'", "number"]),
    ("duplicate-names", _set("allocators", [{"kind": "static"}, {"kind": "static"}]),
     ["allocators[1].name", "used twice", "unique"]),
    ("max-seq-len-too-big", _set("engine.max_seq_len", 64),
     ["engine.max_seq_len", "64", "at most 10"]),
    ("trace-not-found", lambda raw, tmp: (trace_config("t,p,o\n")(raw, tmp),
                                          (tmp / "t.csv").unlink()),
     ["workload.trace.path", "t.csv", "not found"]),
    ("trace-missing-column", trace_config("t,p,out\n0,1,1\n"),
     ["workload.trace.columns.output_tokens", "'o'", "t, p, out"]),
    ("trace-negative-length", trace_config("t,p,o\n0,4,2\n1,-3,2\n"),
     ["workload.trace.columns.input_tokens", "row 2", "-3", "positive integer"]),
    ("trace-bad-time", trace_config("t,p,o\n0,4,2\nsoon,3,2\n"),
     ["workload.trace.columns.timestamp", "'soon'", "row 2"]),
    ("trace-time-backwards", trace_config("t,p,o\n5,4,2\n1,3,2\n"),
     ["timestamps go backwards", "row 2"]),
]


@pytest.mark.parametrize(("mutate", "needles"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_config_exits_2_with_one_paragraph(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
    mutate: Callable[[dict[str, Any], Path], Any], needles: list[str],
) -> None:
    cfg = write_config(tmp_path, mutate)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert str(cfg) in err or "t.csv" in err
    for needle in needles:
        assert needle in err, f"{needle!r} not in: {err}"
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
    assert captured.out == ""


def test_invalid_yaml_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("name: x\nworkload: [1, 2\nengine: {}\n")
    assert main(["validate", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "not valid YAML" in err and "line" in err and str(cfg) in err


def test_config_must_be_a_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "list.yaml"
    cfg.write_text("- a\n- b\n")
    assert main(["validate", str(cfg)]) == 2
    assert "must be a YAML mapping" in capsys.readouterr().err


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "config file not found" in err and "nope.yaml" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv", [
    ["run", "x.yaml", "--seed", "-1"],
    ["run", "x.yaml", "--seed", "abc"],
    ["device", "mlu370-x4", "--batch", "0"],
    ["frobnicate"],
])
def test_bad_flags_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_unknown_device_on_the_device_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["device", "a100"]) == 2
    err = capsys.readouterr().err
    assert "unknown hardware preset 'a100'" in err and "a100-80gb" in err


def test_real_process_exit_status(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, _set("workload.arrivals", {"kind": "poisson", "rate_rps": 0}))
    proc = subprocess.run([sys.executable, "-m", "odma_sim.cli", "run", str(cfg), "--out",
                           str(tmp_path / "o")], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "workload.arrivals.rate_rps" in proc.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("mutate", "needles"), [
    (_set("allocators", [{"kind": "paged", "block_tokens": 64}]),
     ["allocators[0]", "can use only 0 of the 10 KV slots"]),
    (_set("workload.arrivals", {"kind": "poisson", "rate_rps": float("inf")}),
     ["workload.arrivals.rate_rps", "finite number"]),
], ids=["block-larger-than-arena", "infinite-rate"])
def test_more_bad_configs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                          mutate: Callable[[dict[str, Any], Path], Any],
                          needles: list[str]) -> None:
    cfg = write_config(tmp_path, mutate)
    assert main(["validate", str(cfg)]) == 2
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, err


def test_duplicate_yaml_keys_are_refused(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "dup.yaml"
    cfg.write_text("name: a\nseed: 1\nname: b\n")
    assert main(["validate", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "line 3" in err and "'name' appears twice" in err
