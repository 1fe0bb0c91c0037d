"""Shuffle attention (Zhang & Yang, SA-Net 2021): grouped channel + spatial gates."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ShuffleAttention", "channel_shuffle"]


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave channels of ``x: (B, C, H, W)`` across ``groups`` groups."""
    b, c, h, w = x.shape
    return x.reshape(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class ShuffleAttention(nn.Module):
    """SA block, ``(B, C, H, W) -> (B, C, H, W)``; ``C`` must be divisible by ``2 * groups``.

    cweight, sweight start at 0 and cbias, sbias at 1 (shape ``(1, C / 2G, 1, 1)``, shared by
    the groups), so every gate starts at sigmoid(1).
    """

    def __init__(self, channels: int, groups: int = 4) -> None:
        super().__init__()
        if channels % (2 * groups):
            raise ValueError(f"ShuffleAttention: channels={channels} not divisible by 2*groups={2 * groups}")
        self.groups = groups
        half = channels // (2 * groups)
        self.cweight = nn.Parameter(torch.zeros(1, half, 1, 1))
        self.cbias = nn.Parameter(torch.ones(1, half, 1, 1))
        self.sweight = nn.Parameter(torch.zeros(1, half, 1, 1))
        self.sbias = nn.Parameter(torch.ones(1, half, 1, 1))
        self.gn = nn.GroupNorm(half, half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        xg = x.reshape(b * self.groups, c // self.groups, h, w)  # (B*G, C/G, H, W)
        x0, x1 = xg.chunk(2, dim=1)  # each (B*G, C/2G, H, W)
        s = x0.mean(dim=(2, 3), keepdim=True)  # (B*G, C/2G, 1, 1)
        xc = x0 * torch.sigmoid(self.cweight * s + self.cbias)
        xs = x1 * torch.sigmoid(self.sweight * self.gn(x1) + self.sbias)
        out = torch.cat([xc, xs], dim=1).reshape(b, c, h, w)
        return channel_shuffle(out, 2)
