"""``audit train``: train one checkpoint per speaker-independent fold."""

from __future__ import annotations

from pathlib import Path

import click

from audit.commands._recipe_options import recipe_given, recipe_options

__all__ = ["train"]


@click.command("train")
@click.option("--data", "data", default=None, type=click.Path(exists=True, path_type=Path),
              help="Corpus folder or manifest CSV (required unless --status).")
@click.option("--corpus", default=None, help="Corpus layout (default: auto-detect).")
@recipe_options
@click.option("--folds", "n_folds", type=int, default=None, help="Number of folds (default: the corpus's own).")
@click.option("--fold", "folds", type=int, multiple=True, help="Fold(s) to train (repeatable; default all).")
@click.option("--protocol", type=click.Choice(["default", "emobox"]), default="default", show_default=True,
              help="Folds: ours, or EmoBox's published ones (RAVDESS, IEMOCAP; docs/protocols.md).")
@click.option("--split", type=click.Choice(["speaker", "utterance"]), default="speaker", show_default=True,
              help="utterance = speaker-DEPENDENT folds (every speaker's utterances dealt over the folds, "
                   "seeded): a diagnostic to compare with papers that split so; such checkpoints are "
                   "refused by audits.")
@click.option("--ssl-model", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Local pre-trained speech model folder for the ssl stream (ifn_ssl; never downloaded).")
@click.option("--seeds", "n_seeds", type=int, default=1, show_default=True,
              help="K > 1: train seeds SEED..SEED+K-1 into OUT/seed<s>/ and write OUT/fold<k>.json "
                   "ensembles that average their members' probabilities.")
@click.option("--time-budget", "time_budget_min", type=float, default=None,
              help="Minutes per fold and call: stop before an epoch that would overrun (saved; rerun to resume).")
@click.option("--threads", type=int, default=1, show_default=True,
              help="Torch threads per fold (recorded: weights depend on it; use --jobs for more cores).")
@click.option("--jobs", type=int, default=None,
              help="Folds trained at once in separate processes (default: cores // threads).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="ray: one Ray task per fold (checkpoints where a local run writes them).")
@click.option("--address", default=None,
              help="Ray cluster: auto | HOST:PORT (default: a new local one with jobs x threads CPUs).")
@click.option("--status", "status_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Print per fold of this folder: epochs done, last loss/acc, s/epoch, time left; no training.")
@click.option("--device", default=None, help="auto | cpu | cuda | cuda:N (default: the root --device).")
@click.option("--seed", type=int, default=None, help="Seed (default: root --seed, else 987654).")
@click.option("--skip-bad", is_flag=True, help="Skip unreadable files (recorded in OUT/problems.csv).")
@click.option("--force", is_flag=True, help="Retrain folds whose checkpoint already exists.")
@click.option("--out", default=None, type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def train(ctx, data, corpus, n_folds, folds, protocol, split, ssl_model, n_seeds, time_budget_min, threads, jobs, executor,
          address, status_dir, device, seed, skip_bad, force, out, **options):
    """Train a model on each fold; write OUT/fold{k}.safetensors, .json and .log.csv.

    --recipe paper (default) is the paper's protocol; --recipe tuned the recipe chosen on
    validation speakers (docs/model.md, "Recipes"); any option given overrides its recipe.
    Resumable: after every epoch OUT/fold{k}.resume.pt is written; rerunning the same command
    continues unfinished folds from their last finished epoch and skips finished ones.
    """
    from audit.data import ProblemLog, load_data
    from audit.engine.training import apply_split, default_jobs, plan_folds, run_fold_jobs, training_status
    from audit.engine.ensembles import plan_seeds, write_ensembles
    from model.precision import resolve_precision
    from model.predict import resolve_device
    from model.recipes import build_config

    if status_dir is not None:
        _print_status(training_status(status_dir))
        return
    if data is None or out is None:
        raise click.UsageError("--data and --out are required (or --status OUT)")
    if n_seeds < 1:
        raise click.BadParameter(f"--seeds {n_seeds}: must be >= 1")
    obj = ctx.obj or {}
    seed = seed if seed is not None else (obj.get("seed") if obj.get("seed") is not None else 987654)
    from model.smile import is_smile_model

    if options.get("model") and is_smile_model(options["model"]):  # openSMILE baselines: seconds per fold
        _train_smile(data, options["model"], out, folds, seed, protocol, corpus, n_folds, skip_bad, force, jobs)
        return
    device = device or obj.get("device") or "auto"
    recipe, given = recipe_given(options)
    config = build_config(recipe, **given, seed=seed, device=device, threads=threads,
                          time_budget_s=None if time_budget_min is None else 60.0 * time_budget_min,
                          ssl_model=str(ssl_model.resolve()) if ssl_model else None)
    precision, model_name, aug = config.precision, config.model, config.aug
    resolved = resolve_precision(precision, resolve_device(device))  # refuse emulated bf16 up front
    problems = ProblemLog()
    df = apply_split(load_data(data, corpus=corpus, skip_bad=skip_bad, problems=problems, n_folds=n_folds,
                               protocol=protocol), split, seed)
    todo = list(folds) or sorted(int(f) for f in df["fold"].unique())
    out.mkdir(parents=True, exist_ok=True)
    plan = []
    for member_config, member_out in plan_seeds(config, out, n_seeds):
        plan += plan_folds(df, data=str(data), folds=todo, train_config=member_config.to_dict(), out=member_out,
                           corpus=corpus, n_folds=n_folds, skip_bad=skip_bad, force=force, split=split,
                           label=f"seed {member_config.seed}" if n_seeds > 1 else "", protocol=protocol)
    n_run = sum(j.action != "skip" for j in plan)
    jobs = jobs if jobs is not None else default_jobs(n_run, threads)
    if jobs < 1:
        raise click.BadParameter(f"--jobs {jobs}: must be >= 1")
    if n_run:
        click.echo(f"{model_name} ({aug}): {n_run} fold(s) to train, {jobs} at a time, {threads} thread(s) "
                   f"each, precision {resolved}", err=True)
        if split == "utterance":
            click.echo("speaker-dependent split: every speaker is in training and test; the held-out "
                       "scores do not estimate new speakers", err=True)

    def report(r: dict) -> None:
        if r["action"] == "skip":
            click.echo(f"fold {r['fold']}: {r['weights']} exists with the same config; skipped (--force retrains)")
        elif "test_wa" in r:
            val = f"validation UA {100 * r['val_ua']:.2f} % (epoch {r['selected_epoch']}); " if "val_ua" in r else ""
            click.echo(f"fold {r['fold']}: {val}held-out WA {100 * r['test_wa']:.2f} %  UA {100 * r['test_ua']:.2f} %  "
                       f"({r['n_test']} utterances, {r['epochs']}/{r['epochs_requested']} epochs) -> {r['weights']}")
        for row in r.get("problems", []):
            problems.add(row["stage"], row["problem"], utt_id=row["utt_id"], path=row["path"])

    if executor == "ray":
        from audit.engine.ray_executor import RayExecutor
        from audit.engine.ray_training import run_fold_jobs_ray

        with RayExecutor(address, num_cpus=jobs * threads, log_to_driver=True) as cluster:
            run_fold_jobs_ray(plan, cluster, on_result=report)
    else:
        run_fold_jobs(plan, jobs, on_result=report)
    if n_seeds > 1:
        written, unfinished = write_ensembles(out, [m for _, m in plan_seeds(config, out, n_seeds)], todo)
        for path in written:
            click.echo(f"ensemble of {n_seeds} seeds -> {path}")
        if unfinished:
            click.echo(f"fold(s) {unfinished}: a member stopped early (time budget); rerun to finish, then the "
                       f"ensemble is written", err=True)
    if len(problems):
        problems.write(out / "problems.csv")
        click.echo(f"{len(problems)} problem(s) recorded in {out / 'problems.csv'}", err=True)


def _train_smile(data, model_name, out, folds, seed, protocol, corpus, n_folds, skip_bad, force, jobs) -> None:
    from audit.data import ProblemLog
    from audit.engine.smile_training import default_smile_jobs, train_smile

    problems = ProblemLog()
    echo = lambda line: click.echo(line, err=True)  # noqa: E731
    for r in train_smile(str(data), model_name, out, folds=list(folds) or None, seed=seed, protocol=protocol,
                         corpus=corpus, n_folds=n_folds, skip_bad=skip_bad, force=force,
                         jobs=jobs or default_smile_jobs(), problems=problems, echo=echo):
        if r["action"] == "skip":
            click.echo(f"fold {r['fold']}: {r['weights']} exists with the same config; skipped (--force retrains)")
        else:
            click.echo(f"fold {r['fold']}: held-out WA {100 * r['test_wa']:.2f} %  UA {100 * r['test_ua']:.2f} %  "
                       f"({r['n_test']} utterances, C={r['C']:g}, fit {r['fit_s']:.1f} s) -> {r['weights']}")
    if len(problems):
        problems.write(Path(out) / "problems.csv")
        click.echo(f"{len(problems)} problem(s) recorded in {Path(out) / 'problems.csv'}", err=True)


def _print_status(rows: list[dict]) -> None:
    if not rows:
        click.echo("no training logs found")
        return
    click.echo(f"{'folder':<24} {'fold':<8} {'epochs':>9} {'loss':>8} {'acc':>6} {'s/epoch':>8} {'left':>9}  state")
    for r in rows:
        req = "?" if r["epochs_requested"] is None else r["epochs_requested"]
        eta = r["eta_s"]
        left = "-" if eta != eta else (f"{eta / 3600:.1f} h" if eta >= 3600 else f"{eta / 60:.0f} min")
        click.echo(f"{r['folder']:<24} {r['fold']:<8} {str(r['epochs_done']) + '/' + str(req):>9} "
                   f"{r['loss']:>8.4f} {r['train_acc']:>6.3f} {r['s_per_epoch']:>8.1f} {left:>9}  {r['state']}")
