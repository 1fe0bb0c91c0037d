"""CBAM (Woo et al., 2018): channel gate from avg+max pooling, then a 7x7 spatial gate."""

from __future__ import annotations

import torch
from torch import nn

from model.attention._fused import add_product, dot_hw, empty_result, gated_forward, mul, reuse

__all__ = ["CBAM"]


def _amax_grad(x: torch.Tensor, amax: torch.Tensor, d_amax: torch.Tensor, dims, dtype: torch.dtype):
    """``(x == amax, d_amax / count)``: autograd's ``amax`` backward, where ties share.

    The mask is made in ``dtype`` directly: boolean masks take a slow conversion path here.
    """
    hit = torch.eq(x, amax, out=torch.empty(x.shape, dtype=dtype, device=x.device))
    return hit, d_amax / hit.sum(dim=dims, keepdim=True, dtype=torch.float32).to(d_amax.dtype)


class _ChannelStage:
    """``x * sigmoid(mlp(mean_hw x) + mlp(amax_hw x))``, ``x: (B, C, H, W)``."""

    def __init__(self, cbam: CBAM) -> None:
        self.cbam = cbam

    def parameters(self):
        return self.cbam.mlp.parameters()

    def _stats(self, x):
        return x.mean(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)  # (B, C, 1, 1) each

    def _gates(self, avg, mx):
        return (torch.sigmoid(self.cbam.mlp(avg) + self.cbam.mlp(mx)),)  # (B, C, 1, 1)

    def _composed(self, x, gates):
        return x * gates[0]

    def _map(self, x, gates):
        return torch.mul(x, gates[0], out=empty_result(x, gates[0])), ()

    def _gate_grads(self, grad, x, gates, saved):
        d_gate, t = dot_hw(grad, x)
        return (d_gate,), (t,)

    def _input_grad(self, grad, x, gates, saved, work, stats, dstats):
        dtype = torch.promote_types(grad.dtype, gates[0].dtype)
        hit, share = _amax_grad(x, stats[1], dstats[1], (2, 3), dtype)
        out = reuse(work[0], dtype)
        gx = add_product(dstats[0] / (x.shape[2] * x.shape[3]), grad, gates[0], out=out)
        return gx.addcmul_(hit, share)


class _SpatialStage:
    """``x * sigmoid(conv7([mean_c x, amax_c x]))``, ``x: (B, C, H, W)``."""

    def __init__(self, cbam: CBAM) -> None:
        self.cbam = cbam

    def parameters(self):
        return self.cbam.spatial.parameters()

    def _stats(self, x):
        return x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)  # (B, 1, H, W) each

    def _gates(self, avg, mx):
        return (torch.sigmoid(self.cbam.spatial(torch.cat([avg, mx], dim=1))),)  # (B, 1, H, W)

    _composed = _ChannelStage._composed
    _map = _ChannelStage._map

    def _gate_grads(self, grad, x, gates, saved):
        t = mul(grad, x)
        return (t.sum(dim=1, keepdim=True),), (t,)

    def _input_grad(self, grad, x, gates, saved, work, stats, dstats):
        (t,) = work
        dtype = torch.promote_types(grad.dtype, gates[0].dtype)
        hit, share = _amax_grad(x, stats[1], dstats[1], 1, dtype)
        out = reuse(t, dtype)
        gx = add_product(dstats[0] / x.shape[1], grad, gates[0], out=out)
        return gx.addcmul_(hit, share)


class CBAM(nn.Module):
    """CBAM block, ``(B, C, H, W) -> (B, C, H, W)``; MLP bottleneck ``max(4, C // reduction)``.

    Each of the two gates runs as one hand-differentiated node (see ``model.attention._fused``);
    the max poolings' backward shares the gradient among ties, as autograd's ``amax`` does.
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels, 1))
        self.spatial = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = gated_forward(_ChannelStage(self), x)  # (B, C, H, W), channel-gated
        return gated_forward(_SpatialStage(self), x)
