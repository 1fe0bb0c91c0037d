"""``audit model``: list the registered networks, measure one, recalibrate trained checkpoints."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["model"]


@click.group("model")
def model():
    """Registered SER networks."""


def _wrapped(head: str, text: str) -> str:
    """``head`` then ``text`` wrapped to 79 columns under itself (nothing cut)."""
    import textwrap

    return textwrap.fill(text, width=79, initial_indent=head, subsequent_indent=" " * len(head),
                         break_on_hyphens=False, break_long_words=False)


def _describe(config) -> str:
    """The variant's distinguishing settings: MACNN attention/fusion, IFN streams/fusion."""
    if hasattr(config, "streams"):
        refine = "" if config.refine_blocks else ", no refinement"
        return f"streams={'+'.join(config.streams)}, fusion={config.fusion}{refine}"
    return f"attention={config.attention}, fusion={str(config.fusion).lower()}"


@model.command("list")
@click.option("--classes", "num_classes", type=int, default=8, show_default=True)
def list_cmd(num_classes):
    """Registered model names, their family, settings and parameter count."""
    from model import count_parameters, create_model, list_models
    from model.registry import model_family

    click.echo(f"{'name':<22}{'family':<8}{'params':>10}  settings")
    for name in list_models():
        net = create_model(name, num_classes)
        click.echo(_wrapped(f"{name:<22}{model_family(name):<8}{count_parameters(net):>10,}  ",
                            _describe(net.config)))


@model.command("info")
@click.argument("name")
@click.option("--classes", "num_classes", type=int, default=8, show_default=True)
@click.option("--device", default=None, help="auto | cpu | cuda (default: the root --device).")
@click.option("--runs", type=int, default=50, show_default=True, help="Timed batch-1 passes (after 10 warm-up).")
@click.pass_context
def info(ctx, name, num_classes, device, runs):
    """Measured parameters, MACs for one (1, 1, rows, 200) segment and batch-1 latency of NAME."""
    from model import PAPER_TABLE20, count_macs, count_parameters, create_model, measure_latency, resolve_device
    from model.registry import input_shape

    dev = resolve_device(device or (ctx.obj or {}).get("device") or "auto")
    net = create_model(name, num_classes).to(dev)
    shape = input_shape(net.config)
    params, macs = count_parameters(net), count_macs(net, shape)
    latency = measure_latency(net, shape, runs=runs)
    click.echo(_wrapped("model         ", f"{name} ({num_classes} classes, {_describe(net.config)})"))
    mac_note = ("MACs = FLOPs / 2 from torch.utils.flop_counter (conv and matmul only; elementwise gates, "
                "norms and softmax not counted).")
    if hasattr(net.config, "streams"):  # IFN: the spec's own budget, no paper figures to compare
        click.echo(f"parameters    {params:,} ({params / 1e6:.3f} M)      ifn-spec target: <= 0.5 M")
        click.echo(f"MACs          {macs / 1e9:.4f} G for {shape}")
        click.echo(f"latency       {latency * 1e3:.2f} ms median, batch 1, {dev} ({runs} runs after 10 warm-up)")
        click.echo(_wrapped("note          ", f"{mac_note} Feature extraction (streams) is not included."))
        return
    p_paper = " / ".join(f"{v:.2f} M" for v in PAPER_TABLE20["params_m"])
    g_paper = "-".join(f"{v:.2f}" for v in PAPER_TABLE20["gmacs"])
    click.echo(f"parameters    {params:,} ({params / 1e6:.3f} M)      paper Table 20: {p_paper}")
    click.echo(f"MACs          {macs / 1e9:.4f} G for {shape}   paper Table 20: {g_paper} G")
    click.echo(f"latency       {latency * 1e3:.2f} ms median, batch 1, {dev} ({runs} runs after 10 warm-up)")
    click.echo(_wrapped("note          ", f"{mac_note} Shape-preserving attention adds only "
                        "a few thousand parameters to the public MACNN, so the paper's 2.1-2.5 M parameters and "
                        "0.7-0.8 GMACs cannot be reached by the architecture it describes; these are measured "
                        "figures."))


@model.command("recalibrate")
@click.option("--data", required=True, type=click.Path(exists=True, path_type=Path),
              help="The corpus that trained the checkpoints (folder or manifest CSV).")
@click.option("--models", "models", required=True, type=click.Path(exists=True, path_type=Path),
              help="A folder of fold*.safetensors + .json (as `audit train` writes), or one checkpoint.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Where the new checkpoints go.")
@click.option("--corpus", default=None, help="Corpus layout (default: auto-detect).")
@click.option("--fold", "folds", type=int, multiple=True, help="Fold(s) to recalibrate (repeatable; default all).")
@click.option("--batch-size", type=click.IntRange(min=2), default=None,
              help="Segments per batch statistic (default: max(training batch, 64), as --bn-recalibrate).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Torch threads (default: the sidecar's training threads; the result depends on it).")
@click.option("--skip-bad", is_flag=True, help="Skip unreadable files (recorded in OUT/problems.csv).")
@click.option("--force", is_flag=True, help="Overwrite checkpoints already in --out.")
def recalibrate(data, models, out, corpus, folds, batch_size, threads, skip_bad, force):
    """Recompute the BatchNorm statistics of trained fold checkpoints over their own training data.

    Prediction normalises with running averages kept during training (mostly the last ~20
    batches, augmented ones under AAM/MixUp). This writes copies whose statistics are the exact
    average over the fold's training segments (what `audit train --bn-recalibrate` does), weights
    unchanged, then scores each fold's held-out speakers. Audit OUT like any checkpoint folder.
    """
    from audit.workflows.recalibrate import recalibrate_folder

    results = recalibrate_folder(data, models, out, folds=list(folds) or None, corpus=corpus, skip_bad=skip_bad,
                                 batch_size=batch_size, threads=threads, force=force)
    click.echo(f"{len(results)} checkpoint(s) recalibrated into {out}")
