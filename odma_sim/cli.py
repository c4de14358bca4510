"""The odma-sim command line: run, validate, device, list."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from odma_sim import __version__
from odma_sim.errors import InputError


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed {text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"--seed {value} must be >= 0")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be > 0")
    return value


def cmd_run(args: argparse.Namespace) -> int:
    from odma_sim.config.loader import load_experiment
    from odma_sim.experiment import run_experiment
    from odma_sim.report.table import LEGEND, format_table
    from odma_sim.report.write import write_run

    loaded = load_experiment(args.config, seed=args.seed)
    out = Path(args.out) if args.out else Path("runs") / loaded.spec.name
    if out.exists() and not out.is_dir():
        raise InputError("the output path exists and is not a directory", source="--out",
                         value=str(out), expected="a directory path")
    result = run_experiment(loaded, progress=None if not args.quiet else False)
    write_run(result, out)  # before printing: a closed stdout must not lose the results
    lengths = result.table.output_lengths
    print(f"{loaded.spec.name}: {len(result.table)} requests "
          f"({result.table.n_rejected} rejected, {result.table.n_truncated} truncated), "
          f"seed {loaded.spec.seed}, model {loaded.spec.model.name}, output lengths "
          f"{'MODELLED (assumed, not measured)' if lengths == 'modelled' else lengths}")
    print(format_table(result.summaries))
    print(LEGEND)
    print(f"results in {out}/ (summary.json, summary.png, records/, timeline/)")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from odma_sim.config.loader import load_experiment
    from odma_sim.experiment import request_table

    loaded = load_experiment(args.config, seed=args.seed)
    spec = loaded.spec
    table = request_table(loaded)
    print(f"{args.config}: OK. '{spec.name}': {len(spec.devices)} device(s) x "
          f"{len(spec.allocators)} allocator(s) = {len(spec.devices) * len(spec.allocators)} "
          f"rows; {len(table)} requests ({table.n_rejected} rejected, "
          f"{table.n_truncated} truncated); model {spec.model.name}.")
    return 0


def cmd_device(args: argparse.Namespace) -> int:
    from odma_sim.config.loader import _resolve_preset
    from odma_sim.config.validation import to_input_error
    from odma_sim.hardware.spec import DeviceSpec
    from odma_sim.models.spec import ModelSpec
    from odma_sim.report.device import racm_curve, reference_steps

    try:
        dev = DeviceSpec.model_validate(
            _resolve_preset("hardware", args.device, base_dir=Path.cwd(), source="device",
                            key="device"))
        model = ModelSpec.model_validate(
            _resolve_preset("models", args.model, base_dir=Path.cwd(), source="--model",
                            key="model"))
    except Exception as exc:  # pydantic errors carry the key
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            root = DeviceSpec if exc.title == "DeviceSpec" else ModelSpec
            raise to_input_error(exc, root, source=args.device) from None
        raise
    curve = racm_curve(dev, model)
    if args.csv:
        print(curve.to_csv(index=False), end="")
        return 0
    mem = dev.memory
    print(f"{dev.name}: {dev.description}")
    print(f"  peak bandwidth {mem.peak_bandwidth_bytes_per_s / 1e9:.1f} GB/s "
          f"({mem.channels} x {mem.channel_gb_per_s} GB/s), streaming "
          f"{mem.eta_seq * mem.peak_bandwidth_bytes_per_s / 1e9:.1f} GB/s (eta_seq {mem.eta_seq})")
    ra = mem.random_access
    if ra.mode == "mechanistic":
        print(f"  random access: mechanistic, t_sw {mem.t_sw_s * 1e9:.2f} ns, interleave "
              f"{mem.interleave_bytes} B, p_eff {mem.p_eff}")
    else:
        print(f"  random access: empirical, alpha {ra.alpha} at chunks of "
              f"{ra.alpha_chunk_bytes} B")
    print(f"  {'chunk':>9}  {'alpha':>6}  {'effective GB/s':>14}")
    for row in curve.itertuples(index=False):
        size = int(row.chunk_bytes)  # type: ignore[arg-type]
        label = f"{size >> 20} MiB" if size >= 1 << 20 else (
            f"{size >> 10} KiB" if size >= 1024 else f"{size} B")
        print(f"  {label:>9}  {row.alpha:6.3f}  {row.effective_gb_per_s:14.1f}")
    print(f"  decode step, {model.name}, {args.batch} requests x {args.context} tokens "
          f"(incl. launch overhead):")
    for step in reference_steps(dev, model, args.batch, args.context):
        print(f"    {step.label:<42} chunk {step.chunk_bytes:>8} B  alpha {step.alpha:.3f}  "
              f"{step.duration_s * 1e3:8.2f} ms")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    import odma_sim.allocators  # noqa: F401
    from odma_sim.allocators.base import allocators
    from odma_sim.config.presets import list_presets

    print("devices:   " + ", ".join(list_presets("hardware")))
    print("models:    " + ", ".join(list_presets("models")))
    print("allocators: " + ", ".join(allocators.names()))
    return 0


def _load_workload(ref: str) -> tuple[Any, Path | None, str, str | None]:
    """A workload from a preset name, a workload YAML or an experiment YAML:
    (spec, base dir, source, paper data set or None)."""
    from pydantic import ValidationError

    from odma_sim.config.loader import _resolve_preset
    from odma_sim.config.presets import read_yaml
    from odma_sim.config.validation import to_input_error
    from odma_sim.workload.spec import WorkloadSpec

    path = Path(ref)
    if path.is_file():
        raw, base, source = read_yaml(path), path.parent, str(path)
        if isinstance(raw, dict) and "workload" in raw:
            raw = raw["workload"]
        raw = _resolve_preset("workloads", raw, base_dir=base, source=source, key="workload")
    else:
        base, source = None, f"workload preset '{ref}'"
        raw = _resolve_preset("workloads", ref, base_dir=None, source="--workload",
                              key="workload")
    try:
        spec = WorkloadSpec.model_validate(raw)
    except ValidationError as exc:
        raise to_input_error(exc, WorkloadSpec, source=source, prefix="workload") from None
    paper = None
    if spec.dataset is not None:
        paper = "nq" if spec.dataset.format == "nq-open" else "alpaca"
    return spec, base, source, paper


def cmd_predictors_evaluate(args: argparse.Namespace) -> int:
    from odma_sim.predictors import predictors
    from odma_sim.predictors.evaluate import evaluate_one
    from odma_sim.report.predictors import format_scores, format_timing, write_evaluation
    from odma_sim.workload.generate import build_history, build_requests

    spec, base, source, paper = _load_workload(args.workload)
    names = [n.strip() for n in args.predictors.split(",") if n.strip()]
    for n in names:
        predictors.get(n, source="--predictors", key="--predictors")
    big = 1 << 30  # no truncation: lengths above --max-len fall in the last bucket
    test = build_requests(spec, seed=args.seed, max_seq_len=big, max_new_tokens=None,
                          base_dir=base, source=source)
    history = build_history(spec, seed=args.seed, run_rows=len(test), max_seq_len=big,
                            max_new_tokens=None, base_dir=base, source=source)
    scores = [evaluate_one(n, history, test, seed=args.seed, buckets=args.buckets,
                           max_len=args.max_len, odma_buckets=args.odma_buckets)
              for n in names]
    label = Path(args.workload).stem
    lengths = test.output_lengths
    print(f"{label}: {len(history)} training requests, {len(test)} evaluation requests, "
          f"output lengths {'MODELLED (assumed)' if lengths == 'modelled' else lengths}; "
          f"S3 scheme: {args.buckets} equal buckets over [0, {args.max_len}); "
          f"ODMA scheme: {args.odma_buckets} learned buckets")
    print(format_scores(scores, paper))
    print(format_timing(scores))
    if paper:
        print(f"paper acc: arXiv 2512.09427 on {'Google NQ' if paper == 'nq' else 'Alpaca'} "
              "(bucket scheme, lengths and model unpublished). S3-scheme columns: under/over "
              "= predicted bucket below/above the true one.")
    out = Path(args.out) if args.out else Path("runs") / f"predictors-{label}"
    write_evaluation(out, scores, {
        "workload": label, "source": source, "seed": args.seed, "buckets": args.buckets,
        "max_len": args.max_len, "odma_buckets": args.odma_buckets,
        "output_lengths": test.output_lengths, "training_requests": len(history),
        "evaluation_requests": len(test),
    })
    print(f"results in {out}/ (predictors.csv, confusion.png)")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from odma_sim.sweep.run import run_sweep
    from odma_sim.sweep.spec import expand, load_sweep

    path = Path(args.sweep)
    if not path.is_file():
        raise InputError("sweep file not found", source=str(path),
                         expected="a path to a sweep YAML file")
    spec, base, base_dir = load_sweep(path)
    points = expand(spec, base, base_dir, str(path))
    out = Path(args.out) if args.out else Path("runs") / f"sweep-{spec.name}"
    where = f"Dask cluster {args.scheduler}" if args.scheduler else (
        f"{args.workers} local worker(s)")
    print(f"{spec.name}: {len(points)} points ({spec.mode} of "
          f"{' x '.join(str(len(v)) for v in spec.axes.values())} values x "
          f"{len(spec.seeds)} seed(s)) on {where}")
    outcome = run_sweep(spec, points, out, workers=args.workers, scheduler=args.scheduler,
                        resume=args.resume, progress=None if not args.quiet else False)
    print(f"ran {outcome.ran} point(s), skipped {outcome.skipped} already finished, "
          f"{outcome.failed} failed; results in {out}/ (results.parquet, results.csv, "
          "points/)")
    if outcome.failed:
        bad = outcome.results[outcome.results["status"] == "failed"]
        for row in bad.head(5).itertuples():
            print(f"  failed point {row.point} (seed {row.seed}): {row.error}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    import matplotlib.pyplot as plt
    import pandas as pd

    from odma_sim.sweep.plots import line_figure, winner_figure

    folder = Path(args.sweep_dir)
    table = folder / "results.parquet"
    if not table.is_file():
        raise InputError("no results.parquet in this folder", source=str(folder),
                         expected="the output folder of `odma-sim sweep`")
    df = pd.read_parquet(table)
    plots = folder / "plots"
    plots.mkdir(exist_ok=True)
    if args.winner:
        fig = winner_figure(df, args.x, args.winner, args.y, args.hue)
        stem = f"winner_{args.y}_{args.x}_{args.winner}"
    else:
        fig = line_figure(df, args.x, args.y, args.hue, args.facet)
        stem = f"{args.y}_vs_{args.x}" + (f"_by_{args.facet}" if args.facet else "")
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)
    for ext in ("png", "svg"):
        fig.savefig(plots / f"{stem}.{ext}", dpi=110, metadata={"Date": None}
                    if ext == "svg" else {"Software": None})
    plt.close(fig)
    print(f"wrote {plots}/{stem}.png and .svg")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from odma_sim.paper.reproduce import reproduce

    out = Path(args.out) if args.out else Path("runs") / (
        "reproduce-quick" if args.quick else "reproduce")
    rep = reproduce(out, quick=args.quick, workers=args.workers,
                    progress=None if not args.quiet else False)
    print((out / "paper_comparison.md").read_text(encoding="utf-8"), end="")
    print(f"figures in {out}/figures/, table in {out}/paper_comparison.md and .csv"
          + (" (QUICK run)" if rep.quick else ""))
    return 0


def cmd_config_reference(args: argparse.Namespace) -> int:
    from odma_sim.config.reference import config_reference, update_block

    table = config_reference()
    if args.update:
        path = Path(args.update)
        try:
            text = path.read_text(encoding="utf-8")
            new = update_block(text, table)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot update the reference block ({exc})", source=str(path),
                             key="--update", expected="a markdown file with the "
                             "config-reference begin/end markers") from None
        path.write_text(new, encoding="utf-8")
        print(f"updated the config reference in {path}")
        return 0
    print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="odma-sim",
        description="Discrete-event simulator of LLM serving on random-access-constrained "
                    "memory, with pluggable KV-cache allocators.",
    )
    p.add_argument("--version", action="version", version=f"odma-sim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="run an experiment config and print the comparison table")
    r.add_argument("config", help="experiment YAML")
    r.add_argument("--out", help="output directory (default: runs/<config name>)")
    r.add_argument("--seed", type=_seed, help="override the config's seed")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="check a config (and its traces) without running it")
    v.add_argument("config")
    v.add_argument("--seed", type=_seed)
    v.set_defaults(func=cmd_validate)

    d = sub.add_parser("device", help="a device's random-access curve and reference step times")
    d.add_argument("device", help="preset name (e.g. mlu370-x4) or a device YAML file")
    d.add_argument("--model", default="deepseek-r1-distill-qwen-7b", help="model preset or file")
    d.add_argument("--batch", type=_positive_int, default=64, help="reference batch")
    d.add_argument("--context", type=_positive_int, default=2048,
                   help="reference context tokens")
    d.add_argument("--csv", action="store_true", help="print the curve as CSV")
    d.set_defaults(func=cmd_device)

    ls = sub.add_parser("list", help="list device and model presets and allocators")
    ls.set_defaults(func=cmd_list)

    sw = sub.add_parser("sweep", help="run a parameter sweep (local pool or Dask cluster)")
    sw.add_argument("sweep", help="sweep YAML")
    sw.add_argument("--out", help="output directory (default runs/sweep-<name>)")
    sw.add_argument("--workers", type=_positive_int, default=os.cpu_count() or 1,
                    help="local worker processes (default: the CPU count)")
    sw.add_argument("--scheduler", help="address of a Dask scheduler, e.g. tcp://host:8786")
    sw.add_argument("--resume", action="store_true", help="continue a sweep in --out")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")
    sw.set_defaults(func=cmd_sweep)

    pl = sub.add_parser("plot", help="plot a sweep's results (PNG and SVG)")
    pl.add_argument("sweep_dir", help="output folder of `odma-sim sweep`")
    pl.add_argument("--x", required=True, help="axis on the x axis (a dotted key)")
    pl.add_argument("--y", default="tps_output", help="metric (default tps_output)")
    pl.add_argument("--hue", default="name", help="one line per value (default: the row)")
    pl.add_argument("--facet", help="one panel per value of this axis")
    pl.add_argument("--winner", metavar="KEY2",
                    help="draw a winner map over --x and this second axis instead")
    pl.set_defaults(func=cmd_plot)

    rp = sub.add_parser("reproduce", help="reproduce the ODMA paper: runs, 9 figures, table")
    rp.add_argument("--quick", action="store_true", help="reduced request counts (minutes)")
    rp.add_argument("--out", help="output directory (default runs/reproduce[-quick])")
    rp.add_argument("--workers", type=_positive_int, default=None,
                    help="processes for the sweeps (default: the CPU count)")
    rp.add_argument("--quiet", action="store_true", help="no progress bar")
    rp.set_defaults(func=cmd_reproduce)

    pr = sub.add_parser("predictors", help="evaluate length predictors offline")
    psub = pr.add_subparsers(dest="predictors_command", required=True, metavar="ACTION")
    ev = psub.add_parser("evaluate", help="train on a workload's history split, score its "
                         "run split, print the accuracy table")
    ev.add_argument("--workload", required=True,
                    help="workload preset (alpaca, nq, ...), workload YAML or experiment YAML")
    ev.add_argument("--predictors", default="constant,s3,odma,noisy,oracle",
                    help="comma-separated predictor kinds")
    ev.add_argument("--buckets", type=_positive_int, default=10, help="S3-scheme buckets")
    ev.add_argument("--max-len", type=_positive_int, default=2048,
                    help="S3-scheme upper end of the buckets (tokens)")
    ev.add_argument("--odma-buckets", type=_positive_int, default=8,
                    help="learned buckets of the ODMA scheme")
    ev.add_argument("--seed", type=_seed, default=0)
    ev.add_argument("--out", help="output directory (default runs/predictors-<workload>)")
    ev.set_defaults(func=cmd_predictors_evaluate)

    cr = sub.add_parser("config-reference", help="print every config key as a markdown table")
    cr.add_argument("--update", metavar="FILE",
                    help="rewrite the generated block in FILE (e.g. README.md) instead")
    cr.set_defaults(func=cmd_config_reference)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `odma-sim run ... | head`: stop printing quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
