"""Optimiser and learning-rate schedule of a ``TrainConfig`` (stepped once per epoch)."""

from __future__ import annotations

import math

import torch

__all__ = ["build_optimizer", "build_scheduler", "lr_factor"]


def build_optimizer(model: torch.nn.Module, config) -> torch.optim.Optimizer:
    """Adam with L2 ``weight_decay`` (the paper) or AdamW (decoupled decay)."""
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def lr_factor(epoch: int, config) -> float:
    """The multiple of ``config.lr`` used in ``epoch`` (0-based) by the warm-up + cosine schedule:
    ``(epoch + 1) / warmup`` during warm-up, then ``(1 + cos(pi * t)) / 2`` with ``t`` going
    from 0 at the first epoch after warm-up to ``1 - 1 / (epochs - warmup)`` at the last."""
    warm = config.warmup_epochs
    if epoch < warm:
        return (epoch + 1) / warm
    if config.schedule != "cosine":
        return 1.0
    t = (epoch - warm) / (config.epochs - warm)
    return 0.5 * (1.0 + math.cos(math.pi * t))


def build_scheduler(opt: torch.optim.Optimizer, config):
    """None (constant lr, no warm-up: the paper), ``StepLR`` (``lr_step_epochs``) or a
    ``LambdaLR`` of ``lr_factor``."""
    if config.lr_step_epochs:
        return torch.optim.lr_scheduler.StepLR(opt, config.lr_step_epochs, config.lr_gamma)
    if config.schedule == "cosine" or config.warmup_epochs:
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda e: lr_factor(e, config))
    return None
