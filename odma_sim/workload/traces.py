"""Trace files (CSV, JSONL, Azure LLM 2023) read into arrays of arrivals and token counts."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from odma_sim.errors import InputError
from odma_sim.workload.spec import TraceColumns, TraceSpec

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# Named formats: a column mapping and a time unit that users need not spell out.
NAMED_FORMATS: dict[str, tuple[str, TraceColumns, str]] = {
    "azure-2023": (
        "csv",
        TraceColumns(
            timestamp="TIMESTAMP", input_tokens="ContextTokens", output_tokens="GeneratedTokens"
        ),
        "datetime",
    ),
}

_UNIT_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


@dataclass(frozen=True)
class Trace:
    """Rows of a trace; any of the three columns may be absent (None)."""

    path: str
    arrival_s: FloatArray | None
    input_tokens: IntArray | None
    output_tokens: IntArray | None

    def __len__(self) -> int:
        for col in (self.arrival_s, self.input_tokens, self.output_tokens):
            if col is not None:
                return len(col)
        return 0


def data_root() -> Path:
    """Where ``data:`` paths point: $ODMA_SIM_DATA, else <repo>/../shared/data."""
    env = os.environ.get("ODMA_SIM_DATA")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def resolve_path(path: str, base_dir: Path | None) -> Path:
    """``data:rel/path`` resolves under :func:`data_root`, ``repo:rel/path`` under the
    repository (the project's own derived files); other relative paths under
    ``base_dir`` (the config's folder)."""
    if path.startswith("data:"):
        return data_root() / path[len("data:"):].lstrip("/")
    if path.startswith("repo:"):
        return Path(__file__).resolve().parents[2] / path[len("repo:"):].lstrip("/")
    p = Path(path).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    return p


def _read_table(path: Path, fmt: str, source: str) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(
            "trace file not found", source=source, key="workload.trace.path", value=str(path),
            expected="a readable CSV or JSONL file (relative paths start at the config's folder)",
        )
    try:
        if fmt == "jsonl":
            rows = []
            with path.open(encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, 1):
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except json.JSONDecodeError as exc:
                            raise InputError(
                                f"line {lineno} is not valid JSON ({exc.msg})",
                                source=str(path), expected="one JSON object per line",
                            ) from None
            return pd.DataFrame(rows)
        return pd.read_csv(path)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(
            f"cannot read the trace ({type(exc).__name__}: {exc})",
            source=str(path), expected=f"a well-formed {fmt.upper()} file",
        ) from None


def _int_column(df: pd.DataFrame, col: str, path: Path, key: str) -> IntArray:
    values = pd.to_numeric(df[col], errors="coerce")
    bad = values.isna() | (values < 1) | (values != np.floor(values))
    if bool(bad.any()):
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"column '{col}' has an invalid token count at data row {row + 1}",
            source=str(path), key=key, value=df[col].iloc[row], expected="a positive integer",
        )
    return values.to_numpy(dtype=np.int64)


def _time_column(df: pd.DataFrame, col: str, unit: str, path: Path) -> FloatArray:
    key = "workload.trace.columns.timestamp"
    if unit == "datetime":
        stamps = pd.to_datetime(df[col], errors="coerce", format="ISO8601")
        if bool(stamps.isna().any()):
            row = int(np.flatnonzero(stamps.isna().to_numpy())[0])
            raise InputError(
                f"column '{col}' has an unparsable timestamp at data row {row + 1}",
                source=str(path), key=key, value=df[col].iloc[row],
                expected="an ISO-8601 date-time such as 2023-11-16 18:17:03.97",
            )
        ns = stamps.astype("int64").to_numpy()
        seconds = (ns - ns[0]).astype(np.float64) * 1e-9
    else:
        values = pd.to_numeric(df[col], errors="coerce")
        if bool(values.isna().any()):
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise InputError(
                f"column '{col}' has a non-numeric time at data row {row + 1}",
                source=str(path), key=key, value=df[col].iloc[row],
                expected=f"a number in unit '{unit}'",
            )
        raw = values.to_numpy(dtype=np.float64)
        seconds = (raw - raw[0]) * _UNIT_S[unit]
    gaps = np.diff(seconds)
    if len(gaps) and bool((gaps < 0).any()):
        row = int(np.flatnonzero(gaps < 0)[0]) + 2
        raise InputError(
            f"timestamps go backwards at data row {row}",
            source=str(path), key=key, value=df[col].iloc[row - 1],
            expected="rows sorted by arrival time",
        )
    return seconds


def load_trace(spec: TraceSpec, base_dir: Path | None = None, source: str = "config") -> Trace:
    """Read ``spec`` into a :class:`Trace`; every problem is an :class:`InputError`."""
    path = resolve_path(spec.path, base_dir)
    columns: TraceColumns = spec.columns
    unit: str = spec.time_unit
    fmt: str
    if spec.format in NAMED_FORMATS:
        fmt, columns, unit = NAMED_FORMATS[spec.format]
    elif spec.format is None:
        fmt = "jsonl" if path.suffix.lower() in {".jsonl", ".ndjson"} else "csv"
    else:
        fmt = spec.format
    df = _read_table(path, fmt, source)
    end = None if spec.max_rows is None else spec.start_row + spec.max_rows
    df = df.iloc[spec.start_row : end].reset_index(drop=True)
    if df.empty:
        raise InputError(
            "the trace has no data rows in the selected range",
            source=str(path), key="workload.trace.start_row", value=spec.start_row,
            expected="a start_row below the number of rows",
        )
    wanted = {
        "timestamp": columns.timestamp,
        "input_tokens": columns.input_tokens,
        "output_tokens": columns.output_tokens,
    }
    for role, col in wanted.items():
        if col is not None and col not in df.columns:
            raise InputError(
                f"the trace has no column '{col}' (mapped to {role})",
                source=str(path), key=f"workload.trace.columns.{role}", value=col,
                expected=f"one of its columns: {', '.join(map(str, df.columns))}",
            )
    arrival = None if columns.timestamp is None else _time_column(df, columns.timestamp, unit, path)
    inp = None if columns.input_tokens is None else _int_column(
        df, columns.input_tokens, path, "workload.trace.columns.input_tokens"
    )
    out = None if columns.output_tokens is None else _int_column(
        df, columns.output_tokens, path, "workload.trace.columns.output_tokens"
    )
    return Trace(str(path), arrival, inp, out)
