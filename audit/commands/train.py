"""``audit train``: train one checkpoint per speaker-independent fold."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["train"]


def _load_waveforms(df, problems, skip_bad: bool):
    """16 kHz waveforms of the manifest rows that load; failures raise or go to problems."""
    from audit.data import TARGET_SR, load_audio, resample
    from audit.errors import AuditError

    waves, keep = [], []
    for i, row in enumerate(df.itertuples(index=False)):
        try:
            wav, sr = load_audio(row.path)
        except AuditError as exc:
            if not skip_bad:
                raise
            problems.add("train", str(exc), utt_id=row.utt_id, path=str(row.path))
            continue
        waves.append(resample(wav, sr, TARGET_SR))
        keep.append(i)
    return waves, df.iloc[keep].reset_index(drop=True)


@click.command("train")
@click.option("--data", "data", required=True, type=click.Path(exists=True, path_type=Path),
              help="Corpus folder or manifest CSV.")
@click.option("--corpus", default=None, help="Corpus layout (default: auto-detect).")
@click.option("--model", "model_name", default="macnn_icasa", show_default=True,
              help="Registered model name (see `audit model list`).")
@click.option("--aug", default="aam", show_default=True,
              type=click.Choice(["none", "aam", "aam_nodiff", "aam_random", "mixup", "aam+mixup"]))
@click.option("--folds", "n_folds", type=int, default=None, help="Number of folds (default: the corpus's own).")
@click.option("--fold", "folds", type=int, multiple=True, help="Fold(s) to train (repeatable; default all).")
@click.option("--epochs", type=int, default=60, show_default=True)
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--lr-step", type=int, default=None, help="Divide lr by 10 every N epochs (default: constant).")
@click.option("--standardize/--no-standardize", default=False, show_default=True,
              help="Per-coefficient MFCC standardisation fitted on the training fold.")
@click.option("--aam-threshold", type=float, default=0.7, show_default=True)
@click.option("--aam-alpha", type=float, default=2.0, show_default=True)
@click.option("--aam-similarity", type=click.Choice(["raw", "standardized"]), default="raw", show_default=True)
@click.option("--bn-recalibrate", is_flag=True,
              help="Exact BatchNorm statistics over the training set after the last epoch.")
@click.option("--time-budget", "time_budget_min", type=float, default=None,
              help="Minutes per fold: stop before an epoch that would overrun (last epoch kept).")
@click.option("--amp", is_flag=True, help="Mixed precision (CUDA only).")
@click.option("--device", default=None, help="auto | cpu | cuda | cuda:N (default: the root --device).")
@click.option("--seed", type=int, default=None, help="Seed (default: root --seed, else 987654).")
@click.option("--skip-bad", is_flag=True, help="Skip unreadable files (recorded in OUT/problems.csv).")
@click.option("--force", is_flag=True, help="Retrain folds whose checkpoint already exists.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def train(ctx, data, corpus, model_name, aug, n_folds, folds, epochs, batch_size, lr_step, standardize,
          aam_threshold, aam_alpha, aam_similarity, bn_recalibrate, time_budget_min, amp, device, seed,
          skip_bad, force, out):
    """Train MODEL on each fold; write OUT/fold{k}.safetensors, .json and .log.csv."""
    from audit.data import ProblemLog, load_data, manifest_hash, split_fold
    from audit.errors import AuditError
    from audit.analysis.metrics import unweighted_accuracy, weighted_accuracy
    from model import AAMConfig, FeatureConfig, TrainConfig, load_checkpoint, train_model
    from model.checkpoint import checkpoint_matches, update_sidecar

    obj = ctx.obj or {}
    seed = seed if seed is not None else (obj.get("seed") if obj.get("seed") is not None else 987654)
    device = device or obj.get("device") or "auto"
    config = TrainConfig(
        model=model_name, aug=aug, epochs=epochs, batch_size=batch_size, lr_step_epochs=lr_step,
        seed=seed, device=device, amp=amp, bn_recalibrate=bn_recalibrate,
        time_budget_s=None if time_budget_min is None else 60.0 * time_budget_min,
        features=FeatureConfig(standardize=standardize),
        aam=AAMConfig(threshold=aam_threshold, alpha=aam_alpha, similarity=aam_similarity),
    )
    problems = ProblemLog()
    df = load_data(data, corpus=corpus, skip_bad=skip_bad, problems=problems, n_folds=n_folds)
    mhash = manifest_hash(df)
    classes = sorted(df["emotion"].unique())
    todo = list(folds) or sorted(int(f) for f in df["fold"].unique())
    out.mkdir(parents=True, exist_ok=True)
    for k in todo:
        stem = out / f"fold{k}"
        same = checkpoint_matches(stem, config.to_dict(), mhash)
        if same and not force:
            click.echo(f"fold {k}: {stem}.safetensors exists with the same config; skipped (--force retrains)")
            continue
        if same is False and not force:
            raise AuditError(f"{stem}.safetensors exists with another config or manifest; "
                             f"use --force to overwrite or choose another --out")
        train_df, test_df = split_fold(df, k)
        train_wavs, train_df = _load_waveforms(train_df, problems, skip_bad)
        click.echo(f"fold {k}: training {model_name} ({aug}) on {len(train_df)} utterances, "
                   f"{train_df['speaker'].nunique()} speakers, {epochs} epochs", err=True)
        weights = train_model(
            train_wavs, list(train_df["emotion"]), classes, config, out_stem=stem,
            metadata={"fold": int(k), "training_speakers": sorted(map(str, train_df["speaker"].unique())),
                      "test_speakers": sorted(map(str, test_df["speaker"].unique())),
                      "manifest_hash": mhash, "data_source": str(Path(data).resolve())},
        )
        del train_wavs
        # Held-out score of the final-epoch model (reported, never used to pick a model).
        test_wavs, test_df = _load_waveforms(test_df, problems, skip_bad)
        proba = load_checkpoint(weights, device=device).predict_proba(test_wavs)
        pred = [classes[i] for i in proba.argmax(axis=1)]
        y = list(test_df["emotion"])
        wa, ua = weighted_accuracy(y, pred), unweighted_accuracy(y, pred)
        update_sidecar(stem.with_name(stem.name + ".json"),
                       final_metrics={"test_wa": round(wa, 6), "test_ua": round(ua, 6), "n_test": len(y)})
        click.echo(f"fold {k}: held-out WA {100 * wa:.2f} %  UA {100 * ua:.2f} %  "
                   f"({len(y)} utterances) -> {weights}")
    if problems.rows:
        problems.write(out / "problems.csv")
        click.echo(f"{len(problems.rows)} problem(s) recorded in {out / 'problems.csv'}", err=True)
