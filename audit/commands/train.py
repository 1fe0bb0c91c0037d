"""``audit train``: train one checkpoint per speaker-independent fold."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["train"]


@click.command("train")
@click.option("--data", "data", default=None, type=click.Path(exists=True, path_type=Path),
              help="Corpus folder or manifest CSV (required unless --status).")
@click.option("--corpus", default=None, help="Corpus layout (default: auto-detect).")
@click.option("--model", "model_name", default="macnn_icasa", show_default=True,
              help="Registered model name (see `audit model list`).")
@click.option("--aug", default="aam", show_default=True,
              type=click.Choice(["none", "aam", "aam_nodiff", "aam_random", "mixup", "aam+mixup"]))
@click.option("--folds", "n_folds", type=int, default=None, help="Number of folds (default: the corpus's own).")
@click.option("--fold", "folds", type=int, multiple=True, help="Fold(s) to train (repeatable; default all).")
@click.option("--protocol", type=click.Choice(["default", "emobox"]), default="default", show_default=True,
              help="Folds: ours, or EmoBox's published ones (RAVDESS, IEMOCAP; docs/protocols.md).")
@click.option("--split", type=click.Choice(["speaker", "utterance"]), default="speaker", show_default=True,
              help="utterance = speaker-DEPENDENT folds (every speaker's utterances dealt over the folds, "
                   "seeded): a diagnostic to compare with papers that split so; such checkpoints are "
                   "refused by audits.")
@click.option("--epochs", type=int, default=60, show_default=True)
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Adam learning rate (the paper's 1e-3).")
@click.option("--lr-step", type=int, default=None, help="Divide lr by 10 every N epochs (default: constant).")
@click.option("--standardize/--no-standardize", default=False, show_default=True,
              help="Per-coefficient MFCC standardisation fitted on the training fold (IFN: always on).")
@click.option("--ssl-model", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Local pre-trained speech model folder for the ssl stream (ifn_ssl; never downloaded).")
@click.option("--aam-threshold", type=float, default=0.7, show_default=True)
@click.option("--aam-alpha", type=float, default=2.0, show_default=True)
@click.option("--aam-similarity", type=click.Choice(["raw", "standardized"]), default="raw", show_default=True)
@click.option("--bn-recalibrate", is_flag=True,
              help="Exact BatchNorm statistics over the training set after the last epoch.")
@click.option("--time-budget", "time_budget_min", type=float, default=None,
              help="Minutes per fold and call: stop before an epoch that would overrun (saved; rerun to resume).")
@click.option("--precision", default="auto", show_default=True, type=click.Choice(["auto", "fp32", "bf16"]),
              help="auto = bf16 autocast where the CPU has native bf16 (fp16 AMP on CUDA), else fp32.")
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
def train(ctx, data, corpus, model_name, aug, n_folds, folds, protocol, split, epochs, batch_size, lr, lr_step, standardize,
          ssl_model, aam_threshold, aam_alpha, aam_similarity, bn_recalibrate, time_budget_min, precision,
          threads, jobs, executor, address, status_dir, device, seed, skip_bad, force, out):
    """Train MODEL on each fold; write OUT/fold{k}.safetensors, .json and .log.csv.

    Resumable: after every epoch OUT/fold{k}.resume.pt is written; rerunning the same command
    continues unfinished folds from their last finished epoch and skips finished ones.
    """
    from audit.data import ProblemLog, load_data
    from audit.engine.training import apply_split, default_jobs, plan_folds, run_fold_jobs, training_status
    from model import AAMConfig, FeatureConfig, TrainConfig
    from model.precision import resolve_precision
    from model.predict import resolve_device

    if status_dir is not None:
        _print_status(training_status(status_dir))
        return
    if data is None or out is None:
        raise click.UsageError("--data and --out are required (or --status OUT)")
    obj = ctx.obj or {}
    seed = seed if seed is not None else (obj.get("seed") if obj.get("seed") is not None else 987654)
    from model.smile import is_smile_model

    if is_smile_model(model_name):  # the openSMILE baselines: their own trainer (seconds per fold)
        _train_smile(data, model_name, out, folds, seed, protocol, corpus, n_folds, skip_bad, force, jobs)
        return
    device = device or obj.get("device") or "auto"
    config = TrainConfig(
        model=model_name, aug=aug, epochs=epochs, batch_size=batch_size, lr=lr, lr_step_epochs=lr_step,
        seed=seed, device=device, precision=precision, threads=threads, bn_recalibrate=bn_recalibrate,
        time_budget_s=None if time_budget_min is None else 60.0 * time_budget_min,
        features=FeatureConfig(standardize=standardize,
                               ssl_model=str(ssl_model.resolve()) if ssl_model else None),
        aam=AAMConfig(threshold=aam_threshold, alpha=aam_alpha, similarity=aam_similarity),
    )
    resolved = resolve_precision(precision, resolve_device(device))  # refuse emulated bf16 up front
    problems = ProblemLog()
    df = apply_split(load_data(data, corpus=corpus, skip_bad=skip_bad, problems=problems, n_folds=n_folds,
                               protocol=protocol), split, seed)
    todo = list(folds) or sorted(int(f) for f in df["fold"].unique())
    out.mkdir(parents=True, exist_ok=True)
    plan = plan_folds(df, data=str(data), folds=todo, train_config=config.to_dict(), out=out, corpus=corpus,
                      n_folds=n_folds, skip_bad=skip_bad, force=force, split=split, protocol=protocol)
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
            click.echo(f"fold {r['fold']}: held-out WA {100 * r['test_wa']:.2f} %  UA {100 * r['test_ua']:.2f} %  "
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
