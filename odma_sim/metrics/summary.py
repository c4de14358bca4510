"""Per-request records and the run summary: pure functions of what a run recorded.

Definitions follow DESIGN.md "Metrics: definitions"; each key says what it is.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd

from odma_sim.engine.request import Request
from odma_sim.engine.simulation import RunResult

RECORD_COLUMNS = [f.name for f in fields(Request)]

# The summary keys every run reports, in table order (null where not applicable).
SUMMARY_KEYS = [
    "name", "allocator", "device", "model", "output_lengths", "requests", "completed",
    "dropped", "rejected",
    "truncated", "rps", "tps_output", "tps_total", "kv_utilization", "kv_utilization_time_avg",
    "kv_occupancy", "ext_frag_time_avg", "frag_blocked_admissions", "kv_alpha_eff",
    "decode_step_mean_s", "mean_batch", "ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "tpot_p50_s",
    "tpot_p90_s", "tpot_p99_s", "e2e_p50_s", "e2e_p90_s", "e2e_p99_s", "queue_mean_s",
    "preemptions", "recompute_tokens", "swapped_bytes", "overflows", "migrations",
    "migrated_bytes", "stalls", "pool_admissions", "boundary_updates", "predictor",
    "prediction_accuracy", "under_prediction_rate", "over_prediction_rate",
    "prediction_mae_tokens", "predictor_latency_mean_s", "kv_capacity_tokens", "replicas",
    "makespan_s", "sim_time_s", "wall_time_s",
]


def records(result: RunResult) -> pd.DataFrame:
    """One row per request with lifecycle times and derived latencies (seconds)."""
    df = pd.DataFrame([[getattr(r, c) for c in RECORD_COLUMNS] for r in result.requests],
                      columns=RECORD_COLUMNS)
    df["queue_s"] = df["admit_s"] - df["arrival_s"]
    df["ttft_s"] = df["first_token_s"] - df["arrival_s"]
    df["e2e_s"] = df["finish_s"] - df["arrival_s"]
    decode_tokens = (df["output_tokens"] - 1).where(df["output_tokens"] > 1)
    df["tpot_s"] = (df["finish_s"] - df["first_token_s"]) / decode_tokens
    df.loc[df["status"] != "finished", ["ttft_s", "e2e_s", "tpot_s"]] = np.nan
    return df


def _pct(s: pd.Series, q: float) -> float | None:
    s = s.dropna()
    return None if s.empty else float(np.percentile(s.to_numpy(), q))


def _ratio(a: float, b: float) -> float | None:
    return None if b <= 0 else a / b


def prediction_metrics(df: pd.DataFrame) -> dict[str, float | None]:
    """Over finished requests that got a bucket at admission (null without one):
    bucket accuracy (true output length in the bucket's (lo, hi]), the shares below
    and above it, the mean absolute error of the length estimate, and the mean time
    from arrival to prediction."""
    keys = ["prediction_accuracy", "under_prediction_rate", "over_prediction_rate",
            "prediction_mae_tokens", "predictor_latency_mean_s"]
    done = df[(df["status"] == "finished") & df["bucket_hi_tokens"].notna()]
    if done.empty:
        return dict.fromkeys(keys)
    true = done["output_tokens"].to_numpy(dtype=float)
    lo = done["bucket_lo_tokens"].to_numpy(dtype=float)
    hi = done["bucket_hi_tokens"].to_numpy(dtype=float)
    pred = done["predicted_output_tokens"].to_numpy(dtype=float)
    return {
        "prediction_accuracy": float(np.mean((true > lo) & (true <= hi))),
        "under_prediction_rate": float(np.mean(true > hi)),
        "over_prediction_rate": float(np.mean(true <= lo)),
        "prediction_mae_tokens": float(np.mean(np.abs(pred - true))),
        "predictor_latency_mean_s": float((done["predicted_s"] - done["arrival_s"]).mean()),
    }


def summarize(result: RunResult, recs: pd.DataFrame | None = None) -> dict[str, Any]:
    """The summary row of one run. ``wall_time_s`` is left null so that the summary is
    byte-identical across reruns; the wall time is reported separately."""
    df = records(result) if recs is None else recs
    rec = result.recorder
    done = df[df["status"] == "finished"]
    live = df[df["status"] != "rejected"]
    first = float(live["arrival_s"].min()) if len(live) else 0.0
    last = float(done["finish_s"].max()) if len(done) else first
    makespan = last - first
    gen = float(done["generated"].sum())
    prompt = float(done["prompt_tokens"].sum())
    cap_ts = result.capacity_tokens * makespan
    alpha = _ratio(rec.decode_kv_stream_s, rec.decode_kv_stream_s + rec.decode_kv_overhead_s)
    out: dict[str, Any] = {
        "name": result.name,
        "allocator": result.allocator.kind,
        "device": result.device.name,
        "model": result.model.name,
        "output_lengths": result.output_lengths,
        "requests": len(df),
        "completed": len(done),
        "dropped": int((df["status"] == "dropped").sum()),
        "rejected": int((df["status"] == "rejected").sum()),
        "truncated": int(df["truncated"].sum()),
        "rps": _ratio(len(done), makespan),
        "tps_output": _ratio(gen, makespan),
        "tps_total": _ratio(gen + prompt, makespan),
        "kv_utilization": _ratio(float(done["final_kv_tokens"].sum()),
                                 float(done["reserved_tokens"].sum())),
        "kv_utilization_time_avg": _ratio(rec.used_token_s, rec.reserved_token_s),
        "kv_occupancy": _ratio(rec.reserved_token_s, cap_ts),
        "ext_frag_time_avg": _ratio(rec.unusable_token_s, cap_ts),
        "frag_blocked_admissions": rec.frag_blocked_admissions,
        "kv_alpha_eff": alpha,
        "decode_step_mean_s": _ratio(rec.decode_step_s, rec.decode_steps),
        "mean_batch": _ratio(rec.running_s, rec.busy_s),
        "ttft_p50_s": _pct(done["ttft_s"], 50),
        "ttft_p90_s": _pct(done["ttft_s"], 90),
        "ttft_p99_s": _pct(done["ttft_s"], 99),
        "tpot_p50_s": _pct(done["tpot_s"], 50),
        "tpot_p90_s": _pct(done["tpot_s"], 90),
        "tpot_p99_s": _pct(done["tpot_s"], 99),
        "e2e_p50_s": _pct(done["e2e_s"], 50),
        "e2e_p90_s": _pct(done["e2e_s"], 90),
        "e2e_p99_s": _pct(done["e2e_s"], 99),
        "queue_mean_s": None if done.empty else float(done["queue_s"].mean()),
        "preemptions": int(df["preemptions"].sum()),
        "recompute_tokens": int(df["recompute_tokens"].sum()),
        "swapped_bytes": float(df["swapped_bytes"].sum()),
        "overflows": int(df["overflows"].sum()),
        "migrations": int(df["migrations"].sum()),
        "migrated_bytes": float(df["migrated_bytes"].sum()),
        "stalls": int(df["stalls"].sum()),
        "pool_admissions": int(df["pool_admission"].sum()),
        "boundary_updates": sum(1 for e in result.bucket_log
                                if e["event"] == "replan" and e["applied"]),
        "predictor": result.predictor,
        **prediction_metrics(df),
        "kv_capacity_tokens": result.capacity_tokens,
        "replicas": result.engine.replicas,
        "makespan_s": makespan,
        "sim_time_s": result.sim_time_s,
        "wall_time_s": None,
    }
    assert list(out) == SUMMARY_KEYS
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}
