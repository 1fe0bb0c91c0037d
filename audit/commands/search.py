"""``audit search``: choose a training recipe on validation speakers only."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["search"]


@click.command("search")
@click.option("--data", required=True, type=click.Path(exists=True, path_type=Path),
              help="Corpus folder or manifest CSV.")
@click.option("--grid", "grid_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Recipe grid (TOML; e.g. scenarios/search/ravdess_recipes.toml).")
@click.option("--corpus", default=None, help="Corpus layout (default: auto-detect).")
@click.option("--folds", "n_folds", type=int, default=None, help="Number of folds (default: the corpus's own).")
@click.option("--only", multiple=True, help="Train only these candidates (repeatable); the tables list all finished.")
@click.option("--jobs", type=int, default=None, help="Trainings at once (default: the cores).")
@click.option("--seed", type=int, default=None, help="Seed (default: root --seed, else 987654).")
@click.option("--device", default=None, help="auto | cpu | cuda | cuda:N (default: the root --device).")
@click.option("--tables-only", is_flag=True, help="Rewrite the tables from the finished trainings; train nothing.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def search(ctx, data, grid_path, corpus, n_folds, only, jobs, seed, device, tables_only, out):
    """Train every candidate of GRID on the training side of the grid's folds, choose each
    one's epoch and score it on validation speakers held out of those training speakers (the
    test speakers are never loaded), and write OUT/search.csv and OUT/search_summary.csv.

    Resumable: a rerun skips finished trainings and resumes unfinished ones.
    """
    from audit.data import ProblemLog, load_data
    from audit.engine.search import load_grid, plan_search, write_search_tables
    from audit.engine.training import default_jobs, run_fold_jobs

    obj = ctx.obj or {}
    seed = seed if seed is not None else (obj.get("seed") if obj.get("seed") is not None else 987654)
    device = device or obj.get("device") or "auto"
    grid = load_grid(grid_path)
    unknown = sorted(set(only) - {c.name for c in grid.candidate})
    if unknown:
        raise click.BadParameter(f"--only {unknown[0]}: not a candidate of {grid_path}")
    if not tables_only:
        df = load_data(data, corpus=corpus, problems=ProblemLog(), n_folds=n_folds)
        plan = plan_search(grid, df, data=str(data), out=out, seed=seed, device=device, corpus=corpus,
                           n_folds=n_folds, path=str(grid_path))
        plan = [j for j in plan if not only or j.label in only]
        n_run = sum(j.action != "skip" for j in plan)
        jobs = jobs if jobs is not None else default_jobs(max(1, n_run), 1)
        click.echo(f"{grid.name}: {len(grid.candidate)} candidate(s) x folds {grid.folds}: {n_run} training(s) to "
                   f"run, {jobs} at a time", err=True)

        def report(r: dict) -> None:
            if "val_ua" in r:
                click.echo(f"{Path(r['weights']).parent.name} fold {r['fold']}: validation UA "
                           f"{100 * r['val_ua']:.2f} % (epoch {r['selected_epoch']})")
            try:
                write_search_tables(grid, out)
            except Exception:  # noqa: BLE001  (the tables are rewritten at the end anyway)
                pass

        run_fold_jobs(plan, jobs, on_result=report)
    per_fold, summary = write_search_tables(grid, out)
    click.echo(f"Search tables: {per_fold} and {summary}")
