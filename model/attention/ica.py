"""Improved coordinate attention: CA with a depthwise-separable shared transform."""

from __future__ import annotations

import torch
from torch import nn

from model.attention.ca import CoordinateAttention

__all__ = ["ImprovedCoordinateAttention"]


class _DepthwiseSeparable(nn.Module):
    """Depthwise (3, 1) conv, then pointwise 1x1 ``C -> mip``."""

    def __init__(self, channels: int, mip: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, (3, 1), padding=(1, 0), groups=channels, bias=False)
        self.pointwise = nn.Conv2d(channels, mip, 1)


class ImprovedCoordinateAttention(CoordinateAttention):
    """ICA block, ``(B, C, H, W) -> (B, C, H, W)``.

    The depthwise (3, 1) conv runs on the frequency half ``(B, C, H, 1)`` and the time half
    ``(B, C, W, 1)`` separately with shared weights, so its kernel never straddles the seam
    where frequency and time are concatenated (spec choice).
    """

    def _shared(self, channels: int, mip: int) -> nn.Module:
        return _DepthwiseSeparable(channels, mip)

    def _transform(self, x_h: torch.Tensor, x_w: torch.Tensor) -> torch.Tensor:
        dw = self.shared.depthwise
        y = torch.cat([dw(x_h), dw(x_w)], dim=2)  # (B, C, H + W, 1)
        return self.shared.pointwise(y)  # (B, mip, H + W, 1)
