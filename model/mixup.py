"""MixUp (Zhang et al., 2018): one lambda ~ Beta(alpha, alpha) per batch, a random pairing."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["mixup"]


def mixup(
    x: torch.Tensor, y: torch.Tensor, alpha: float, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix a batch with a permutation of itself.

    ``x: (B, ...)``, ``y: (B, K)`` soft labels -> mixed ``(B, ...)``, ``(B, K)``; the mixed
    batch replaces the input (standard MixUp).
    """
    if alpha <= 0:
        raise ValueError(f"mixup alpha={alpha}: must be > 0")
    lam = float(rng.beta(alpha, alpha))
    perm = torch.from_numpy(rng.permutation(x.shape[0])).to(x.device)
    return lam * x + (1 - lam) * x[perm], lam * y + (1 - lam) * y[perm]
