"""Coordinate attention (Hou et al., 2021): direction-aware channel gates."""

from __future__ import annotations

import torch
from torch import nn

from model.attention._fused import add_product, empty_result, gated_forward, mul

__all__ = ["CoordinateAttention", "HSwish", "coordinate_gate_grads", "coordinate_input_grad"]


class HSwish(nn.Module):
    """``x * relu6(x + 3) / 6``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.hardswish(x)  # the same function, fused


def coordinate_gate_grads(t: torch.Tensor, g_h: torch.Tensor, g_w: torch.Tensor):
    """Gradients of ``sum(t' * g_h * g_w)`` w.r.t. the gates, where ``t = grad * x: (B, C, H, W)``.

    Returns ``(B, C, H, 1)`` and ``(B, C, 1, W)``: one batched matrix-vector product each,
    with no full-size temporary.
    """
    b, c, h, w = t.shape
    planes = t.view(b * c, h, w)
    d_h = torch.bmm(planes, g_w.to(t.dtype).reshape(b * c, w, 1)).view(b, c, h, 1)
    d_w = torch.bmm(g_h.to(t.dtype).reshape(b * c, 1, h), planes).view(b, c, 1, w)
    return d_h, d_w


def coordinate_input_grad(out: torch.Tensor, grad: torch.Tensor, g_h: torch.Tensor, g_w: torch.Tensor,
                          d_pool_h: torch.Tensor, d_pool_w: torch.Tensor,
                          per_channel: torch.Tensor | None = None) -> torch.Tensor:
    """Write ``grad * g_h * g_w + d_pool_h / W + d_pool_w / H (+ per_channel)`` into ``out``.

    ``out, grad: (B, C, H, W)``; ``d_pool_h: (B, C, H, 1)`` and ``d_pool_w: (B, C, 1, W)`` are
    the gradients of the two mean poolings, ``per_channel: (B, C, 1, 1)`` any further
    per-channel constant; three passes, no temporary.
    """
    h, w = out.shape[-2:]
    const_h = d_pool_h / w if per_channel is None else d_pool_h / w + per_channel
    torch.mul(grad, g_w, out=out)
    add_product(const_h, out, g_h, out=out)
    return out.add_(d_pool_w / h)


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
        return gated_forward(self, x)

    # -- the pieces gated_forward runs (see model.attention._fused) --

    def _stats(self, x: torch.Tensor):
        return x.mean(dim=3, keepdim=True), x.mean(dim=2, keepdim=True)  # (B, C, H, 1), (B, C, 1, W)

    def _gates(self, x_h: torch.Tensor, x_w: torch.Tensor):
        h = x_h.shape[2]
        y = self.act(self.bn(self._transform(x_h, x_w.permute(0, 1, 3, 2))))  # (B, mip, H + W, 1)
        y_h, y_w = torch.split(y, [h, y.shape[2] - h], dim=2)
        g_h = torch.sigmoid(self.conv_h(y_h))  # (B, C, H, 1)
        g_w = torch.sigmoid(self.conv_w(y_w.permute(0, 1, 3, 2)))  # (B, C, 1, W)
        return g_h, g_w

    def _composed(self, x: torch.Tensor, gates) -> torch.Tensor:
        g_h, g_w = gates
        return x * g_h * g_w

    def _map(self, x: torch.Tensor, gates):
        g_h, g_w = gates
        out = torch.mul(x, g_h, out=empty_result(x, g_h, g_w))  # (x * g_h) * g_w, as before
        return out.mul_(g_w), ()

    def _gate_grads(self, grad, x, gates, saved):
        t = mul(grad, x)  # the one full-size temporary; its buffer is reused for the input gradient
        return coordinate_gate_grads(t, *gates), (t,)

    def _input_grad(self, grad, x, gates, saved, work, stats, dstats):
        (t,) = work
        return coordinate_input_grad(t, grad, *gates, *dstats)
