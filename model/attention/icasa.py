"""ICASA: a learnable blend of improved coordinate attention and shuffle attention."""

from __future__ import annotations

import torch
from torch import nn

from model.attention._fused import add_product, empty_result, gated_forward, mul, promoted
from model.attention.ca import coordinate_gate_grads, coordinate_input_grad
from model.attention.ica import ImprovedCoordinateAttention
from model.attention.sa import ShuffleAttention, channel_shuffle, halves, sa_constant_grads, sa_gate_grads, sa_input_grad, shuffled_halves

__all__ = ["ICASA"]


class ICASA(nn.Module):
    """``beta * ICA(x) + (1 - beta) * SA(x)``, ``(B, C, H, W) -> (B, C, H, W)``.

    ``beta`` is one unconstrained learnable scalar per module, initialised to 0.5; the trainer
    logs it every epoch.

    ``beta`` and ``1 - beta`` are folded into the small gates (``beta * g_h``, ``(1 - beta) *
    gate_c``), and the SA result is added into the ICA result through a strided view of the
    output, so the blend makes no full-size tensor of its own. The two terms cannot share one
    gate on ``x``: SA's final channel shuffle sends input channel ``g * C/2 + i`` to output
    channel ``2 i + g``, so output channel ``k`` blends ``x[k]`` (ICA) with another channel of
    ``x`` (SA) except for ``k = 0`` and ``k = C - 1``.
    """

    def __init__(self, channels: int, reduction: int = 32, groups: int = 4, beta_init: float = 0.5) -> None:
        super().__init__()
        self.ica = ImprovedCoordinateAttention(channels, reduction)
        self.sa = ShuffleAttention(channels, groups)
        self.beta = nn.Parameter(torch.tensor(float(beta_init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.sa.groups % 2:
            return self.beta * self.ica(x) + (1.0 - self.beta) * self.sa(x)
        return gated_forward(self, x)

    # -- the pieces gated_forward runs (see model.attention._fused) --

    def _stats(self, x: torch.Tensor):
        return self.ica._stats(x) + self.sa._stats(x)

    def _gates(self, x_h, x_w, m0, mu1, var1):
        g_h, g_w = self.ica._gates(x_h, x_w)
        gate_c, a, b = self.sa._gates(m0, mu1, var1)
        scale = 1.0 - self.beta
        return self.beta * g_h, g_w, scale * gate_c, a, b, scale

    def _composed(self, x: torch.Tensor, gates) -> torch.Tensor:
        bg_h, g_w, sgate_c, a, b, scale = gates
        x0, x1 = halves(x, self.sa.groups)
        y = torch.stack([x0 * sgate_c, scale * (x1 * torch.sigmoid(a * x1 + b))], dim=3)
        return x * bg_h * g_w + channel_shuffle(y.reshape(x.shape), 2)

    def _map(self, x: torch.Tensor, gates):
        bg_h, g_w, sgate_c, a, b, scale = gates
        x = promoted(x, *gates)
        x0, x1 = halves(x, self.sa.groups)
        s = add_product(b, x1, a).sigmoid_()  # SA's spatial gate, (B, 2, G/2, C/2G, H, W)
        out = torch.mul(x, bg_h, out=empty_result(x, bg_h, g_w, sgate_c, s))
        out.mul_(g_w)  # beta * ICA(x)
        y0, y1 = shuffled_halves(out, self.sa.groups)
        y0.addcmul_(x0, sgate_c)
        y1.addcmul_(x1, s, value=float(scale))  # a Python scalar: no half-size temporary
        return out, (s,)

    def _gate_grads(self, grad, x, gates, saved):
        bg_h, g_w, _, _, _, scale = gates
        x = promoted(x, *gates)
        t = mul(grad, x)
        d_h, d_w = coordinate_gate_grads(t, bg_h, g_w)
        (d_c, d_a, d_b, d_scale), work = sa_gate_grads(grad, x, gates[2:5], saved[0], scale, self.sa.groups)
        return (d_h, d_w, d_c, d_a, d_b, d_scale), (t,) + work

    def _input_grad(self, grad, x, gates, saved, work, stats, dstats):
        bg_h, g_w, sgate_c, a, b, scale = gates
        x = promoted(x, *gates)
        t, *sa_work = work
        # SA's per-channel terms (mean and variance backward) ride on ICA's (B, C, H, 1) term.
        per_channel = x.new_zeros((x.shape[0], x.shape[1], 1, 1), dtype=dstats[0].dtype)
        k0, k1 = halves(per_channel, self.sa.groups)
        const0, const1 = sa_constant_grads(stats[2:], dstats[2:], x.shape[2] * x.shape[3])
        k0.copy_(const0), k1.copy_(const1)
        gx = coordinate_input_grad(t, grad, bg_h, g_w, dstats[0], dstats[1], per_channel)
        return sa_input_grad(gx, x, (sgate_c, a, b), sa_work, stats[2:], dstats[2:], scale, self.sa.groups,
                             fresh=False)
