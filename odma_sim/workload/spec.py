"""Workload configuration: arrival processes, length sources, trace files and run length."""

from __future__ import annotations

import itertools
from typing import Annotated, Literal

from pydantic import Field, model_validator

from odma_sim.strict import NonNegFloat, NonNegInt, PositiveFloat, PositiveInt, StrictModel

# ---------------------------------------------------------------- arrivals


class PoissonArrivals(StrictModel):
    """Exponential inter-arrival times at ``rate_rps`` requests per second."""

    kind: Literal["poisson"]
    rate_rps: PositiveFloat = Field(description="mean arrival rate, requests/s")


class GammaArrivals(StrictModel):
    """Gamma inter-arrival times with mean 1/rate and coefficient of variation ``cv``."""

    kind: Literal["gamma"]
    rate_rps: PositiveFloat = Field(description="mean arrival rate, requests/s")
    cv: PositiveFloat = Field(description="coefficient of variation of the gaps (1 = Poisson)")


class TraceArrivals(StrictModel):
    """Arrival times replayed from ``workload.trace``; gaps are multiplied by ``time_scale``."""

    kind: Literal["trace"]
    time_scale: PositiveFloat = Field(1.0, description="0.5 replays at double speed")


class BatchArrivals(StrictModel):
    """Every request arrives at time 0 (offline throughput runs)."""

    kind: Literal["batch"]


Arrivals = Annotated[
    PoissonArrivals | GammaArrivals | TraceArrivals | BatchArrivals, Field(discriminator="kind")
]

# ---------------------------------------------------------------- lengths


class FixedLength(StrictModel):
    """Every request has the same length."""

    kind: Literal["fixed"]
    value_tokens: PositiveInt = Field(description="the length")


class UniformLength(StrictModel):
    """Integers drawn uniformly from [low_tokens, high_tokens], both ends included."""

    kind: Literal["uniform"]
    low_tokens: PositiveInt = Field(description="smallest length")
    high_tokens: PositiveInt = Field(description="largest length (included)")

    @model_validator(mode="after")
    def _ordered(self) -> UniformLength:
        if self.high_tokens < self.low_tokens:
            raise ValueError("high_tokens must be >= low_tokens")
        return self


class LognormalLength(StrictModel):
    """round(exp(N(ln median, sigma^2))), clipped to [min_tokens, max_tokens]."""

    kind: Literal["lognormal"]
    median_tokens: PositiveFloat = Field(description="median length")
    sigma: PositiveFloat = Field(description="standard deviation of ln(length)")
    min_tokens: PositiveInt = Field(1, description="lower clip")
    max_tokens: PositiveInt | None = Field(None, description="upper clip")

    @model_validator(mode="after")
    def _ordered(self) -> LognormalLength:
        if self.max_tokens is not None and self.max_tokens < self.min_tokens:
            raise ValueError("max_tokens must be >= min_tokens")
        return self


class EmpiricalLength(StrictModel):
    """Draws with replacement from ``samples``, or from ``column`` of the file at ``path``."""

    kind: Literal["empirical"]
    samples: list[PositiveInt] | None = Field(None, description="lengths to draw from")
    path: str | None = Field(None, description="CSV/JSONL file (relative to the config)")
    column: str | None = Field(None, description="column of that file")

    @model_validator(mode="after")
    def _one_source(self) -> EmpiricalLength:
        if (self.samples is None) == (self.path is None):
            raise ValueError("give exactly one of 'samples' (a list) or 'path' (with 'column')")
        if self.samples is not None and not self.samples:
            raise ValueError("'samples' is empty")
        if self.path is not None and not self.column:
            raise ValueError("'path' needs 'column', the name of the column to sample")
        return self


class TraceLength(StrictModel):
    """The matching column of ``workload.trace``, row by row."""

    kind: Literal["trace"]


class DatasetLength(StrictModel):
    """Lengths from ``workload.dataset``: the prompt's length, or one of its measured
    output lengths (``sample``: a random one per request, the first, or their mean)."""

    kind: Literal["dataset"]
    sample: Literal["random", "first", "mean"] = Field(
        "random", description="which measured output length a request gets")


class TextRule(StrictModel):
    """Prompts matching ``pattern`` (a case-insensitive regular expression searched
    from the start) get lengths with this median."""

    pattern: str = Field(description="regular expression, e.g. '^(how|why) '")
    median_tokens: PositiveFloat = Field(description="median length for matching prompts")
    sigma: PositiveFloat | None = Field(None, description="spread (default: the source's)")


class TailSpec(StrictModel):
    """A heavy tail: this share of requests draws from a second log-normal."""

    share: float = Field(gt=0.0, lt=1.0, description="share of requests in the tail")
    median_tokens: PositiveFloat = Field(description="median of the tail")
    sigma: PositiveFloat = Field(0.5, description="spread of the tail")


class TextRulesLength(StrictModel):
    """A length model conditioned on the prompt text: the first matching rule's
    log-normal (else the default), mixed with an optional heavy tail. For data sets
    without measured lengths; every output that uses it says 'modelled'."""

    kind: Literal["text_rules"]
    rules: list[TextRule] = Field(default_factory=list, description="tried in order")
    median_tokens: PositiveFloat = Field(description="median when no rule matches")
    sigma: PositiveFloat = Field(description="standard deviation of ln(length)")
    tail: TailSpec | None = Field(None, description="heavy-tail mixture component")
    scale: PositiveFloat = Field(1.0, description="multiplies every median (a length scale "
                                 "that a calibration may fit)")
    min_tokens: PositiveInt = Field(1, description="lower clip")
    max_tokens: PositiveInt | None = Field(None, description="upper clip")


class HistogramLength(StrictModel):
    """Draws a bin by its count, then a uniform integer in (lo, hi]. ``path`` is a CSV
    with columns lo, hi, count (for example a fitted aggregate under traces/)."""

    kind: Literal["histogram"]
    path: str | None = Field(None, description="CSV with lo, hi, count")
    edges: list[NonNegInt] | None = Field(None, description="bin edges (inline)")
    counts: list[NonNegFloat] | None = Field(None, description="bin counts (inline)")

    @model_validator(mode="after")
    def _one_source(self) -> HistogramLength:
        inline = self.edges is not None or self.counts is not None
        if inline == (self.path is not None):
            raise ValueError("give either 'path' or 'edges' with 'counts'")
        if inline:
            if self.edges is None or self.counts is None:
                raise ValueError("'edges' and 'counts' go together")
            if len(self.edges) != len(self.counts) + 1 or sum(self.counts) <= 0:
                raise ValueError("need len(edges) == len(counts) + 1 and a positive count")
        return self


class DriftPhase(StrictModel):
    """From ``start_s`` of simulated time on, lengths come from ``source``."""

    start_s: NonNegFloat = Field(description="phase start, seconds of simulated time")
    source: LengthSource = Field(description="any length source")


class DriftLength(StrictModel):
    """A length distribution that changes over simulated time (by arrival time).

    ``step``: each request draws from the phase it arrives in. ``linear``: between two
    phase starts the share drawn from the next phase rises linearly from 0 to 1.
    """

    kind: Literal["drift"]
    phases: list[DriftPhase] = Field(min_length=1, description="phases in time order")
    mode: Literal["step", "linear"] = Field("step", description="switch or blend")

    @model_validator(mode="after")
    def _ordered(self) -> DriftLength:
        starts = [p.start_s for p in self.phases]
        if starts[0] != 0:
            raise ValueError("the first drift phase must start at start_s 0")
        if any(b <= a for a, b in itertools.pairwise(starts)):
            raise ValueError("drift phase start_s values must increase")
        return self


LengthSource = Annotated[
    FixedLength | UniformLength | LognormalLength | EmpiricalLength | TraceLength
    | DatasetLength | TextRulesLength | HistogramLength | DriftLength,
    Field(discriminator="kind"),
]
DriftPhase.model_rebuild()


class RequestClass(StrictModel):
    """A kind of request (task type) with its own lengths; its index is a request
    feature that predictors may learn from (the paper's 'task type' metadata)."""

    name: str = Field(description="class name")
    weight: PositiveFloat = Field(1.0, description="relative share of requests")
    prompt_tokens: LengthSource = Field(description="prompt lengths of this class")
    output_tokens: LengthSource = Field(description="output lengths of this class")

# ---------------------------------------------------------------- traces


class TraceColumns(StrictModel):
    """Which file columns hold the arrival time and the token counts."""

    timestamp: str | None = Field("timestamp", description="arrival time column")
    input_tokens: str | None = Field("input_tokens", description="prompt length column")
    output_tokens: str | None = Field("output_tokens", description="output length column")


class TraceSpec(StrictModel):
    """A request trace: CSV or JSONL with a column mapping, or a named format.

    ``format: azure-2023`` is the Azure LLM inference trace 2023 (Splitwise): columns
    TIMESTAMP, ContextTokens, GeneratedTokens with datetime timestamps.
    """

    path: str = Field(description="trace file (relative to the config's folder)")
    format: Literal["csv", "jsonl", "azure-2023"] | None = Field(
        None, description="default: from the file suffix; azure-2023 sets columns and unit"
    )
    columns: TraceColumns = TraceColumns()
    time_unit: Literal["s", "ms", "us", "datetime"] = Field(
        "s", description="unit of the timestamp column"
    )
    start_row: NonNegInt = Field(0, description="first data row to use")
    max_rows: PositiveInt | None = Field(None, description="rows to use from start_row")


# ---------------------------------------------------------------- data sets

DATASET_SPLITS = {  # default (run split, history split) per format
    "castillo": ("test", "validate"),
    "alpaca-seqsched": ("validate", "train"),
    "nq-open": ("test", "train"),
}


class DatasetSpec(StrictModel):
    """A real data set as a pool of prompts (see odma_sim/workload/datasets.py).

    - ``castillo``: CASTILLO Alpaca records (prompt text and tokens, ten sampled output
      lengths per prompt and model); splits train / validate / test;
    - ``alpaca-seqsched``: Alpaca lengths of Zheng et al. (reference answer ``L_gt``
      and Vicuna-7B samples), no prompt text or length; splits train / validate;
    - ``nq-open``: NQ-Open questions (text; prompt length estimated from characters),
      no output lengths; the first file is the train split, the rest test.
    Requests draw prompts of ``split``; predictors train on ``history_split``."""

    format: Literal["castillo", "alpaca-seqsched", "nq-open"]
    path: str | list[str] = Field(description="file(s); 'data:' paths resolve under "
                                  "$ODMA_SIM_DATA or <repo>/../shared/data")
    model: str = Field("Qwen--Qwen2.5-7B-Instruct-1M", description="castillo: the model")
    drop_capped: bool = Field(True, description="castillo: drop samples that hit the cap")
    length_field: Literal["L_gt", "L_t0.0", "L_t0.3", "L_t0.5", "L_t0.7", "vicuna"] = Field(
        "L_gt", description="alpaca-seqsched: which length (vicuna: the four samples)")
    chars_per_token: PositiveFloat = Field(4.27, description="nq-open: prompt chars per token")
    template_tokens: NonNegInt = Field(0, description="nq-open: chat-template tokens added")
    split: str | None = Field(None, description="prompts for the run (default per format)")
    history_split: str | None = Field(
        None, description="prompts for predictor training (default per format)")

    @property
    def run_split(self) -> str:
        return self.split or DATASET_SPLITS[self.format][0]

    @property
    def train_split(self) -> str:
        return self.history_split or DATASET_SPLITS[self.format][1]

    @model_validator(mode="after")
    def _apart(self) -> DatasetSpec:
        if self.run_split == self.train_split:
            raise ValueError("split and history_split must differ, or prompts would leak "
                             "from training into the run")
        return self


# ---------------------------------------------------------------- workload


class WorkloadSpec(StrictModel):
    """Requests: when they arrive, how long their prompts and outputs are, how many."""

    arrivals: Arrivals = Field(description="when requests arrive")
    prompt_tokens: LengthSource | None = Field(None, description="prompt lengths")
    output_tokens: LengthSource | None = Field(
        None, description="true output lengths (hidden from allocators)"
    )
    classes: list[RequestClass] | None = Field(
        None, description="a mixture of request classes instead of prompt/output_tokens"
    )
    trace: TraceSpec | None = Field(None, description="a trace file for 'trace' sources")
    dataset: DatasetSpec | None = Field(None, description="a data set for 'dataset' sources")
    num_requests: PositiveInt | None = Field(None, description="stop generating after N")
    duration_s: PositiveFloat | None = Field(None, description="stop generating after T s")
    over_length: Literal["truncate", "reject"] = Field(
        "truncate", description="requests beyond engine.max_seq_len / max_new_tokens"
    )
    history_requests: PositiveInt = Field(
        2000, description="labelled past requests that predictors train on (drawn apart "
        "from the run, all from the distribution at time 0)"
    )

    def output_provenance(self) -> str:
        """'measured' (trace or data set), 'modelled' (a model of a data set's lengths)
        or 'synthetic' (distributions given in the config)."""
        kinds = {src.kind for key, src in self.length_sources() if "output_tokens" in key}
        kinds.discard("drift")
        if kinds <= {"trace", "dataset"}:
            return "measured"
        return "modelled" if "text_rules" in kinds or self.dataset is not None else "synthetic"

    def length_sources(self) -> list[tuple[str, LengthSource]]:
        """Every length source with its dotted key, drift phases included."""
        out: list[tuple[str, LengthSource]] = []

        def add(key: str, src: LengthSource) -> None:
            out.append((key, src))
            if isinstance(src, DriftLength):
                for i, ph in enumerate(src.phases):
                    add(f"{key}.phases[{i}].source", ph.source)

        for field in ("prompt_tokens", "output_tokens"):
            src = getattr(self, field)
            if src is not None:
                add(f"workload.{field}", src)
        for i, cls in enumerate(self.classes or []):
            add(f"workload.classes[{i}].prompt_tokens", cls.prompt_tokens)
            add(f"workload.classes[{i}].output_tokens", cls.output_tokens)
        return out

    @model_validator(mode="after")
    def _consistent(self) -> WorkloadSpec:
        has_top = self.prompt_tokens is not None or self.output_tokens is not None
        if self.classes is not None:
            if has_top:
                raise ValueError("give either 'classes' or 'prompt_tokens'/'output_tokens'")
            names = [c.name for c in self.classes]
            if len(set(names)) != len(names):
                raise ValueError("class names must be unique")
        elif self.prompt_tokens is None or self.output_tokens is None:
            raise ValueError("give 'prompt_tokens' and 'output_tokens' (or 'classes')")
        kinds = {src.kind for _, src in self.length_sources()}
        if kinds & {"dataset", "text_rules"} and self.dataset is None:
            raise ValueError("a 'dataset' or 'text_rules' length source needs a 'dataset'")
        uses_trace = self.arrivals.kind == "trace" or "trace" in kinds
        if uses_trace and self.trace is None:
            raise ValueError("a 'trace' arrival or length source needs a 'trace' section")
        if self.num_requests is None and self.duration_s is None and not uses_trace:
            raise ValueError("give 'num_requests' or 'duration_s' so the run has an end")
        if self.arrivals.kind == "batch" and self.num_requests is None and not uses_trace:
            raise ValueError("'batch' arrivals need 'num_requests'")
        return self
