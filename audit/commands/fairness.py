"""``audit fairness``: per-group metrics with speaker-bootstrap CIs, gaps and ratios."""

from __future__ import annotations

import sys
from pathlib import Path

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
    import pandas as pd

    from audit.workflows import RunOptions, run_audit
    from audit._atomic import atomic_write_csv
    from audit.errors import AuditError
    from audit.analysis import fairness_frame
    from audit.scenario import resolve_scenario, scenario_from_dict

    spec = resolve_scenario("fairness")
    seed = kw["seed"] if kw["seed"] is not None else (ctx.find_root().obj or {}).get("seed")
    seed = spec.seed if seed is None else seed
    if run_dir is not None:
        out = Path(kw["out"] or run_dir)
        from audit.runfiles import predictions_file

        path = predictions_file(run_dir)
        if path is None:
            raise AuditError(f"{run_dir}: no predictions.csv (run `audit run` first)")
        preds = pd.read_csv(path, keep_default_na=False, na_values=[""])
        if kw["conditions"]:
            keep = {"clean", *kw["conditions"]}
            preds = preds[preds["condition"].isin(keep)]
    else:
        data = spec.model_dump()
        data.update(groups=list(by), intersections=[list(by)] if len(by) > 1 else [],
                    conditions=list(kw["conditions"]), thresholds=[])
        spec = scenario_from_dict(data, "command line")
        opts = RunOptions(**common_run_options(ctx, kw, "results/fairness"), report=False,
                          argv=list(sys.argv))
        preds = run_audit(spec, opts).predictions
        out = opts.out
    missing = [c for c in by if c not in preds.columns]
    if missing:
        raise AuditError(f"--by {missing[0]!r}: not a column of the predictions "
                         f"(have: {', '.join(preds.columns[:12])} ...)")
    n_boot = spec.bootstrap.n_boot if kw["n_boot"] is None else kw["n_boot"]
    classes = [c[2:] for c in preds.columns if c.startswith("p_")]
    # each column on its own, then (for several) their intersection
    specs = [[c] for c in by] + ([list(by)] if len(by) > 1 else [])
    wanted = list(metrics) or list(spec.metrics)

    frame = pd.concat([fairness_frame(preds, s, metrics=wanted, n_boot=n_boot,
                                      seed=seed, classes=classes or None)
                       for s in specs], ignore_index=True)
    atomic_write_csv(out / "fairness.csv", frame)
    _print(frame, out / "fairness.csv")


def _print(frame, path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="fairness (speaker-bootstrap 95% CI)")
    shown = frame.head(60)
    for col in shown.columns:
        table.add_column(str(col))
    for row in shown.itertuples(index=False):
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)
    if len(frame) > len(shown):
        console.print(f"... {len(frame) - len(shown)} more rows")
    console.print(f"Wrote {path}")
