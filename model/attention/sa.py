"""Shuffle attention (Zhang & Yang, SA-Net 2021): grouped channel + spatial gates."""

from __future__ import annotations

import torch
from torch import nn

from model.attention._fused import add_product, empty_result, gated_forward, mul, promoted

__all__ = ["ShuffleAttention", "channel_shuffle", "halves", "moments", "shuffled_halves", "sa_gate_grads",
           "sa_constant_grads", "sa_input_grad"]


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave channels of ``x: (B, C, H, W)`` across ``groups`` groups."""
    b, c, h, w = x.shape
    return x.reshape(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def halves(x: torch.Tensor, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The channel and spatial halves of every group of ``x: (B, C, H, W)``, as views.

    Channel ``c = g * C/G + k * C/2G + j`` (group g, half k) sits at ``[b, g // (G/2),
    g % (G/2), j]`` of half k; each half is ``(B, 2, G/2, C/2G, H, W)``. ``G`` must be even.
    """
    b, c, h, w = x.shape
    v = x.view(b, 2, groups // 2, 2, c // (2 * groups), h, w)
    return v[:, :, :, 0], v[:, :, :, 1]


def shuffled_halves(out: torch.Tensor, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Views of ``out: (B, C, H, W)`` indexed like :func:`halves` of the map *before*
    ``channel_shuffle(., 2)``: writing ``y``'s halves there writes ``channel_shuffle(y, 2)``.
    """
    b, c, h, w = out.shape
    v = out.view(b, c // 2, 2, h, w).transpose(1, 2).view(b, 2, groups // 2, 2, c // (2 * groups), h, w)
    return v[:, :, :, 0], v[:, :, :, 1]


def moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-plane mean and biased variance of ``x: (..., H, W)``, in float32 at least.

    ``E[x^2] - mean^2`` from two fast reductions (``torch.var_mean`` uses a Welford loop that
    is ~30x slower here), clamped at 0; the cancellation it risks needs ``mean^2 / var`` near
    1e7 before it reaches the GroupNorm's eps.
    """
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    n = x.shape[-2] * x.shape[-1]
    mean = x.sum(dim=(-2, -1), keepdim=True) / n
    sq = torch.linalg.vector_norm(x, dim=(-2, -1), keepdim=True).square() / n
    return mean, (sq - mean.square()).clamp_min(0.0)


class ShuffleAttention(nn.Module):
    """SA block, ``(B, C, H, W) -> (B, C, H, W)``; ``C`` must be divisible by ``2 * groups``.

    cweight, sweight start at 0 and cbias, sbias at 1 (shape ``(1, C / 2G, 1, 1)``, shared by
    the groups), so every gate starts at sigmoid(1).

    The spatial gate ``sigmoid(sweight * GN(x1) + sbias)`` is computed as ``sigmoid(A * x1 + B)``
    with per-channel ``A = sweight * gamma / sigma``, ``B = sweight * (beta - gamma * mu / sigma)
    + sbias`` (the GroupNorm has one channel per group, so mu and sigma are per channel): the
    same function, without the normalised map. The final channel shuffle is a strided write,
    not a copy.
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
        if self.groups % 2:
            return self._reference(x)
        return gated_forward(self, x)

    def _reference(self, x: torch.Tensor) -> torch.Tensor:
        """The plain formulation (used for an odd number of groups)."""
        b, c, h, w = x.shape
        xg = x.reshape(b * self.groups, c // self.groups, h, w)  # (B*G, C/G, H, W)
        x0, x1 = xg.chunk(2, dim=1)  # each (B*G, C/2G, H, W)
        s = x0.mean(dim=(2, 3), keepdim=True)  # (B*G, C/2G, 1, 1)
        xc = x0 * torch.sigmoid(self.cweight * s + self.cbias)
        xs = x1 * torch.sigmoid(self.sweight * self.gn(x1) + self.sbias)
        out = torch.cat([xc, xs], dim=1).reshape(b, c, h, w)
        return channel_shuffle(out, 2)

    # -- the pieces gated_forward runs (see model.attention._fused); halves are (B, 2, G/2, C/2G, H, W) --

    def _stats(self, x: torch.Tensor):
        x0, x1 = halves(x, self.groups)
        m0 = x0.mean(dim=(-2, -1), keepdim=True)
        return (m0,) + moments(x1)

    def _gates(self, m0: torch.Tensor, mu1: torch.Tensor, var1: torch.Tensor):
        """Channel gate of half 0, and ``A, B`` of the spatial gate of half 1 (all per channel)."""
        gate_c = torch.sigmoid(self.cweight * m0 + self.cbias)
        k = self.gn.weight.view(-1, 1, 1) * torch.rsqrt(var1 + self.gn.eps)
        a = self.sweight * k
        b = self.sweight * (self.gn.bias.view(-1, 1, 1) - k * mu1) + self.sbias
        return gate_c, a, b

    def _composed(self, x: torch.Tensor, gates) -> torch.Tensor:
        gate_c, a, b = gates
        x0, x1 = halves(x, self.groups)
        y = torch.stack([x0 * gate_c, x1 * torch.sigmoid(a * x1 + b)], dim=3)
        return channel_shuffle(y.reshape(x.shape), 2)

    def _map(self, x: torch.Tensor, gates):
        gate_c, a, b = gates
        x = promoted(x, *gates)
        x0, x1 = halves(x, self.groups)
        s = add_product(b, x1, a).sigmoid_()  # the spatial gate, (B, 2, G/2, C/2G, H, W)
        out = empty_result(x, gate_c, s)
        y0, y1 = shuffled_halves(out, self.groups)
        torch.mul(x0, gate_c, out=y0)
        torch.mul(x1, s, out=y1)
        return out, (s,)

    def _gate_grads(self, grad, x, gates, saved):
        return sa_gate_grads(grad, promoted(x, *gates), gates, saved[0], None, self.groups)

    def _input_grad(self, grad, x, gates, saved, work, stats, dstats):
        x = promoted(x, *gates)
        gx = torch.empty(x.shape, dtype=torch.promote_types(grad.dtype, x.dtype), device=x.device)
        return sa_input_grad(gx, x, gates, work, stats, dstats, None, self.groups, fresh=True)


def sa_gate_grads(grad, x, gates, s, scale, groups):
    """Gradients w.r.t. ``(gate_c, A, B[, scale])`` of ``sum(grad * shuffle(y))`` with
    ``y = (x0 * gate_c, scale * x1 * sigmoid(A x1 + B))``; ``scale`` is None (1) or 0-dim.
    """
    gate_c, a, b = gates[:3]
    x0, x1 = halves(x, groups)
    g0, g1 = shuffled_halves(grad, groups)
    d_gate_c = mul(g0, x0).sum(dim=(-2, -1), keepdim=True)
    q = mul(g1, s)  # d out / d x1 without the gate's own derivative (times scale)
    v = mul(q, x1)
    d_scale = v.sum() if scale is not None else None
    v.addcmul_(v, s, value=-1.0)  # grad * x1 * s (1 - s): the gradient at the sigmoid's input
    d_a = mul(v, x1).sum(dim=(-2, -1), keepdim=True)
    d_b = v.sum(dim=(-2, -1), keepdim=True)
    if scale is not None:
        d_a, d_b = d_a * scale, d_b * scale
    dgates = (d_gate_c, d_a, d_b) + (() if scale is None else (d_scale.reshape(scale.shape),))
    return dgates, (g0, q, v)


def sa_constant_grads(stats, dstats, n):
    """The per-channel parts of the mean / variance backward: ``(d_m0 / n, d_mu1 / n - k1 mu1)``
    with ``k1 = 2 d_var1 / n`` (the part proportional to ``x1`` is ``k1 * x1``)."""
    _, mu1, _ = stats
    d_m0, d_mu1, d_var1 = dstats
    return d_m0 / n, d_mu1 / n - (2.0 * d_var1 / n) * mu1


def sa_input_grad(gx, x, gates, work, stats, dstats, scale, groups, *, fresh):
    """The SA part of d loss / d x into ``gx: (B, C, H, W)``: the gate products plus the backward
    of the mean (half 0) and of the mean and variance (half 1). ``fresh``: write ``gx`` whole;
    else add the parts proportional to the map and leave the per-channel constants
    (:func:`sa_constant_grads`) to the caller.
    """
    gate_c, a = gates[0], gates[1]
    g0, q, v = work
    n = x.shape[2] * x.shape[3]
    x0, x1 = halves(x, groups)
    gx0, gx1 = halves(gx, groups)
    k1 = 2.0 * dstats[2] / n
    if fresh:
        const0, const1 = sa_constant_grads(stats, dstats, n)
        add_product(const0, g0, gate_c, out=gx0)
        add_product(const1, v, a, out=gx1)
        gx1.add_(q)
    else:
        gx0.addcmul_(g0, gate_c)
        gx1.addcmul_(v, a * scale).addcmul_(q, scale)
    gx1.addcmul_(x1, k1)
    return gx
