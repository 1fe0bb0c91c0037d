"""The trainer: one fold, final-epoch model, deterministic, resumable, logged per epoch."""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from model._epoch import epoch_betas, recalibrate_batchnorm, train_epoch
from model._progress import progress_bar
from model._resume import load_resume, resume_path, rng_state, run_identity, save_resume, set_rng_state
from model._seed import deterministic, seeded_global, seeded_init
from model.checkpoint import _atomic_write_bytes, git_commit, package_versions, save_checkpoint
from model.errors import ModelError
from model.features import FeatureConfig, FeatureStats, fit_stats, utterance_segments
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


def build_training_set(
    waveforms: Sequence[np.ndarray],
    label_idx: Sequence[int],
    features: FeatureConfig,
    *,
    stats: FeatureStats | None = None,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training segments ``(N, 1, n_features, 200)`` float32 and their labels ``(N,)`` long
    (train stride; every segment carries its utterance's label). ``features.streams`` picks the
    rows: 39 MFCC for MACNN, the stacked IFN streams otherwise."""
    extractor = StreamExtractor(features).to(device)
    xs, ys = [], []
    for i, segs in utterance_segments(waveforms, extractor, features.train_stride, stats=stats, device=device):
        xs.append(segs)
        ys.append(torch.full((segs.shape[0],), int(label_idx[i]), dtype=torch.long, device=device))
    return torch.cat(xs), torch.cat(ys)


def _check_inputs(waveforms, labels, classes) -> list[int]:
    if len(waveforms) != len(labels):
        raise ModelError(f"{len(waveforms)} waveforms but {len(labels)} labels")
    if not waveforms:
        raise ModelError("no training utterances")
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ModelError(f"classes={list(classes)}: need at least 2 distinct class names")
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({str(lab) for lab in labels} - set(index))
    if unknown:
        raise ModelError(f"labels {unknown} are not in classes {list(classes)}")
    return [index[lab] for lab in labels]


def _write_log(path: Path, columns: list[str], rows: list[dict]) -> None:
    """The per-epoch log as CSV, rewritten whole (atomically) after every epoch."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _atomic_write_bytes(path, lambda tmp: Path(tmp).write_text(buf.getvalue()))


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
) -> Path:
    """Train one model and write ``<out_stem>.safetensors``, ``.json`` and ``.log.csv``.

    ``waveforms``: each ``(time,)`` float at 16 kHz; ``labels``: one class name per waveform;
    ``classes``: the output order. ``metadata`` (fold, training_speakers, manifest_hash,
    data_source, ...) goes into the sidecar. The final-epoch model is saved. Returns the
    weights path.

    After every epoch ``<out_stem>.resume.pt`` is written atomically; with ``resume`` (default)
    a call that finds one made by the same config and data continues after its last finished
    epoch, and the final weights are byte-identical to an uninterrupted run. The resume state
    is deleted when all epochs have run. ``on_epoch(row)`` gets each epoch's log row;
    ``on_step(epoch, step)`` is called after each optimiser step (both for progress display).
    """
    config = config or TrainConfig()
    metadata = dict(metadata or {})
    label_idx = _check_inputs(waveforms, labels, classes)
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    state_path = resume_path(out_stem)
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
        x_all, y_all = build_training_set(waveforms, label_idx, features, stats=stats, device=device)
        with seeded_init(config.seed):
            model = create_model(config.model, len(classes), **{**config.model_overrides, **sizing})
        model.to(device)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        sched = (torch.optim.lr_scheduler.StepLR(opt, config.lr_step_epochs, config.lr_gamma)
                 if config.lr_step_epochs else None)
        scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        rows: list[dict] = []
        previous_s = 0.0
        if state is not None:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            if sched is not None:
                sched.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
            set_rng_state(state["rng"])
            rows, previous_s = list(state["rows"]), float(state["elapsed_s"])
            log.info("%s: resuming after epoch %d of %d", out_stem.name, len(rows), config.epochs)
        aam_cfg = config.effective_aam()
        log_path = out_stem.with_name(out_stem.name + ".log.csv")
        columns = ["epoch", "lr", "loss", "train_acc", "aam_pass_rate", *epoch_betas(model), "seconds"]
        steps = -(-x_all.shape[0] // config.batch_size)
        show = config.progress if config.progress is not None else sys.stderr.isatty()
        slowest = max([0.0, *(float(r["seconds"]) for r in rows)])
        with progress_bar(show, (config.epochs - len(rows)) * steps, out_stem.name) as bar:
            first = len(rows)
            for epoch in range(first, config.epochs):
                over = time.perf_counter() - t0 + slowest > (config.time_budget_s or float("inf"))
                if epoch > first and over:  # each call runs at least one epoch
                    log.warning("time budget %.0f s reached: stopping after %d of %d epochs (resumable)",
                                config.time_budget_s, epoch, config.epochs)
                    break
                t_epoch = time.perf_counter()
                lr = opt.param_groups[0]["lr"]
                counter = iter(range(steps))

                def step_done(loss, acc, _epoch=epoch):
                    bar.step(loss, acc)
                    if on_step is not None:
                        on_step(_epoch, next(counter))

                loss, acc, rate = train_epoch(model, opt, scaler, x_all, y_all, config, aam_cfg,
                                              epoch, device, precision, step_done, stats=stats)
                if sched is not None:
                    sched.step()
                row = {"epoch": epoch + 1, "lr": lr, "loss": round(loss, 6), "train_acc": round(acc, 6),
                       "aam_pass_rate": "" if np.isnan(rate) else round(rate, 6),
                       **{k: round(v, 6) for k, v in epoch_betas(model).items()},
                       "seconds": round(time.perf_counter() - t_epoch, 3)}
                slowest = max(slowest, row["seconds"])
                rows.append(row)
                save_resume(state_path, {
                    "identity": identity, "epoch": epoch + 1, "model": model.state_dict(),
                    "optimizer": opt.state_dict(), "scheduler": sched.state_dict() if sched else None,
                    "scaler": scaler.state_dict(), "rng": rng_state(), "rows": rows, "git_commits": commits,
                    "pieces": pieces,
                    "elapsed_s": previous_s + time.perf_counter() - t0})
                _write_log(log_path, columns, rows)
                log.info("epoch %d/%d loss %.4f acc %.3f", epoch + 1, config.epochs, loss, acc)
                if on_epoch is not None:
                    on_epoch(row)
        if config.bn_recalibrate:
            recalibrate_batchnorm(model, x_all, max(config.batch_size, 64))
    row = rows[-1]
    done = row["epoch"] >= config.epochs
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
        "final_metrics": {k: row[k] for k in row if k not in ("epoch", "lr", "seconds")},
        "n_train_utterances": len(waveforms),
        "n_train_segments": int(x_all.shape[0]),
        "device": str(device),
        "precision": precision,
        "threads": config.threads,
        "cpu_capability": cpu_capability(),
        "wall_time_s": round(previous_s + time.perf_counter() - t0, 2),
        "train_seconds": round(sum(float(r["seconds"]) for r in rows), 2),
        "versions": package_versions(),
        "git_commit": commits[-1],  # at the start of the call that finished the training
        "git_commits": commits,  # one per resumed piece, oldest first
        "pieces": pieces,  # per resumed piece: first epoch, commit, CPU name and kernel level
        "metadata": metadata,
    }
    weights = save_checkpoint(out_stem, model, sidecar)
    if done:
        state_path.unlink(missing_ok=True)
    return weights
