"""``audit fairness``: per-group metrics with speaker-bootstrap CIs, gaps and ratios."""

from __future__ import annotations

import sys

import click

from audit.commands._options import GreedyCommand, common_run_options, engine_options

__all__ = ["fairness"]


class _FairnessCommand(GreedyCommand):
    greedy = ("--by", "--models", "--condition", "--metric", "--folds")


@click.command(cls=_FairnessCommand)
@click.option("--by", "by", multiple=True, required=True,
              help="Manifest column(s) to group by, e.g. --by gender emotion (each on its own, "
                   "then their intersection).")
@click.option("--run", "run_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Use this run folder's predictions.csv instead of evaluating again.")
@click.option("--metric", "metrics", multiple=True, help="Metrics (default: the scenario's: wa ua macro_f1).")
@engine_options
@click.pass_context
def fairness(ctx: click.Context, by, run_dir, metrics, **kw) -> None:
    """Fairness by group over the clean condition and any run/extra conditions.

    With --run RUN_DIR the predictions of that run are analysed; otherwise the models are
    evaluated first (clean plus --condition) into --out (default results/fairness/).
    Writes fairness.csv and prints the between-group gaps.
    """
    from audit.workflows import fairness_audit, gap_lines

    seed = kw["seed"] if kw["seed"] is not None else (ctx.find_root().obj or {}).get("seed")
    run_options = None
    if run_dir is None:
        run_options = dict(common_run_options(ctx, kw, "results/fairness"), argv=list(sys.argv))
    result = fairness_audit(by, metrics=metrics, run_dir=run_dir, out=kw["out"],
                            conditions=kw["conditions"], n_boot=kw["n_boot"], seed=seed,
                            run_options=run_options)
    import textwrap

    click.echo("Gaps between groups (max - min, points), fold mean [95 % bootstrap interval]")
    for line in gap_lines(result.frame):
        click.echo(line)
    click.echo(textwrap.fill(f"Wrote {result.path} (every group's value, the gaps and ratios)", width=79,
                             subsequent_indent="  "))
