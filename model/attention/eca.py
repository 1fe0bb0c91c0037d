"""Efficient channel attention (Wang et al., 2020): 1-D conv across pooled channels."""

from __future__ import annotations

import math

import torch
from torch import nn

from model.attention.se import ChannelGate

__all__ = ["EfficientChannelAttention", "eca_kernel_size"]


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """The paper's adaptive odd kernel size ``|log2(C) / gamma + b / gamma|_odd``."""
    k = int(abs(math.log2(channels) / gamma + b / gamma))
    return k if k % 2 else k + 1


class EfficientChannelAttention(ChannelGate):
    """ECA block, ``(B, C, H, W) -> (B, C, H, W)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        k = eca_kernel_size(channels)
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def _gates(self, s: torch.Tensor):
        b, c = s.shape[:2]
        return (torch.sigmoid(self.conv(s.view(b, 1, c))).view(b, c, 1, 1),)  # (B, C, 1, 1)
