"""The step-time and random-access models against REFERENCE.md's worked numbers."""

from __future__ import annotations

import numpy as np
import pytest

from odma_sim.config.presets import deep_merge, load_preset
from odma_sim.hardware.cost import CostModel
from odma_sim.hardware.racm import alpha
from odma_sim.hardware.spec import DeviceSpec
from odma_sim.models.spec import ModelSpec


def device(name: str, **overrides: object) -> DeviceSpec:
    data, _ = load_preset("hardware", name, base_dir=None, source="test", key="device")
    return DeviceSpec.model_validate(deep_merge(data, dict(overrides)))


def model(name: str) -> ModelSpec:
    data, _ = load_preset("models", name, base_dir=None, source="test", key="model")
    return ModelSpec.model_validate(data)


QWEN = "deepseek-r1-distill-qwen-7b"
NO_LAUNCH = {"compute": {"kernel_launch_s": 0.0}}


@pytest.mark.parametrize(
    ("name", "params", "kv_bytes"),
    [
        ("deepseek-r1-distill-qwen-7b", 7.616e9, 57_344),
        ("qwen2.5-7b", 7.616e9, 57_344),
        ("llama-2-7b", 6.738e9, 524_288),
        ("llama-3-8b", 8.030e9, 131_072),
    ],
)
def test_model_sizes_derived_from_architecture(name: str, params: float, kv_bytes: int) -> None:
    m = model(name)
    assert m.params == pytest.approx(params, rel=1e-3)  # REFERENCE.md s3 table
    assert m.kv_bytes_per_token == kv_bytes


def test_qwen_weights_and_kv_capacity_on_mlu370() -> None:
    cost = CostModel(device("mlu370-x4"), model(QWEN))
    assert cost.weight_bytes / 1e9 == pytest.approx(15.23, abs=0.01)
    # REFERENCE.md s3: "about 139 k KV tokens fit (67 requests x 2048 tokens)"
    assert cost.kv_capacity_tokens == pytest.approx(139_000, rel=0.01)
    assert cost.kv_capacity_tokens // 2048 == 67


def _decode_64x2048(cost: CostModel, extent_tokens: int, layout: str = "per_block") -> float:
    per_req = 2048 // extent_tokens
    extents = np.full(64 * per_req, extent_tokens)
    oh = float(cost.extent_overhead_s(extents, cost.geometry(layout)).sum())  # type: ignore[arg-type]
    return cost.step(decode_batch=64, decode_context_tokens=64 * 2048, kv_overhead_s=oh).duration_s


def test_reference_step_contiguous_is_87ms() -> None:
    cost = CostModel(device("mlu370-x4", **NO_LAUNCH), model(QWEN))
    assert _decode_64x2048(cost, 2048) == pytest.approx(0.087, rel=0.03)


def test_reference_step_with_alpha_half_is_116ms() -> None:
    dev = device("mlu370-x4", compute={"kernel_launch_s": 0.0},
                 memory={"random_access": {"mode": "empirical", "alpha": 0.5,
                                           "alpha_chunk_bytes": 16384}})
    cost = CostModel(dev, model(QWEN))
    assert _decode_64x2048(cost, 16) == pytest.approx(0.116, rel=0.03)  # 16 KiB blocks
    # contiguous regions pay the same fixed overhead once: they nearly stream
    assert _decode_64x2048(cost, 2048) == pytest.approx(0.087, rel=0.03)
    a = alpha(cost.access, [16384, 4096, 2 << 20])
    assert a[0] == pytest.approx(0.5)
    assert a[1] == pytest.approx(4096 / (4096 + 16384))
    assert a[2] > 0.99


def test_reference_step_on_h100_is_about_8ms() -> None:
    cost = CostModel(device("h100-sxm", **NO_LAUNCH), model(QWEN))
    assert _decode_64x2048(cost, 2048) == pytest.approx(0.008, rel=0.1)


def test_mechanistic_alpha_matches_design_examples() -> None:
    """DESIGN.md: 16 KiB paged block ~0.6, 4 KiB per-head piece ~0.4, long run ~1."""
    acc = CostModel(device("mlu370-x4"), model(QWEN)).access
    a16k, a4k, a2m = alpha(acc, [16384, 4096, 2 << 20])
    assert a16k == pytest.approx(0.6, abs=0.05)
    assert a4k == pytest.approx(0.4, abs=0.05)
    assert a2m > 0.99


def test_mechanistic_alpha_by_hand() -> None:
    """16 KiB on mlu370-x4: stream 16384 / (0.85 * 307.2e9) s; 24 channels touched, one
    37.5 ns switch each, overlapped over 24 channels and P_eff 1 -> 37.5 ns."""
    acc = CostModel(device("mlu370-x4"), model(QWEN)).access
    stream = 16384 / (0.85 * 307.2e9)
    assert float(acc.overhead_s(16384)) == pytest.approx(37.5e-9)
    assert float(alpha(acc, 16384)) == pytest.approx(stream / (stream + 37.5e-9))
    # 512 B touches only 2 channels of 256 B
    assert float(acc.overhead_s(512)) == pytest.approx(2 * 37.5e-9 / 24)


def test_alpha_rises_with_chunk_size_and_p_eff() -> None:
    sizes = [1 << k for k in range(6, 21)]
    lo = alpha(CostModel(device("mlu370-x4"), model(QWEN)).access, sizes)
    hi = alpha(CostModel(device("mlu370-x4", memory={"p_eff": 8.0}), model(QWEN)).access, sizes)
    assert np.all(np.diff(lo) >= -1e-12)
    assert np.all(hi > lo)


def test_paged_penalty_larger_on_lpddr5_than_hbm3() -> None:
    m = model(QWEN)
    ratios = {}
    for name in ("mlu370-x4", "hbm3-iso"):
        cost = CostModel(device(name, **NO_LAUNCH), m)
        ratios[name] = cost.extent_overhead_s(16, cost.geometry("per_block")) / (
            16 * cost.kv_bytes_per_token * cost.stream_s_per_byte)
    assert ratios["mlu370-x4"] > 2 * ratios["hbm3-iso"]


def test_per_head_layout_costs_more_than_per_block() -> None:
    cost = CostModel(device("mlu370-x4", **NO_LAUNCH), model(QWEN))
    assert _decode_64x2048(cost, 16, "per_head") > _decode_64x2048(cost, 16, "per_block")


def test_tensor_parallel_splits_weights_and_kv_and_adds_allreduce() -> None:
    m = model(QWEN)
    one = CostModel(device("mlu370-x4"), m, 1)
    four = CostModel(device("mlu370-x4"), m, 4)
    assert four.weight_bytes == pytest.approx(one.weight_bytes / 4)
    assert four.kv_bytes_per_token == one.kv_bytes_per_token // 4
    assert one.allreduce_s(64) == 0.0
    # 2 all-reduces x 28 layers of 64 x 3584 x 2 bytes over a 4-ring on 31.5 GB/s PCIe
    nbytes = 64 * 3584 * 2
    ring = 2 * 3 / 4 * nbytes / 31.5e9 + 2 * 3 * 5e-6
    assert four.allreduce_s(64) == pytest.approx(2 * 28 * ring)


def test_copy_costs() -> None:
    cost = CostModel(device("mlu370-x4"), model(QWEN))
    assert cost.device_copy_s(1e9) == pytest.approx(2e9 / (0.85 * 307.2e9))
    assert cost.host_transfer_s(31.5e9) == pytest.approx(1.0 + 5e-6)
