"""Shared pieces of the ``run`` and ``fairness`` commands (options, multi-value parsing, output)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import click

__all__ = ["GreedyCommand", "engine_options", "print_summary", "summary_lines", "run_files_line"]

_NUMBER = re.compile(r"^-?\d+(\.\d*)?([eE]-?\d+)?$")


class _JobsType(click.ParamType):
    """``--jobs``: a whole number >= 1 or ``auto``."""

    name = "N|auto"

    def convert(self, value: Any, param: Any, ctx: Any) -> int | str:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        text = str(value).strip().lower()
        if text == "auto":
            return "auto"
        if text.isascii() and text.isdecimal() and int(text) >= 1:
            return int(text)
        self.fail(f"{value!r}: expected a whole number >= 1 or 'auto'", param, ctx)


class GreedyCommand(click.Command):
    """Let ``--snr 0 10 20`` mean ``--snr 0 --snr 10 --snr 20`` for the options in ``greedy``.

    click options take a fixed number of values; the CLI promises space-separated lists, so the
    arguments are rewritten before click parses them. A value is any following token that is not
    an option (negative numbers count as values).
    """

    greedy: tuple[str, ...] = ()

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        out: list[str] = []
        current: str | None = None
        for tok in args:
            if tok == "--":
                current = None
                out.append(tok)
            elif tok in self.greedy:
                current = tok
                out.append(tok)
            elif current is not None and out[-1] != current and (
                    not tok.startswith("-") or _NUMBER.match(tok)):
                out += [current, tok]
            else:
                if tok.startswith("-") and not _NUMBER.match(tok):
                    current = None
                out.append(tok)
        return super().parse_args(ctx, out)


def engine_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options every evaluating command shares (defaults: the paper's settings)."""
    opts = [
        click.option("--data", "data", type=str, default=None,
                     help="Corpus folder, manifest CSV (with folds) or hf:DIR (a Hugging Face dataset on disk)."),
        click.option("--models", "models", multiple=True,
                     help="One or more: checkpoint folder (fold*.json), checkpoint file, "
                          "TorchScript .pt/.ts, ONNX .onnx, pkg.module:fn, hf:DIR (local Hugging "
                          "Face folder) or speechbrain:DIR. Checkpoints are safetensors (data "
                          "only, the default format); a pkg.module:fn entry point, a TorchScript "
                          "file and a speechbrain:DIR hyperparams.yaml RUN THEIR CODE: use only "
                          "ones you trust."),
        click.option("--out", type=click.Path(file_okay=False), default=None,
                     help="Run folder (default results/<scenario>/, overwritten)."),
        click.option("--seed", type=int, default=None, help="Root seed (default: the scenario's, 987654)."),
        click.option("--device", default=None, help="auto | cpu | cuda | cuda:N (default: root --device)."),
        click.option("--workers", type=int, default=None,
                     help="CPU processes for MP3 and reverb (default: CPU count; in one process "
                          "only: each --jobs job renders its own batch)."),
        click.option("--jobs", type=_JobsType(), default="auto", show_default=True, metavar="N|auto",
                     help="Batches evaluated at once, each in its own CPU process with one torch "
                          "thread (decode, perturb, features and forward; results do not depend "
                          "on it). auto: one per usable core, at most 8 and one per 4 batches; "
                          "none forked on CUDA, with Ray or off Linux. Each job holds its own "
                          "batch: memory grows with N (benchmarks/README.md)."),
        click.option("--batch-size", type=int, default=64, show_default=True,
                     help="Utterances decoded per step (memory only; results do not depend on it)."),
        click.option("--max-audio-s", type=click.FloatRange(min=0, min_open=True), default=600.0,
                     show_default=True,
                     help="Seconds of audio decoded and held at once, per job (memory only; results "
                          "do not depend on it). Recordings over 60 s are scored in 60 s chunks."),
        click.option("--classes", default=None,
                     help="Comma-separated class order for TorchScript/ONNX/entry-point models "
                          "(or names for the outputs of hf:/speechbrain: models)."),
        click.option("--condition", "conditions", multiple=True,
                     help="Extra condition(s), e.g. 'reverb:rt60_s=0.5+awgn:snr_db=10'."),
        click.option("--n-boot", type=int, default=None, help="Bootstrap resamples (default: the scenario's)."),
        click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
                     help="Prediction cache (default: <out>/../.cache)."),
        click.option("--no-cache", is_flag=True, help="Do not read or write the prediction cache."),
        click.option("--executor", type=click.Choice(["local", "ray"]), default=None,
                     help="Where predictions are computed: local (default) or ray (tasks on a "
                          "Ray cluster; the scenario's [execution] table when not given)."),
        click.option("--address", default=None,
                     help="Ray cluster: auto | HOST:PORT | ray://HOST:PORT (default: a new "
                          "local cluster with --workers CPUs)."),
        click.option("--gpus-per-task", type=float, default=None,
                     help="GPUs each Ray task asks for on a GPU device (default 1; 0.25 lets "
                          "four tasks share one GPU)."),
        click.option("--precision", type=click.Choice(["fp32", "bf16", "auto", "onnx"]), default="fp32",
                     show_default=True, help="Model arithmetic: fp32 reproduces on any CPU; bf16/auto "
                     "(native-bf16 CPUs, CUDA) is faster; onnx runs our checkpoints' fp32 networks in "
                     "ONNX Runtime on the CPU (last-bit differences; not faster on the CPUs measured, "
                     "see benchmarks/). The last three are cached separately and recorded in run.json."),
        click.option("--folds", "folds", type=int, multiple=True,
                     help="Evaluate only these folds' test speakers, e.g. --folds 0 1 "
                          "(when only some fold checkpoints exist)."),
        click.option("--protocol", type=click.Choice(["default", "emobox"]), default="default",
                     show_default=True, help="Folds of the data: ours, or EmoBox's published ones "
                     "(RAVDESS, IEMOCAP); fold models must have been trained on the same folds."),
        click.option("--label-map", "label_map", default=None, metavar="NAME|FILE.toml",
                     help="Restrict to the classes a model and the data share, e.g. "
                          "ravdess-emodb, synonyms, or a TOML map (docs/protocols.md)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def common_run_options(ctx: click.Context, kw: dict[str, Any], out_default: str) -> dict[str, Any]:
    """Turn the shared options into ``RunOptions`` keyword arguments."""
    from pathlib import Path

    if not kw["data"]:
        raise click.UsageError("--data is required (a corpus folder or a manifest CSV)")
    if not kw["models"]:
        raise click.UsageError("--models is required (checkpoint folder(s) or model files)")
    obj = ctx.find_root().obj or {}
    seed = kw["seed"] if kw["seed"] is not None else obj.get("seed")
    return dict(
        data=kw["data"], models=list(kw["models"]), out=Path(kw["out"] or out_default), seed=seed,
        device=kw["device"] or obj.get("device") or "auto",
        workers=kw["workers"] or os.cpu_count() or 1, jobs=kw["jobs"], batch_size=kw["batch_size"],
        max_audio_s=kw["max_audio_s"],
        cache_dir=Path(kw["cache_dir"]) if kw["cache_dir"] else None,
        use_cache=not kw["no_cache"],
        classes=[c.strip() for c in kw["classes"].split(",")] if kw["classes"] else None,
        n_boot=kw["n_boot"],
        folds=sorted(set(kw["folds"])) or None,
        executor=kw["executor"], address=kw["address"], gpus_per_task=kw["gpus_per_task"],
        label_map=kw["label_map"],
        precision=kw["precision"],
        protocol=kw["protocol"],
    )


def print_summary(metrics: Any, out: Any) -> None:
    """Print WA and UA per model and condition (fold mean, interval), one line each and under
    80 columns, then the files the run folder holds (every figure is in metrics.csv)."""
    import json
    from pathlib import Path

    info_path = Path(out) / "run.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    reference = (info.get("analysis") or {}).get("reference_model")
    order = [str(e.get("name")) for e in info.get("models") or [] if isinstance(e, dict)]
    m = metrics
    sel = m[(m["fold"].astype(str) == "mean") & (m["group"] == "all") & m["metric"].isin(["wa", "ua"])]
    for line in summary_lines(sel, reference, order):
        click.echo(line)
    click.echo(run_files_line(out))


def summary_lines(rows: Any, reference: str | None = None, order: list[str] | None = None) -> list[str]:
    """``rows``: tidy metrics rows of one group and fold (``wa`` and ``ua``); the reference
    model first, then the others in ``order`` (the run's), clean first within a model."""
    if rows.empty:
        return []
    present = list(dict.fromkeys(rows["model"].astype(str)))
    models = [x for x in order or [] if x in present] + [x for x in present if x not in (order or [])]
    if reference in models:
        models = [reference] + [x for x in models if x != reference]
    lines = ["WA / UA (%), fold mean [95 % speaker-bootstrap interval]"]
    for model in models:
        sub = rows[rows["model"].astype(str) == model]
        lines.append(model + (" (reference)" if model == reference and len(models) > 1 else ""))
        conds = list(dict.fromkeys(sub["condition"].astype(str)))
        for cond in sorted(conds, key=lambda c: c != "clean"):
            vals = {r.metric: f"{r.metric.upper()} {_pct(r.value)} [{_pct(r.ci_low)}, {_pct(r.ci_high)}]"
                    for r in sub[sub["condition"].astype(str) == cond].itertuples(index=False)}
            text = "   ".join(vals[k] for k in ("wa", "ua") if k in vals)
            if len(cond) <= 20:
                lines.append(f"  {cond:<20} {text}")
            else:  # a long chain of perturbations: its own line, never cut
                lines += [f"  {cond}", f"  {'':<20} {text}"]
    return lines


def run_files_line(out: Any) -> str:
    """Where the results are: the files the run folder really holds."""
    import textwrap
    from pathlib import Path

    from audit.runfiles import metrics_file, predictions_file

    folder = Path(out)
    names = [n for n in ("summary.md", "report.html") if (folder / n).is_file()]
    names += [p.name for p in (predictions_file(folder), metrics_file(folder)) if p is not None]
    names += [n for n in ("findings.csv",) if (folder / n).is_file()]
    n_tables = len(list(folder.glob("table*.csv")))
    if n_tables:
        names.append(f"{n_tables} table*.csv")
    if (folder / "plots").is_dir():
        names.append("plots/")
    return textwrap.fill(f"Results in {folder}/: {', '.join(names)}", width=79,
                         subsequent_indent="  ")


def _pct(v: Any) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return "-"
    return "-" if v != v else f"{v:.2f}"  # metrics.csv holds WA/UA in percent
