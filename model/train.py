"""The trainer: one fold, deterministic, resumable, logged per epoch; the last epoch's model
(the paper) or the best on validation speakers.

``train_model`` reads top to bottom in stages: check the inputs and load any resume state;
build the data (training segments per epoch, validation segments) and the network with its
optimiser; run the epochs (train, validate, keep the best, save the resume state, log); pick
the weights to save; write the checkpoint and its sidecar.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from model._epoch import batchnorm_buffers, epoch_betas, recalibrate_batchnorm, train_epoch
from model._progress import progress_bar
from model._resume import (load_resume, remove_stale_temps, resume_path, rng_state, run_identity, save_resume,
                           set_rng_state)
from model._schedule import build_optimizer, build_scheduler
from model._seed import deterministic, seeded_global, seeded_init
from model._trainset import Render, TrainingSet
from model._validation import ValidationSet
from model.checkpoint import _atomic_write_bytes, git_commit, package_versions, save_checkpoint
from model.errors import ModelError
from model.features import FeatureConfig, FeatureStats, fit_stats
from model.precision import cpu_capability, cpu_name, resolve_precision
from model.predict import resolve_device
from model.registry import create_model, model_config
from model.streams import StreamExtractor, network_features
from model.train_config import AUGMENTATIONS, TrainConfig

__all__ = ["AUGMENTATIONS", "TrainConfig", "train_model", "train_epoch", "build_training_set",
           "recalibrate_batchnorm", "training_threads"]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def training_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads and denormals flushed to zero.

    Weights depend on the thread count (reduction order), so training fixes it. Denormal
    floats appear as weights train and slow fp32 kernels several-fold; flushing them changes
    values only below 1e-38. ``set_flush_denormal`` acts on the calling thread and threads
    created after it: with ``threads > 1`` call this first in a fresh process (``audit train``
    runs every fold in one) so the worker pool inherits it. Both are restored afterwards.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(previous)


def build_training_set(waveforms: Sequence[np.ndarray], label_idx: Sequence[int], features: FeatureConfig, *,
                       stats: FeatureStats | None = None,
                       device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Training segments ``(N, 1, n_features, 200)`` float32 and their labels ``(N,)`` long
    (train stride; every segment carries its utterance's label). ``features.streams`` picks the
    rows: 39 MFCC for MACNN, the stacked IFN streams otherwise."""
    return TrainingSet(waveforms, label_idx, features, TrainConfig(), stats=stats, device=device).clean()


def _check_inputs(waveforms, labels, classes, what: str = "training") -> list[int]:
    if len(waveforms) != len(labels):
        raise ModelError(f"{len(waveforms)} waveforms but {len(labels)} labels"
                         + ("" if what == "training" else f" ({what})"))
    if not waveforms:
        raise ModelError(f"no {what} utterances")
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ModelError(f"classes={list(classes)}: need at least 2 distinct class names")
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({str(lab) for lab in labels} - set(index))
    if unknown:
        raise ModelError(f"{what} labels {unknown} are not in classes {list(classes)}")
    return [index[lab] for lab in labels]


def _write_log(path: Path, rows: list[dict]) -> None:
    """The per-epoch log as CSV, rewritten whole (atomically) after every epoch; columns in
    first-seen order with ``seconds`` last (a condition absent from an epoch is blank)."""
    columns = list(dict.fromkeys(k for r in rows for k in r if k != "seconds")) + ["seconds"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    _atomic_write_bytes(path, lambda tmp: Path(tmp).write_text(buf.getvalue()))


@dataclass
class _Best:
    """The best validated epoch so far: its number, validation UA and weights (BatchNorm
    statistics as they were validated), and epochs since it."""

    epoch: int = 0
    val_ua: float = -1.0
    state: dict | None = None
    since: int = 0

    def to_state(self) -> dict:
        return {"epoch": self.epoch, "val_ua": self.val_ua, "state": self.state, "since": self.since}


@dataclass
class _Run:
    """What the epochs share: network, optimiser, schedule, scaler, the log rows so far."""

    model: torch.nn.Module
    opt: torch.optim.Optimizer
    sched: object
    scaler: torch.amp.GradScaler
    rows: list[dict] = field(default_factory=list)
    previous_s: float = 0.0
    best: _Best = field(default_factory=_Best)
    done_early: bool = False


def _build(config: TrainConfig, n_classes: int, sizing: dict, device, precision: str, state: dict | None) -> _Run:
    with seeded_init(config.seed):
        model = create_model(config.model, n_classes, **{**config.model_overrides, **sizing})
    model.to(device)
    opt = build_optimizer(model, config)
    run = _Run(model, opt, build_scheduler(opt, config), torch.amp.GradScaler(device.type, enabled=precision == "fp16"))
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if run.sched is not None:
            run.sched.load_state_dict(state["scheduler"])
        run.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        run.rows, run.previous_s = list(state["rows"]), float(state["elapsed_s"])
        if state.get("best"):
            run.best = _Best(**state["best"])
        run.done_early = bool(state.get("done_early", False))
    return run


def _validate(run: _Run, vset: ValidationSet, x_clean: torch.Tensor, config: TrainConfig, epoch: int) -> dict:
    """Score the validation speakers after ``epoch`` (1-based) and keep the best weights.

    With ``bn_recalibrate`` the BatchNorm statistics are made exact over the clean training
    segments first (so what is scored is what would be saved); the running averages are put
    back afterwards and global random state is untouched, so validating does not change the
    training itself."""
    running = batchnorm_buffers(run.model)
    if config.bn_recalibrate:
        with torch.random.fork_rng(devices=[]):
            recalibrate_batchnorm(run.model, x_clean, max(config.batch_size, 64))
    metrics = vset.evaluate(run.model)
    if metrics["val_ua"] > run.best.val_ua:
        state = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
        run.best = _Best(epoch, metrics["val_ua"], state, 0)
    else:
        run.best.since += 1
    run.model.load_state_dict(running, strict=False)
    return {k: round(v, 6) for k, v in metrics.items()}


def _final_weights(run: _Run, config: TrainConfig, x_clean: torch.Tensor) -> int:
    """Load the weights to save into ``run.model``; returns the epoch they come from."""
    if config.select == "best" and run.best.state is not None:
        run.model.load_state_dict(run.best.state)
        return run.best.epoch
    if config.bn_recalibrate:
        recalibrate_batchnorm(run.model, x_clean, max(config.batch_size, 64))
    return int(run.rows[-1]["epoch"])


def train_model(
    waveforms: Sequence[np.ndarray],
    labels: Sequence[str],
    classes: Sequence[str],
    config: TrainConfig | None = None,
    *,
    out_stem: Path,
    metadata: dict | None = None,
    resume: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
    on_step: Callable[[int, int], None] | None = None,
    validation: tuple[Sequence[np.ndarray], Sequence[str]] | None = None,
    balance_cells: Sequence[int] | None = None,
    render: Render | None = None,
) -> Path:
    """Train one model and write ``<out_stem>.safetensors``, ``.json`` and ``.log.csv``.

    ``waveforms``: each ``(time,)`` float at 16 kHz; ``labels``: one class name per waveform;
    ``classes``: the output order. ``metadata`` (fold, training_speakers, manifest_hash,
    data_source, ...) goes into the sidecar. ``validation``: ``(waveforms, labels)`` of held-out
    training speakers, scored after every epoch (needed by ``config.select == "best"`` and
    ``config.patience``). ``balance_cells``: per training utterance its (group, class) cell
    (``config.balance``): every cell then weighs the same in the loss. ``render(i, epoch)``: utterance ``i``'s perturbed waveform for that
    epoch, or None for clean (multi-condition training; ``model._trainset.Render``). Returns
    the weights path.

    After every epoch ``<out_stem>.resume.pt`` is written atomically; with ``resume`` (default)
    a call that finds one made by the same config and data continues after its last finished
    epoch, and the final weights are byte-identical to an uninterrupted run. The resume state
    is deleted when the training is over. ``on_epoch(row)`` gets each epoch's log row;
    ``on_step(epoch, step)`` is called after each optimiser step (both for progress display).
    """
    config = config or TrainConfig()
    metadata = dict(metadata or {})
    label_idx = _check_inputs(waveforms, labels, classes)
    if (config.select == "best" or config.patience) and validation is None:
        raise ModelError(f"select={config.select!r}, patience={config.patience}: needs validation data")
    val_idx = _check_inputs(*validation, classes, "validation") if validation is not None else None
    if (balance_cells is None) != (config.balance is None):
        raise ModelError(f"balance={config.balance!r}: balance_cells must be given exactly when balancing")
    if balance_cells is not None and len(balance_cells) != len(waveforms):
        raise ModelError(f"{len(balance_cells)} balance cells for {len(waveforms)} waveforms")
    if bool(config.augment) != (render is not None):
        raise ModelError(f"augment={config.augment!r}: a renderer must be given exactly when the config "
                         f"names an augmentation")
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    state_path = resume_path(out_stem)
    for stale in remove_stale_temps(out_stem):
        log.info("%s: removed %s, left by a writer that was killed", out_stem.name, stale.name)
    identity = run_identity(config.to_dict(), metadata, precision)
    state = load_resume(state_path, identity) if resume and state_path.is_file() else None
    t0 = time.perf_counter()
    # The code that trains is the code imported now: a later commit must not be credited with it.
    commits = [*(state.get("git_commits", []) if state else []), git_commit()]
    # Where each resumed piece ran: weights trained on two kinds of CPU reproduce on neither.
    pieces = [*(state.get("pieces", []) if state else []),
              {"from_epoch": len(state["rows"]) + 1 if state else 1, "git_commit": commits[-1],
               "cpu": cpu_name(), "cpu_capability": cpu_capability()}]
    # The streams the network reads (IFN: its own, standardised) and the sizes they give it.
    features, sizing = network_features(config.features, model_config(config.model, len(classes),
                                        **config.model_overrides), name=config.model)
    # seeded_global: dropout (IFN) draws from torch's global generator.
    with training_threads(config.threads), deterministic(), seeded_global(config.seed, "train", device=device):
        stats = fit_stats(waveforms, StreamExtractor(features).to(device), device=device) \
            if features.standardize else None
        data = TrainingSet(waveforms, label_idx, features, config, stats=stats, device=device,
                           cells=balance_cells, render=render)
        x_clean, _ = data.clean()
        vset = ValidationSet(validation[0], val_idx, features, stats=stats, device=device) if validation else None
        run = _build(config, len(classes), sizing, device, precision, state)
        if state is not None:
            log.info("%s: resuming after epoch %d of %d", out_stem.name, len(run.rows), config.epochs)
        log_path = out_stem.with_name(out_stem.name + ".log.csv")
        _epochs(run, data, vset, x_clean, config, device, precision, stats, identity, commits, pieces,
                state_path, log_path, t0, on_epoch, on_step, out_stem.name)
        selected = _final_weights(run, config, x_clean)
    row = run.rows[-1]
    done = row["epoch"] >= config.epochs or run.done_early
    sidecar = _sidecar(config, classes, features, stats, metadata, run, selected, done, len(waveforms),
                       int(x_clean.shape[0]), device, precision, commits, pieces, t0,
                       len(validation[0]) if validation else 0)
    weights = save_checkpoint(out_stem, run.model, sidecar)
    if done:
        state_path.unlink(missing_ok=True)
    return weights


def _epochs(run, data, vset, x_clean, config, device, precision, stats, identity, commits, pieces,
            state_path, log_path, t0, on_epoch, on_step, label) -> None:
    """The epoch loop: train, validate, log, save the resume state; stops at the last epoch,
    at the time budget (resumable) or when ``config.patience`` epochs bring no better UA."""
    aam_cfg = config.effective_aam()
    steps = -(-x_clean.shape[0] // config.batch_size)
    show = config.progress if config.progress is not None else sys.stderr.isatty()
    slowest = max([0.0, *(float(r["seconds"]) for r in run.rows)])
    first = len(run.rows)
    with progress_bar(show, (config.epochs - first) * steps, label) as bar:
        for epoch in range(first, config.epochs):
            if run.done_early:
                break
            over = time.perf_counter() - t0 + slowest > (config.time_budget_s or float("inf"))
            if epoch > first and over:  # each call runs at least one epoch
                log.warning("time budget %.0f s reached: stopping after %d of %d epochs (resumable)",
                            config.time_budget_s, epoch, config.epochs)
                break
            t_epoch = time.perf_counter()
            lr = run.opt.param_groups[0]["lr"]
            counter = iter(range(steps))

            def step_done(loss, acc, _epoch=epoch):
                bar.step(loss, acc)
                if on_step is not None:
                    on_step(_epoch, next(counter))

            ep = data.epoch(epoch)
            loss, acc, rate = train_epoch(run.model, run.opt, run.scaler, ep.x, ep.y, config, aam_cfg, epoch,
                                          device, precision, step_done, stats=stats, weight=ep.weight,
                                          masks=ep.masks)
            if run.sched is not None:
                run.sched.step()
            row = {"epoch": epoch + 1, "lr": lr, "loss": round(loss, 6), "train_acc": round(acc, 6),
                   "aam_pass_rate": "" if np.isnan(rate) else round(rate, 6),
                   **{k: round(v, 6) for k, v in epoch_betas(run.model).items()},
                   **{f"rate_{k}": round(v, 6) for k, v in ep.stats.items()}}
            if vset is not None:
                row.update(_validate(run, vset, x_clean, config, epoch + 1))
                run.done_early = config.patience is not None and run.best.since >= config.patience
            row["seconds"] = round(time.perf_counter() - t_epoch, 3)
            slowest = max(slowest, row["seconds"])
            run.rows.append(row)
            save_resume(state_path, {
                "identity": identity, "epoch": epoch + 1, "model": run.model.state_dict(),
                "optimizer": run.opt.state_dict(), "scheduler": run.sched.state_dict() if run.sched else None,
                "scaler": run.scaler.state_dict(), "rng": rng_state(), "rows": run.rows, "git_commits": commits,
                "pieces": pieces, "best": run.best.to_state() if vset is not None else None,
                "done_early": run.done_early, "elapsed_s": run.previous_s + time.perf_counter() - t0})
            _write_log(log_path, run.rows)
            log.info("epoch %d/%d loss %.4f acc %.3f", epoch + 1, config.epochs, loss, acc)
            if on_epoch is not None:
                on_epoch(row)


def _sidecar(config, classes, features, stats, metadata, run, selected, done, n_utt, n_seg, device, precision,
             commits, pieces, t0, n_val) -> dict:
    row = run.rows[-1]
    chosen = next(r for r in run.rows if int(r["epoch"]) == selected)
    sidecar = {
        "name": config.model,
        "classes": list(classes),
        "feature_config": features.to_dict(),
        "feature_stats": stats.to_dict() if stats else None,
        "fold": metadata.get("fold"),
        "training_speakers": metadata.get("training_speakers"),
        "manifest_hash": metadata.get("manifest_hash"),
        "data_source": metadata.get("data_source"),
        "seed": config.seed,
        "epochs": row["epoch"],
        "epochs_requested": config.epochs,
        "stopped_early": not done,
        "train_config": config.to_dict(),
        "final_metrics": {k: chosen[k] for k in chosen if k not in ("epoch", "lr", "seconds")},
        "n_train_utterances": n_utt,
        "n_train_segments": n_seg,
        "device": str(device),
        "precision": precision,
        "threads": config.threads,
        "cpu_capability": cpu_capability(),
        "wall_time_s": round(run.previous_s + time.perf_counter() - t0, 2),
        "train_seconds": round(sum(float(r["seconds"]) for r in run.rows), 2),
        "versions": package_versions(),
        "git_commit": commits[-1],  # at the start of the call that finished the training
        "git_commits": commits,  # one per resumed piece, oldest first
        "pieces": pieces,  # per resumed piece: first epoch, commit, CPU name and kernel level
        "metadata": metadata,
    }
    if n_val:  # how the saved epoch was chosen, on which speakers (only trainings that validate)
        sidecar["validation"] = {
            "speakers": metadata.get("validation_speakers"), "n_utterances": n_val, "select": config.select,
            "selected_epoch": selected, "val_ua": chosen.get("val_ua"), "val_wa": chosen.get("val_wa"),
            "patience": config.patience, "early_stopped": run.done_early}
    return sidecar
