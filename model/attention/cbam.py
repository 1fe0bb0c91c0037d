"""CBAM (Woo et al., 2018): channel gate from avg+max pooling, then a 7x7 spatial gate."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["CBAM"]


class CBAM(nn.Module):
    """CBAM block, ``(B, C, H, W) -> (B, C, H, W)``; MLP bottleneck ``max(4, C // reduction)``."""

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels, 1))
        self.spatial = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(x.mean(dim=(2, 3), keepdim=True))  # (B, C, 1, 1)
        mx = self.mlp(x.amax(dim=(2, 3), keepdim=True))
        x = x * torch.sigmoid(avg + mx)
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)  # (B, 2, H, W)
        return x * torch.sigmoid(self.spatial(pooled))
