"""Shared fixtures: a toy device and model whose step times can be worked out by hand."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from odma_sim.config.loader import LoadedExperiment, build_experiment
from odma_sim.config.presets import deep_merge

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

# Toy model: 536 parameters (1072 weight bytes), 32 KV bytes per token.
TOY_MODEL: dict[str, Any] = {
    "name": "toy", "layers": 1, "hidden": 8, "heads": 1, "kv_heads": 1, "head_dim": 8,
    "intermediate": 8, "vocab": 8, "dtype_bytes": 2, "tied_embeddings": True,
}
# Toy device: 1000 B/s streaming (1 byte = 1 ms), compute ~free, no launch cost; the
# KV arena holds 10 tokens (1072 weight bytes + 320 KV bytes, all usable).
TOY_DEVICE: dict[str, Any] = {
    "name": "toy",
    "compute": {"peak_tflops": 1.0e6, "eta_prefill": 1.0, "eta_decode": 1.0,
                "kernel_launch_s": 0.0, "kernels_per_layer": 0},
    "memory": {"technology": "toy", "capacity_bytes": 1392, "usable_fraction": 1.0,
               "channels": 1, "channel_gb_per_s": 1.0e-6, "eta_seq": 1.0,
               "interleave_bytes": 1 << 30, "trp_ns": 5.0e6, "trcd_ns": 5.0e6, "p_eff": 1.0,
               "random_access": {"mode": "empirical", "alpha": 1.0}},
    "interconnect": {"device_link_gb_per_s": 1.0, "host_link_gb_per_s": 1.0e-6,
                     "link_latency_s": 0.0},
}
WEIGHTS_S = 1.072  # 1072 bytes at 1000 B/s
KV_S = 0.032  # one token of KV (32 bytes) at 1000 B/s


def toy_raw(**overrides: Any) -> dict[str, Any]:
    """A complete toy experiment as a mapping; keyword overrides merge into it."""
    base: dict[str, Any] = {
        "name": "toy",
        "seed": 1,
        "device": copy.deepcopy(TOY_DEVICE),
        "model": copy.deepcopy(TOY_MODEL),
        "workload": {
            "arrivals": {"kind": "batch"},
            "prompt_tokens": {"kind": "fixed", "value_tokens": 4},
            "output_tokens": {"kind": "fixed", "value_tokens": 3},
            "num_requests": 1,
        },
        "engine": {"max_batch": 8, "max_seq_len": 8},
        "allocators": [{"kind": "static"}],
    }
    workload = overrides.pop("workload", {})
    for key in ("arrivals", "prompt_tokens", "output_tokens"):  # tagged unions: replace
        if key in workload:
            base["workload"][key] = workload.pop(key)
    base["workload"] = deep_merge(base["workload"], workload)
    return deep_merge(base, overrides)


def toy(**overrides: Any) -> LoadedExperiment:
    return build_experiment(toy_raw(**overrides))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data sets not available: {SHARED_DATA} is absent")
    return SHARED_DATA
