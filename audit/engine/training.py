"""Training folds as jobs: planned in the driver, run in parallel processes, resumable.

``plan_folds`` decides per fold what to do (skip a finished checkpoint, resume an unfinished
one, train afresh) and refuses conflicting outputs before any training starts;
``run_fold_jobs`` runs the jobs, ``n_jobs`` at a time. Every job reloads the data itself, so a
job is a small picklable description that any executor (processes here, Ray elsewhere) can run
with ``run_fold_job``. Weights do not depend on ``n_jobs``: each job trains with its config's
fixed thread count (see ``model.train.training_threads``).
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.engine._lifeline import exit_with_driver
from audit.errors import AuditError

__all__ = ["FoldJob", "SPLITS", "apply_split", "plan_folds", "run_fold_job", "held_out_scores", "run_fold_jobs", "default_jobs", "training_status"]


@dataclass(frozen=True)
class FoldJob:
    """One fold to train: where the data is, which fold, the config, where to write.

    ``action`` is ``train`` (from scratch), ``resume`` (continue ``<stem>.resume.pt``) or
    ``skip`` (finished checkpoint with this config and data).
    """

    data: str
    fold: int
    train_config: dict
    out_stem: str
    classes: tuple[str, ...]
    manifest_hash: str
    corpus: str | None = None
    n_folds: int | None = None
    skip_bad: bool = False
    action: str = "train"
    evaluate: bool = True
    label: str = ""
    extra_metadata: dict = field(default_factory=dict)
    split: str = "speaker"
    protocol: str | None = None  # default | emobox: whose folds (audit.data.protocol)


SPLITS = ("speaker", "utterance")


def apply_split(df: Any, split: str, seed: int) -> Any:
    """``df`` with the folds of ``split``: ``speaker`` keeps the speaker-independent folds it has,
    ``utterance`` deals each speaker's utterances over as many folds (speaker-dependent, seeded)."""
    from audit.data import assign_utterance_folds

    if split not in SPLITS:
        raise AuditError(f"split {split!r}: expected one of {', '.join(SPLITS)}")
    if split == "speaker":
        return df
    return assign_utterance_folds(df, int(df["fold"].nunique()), seed)


def default_jobs(n_folds: int, threads: int) -> int:
    """Folds in parallel that fill this machine's cores: ``min(folds, cores // threads)``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(n_folds, cores // max(1, threads)))


def _stem_state(stem: Path, train_config: dict, mhash: str, force: bool) -> str:
    from model import resume_path
    from model.checkpoint import checkpoint_matches, read_sidecar

    if force:
        return "train"
    same = checkpoint_matches(stem, train_config, mhash)
    resume = resume_path(stem)
    if resume.is_file():
        if same is False:
            raise AuditError(f"{stem}.safetensors exists with another config or manifest; use --force to "
                             f"overwrite or choose another --out")
        return "resume"  # the resume state's own identity is checked when it is loaded
    if same:
        doc = read_sidecar(stem.with_name(stem.name + ".json"))
        return "train" if doc.get("stopped_early") else "skip"
    if same is False:
        raise AuditError(f"{stem}.safetensors exists with another config or manifest; use --force to "
                         f"overwrite or choose another --out")
    return "train"


def plan_folds(df: Any, *, data: str, folds: list[int], train_config: dict, out: Path,
               corpus: str | None = None, n_folds: int | None = None, skip_bad: bool = False,
               force: bool = False, label: str = "", split: str = "speaker",
               protocol: str | None = None) -> list[FoldJob]:
    """One ``FoldJob`` per fold of ``df`` (a manifest with ``fold``, already through
    ``apply_split`` for ``split``); raises ``AuditError`` for an output that belongs to another
    config (before anything is trained)."""
    from audit.data import manifest_hash

    mhash = manifest_hash(df)
    classes = tuple(sorted(df["emotion"].unique()))
    known = {int(f) for f in df["fold"].unique()}
    unknown = sorted(set(folds) - known)
    if unknown:
        raise AuditError(f"--fold {unknown[0]}: the data has folds {sorted(known)}")
    jobs = []
    for k in folds:
        stem = Path(out) / f"fold{k}"
        action = _stem_state(stem, train_config, mhash, force)
        jobs.append(FoldJob(data=str(data), fold=int(k), train_config=train_config, out_stem=str(stem),
                            classes=classes, manifest_hash=mhash, corpus=corpus, n_folds=n_folds,
                            skip_bad=skip_bad, action=action, label=label, split=split,
                            protocol=protocol))
    return jobs


def min_training_samples(config) -> int:
    """The shortest 16 kHz waveform a training of ``config`` can featurise, after the fastest
    speed perturbation shortens it."""
    import math

    return math.ceil(config.features.min_samples * max([1.0, *config.speed_factors]))


def _load_waveforms(df, problems, skip_bad: bool, natives: list | None = None, min_samples: int = 1):
    """16 kHz waveforms of the manifest rows that load; failures (and files shorter than
    ``min_samples`` at 16 kHz) raise or go to problems. ``natives``, when given, receives
    each kept row's ``(waveform, native rate)``."""
    from audit.data import TARGET_SR, load_audio, resample

    waves, keep = [], []
    for i, row in enumerate(df.itertuples(index=False)):
        try:
            wav, sr = load_audio(row.path)
            wav16 = resample(wav, sr, TARGET_SR)
            if len(wav16) < min_samples:
                raise AuditError(f"{row.path}: {len(wav16)} samples at 16 kHz, too short to train on (the "
                                 f"features need at least {min_samples}); --skip-bad leaves it out")
        except AuditError as exc:
            if not skip_bad:
                raise
            problems.add("train", str(exc), utt_id=row.utt_id, path=str(row.path))
            continue
        waves.append(wav16)
        if natives is not None:
            natives.append((wav, sr))
        keep.append(i)
    return waves, df.iloc[keep].reset_index(drop=True)


def _augment_renderer(config, train_df, natives):
    """The ``render`` of ``config.augment`` (None without one); babble draws its talkers from
    the training rows only."""
    if not config.augment:
        return None
    from audit.engine.augment import AugmentRenderer, parse_augment

    entries = parse_augment(config.augment, config.augment_hold_out)
    contexts = [{"utt_id": str(r.utt_id), "speaker": str(r.speaker)} for r in train_df.itertuples(index=False)]
    return AugmentRenderer(entries, natives, contexts, config.seed, pool=train_df)


def held_out_scores(weights, test_df, problems, skip_bad: bool, classes, device="cpu") -> tuple[float, float, int]:
    """``(WA, UA, n)`` of the checkpoint ``weights`` on the held-out rows ``test_df`` (fp32)."""
    from audit.analysis.metrics import unweighted_accuracy, weighted_accuracy
    from model import load_checkpoint

    predictor = load_checkpoint(weights, device=device)
    waves, test_df = _load_waveforms(test_df, problems, skip_bad, min_samples=predictor.min_samples)
    proba = predictor.predict_proba(waves)
    pred = [classes[i] for i in proba.argmax(axis=1)]
    y = list(test_df["emotion"])
    return weighted_accuracy(y, pred), unweighted_accuracy(y, pred), len(y)


def run_fold_job(job: FoldJob) -> dict:
    """Train (or resume) one fold, then score its held-out speakers in fp32.

    Returns ``{"fold", "action", "weights", "epochs", "test_wa", "test_ua", "n_test",
    "problems": [rows]}``; a skipped job returns its action only.
    """
    from audit.data import ProblemLog, load_data, split_fold
    from audit.engine.trainsplit import balance_cells, choose_validation_speakers, split_validation
    from model import TrainConfig, train_model
    from model.checkpoint import update_sidecar

    if job.action == "skip":
        return {"fold": job.fold, "action": "skip", "weights": f"{job.out_stem}.safetensors"}
    config = TrainConfig.from_dict(job.train_config)
    problems = ProblemLog()
    df = load_data(job.data, corpus=job.corpus, skip_bad=job.skip_bad, problems=problems, n_folds=job.n_folds,
                   protocol=job.protocol)
    df = apply_split(df, job.split, config.seed)
    train_df, test_df = split_fold(df, job.fold, speaker_dependent=job.split == "utterance")
    val_speakers = choose_validation_speakers(train_df, config.val_speakers, config.seed, job.fold) \
        if config.val_speakers else []
    train_df, val_df = split_validation(train_df, val_speakers)
    natives: list | None = [] if config.augment else None
    shortest = min_training_samples(config)
    waves, train_df = _load_waveforms(train_df, problems, job.skip_bad, natives, shortest)
    validation = None
    if val_speakers:
        val_waves, val_df = _load_waveforms(val_df, problems, job.skip_bad, min_samples=shortest)
        validation = (val_waves, list(val_df["emotion"]))
    tag = f"{job.label + ' ' if job.label else ''}fold {job.fold}"
    print(f"{tag}: {'resuming' if job.action == 'resume' else 'training'} {config.model} ({config.aug}) on "
          f"{len(train_df)} utterances, {train_df['speaker'].nunique()} speakers, {config.epochs} epochs"
          + (f"; validating on {', '.join(val_speakers)}" if val_speakers else ""), file=sys.stderr, flush=True)

    def epoch_line(row: dict) -> None:
        val = f" val UA {row['val_ua']:.3f}" if "val_ua" in row else ""
        print(f"{tag}: epoch {row['epoch']}/{config.epochs} loss {row['loss']:.4f} acc {row['train_acc']:.3f}"
              f"{val} {row['seconds']:.1f} s", file=sys.stderr, flush=True)

    metadata = {"fold": job.fold, "training_speakers": sorted(map(str, train_df["speaker"].unique())),
                "test_speakers": sorted(map(str, test_df["speaker"].unique())),
                "manifest_hash": job.manifest_hash, "data_source": str(Path(job.data).resolve()),
                **({"protocol": job.protocol} if job.protocol not in (None, "default") else {}),
                **job.extra_metadata}
    if val_speakers:
        metadata["validation_speakers"] = val_speakers
    if job.split == "utterance":  # speaker-dependent: say so, and which utterances were held out
        metadata.update(split="utterance", test_utterances=sorted(map(str, test_df["utt_id"])))
    weights = train_model(waves, list(train_df["emotion"]), list(job.classes), config,
                          out_stem=Path(job.out_stem), metadata=metadata,
                          resume=job.action == "resume", on_epoch=epoch_line, validation=validation,
                          balance_cells=balance_cells(train_df, config.balance) if config.balance else None,
                          render=_augment_renderer(config, train_df, natives))
    del waves, natives, validation
    doc = json.loads(Path(job.out_stem + ".json").read_text())
    result = {"fold": job.fold, "action": job.action, "weights": str(weights), "epochs": doc["epochs"],
              "epochs_requested": doc["epochs_requested"]}
    if doc.get("validation"):
        result.update(val_ua=doc["validation"]["val_ua"], selected_epoch=doc["validation"]["selected_epoch"])
    if job.evaluate:
        # Held-out score of the final-epoch model (reported, never used to pick a model).
        wa, ua, n = held_out_scores(weights, test_df, problems, job.skip_bad, job.classes, config.device)
        update_sidecar(Path(job.out_stem + ".json"),
                       final_metrics={"test_wa": round(wa, 6), "test_ua": round(ua, 6), "n_test": n})
        result.update(test_wa=wa, test_ua=ua, n_test=n)
    result["problems"] = problems.rows
    return result


def _init_worker(threads: int, driver: int) -> None:
    # Before the first parallel op, so every thread of the pool flushes denormals.
    import torch

    from audit._malloc import keep_freed_memory

    keep_freed_memory()
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    exit_with_driver(driver)


def run_fold_jobs(jobs: list[FoldJob], n_jobs: int = 1, on_result=None) -> list[dict]:
    """Run ``jobs`` (skips return at once), ``n_jobs`` at a time in fresh processes.

    With ``n_jobs == 1`` and one thread per job the jobs run in this process (the same
    arithmetic: one thread, denormals flushed on it). ``on_result(result)`` is called as each
    job ends. Results come back in job order.
    """
    todo = [j for j in jobs if j.action != "skip"]
    results = {j.out_stem: run_fold_job(j) for j in jobs if j.action == "skip"}  # stems are unique
    for r in results.values():
        on_result and on_result(r)
    threads = max([int(j.train_config.get("threads", 1)) for j in todo] or [1])
    if n_jobs <= 1 and threads == 1:
        for job in todo:
            results[job.out_stem] = run_fold_job(job)
            on_result and on_result(results[job.out_stem])
    elif todo:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=max(1, min(n_jobs, len(todo))), mp_context=ctx,
                                 initializer=_init_worker, initargs=(threads, os.getpid())) as pool:
            futures = {pool.submit(run_fold_job, job): job for job in todo}
            for fut, job in futures.items():
                results[job.out_stem] = fut.result()
                on_result and on_result(results[job.out_stem])
    return [results[j.out_stem] for j in jobs]


def training_status(out: Path) -> list[dict]:
    """Per fold found under ``out`` (recursively): model folder, fold, epochs done/requested,
    last loss and accuracy, median seconds per epoch (last 5), estimated seconds left, state."""
    from model import resume_path

    out = Path(out)
    if not out.is_dir():
        raise AuditError(f"{out}: no such training folder")
    rows = []
    for log_path in sorted(out.rglob("*.log.csv")):
        stem = log_path.with_name(log_path.name[: -len(".log.csv")])
        with open(log_path, newline="") as f:
            epochs = list(csv.DictReader(f))
        sidecar = stem.with_name(stem.name + ".json")
        requested = None
        doc = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
        requested = doc.get("epochs_requested")
        unfinished = resume_path(stem).is_file()
        if requested is None and unfinished:
            import torch

            state = torch.load(resume_path(stem), map_location="cpu", weights_only=True)
            requested = json.loads(state["identity"])["train_config"]["epochs"]
        secs = sorted(float(r["seconds"]) for r in epochs[-5:])
        per_epoch = secs[len(secs) // 2] if secs else float("nan")
        done = len(epochs)
        left = (requested - done) * per_epoch if requested is not None else float("nan")
        last = epochs[-1] if epochs else {}
        rows.append({"folder": str(stem.parent.relative_to(out)) if stem.parent != out else ".",
                     "fold": stem.name, "epochs_done": done, "epochs_requested": requested,
                     "loss": float(last["loss"]) if last else float("nan"),
                     "train_acc": float(last["train_acc"]) if last else float("nan"),
                     "s_per_epoch": per_epoch, "eta_s": left,
                     "state": "running/unfinished" if unfinished else ("finished" if doc and not
                                                                     doc.get("stopped_early") else "partial"),
                     "test_wa": (doc.get("final_metrics") or {}).get("test_wa")})
    return rows
