"""Squeeze-and-excitation (Hu et al., 2018): channel gates from global average pooling."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SqueezeExcitation"]


class SqueezeExcitation(nn.Module):
    """SE block, ``(B, C, H, W) -> (B, C, H, W)``; bottleneck ``max(4, C // reduction)``."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))
