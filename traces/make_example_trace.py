"""Writes traces/example_trace.csv: a small synthetic trace showing the generic format.

The file is made up (seeded, reproducible), not taken from any data set. It exists so
the README's "bring your own trace" example and the tests have a trace to read.

    python traces/make_example_trace.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def make(n: int = 200, seed: int = 2026) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    gaps_ms = rng.exponential(250.0, n).round(1)  # about 4 requests per second
    return pd.DataFrame({
        "arrival_ms": np.cumsum(gaps_ms).round(1),
        "prompt_len": np.clip(rng.lognormal(np.log(300), 0.7, n), 8, 1500).astype(int),
        "completion_len": np.clip(rng.lognormal(np.log(150), 0.9, n), 1, 1500).astype(int),
    })


if __name__ == "__main__":
    out = HERE / "example_trace.csv"
    make().to_csv(out, index=False)
    print(f"wrote {out}")
