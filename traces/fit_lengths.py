"""Fits the project's own length aggregates from the data sets in ../shared/data.

Writes, under traces/aggregates/ (never the raw files):
- <name>.csv: a histogram with columns lo, hi, count (a length L falls in (lo, hi]),
  usable as ``{kind: histogram, path: ...}`` in a workload;
- fits.json: a log-normal fit (median, sigma of ln L) and summary statistics of each.

    python traces/fit_lengths.py [--data DIR]

DIR defaults to $ODMA_SIM_DATA or ../shared/data next to the repository.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from odma_sim.workload.datasets import load_alpaca_seqsched, load_castillo
from odma_sim.workload.traces import data_root

HERE = Path(__file__).resolve().parent
OUT = HERE / "aggregates"
QWEN = "Qwen--Qwen2.5-7B-Instruct-1M"


def histogram(values: np.ndarray, width: int) -> list[tuple[int, int, int]]:
    top = int(np.ceil(values.max() / width) * width)
    edges = np.arange(0, top + width, width)
    # np.histogram bins are [lo, hi); lengths are integers >= 1, so L - 1 in [lo, hi)
    # means L in (lo, hi]
    counts, _ = np.histogram(values - 1, bins=edges)
    return [(int(lo), int(hi), int(c)) for lo, hi, c in zip(edges[:-1], edges[1:], counts,
                                                            strict=True) if c]


def describe(values: np.ndarray) -> dict[str, float]:
    logs = np.log(values)
    return {
        "n": len(values),
        "mean": round(float(values.mean()), 2),
        "median": float(np.median(values)),
        "p90": float(np.percentile(values, 90)),
        "p99": float(np.percentile(values, 99)),
        "max": int(values.max()),
        "lognormal_median_tokens": round(float(np.exp(logs.mean())), 2),
        "lognormal_sigma": round(float(logs.std()), 4),
    }


def write(name: str, values: np.ndarray, width: int, source: str,
          fits: dict[str, dict[str, Any]]) -> None:
    rows = histogram(values, width)
    with (OUT / f"{name}.csv").open("w", encoding="utf-8") as fh:
        fh.write("lo,hi,count\n")
        fh.writelines(f"{lo},{hi},{c}\n" for lo, hi, c in rows)
    fits[name] = {"source": source, "bin_tokens": width, **describe(values)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=data_root())
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    fits: dict[str, dict[str, Any]] = {}
    cas = load_castillo(args.data / "castillo-alpaca" / "castillo_Alpaca_lengths.jsonl", QWEN,
                        True, "fit_lengths")
    assert cas.prompt_tokens is not None
    outs = cas.samples[cas.samples > 0]
    src = f"CASTILLO Alpaca, {QWEN}, all splits, 10 samples per prompt"
    write("castillo-qwen2.5-7b-prompt", cas.prompt_tokens, 8, src, fits)
    write("castillo-qwen2.5-7b-output", outs, 32, src, fits)
    seq = load_alpaca_seqsched(
        tuple(args.data / "alpaca-seqsched-lengths" / f for f in
              ("alpaca-train-10k-length.json", "alpaca-val-10k-length.json")),
        "L_gt", "fit_lengths")
    write("alpaca-reference-output", seq.samples[:, 0], 16,
          "Alpaca reference answers (L_gt, LLaMA tokenizer), Zheng et al. 2023", fits)
    vic = load_alpaca_seqsched(
        tuple(args.data / "alpaca-seqsched-lengths" / f for f in
              ("alpaca-train-10k-length.json", "alpaca-val-10k-length.json")),
        "vicuna", "fit_lengths")
    write("alpaca-vicuna7b-output", vic.samples[vic.samples > 0], 16,
          "Vicuna-7B on Alpaca, four temperatures, max_length 512, Zheng et al. 2023", fits)
    (OUT / "fits.json").write_text(json.dumps(fits, indent=2) + "\n", encoding="utf-8")
    for name, f in fits.items():
        print(f"{name}: n {f['n']}, median {f['median']}, mean {f['mean']}, p99 {f['p99']}, "
              f"log-normal median {f['lognormal_median_tokens']} sigma {f['lognormal_sigma']}")


if __name__ == "__main__":
    main()
