"""The trainer: one fold, final-epoch model, deterministic, logged per epoch."""

from __future__ import annotations

import csv
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from model._progress import progress_bar
from model._seed import deterministic, numpy_rng, seeded_global, seeded_init
from model.aam import AAMConfig, aam_batch
from model.checkpoint import git_commit, package_versions, save_checkpoint
from model.errors import ModelError
from model.features import FeatureConfig, FeatureStats, fit_stats, utterance_segments
from model.mixup import mixup
from model.predict import resolve_device
from model.registry import create_model, model_config
from model.streams import StreamExtractor, network_features

__all__ = ["AUGMENTATIONS", "TrainConfig", "train_model", "train_epoch", "build_training_set",
           "recalibrate_batchnorm"]

log = logging.getLogger(__name__)

# aam_nodiff / aam_random are the paper's Table 8 ablations; aam+mixup its Table 9 combination.
AUGMENTATIONS = ("none", "aam", "aam_nodiff", "aam_random", "mixup", "aam+mixup")


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (paper section 3.2 defaults).

    lr_step_epochs : None = constant lr (paper); N = divide by ``1 / lr_gamma`` every N epochs
        (the reference code uses 10).
    aug : one of ``AUGMENTATIONS``. ``aam_nodiff`` = AAM with lambda from
        Beta(aam.beta_alpha) (or 0.5 with ``aam.weighting="half"``); ``aam_random`` = random
        partners without the similarity test; ``mixup`` replaces each batch by its MixUp;
        ``aam+mixup`` applies MixUp to the originals plus their AAM samples.
    bn_recalibrate : after the last epoch, replace BatchNorm running statistics by exact
        averages over the training segments under the final weights ("precise BN"); off by
        default (the paper keeps the running averages). Helps short runs, where the running
        averages lag behind fast-moving weights and eval mode then disagrees with training.
    time_budget_s : None = run all ``epochs``; else stop before an epoch that would end past
        the budget (counted from the start of ``train_model``, predicted from the slowest epoch
        so far; the first epoch always runs). The saved model is the last completed epoch; the
        sidecar's ``epochs`` says how many ran, next to ``epochs_requested`` and ``stopped_early``.
    progress : None = a progress bar only when stderr is a terminal.
    """

    model: str = "macnn_icasa"
    model_overrides: dict = field(default_factory=dict)
    aug: str = "aam"
    epochs: int = 60
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-6
    lr_step_epochs: int | None = None
    lr_gamma: float = 0.1
    seed: int = 987654
    device: str = "auto"
    amp: bool = False
    aam: AAMConfig = field(default_factory=AAMConfig)
    mixup_alpha: float = 0.4
    features: FeatureConfig = field(default_factory=FeatureConfig)
    bn_recalibrate: bool = False
    time_budget_s: float | None = None
    progress: bool | None = None

    def __post_init__(self) -> None:
        if self.aug not in AUGMENTATIONS:
            raise ModelError(f"aug={self.aug!r}: choose one of {', '.join(AUGMENTATIONS)}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ModelError(f"{name}={getattr(self, name)}: must be >= 1")
        if self.lr <= 0 or self.weight_decay < 0 or self.mixup_alpha <= 0:
            raise ModelError(f"lr={self.lr}, weight_decay={self.weight_decay}, mixup_alpha="
                             f"{self.mixup_alpha}: lr and mixup_alpha must be > 0, weight_decay >= 0")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ModelError(f"time_budget_s={self.time_budget_s}: must be > 0 or None")
        if self.lr_step_epochs is not None and self.lr_step_epochs < 1:
            raise ModelError(f"lr_step_epochs={self.lr_step_epochs}: must be >= 1 or None")
        model_config(self.model, 2, **self.model_overrides)  # unknown name or override -> ModelError

    def effective_aam(self) -> AAMConfig | None:
        """The AAM settings this ``aug`` implies (None when AAM is off)."""
        if self.aug in ("none", "mixup"):
            return None
        if self.aug == "aam_nodiff":
            weighting = "beta" if self.aam.weighting == "difficulty" else self.aam.weighting
            return replace(self.aam, weighting=weighting)
        if self.aug == "aam_random":
            return replace(self.aam, pairing="random")
        return self.aam

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ModelError(f"train config: unknown key(s) {unknown}")
        if isinstance(d.get("aam"), dict):
            d["aam"] = AAMConfig(**d["aam"])
        if isinstance(d.get("features"), dict):
            d["features"] = FeatureConfig.from_dict(d["features"])
        return cls(**d)


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


def _soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of ``-sum(target * log_softmax(logits))``; ``logits, target: (N, K)``."""
    return -(target * torch.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


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


def _betas(model: nn.Module) -> dict[str, float]:
    """ICASA's per-module beta (MACNN family) for the epoch log; other families log none."""
    return model.betas() if hasattr(model, "betas") else {}


def train_epoch(model, opt, scaler, x_all, y_all, config, aam_cfg, epoch, device, amp, on_step=None):
    """One pass over ``x_all: (N, 1, 39, 200)``, ``y_all: (N,)`` in a seeded shuffled order.

    Each batch: AAM samples (``aam_cfg``, None = off) appended, MixUp if ``config.aug`` asks,
    one soft-target cross-entropy step. ``on_step(loss, acc)`` is called after each batch.
    Returns ``(mean loss, train accuracy, mean AAM pass rate or nan)``.
    """
    on_step = on_step or (lambda loss, acc: None)
    k = model.config.num_classes
    order = torch.from_numpy(numpy_rng(config.seed, "shuffle", epoch).permutation(x_all.shape[0])).to(device)
    loss_sum = correct = seen = trained = 0.0
    pass_rates = []
    model.train()
    for step, start in enumerate(range(0, x_all.shape[0], config.batch_size)):
        idx = order[start : start + config.batch_size]
        x, y = x_all[idx], y_all[idx]  # (B, 1, 39, 200), (B,)
        rng = numpy_rng(config.seed, "aug", epoch, step)
        target = nn.functional.one_hot(y, k).float()
        if aam_cfg is not None:
            x_mix, y_mix, rate = aam_batch(model, x, y, k, aam_cfg, rng)
            pass_rates.append(rate)
            x, target = torch.cat([x, x_mix]), torch.cat([target, y_mix])
        if config.aug in ("mixup", "aam+mixup"):
            x, target = mixup(x, target, config.mixup_alpha, rng)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
            logits = model(x)
        loss = _soft_cross_entropy(logits, target)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        b = idx.shape[0]
        # Accuracy on the first B rows (the originals; under MixUp their dominant label).
        correct += float((logits[:b].argmax(1) == target[:b].argmax(1)).sum())
        seen += b
        loss_sum += float(loss.detach()) * x.shape[0]
        trained += x.shape[0]
        on_step(float(loss.detach()), correct / seen)
    rate = float(np.mean(pass_rates)) if pass_rates else float("nan")
    return loss_sum / trained, correct / seen, rate


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, x_all: torch.Tensor, batch_size: int) -> None:
    """Set every BatchNorm's running mean/var to the average of its batch statistics over
    ``x_all: (N, 1, 39, 200)`` in fixed order (cumulative average: ``momentum=None``)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for start in range(0, x_all.shape[0], batch_size):
        model(x_all[start : start + batch_size])
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    model.eval()


def train_model(
    waveforms: Sequence[np.ndarray],
    labels: Sequence[str],
    classes: Sequence[str],
    config: TrainConfig | None = None,
    *,
    out_stem: Path,
    metadata: dict | None = None,
) -> Path:
    """Train one model and write ``<out_stem>.safetensors``, ``.json`` and ``.log.csv``.

    ``waveforms``: each ``(time,)`` float at 16 kHz; ``labels``: one class name per waveform;
    ``classes``: the output order. ``metadata`` (fold, training_speakers, manifest_hash,
    data_source, ...) goes into the sidecar. The final-epoch model is saved. Returns the
    weights path.
    """
    config = config or TrainConfig()
    metadata = dict(metadata or {})
    label_idx = _check_inputs(waveforms, labels, classes)
    device = resolve_device(config.device)
    amp = config.amp and device.type == "cuda"
    if config.amp and not amp:
        log.warning("--amp needs CUDA; training in float32 on %s", device)
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    # The streams the network reads (IFN: its own, standardised) and the sizes they give it.
    features, sizing = network_features(config.features, model_config(config.model, len(classes),
                                        **config.model_overrides), name=config.model)
    # seeded_global: dropout (IFN) draws from torch's global generator.
    with deterministic(), seeded_global(config.seed, "train", device=device):
        stats = fit_stats(waveforms, StreamExtractor(features).to(device), device=device) \
            if features.standardize else None
        x_all, y_all = build_training_set(waveforms, label_idx, features, stats=stats, device=device)
        with seeded_init(config.seed):
            model = create_model(config.model, len(classes), **{**config.model_overrides, **sizing})
        model.to(device)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        sched = (torch.optim.lr_scheduler.StepLR(opt, config.lr_step_epochs, config.lr_gamma)
                 if config.lr_step_epochs else None)
        scaler = torch.amp.GradScaler(device.type, enabled=amp)
        aam_cfg = config.effective_aam()
        log_path = out_stem.with_name(out_stem.name + ".log.csv")
        columns = ["epoch", "lr", "loss", "train_acc", "aam_pass_rate", *_betas(model), "seconds"]
        steps = -(-x_all.shape[0] // config.batch_size)
        show = config.progress if config.progress is not None else sys.stderr.isatty()
        with open(log_path, "w", newline="") as f, progress_bar(show, config.epochs * steps, out_stem.name) as bar:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            row: dict = {}
            slowest = 0.0
            for epoch in range(config.epochs):
                over = time.perf_counter() - t0 + slowest > (config.time_budget_s or float("inf"))
                if epoch > 0 and over:
                    log.warning("time budget %.0f s reached: stopping after %d of %d epochs",
                                config.time_budget_s, epoch, config.epochs)
                    break
                t_epoch = time.perf_counter()
                lr = opt.param_groups[0]["lr"]
                loss, acc, rate = train_epoch(model, opt, scaler, x_all, y_all, config, aam_cfg,
                                               epoch, device, amp, bar.step)
                if sched is not None:
                    sched.step()
                row = {"epoch": epoch + 1, "lr": lr, "loss": round(loss, 6), "train_acc": round(acc, 6),
                       "aam_pass_rate": "" if np.isnan(rate) else round(rate, 6),
                       **{k: round(v, 6) for k, v in _betas(model).items()},
                       "seconds": round(time.perf_counter() - t_epoch, 3)}
                slowest = max(slowest, row["seconds"])
                writer.writerow(row)
                f.flush()  # a long run can be followed with tail -f
                log.info("epoch %d/%d loss %.4f acc %.3f", epoch + 1, config.epochs, loss, acc)
        if config.bn_recalibrate:
            recalibrate_batchnorm(model, x_all, max(config.batch_size, 64))
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
        "stopped_early": row["epoch"] < config.epochs,
        "train_config": config.to_dict(),
        "final_metrics": {k: row[k] for k in row if k not in ("epoch", "lr", "seconds")},
        "n_train_utterances": len(waveforms),
        "n_train_segments": int(x_all.shape[0]),
        "device": str(device),
        "wall_time_s": round(time.perf_counter() - t0, 2),
        "versions": package_versions(),
        "git_commit": git_commit(),
        "metadata": metadata,
    }
    return save_checkpoint(out_stem, model, sidecar)
