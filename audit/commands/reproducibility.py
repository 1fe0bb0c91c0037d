"""``audit reproducibility``: how much an audit's results depend on the training seed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from audit.commands._options import GreedyCommand

__all__ = ["reproducibility"]


class _Command(GreedyCommand):
    greedy = ("--runs", "--folds", "--condition", "--by")


@click.command(cls=_Command)
@click.option("--runs", "runs", multiple=True, type=click.Path(file_okay=False),
              help="Compare these finished audit runs (one per seed): RUN_1 RUN_2 ...")
@click.option("--data", default=None, help="Corpus folder or manifest CSV: train and audit k seeds.")
@click.option("--model", "model_name", default="macnn", show_default=True,
              help="Registered model name (see `audit model list`).")
@click.option("--seeds", "n_seeds", type=int, default=5, show_default=True,
              help="Training seeds per fold: base, base+1, ... (base: --seed).")
@click.option("--folds", "folds", type=int, multiple=True, help="Folds to train and audit (default all).")
@click.option("--epochs", type=int, default=60, show_default=True)
@click.option("--aug", default="aam", show_default=True,
              type=click.Choice(["none", "aam", "aam_nodiff", "aam_random", "mixup", "aam+mixup"]))
@click.option("--batch-size", type=int, default=32, show_default=True, help="Training batch size.")
@click.option("--precision", default="auto", show_default=True, type=click.Choice(["auto", "fp32", "bf16"]))
@click.option("--standardize/--no-standardize", default=False, show_default=True,
              help="Per-coefficient MFCC standardisation fitted on the training fold.")
@click.option("--bn-recalibrate", is_flag=True, help="Exact BatchNorm statistics after the last epoch.")
@click.option("--threads", type=int, default=1, show_default=True, help="Torch threads per fold job.")
@click.option("--jobs", type=int, default=1, show_default=True, help="Fold jobs trained at once.")
@click.option("--seed", type=int, default=None, help="Base training seed (default: root --seed, else 987654).")
@click.option("--device", default=None, help="auto | cpu | cuda | cuda:N (default: the root --device).")
@click.option("--scenario", default="fairness", show_default=True,
              help="Scenario of each seed's audit (its gates are not applied).")
@click.option("--condition", "conditions", multiple=True, help="Extra condition(s) of the audits.")
@click.option("--by", "by", multiple=True, help="Group columns (default: the scenario's / the runs').")
@click.option("--n-boot", type=int, default=None, help="Bootstrap resamples of each audit.")
@click.option("--workers", type=int, default=None, help="CPU processes for MP3 and reverb.")
@click.option("--skip-bad", is_flag=True, help="Skip unreadable files (recorded).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default results/reproducibility/).")
@click.pass_context
def reproducibility(ctx, runs, data, model_name, n_seeds, folds, epochs, aug, batch_size, precision,
                    standardize, bn_recalibrate, threads, jobs, seed, device, scenario, conditions, by, n_boot, workers, skip_bad, out):
    """Agreement and WA/UA spread across training seeds.

    \b
    Either train and audit k seeds per fold (resumable; rerun to continue):
      audit reproducibility --data corpus/manifest.csv --model macnn --seeds 5 --folds 0 1
    or compare finished audit runs, one per seed:
      audit reproducibility --runs results/s1 results/s2 results/s3 --out results/repro
    Writes OUT/reproducibility.csv, reproducibility_runs.csv, plots/ and reproducibility.html.
    """
    from audit.errors import AuditError
    from model import FeatureConfig
    from audit.reproducibility import compare_predictions, load_runs, run_groups, write_outputs
    from audit.workflows import audit_seeds, seed_list, train_seeds

    if bool(runs) == bool(data):
        raise click.UsageError("give either --runs RUN_1 RUN_2 ... or --data DATA (train k seeds)")
    out = Path(out or "results/reproducibility")
    if runs:
        names, frames, infos = load_runs(runs)
        groups = list(by) or run_groups(infos, frames)
    else:
        from audit.scenario import resolve_scenario, scenario_from_dict

        obj = ctx.find_root().obj or {}
        base = seed if seed is not None else (obj.get("seed") if obj.get("seed") is not None else 987654)
        seeds = seed_list(base, n_seeds)
        if jobs < 1:
            raise AuditError(f"--jobs {jobs}: must be >= 1")
        spec = resolve_scenario(scenario).model_dump()
        spec.update(thresholds=[], conditions=spec["conditions"] + list(conditions))
        if by:
            spec.update(groups=list(by), intersections=[])
        spec = scenario_from_dict(spec, "command line")
        dev = device or obj.get("device") or "auto"
        click.echo(f"{model_name}: {len(seeds)} seeds ({seeds[0]}..{seeds[-1]}) x "
                   f"{'folds ' + ' '.join(map(str, folds)) if folds else 'every fold'}", err=True)

        def report(r: dict) -> None:
            if r["action"] == "skip":
                click.echo(f"{r['weights']}: finished; skipped", err=True)
            elif "test_wa" in r:
                click.echo(f"{r['weights']}: held-out WA {100 * r['test_wa']:.2f} %  "
                           f"UA {100 * r['test_ua']:.2f} %", err=True)

        ckpts = train_seeds(data, model=model_name, seeds=seeds, folds=folds, out=out, n_jobs=jobs,
                            skip_bad=skip_bad, on_result=report,
                            train_options=dict(epochs=epochs, aug=aug, batch_size=batch_size,
                                               precision=precision, threads=threads, device=dev,
                                               bn_recalibrate=bn_recalibrate,
                                               features=FeatureConfig(standardize=standardize)))
        run_dirs = audit_seeds(spec, data, ckpts, out=out, folds=folds, run_options=dict(
            device=dev, workers=workers or os.cpu_count() or 1, n_boot=n_boot, report=False,
            progress=False, argv=list(sys.argv)))
        import pandas as pd

        names = [f"seed{s}" for s in run_dirs]
        frames = [pd.read_csv(d / "predictions.csv", keep_default_na=False, na_values=[""])
                  for d in run_dirs.values()]
        groups = list(spec.groups)
    summary, per_run = compare_predictions(names, frames, groups=groups)
    paths = write_outputs(out, summary, per_run, names)
    _print(summary, out, paths)


def _print(summary, out: Path, paths) -> None:
    """Group ``all`` per model and condition, a few short lines each (80 columns; every group
    and figure is in reproducibility.csv)."""
    from audit.reproducibility import wide_table

    wide = wide_table(summary)
    click.echo(f"reproducibility across {int(wide['n_runs'].iloc[0])} runs (group all)")
    for r in wide.itertuples(index=False):
        click.echo(f"{r.model}, {r.condition} ({r.n} utterances)")
        click.echo(f"  WA {r.wa_mean:.2f} +- {r.wa_std:.2f} (range {r.wa_min:.2f}-{r.wa_max:.2f})   "
                   f"UA {r.ua_mean:.2f} +- {r.ua_std:.2f}")
        click.echo(f"  all agree {r.agreement:.1f} %, all right {r.correct_agreement:.1f} %, "
                   f"Fleiss' kappa {r.fleiss_kappa:.2f}")
    click.echo(f"Wrote {', '.join(p.name for p in paths if p.parent == out)} and plots/ in {out}/")
