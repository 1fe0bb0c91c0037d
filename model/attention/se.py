"""Squeeze-and-excitation (Hu et al., 2018): channel gates from global average pooling."""

from __future__ import annotations

import torch
from torch import nn

from model.attention._fused import add_product, dot_hw, empty_result, gated_forward, reuse

__all__ = ["SqueezeExcitation", "ChannelGate"]


class ChannelGate(nn.Module):
    """Base of blocks ``x * gate(mean_hw(x))`` with a per-channel gate ``(B, C, 1, 1)``.

    Subclasses define ``_gates(s: (B, C, 1, 1)) -> (gate,)``. The backward makes one
    full-size tensor, ``grad * x`` for the gate gradient, whose buffer then receives the input
    gradient ``grad * gate + d_pool / (H W)`` (``add_product``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gated_forward(self, x)

    def _stats(self, x: torch.Tensor):
        return (x.mean(dim=(2, 3), keepdim=True),)  # (B, C, 1, 1)

    def _composed(self, x: torch.Tensor, gates) -> torch.Tensor:
        return x * gates[0]

    def _map(self, x: torch.Tensor, gates):
        return torch.mul(x, gates[0], out=empty_result(x, gates[0])), ()

    def _gate_grads(self, grad, x, gates, saved):
        d_gate, t = dot_hw(grad, x)
        return (d_gate,), (t,)

    def _input_grad(self, grad, x, gates, saved, work, stats, dstats):
        n = x.shape[2] * x.shape[3]
        out = reuse(work[0], torch.promote_types(grad.dtype, gates[0].dtype))
        return add_product(dstats[0] / n, grad, gates[0], out=out)


class SqueezeExcitation(ChannelGate):
    """SE block, ``(B, C, H, W) -> (B, C, H, W)``; bottleneck ``max(4, C // reduction)``."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def _gates(self, s: torch.Tensor):
        return (torch.sigmoid(self.fc2(torch.relu(self.fc1(s)))),)  # (B, C, 1, 1)
