"""One epoch of training and the BatchNorm recalibration after the last (the trainer's inner
loop: ``model.train.train_model`` owns the run around it: seeds, resume, logs, checkpoint)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from model._seed import numpy_rng
from model.aam import aam_batch
from model.mixup import mixup
from model.precision import autocast_context
from model.specaugment import MaskPlan, apply_masks

__all__ = ["train_epoch", "recalibrate_batchnorm", "epoch_betas", "batchnorm_buffers"]


def _soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor,
                        weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``-sum(target * log_softmax(logits))``; ``logits, target: (N, K)``; with
    ``weight: (N,)`` the mean of the weighted rows."""
    per_row = -(target * torch.log_softmax(logits.float(), dim=1)).sum(dim=1)
    return per_row.mean() if weight is None else (per_row * weight).mean()


def epoch_betas(model: nn.Module) -> dict[str, float]:
    """ICASA's per-module beta (MACNN family) for the epoch log; other families log none."""
    return model.betas() if hasattr(model, "betas") else {}


def train_epoch(model, opt, scaler, x_all, y_all, config, aam_cfg, epoch, device, precision="fp32",
                on_step=None, stats=None, weight: torch.Tensor | None = None, masks: MaskPlan | None = None):
    """One pass over ``x_all: (N, 1, 39, 200)``, ``y_all: (N,)`` in a seeded shuffled order.

    Each batch: SpecAugment masks (``masks``, drawn per segment) applied, AAM samples
    (``aam_cfg``, None = off) appended, MixUp if ``config.aug`` asks, targets smoothed by
    ``config.label_smoothing``, one soft-target cross-entropy step (rows weighted by
    ``weight: (N,)`` when given). ``precision`` is a resolved one (``fp32``, ``bf16``,
    ``fp16``): the forwards (AAM's difficulty pass included) run under its autocast; loss,
    softmax and the AAM similarity in float32. ``on_step(loss, acc)`` is called after each
    batch. ``stats``: the standardisation ``x_all`` went through, undone for AAM's raw
    similarity. Returns ``(mean loss, train accuracy, mean AAM pass rate or nan)``.
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
        if masks is not None:
            x = apply_masks(x, masks, idx.cpu().numpy())
        rng = numpy_rng(config.seed, "aug", epoch, step)
        target = nn.functional.one_hot(y, k).float()
        if aam_cfg is not None:
            with autocast_context(precision, device):
                x_mix, y_mix, rate = aam_batch(model, x, y, k, aam_cfg, rng,
                                                 unstandardize=stats.invert if stats is not None else None)
            pass_rates.append(rate)
            x, target = torch.cat([x, x_mix]), torch.cat([target, y_mix])
        if config.aug in ("mixup", "aam+mixup"):
            x, target = mixup(x, target, config.mixup_alpha, rng)
        if config.label_smoothing:
            target = target * (1 - config.label_smoothing) + config.label_smoothing / k
        with autocast_context(precision, device):
            logits = model(x)
        loss = _soft_cross_entropy(logits, target, None if weight is None else weight[idx])
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


def batchnorm_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every BatchNorm buffer (running mean/var, batch count), keyed as in the
    state dict: what ``recalibrate_batchnorm`` replaces."""
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            for b, t in m.named_buffers(recurse=False):
                out[f"{name}.{b}"] = t.detach().clone()
    return out


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
