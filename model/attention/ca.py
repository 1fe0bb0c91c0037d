"""Coordinate attention (Hou et al., 2021): direction-aware channel gates."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["CoordinateAttention", "HSwish"]


class HSwish(nn.Module):
    """``x * relu6(x + 3) / 6``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.hardswish(x)  # the same function, fused


class CoordinateAttention(nn.Module):
    """CA block, ``(B, C, H, W) -> (B, C, H, W)``; H = MFCC axis, W = time.

    Parameters
    ----------
    channels : C.
    reduction : r; the shared transform has ``mip = max(8, C // r)`` channels.
    """

    def __init__(self, channels: int, reduction: int = 32) -> None:
        super().__init__()
        mip = max(8, channels // reduction)
        self.shared = self._shared(channels, mip)
        self.bn = nn.BatchNorm2d(mip)
        self.act = HSwish()
        self.conv_h = nn.Conv2d(mip, channels, 1)
        self.conv_w = nn.Conv2d(mip, channels, 1)

    def _shared(self, channels: int, mip: int) -> nn.Module:
        return nn.Conv2d(channels, mip, 1)

    def _transform(self, x_h: torch.Tensor, x_w: torch.Tensor) -> torch.Tensor:
        """Shared transform of the two pooled halves -> ``(B, mip, H + W, 1)``."""
        return self.shared(torch.cat([x_h, x_w], dim=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, h, w = x.shape
        x_h = x.mean(dim=3, keepdim=True)  # (B, C, H, 1)
        x_w = x.mean(dim=2, keepdim=True).permute(0, 1, 3, 2)  # (B, C, W, 1)
        y = self.act(self.bn(self._transform(x_h, x_w)))  # (B, mip, H + W, 1)
        y_h, y_w = torch.split(y, [h, w], dim=2)
        g_h = torch.sigmoid(self.conv_h(y_h))  # (B, C, H, 1)
        g_w = torch.sigmoid(self.conv_w(y_w.permute(0, 1, 3, 2)))  # (B, C, 1, W)
        return x * g_h * g_w
