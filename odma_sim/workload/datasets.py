"""Real data sets as request pools: CASTILLO (Alpaca), Alpaca lengths (Zheng et al.), NQ-Open.

A data set is a table of *prompts*: an id, a split, optional text and prompt length,
and for each prompt zero or more measured output lengths (samples). A workload draws
its requests from the prompts of one split and its predictors' history from another,
so no prompt is in both. Files are read where they are (``data:`` paths resolve to
``$ODMA_SIM_DATA`` or ``<repo>/../shared/data``); nothing is copied into the project.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from odma_sim.errors import InputError
from odma_sim.workload.spec import DatasetSpec
from odma_sim.workload.traces import resolve_path

IntArray = npt.NDArray[np.int64]

CASTILLO_CAP = 15001  # CASTILLO marks a generation that hit its cap (degenerate) so
ALPACA_FIELDS = ("L_gt", "L_t0.0", "L_t0.3", "L_t0.5", "L_t0.7")


@dataclass(frozen=True)
class Dataset:
    """Prompts of a data set. ``samples[i]`` are the measured output lengths of prompt
    i (padded with -1); ``n_samples[i]`` how many; both empty when none are measured."""

    name: str
    prompt_id: list[str]
    split: list[str]
    text: list[str] | None
    prompt_tokens: IntArray | None
    samples: IntArray
    n_samples: IntArray

    def __len__(self) -> int:
        return len(self.prompt_id)

    @property
    def measured(self) -> bool:
        return bool(self.n_samples.size) and bool((self.n_samples > 0).any())

    def rows(self, split: str | None) -> IntArray:
        idx = np.arange(len(self), dtype=np.int64)
        if split is None:
            return idx
        return idx[np.array([s == split for s in self.split], dtype=bool)]

    def splits(self) -> list[str]:
        return sorted(set(self.split))


def _read_json(path: Path, source: str, key: str) -> object:
    if not path.is_file():
        raise InputError(
            "data file not found", source=source, key=key, value=str(path),
            expected="an existing file; data: paths resolve under $ODMA_SIM_DATA or "
            "the repository's ../shared/data",
        )
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        return json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the data file ({type(exc).__name__}: {exc})",
                         source=str(path), expected="the data set's JSON/JSONL format") from None


def _field(row: dict[str, Any], name: str, path: Path, i: int) -> object:
    if name not in row:
        raise InputError(f"record {i + 1} has no field '{name}'", source=str(path),
                         value=sorted(row)[:8], expected=f"a '{name}' field in every record")
    return row[name]


def _lengths(values: object, path: Path, i: int, name: str) -> list[int]:
    vals = values if isinstance(values, list) else [values]
    out = []
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 1 or v != int(v):
            raise InputError(f"record {i + 1} has an invalid length in '{name}'",
                             source=str(path), value=v, expected="positive integers")
        out.append(int(v))
    return out


def _pad(rows: list[list[int]]) -> tuple[IntArray, IntArray]:
    width = max((len(r) for r in rows), default=0)
    samples = np.full((len(rows), width), -1, dtype=np.int64)
    for i, r in enumerate(rows):
        samples[i, : len(r)] = r
    return samples, np.array([len(r) for r in rows], dtype=np.int64)


@lru_cache(maxsize=8)
def load_castillo(path: Path, model: str, drop_capped: bool, source: str) -> Dataset:
    """CASTILLO: one record per (prompt, model) with ten sampled output lengths."""
    rows = _read_json(path, source, "workload.dataset.path")
    assert isinstance(rows, list)
    models = sorted({str(r.get("model")) for r in rows if isinstance(r, dict)})
    keep = [r for r in rows if isinstance(r, dict) and r.get("model") == model]
    if not keep:
        raise InputError(f"no records for model '{model}'", source=source,
                         key="workload.dataset.model", value=model,
                         expected=f"one of: {', '.join(models)}")
    ids, splits, texts, prompt, lens = [], [], [], [], []
    for i, r in enumerate(keep):
        outs = _lengths(_field(r, "output_sizes", path, i), path, i, "output_sizes")
        if drop_capped:
            outs = [o for o in outs if o != CASTILLO_CAP]
        if not outs:
            continue
        ids.append(str(_field(r, "prompt_id", path, i)))
        splits.append(str(_field(r, "split", path, i)))
        texts.append(str(_field(r, "prompt_text", path, i)))
        prompt.extend(_lengths(_field(r, "input_size", path, i), path, i, "input_size"))
        lens.append(outs)
    samples, n = _pad(lens)
    return Dataset(f"castillo:{model}", ids, splits, texts, np.array(prompt, dtype=np.int64),
                   samples, n)


@lru_cache(maxsize=8)
def load_alpaca_seqsched(paths: tuple[Path, ...], field: str, source: str) -> Dataset:
    """Zheng et al.: per-sample reference-answer length (L_gt) and Vicuna-7B lengths at
    four temperatures; no prompt text. A file named *train* is the train split, *val*
    the validate split. ``field`` 'vicuna' keeps the four Vicuna samples."""
    ids, splits, lens = [], [], []
    for path in paths:
        rows = _read_json(path, source, "workload.dataset.path")
        assert isinstance(rows, list)
        split = "train" if "train" in path.name else ("validate" if "val" in path.name
                                                      else path.stem)
        for i, r in enumerate(rows):
            ids.append(str(_field(r, "id", path, i)))
            splits.append(split)
            names = ALPACA_FIELDS[1:] if field == "vicuna" else (field,)
            lens.append([v for name in names
                         for v in _lengths(_field(r, name, path, i), path, i, name)])
    samples, n = _pad(lens)
    return Dataset(f"alpaca-seqsched:{field}", ids, splits, None, None, samples, n)


@lru_cache(maxsize=8)
def load_nq_open(paths: tuple[Path, ...], chars_per_token: float, template_tokens: int,
                 source: str) -> Dataset:
    """NQ-Open questions: text and an estimated prompt length, no output lengths. The
    first file is the train split, the others test (NQ-open.dev and efficientqa.dev are
    disjoint)."""
    ids, splits, texts = [], [], []
    for j, path in enumerate(paths):
        rows = _read_json(path, source, "workload.dataset.path")
        assert isinstance(rows, list)
        for i, r in enumerate(rows):
            q = str(_field(r, "question", path, i))
            ids.append(hashlib.sha1(q.encode("utf-8")).hexdigest()[:16])
            splits.append("train" if j == 0 else "test")
            texts.append(q)
    prompt = np.array([max(1, round(len(t) / chars_per_token)) + template_tokens
                       for t in texts], dtype=np.int64)
    samples, n = _pad([[] for _ in texts])
    return Dataset("nq-open", ids, splits, texts, prompt, samples, n)


def load_dataset(spec: DatasetSpec, base_dir: Path | None, source: str) -> Dataset:
    """The data set a workload names (cached: every row of an experiment shares it)."""
    raw = spec.path if isinstance(spec.path, list) else [spec.path]
    paths = tuple(resolve_path(p, base_dir) for p in raw)
    if spec.format == "castillo":
        if len(paths) != 1:
            raise InputError("castillo reads one file", source=source,
                             key="workload.dataset.path", value=spec.path,
                             expected="the path of castillo_Alpaca_lengths.jsonl")
        ds = load_castillo(paths[0], spec.model, spec.drop_capped, source)
    elif spec.format == "alpaca-seqsched":
        ds = load_alpaca_seqsched(paths, spec.length_field, source)
    else:
        ds = load_nq_open(paths, spec.chars_per_token, spec.template_tokens, source)
    for key, split in (("split", spec.run_split), ("history_split", spec.train_split)):
        if not len(ds.rows(split)):
            raise InputError(f"the data set {ds.name} has no prompts in split '{split}'",
                             source=source, key=f"workload.dataset.{key}", value=split,
                             expected=f"one of: {', '.join(ds.splits())}")
    return ds
