"""Efficient channel attention (Wang et al., 2020): 1-D conv across pooled channels."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["EfficientChannelAttention", "eca_kernel_size"]


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """The paper's adaptive odd kernel size ``|log2(C) / gamma + b / gamma|_odd``."""
    k = int(abs(math.log2(channels) / gamma + b / gamma))
    return k if k % 2 else k + 1


class EfficientChannelAttention(nn.Module):
    """ECA block, ``(B, C, H, W) -> (B, C, H, W)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        k = eca_kernel_size(channels)
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3))[:, None, :]  # (B, 1, C)
        g = torch.sigmoid(self.conv(s))[:, 0, :, None, None]  # (B, C, 1, 1)
        return x * g
