"""ICASA: a learnable blend of improved coordinate attention and shuffle attention."""

from __future__ import annotations

import torch
from torch import nn

from model.attention.ica import ImprovedCoordinateAttention
from model.attention.sa import ShuffleAttention

__all__ = ["ICASA"]


class ICASA(nn.Module):
    """``beta * ICA(x) + (1 - beta) * SA(x)``, ``(B, C, H, W) -> (B, C, H, W)``.

    ``beta`` is one unconstrained learnable scalar per module, initialised to 0.5; the trainer
    logs it every epoch.
    """

    def __init__(self, channels: int, reduction: int = 32, groups: int = 4, beta_init: float = 0.5) -> None:
        super().__init__()
        self.ica = ImprovedCoordinateAttention(channels, reduction)
        self.sa = ShuffleAttention(channels, groups)
        self.beta = nn.Parameter(torch.tensor(float(beta_init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.beta * self.ica(x) + (1.0 - self.beta) * self.sa(x)
