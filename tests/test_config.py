"""Config loading: presets by name, inline overrides, plugins, resolved-config round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import REPO, toy_raw
from odma_sim.config import build_experiment, load_experiment
from odma_sim.config.presets import list_presets
from odma_sim.errors import InputError
from odma_sim.hardware.cost import CostModel

EXPECTED_DEVICES = {"mlu370-x4", "mlu370-x8", "a100-80gb", "h100-sxm", "hbm3-iso"}
EXPECTED_MODELS = {"deepseek-r1-distill-qwen-7b", "qwen2.5-7b", "llama-2-7b", "llama-3-8b"}


def test_all_presets_ship_and_validate() -> None:
    assert set(list_presets("hardware")) >= EXPECTED_DEVICES
    assert set(list_presets("models")) >= EXPECTED_MODELS
    for dev in EXPECTED_DEVICES:
        raw = toy_raw(device=dev, model="deepseek-r1-distill-qwen-7b",
                      engine={"max_seq_len": 2048})
        raw["device"] = dev
        loaded = build_experiment(raw)
        assert loaded.spec.devices[0].name == dev


def test_every_preset_number_has_a_source_comment() -> None:
    """Presets are data with cited sources: every numeric line carries a comment."""
    for folder in ("hardware", "models"):
        for path in sorted((REPO / "configs" / folder).glob("*.yaml")):
            for line in path.read_text().splitlines():
                body = line.split("#", 1)[0]
                if ":" not in body:
                    continue
                value = body.split(":", 1)[1].strip()
                try:
                    float(value)
                except ValueError:
                    continue
                assert "#" in line, f"{path.name}: no source comment on '{line.strip()}'"


def test_preset_values_match_reference() -> None:
    raw = toy_raw(engine={"max_seq_len": 2048})
    raw["device"] = "mlu370-x4"
    raw["model"] = "deepseek-r1-distill-qwen-7b"
    dev = build_experiment(raw).spec.devices[0]
    assert dev.memory.peak_bandwidth_bytes_per_s == pytest.approx(307.2e9)
    assert dev.memory.t_sw_s == pytest.approx(37.5e-9)
    assert dev.compute.peak_tflops == 96.0


def test_inline_override_of_a_preset_field() -> None:
    raw = toy_raw(engine={"max_seq_len": 2048})
    raw["device"] = {"preset": "mlu370-x4", "memory": {"p_eff": 2.0}}
    raw["model"] = "deepseek-r1-distill-qwen-7b"
    dev = build_experiment(raw).spec.devices[0]
    assert dev.memory.p_eff == 2.0
    assert dev.memory.channels == 24  # the rest of the preset is kept


def test_device_list_and_preset_by_path(tmp_path: Path) -> None:
    custom = tmp_path / "dev.yaml"
    custom.write_text((REPO / "configs/hardware/hbm3-iso.yaml").read_text().replace(
        "name: hbm3-iso", "name: my-hbm"))
    raw = toy_raw(engine={"max_seq_len": 2048})
    del raw["device"]
    raw["devices"] = ["mlu370-x4", "dev.yaml"]
    raw["model"] = "qwen2.5-7b"
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    spec = load_experiment(cfg).spec
    assert [d.name for d in spec.devices] == ["mlu370-x4", "my-hbm"]


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    loaded = load_experiment(REPO / "configs" / "quickstart.yaml")
    dumped = loaded.spec.to_config()
    path = tmp_path / "resolved.yaml"
    path.write_text(yaml.safe_dump(dumped))
    again = load_experiment(path).spec
    assert again == loaded.spec


def test_seed_override() -> None:
    assert load_experiment(REPO / "configs/quickstart.yaml", seed=7).spec.seed == 7


def test_weights_that_do_not_fit_are_an_input_error() -> None:
    raw = toy_raw()
    raw["model"] = "llama-3-8b"
    with pytest.raises(InputError, match="do not fit"):
        build_experiment(raw)


def test_tensor_parallel_must_divide_heads() -> None:
    raw = toy_raw(engine={"max_seq_len": 2048, "tensor_parallel": 3})
    raw["device"] = "mlu370-x4"
    raw["model"] = "deepseek-r1-distill-qwen-7b"
    with pytest.raises(InputError, match=r"engine\.tensor_parallel"):
        build_experiment(raw)


def test_tensor_parallel_4_holds_more_kv() -> None:
    raw = toy_raw(engine={"max_seq_len": 2048, "tensor_parallel": 4})
    raw["device"] = "mlu370-x4"
    raw["model"] = "deepseek-r1-distill-qwen-7b"
    spec = build_experiment(raw).spec
    one = CostModel(spec.devices[0], spec.model, 1).kv_capacity_tokens
    four = CostModel(spec.devices[0], spec.model, 4).kv_capacity_tokens
    assert four > 4 * one  # a quarter of the weights and a quarter of the KV per device
