"""Frozen copy of the attention family as of commit 4d50f33 (before the rework of issue 9).

The test reference for ``model/attention``: the new modules must give the same outputs and
gradients as these, with the same state-dict keys. The module code below is verbatim; only the
imports between the former files are merged into this one file. Do not edit it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["build_reference_attention"]


# ---- model/attention/ca.py (Coordinate attention (Hou et al., 2021): direction-aware channel gates.)

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


# ---- model/attention/ica.py (Improved coordinate attention: CA with a depthwise-separable shared transform.)

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


# ---- model/attention/sa.py (Shuffle attention (Zhang & Yang, SA-Net 2021): grouped channel + spatial gates.)

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


# ---- model/attention/icasa.py (ICASA: a learnable blend of improved coordinate attention and shuffle attention.)

class ICASA(nn.Module):
    """``beta * ICA(x) + (1 - beta) * SA(x)``, ``(B, C, H, W) -> (B, C, H, W)``.

    ``beta`` is one unconstrained learnable scalar per module, initialised to 0.5; the trainer
    logs it every epoch.
    """

    def __init__(self, channels: int, reduction: int = 32, groups: int = 4, beta_init: float = 0.5) -> None:
        super().__init__()
        self.ica = ImprovedCoordinateAttention(channels, reduction)
        self.sa = ShuffleAttention(channels, groups)
        self.beta = nn.Parameter(torch.tensor(float(beta_init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.beta * self.ica(x) + (1.0 - self.beta) * self.sa(x)


# ---- model/attention/se.py (Squeeze-and-excitation (Hu et al., 2018): channel gates from global average pooling.)

class SqueezeExcitation(nn.Module):
    """SE block, ``(B, C, H, W) -> (B, C, H, W)``; bottleneck ``max(4, C // reduction)``."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))


# ---- model/attention/eca.py (Efficient channel attention (Wang et al., 2020): 1-D conv across pooled channels.)

def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """The paper's adaptive odd kernel size ``|log2(C) / gamma + b / gamma|_odd``."""
    k = int(abs(math.log2(channels) / gamma + b / gamma))
    return k if k % 2 else k + 1


class EfficientChannelAttention(nn.Module):
    """ECA block, ``(B, C, H, W) -> (B, C, H, W)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        k = eca_kernel_size(channels)
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3))[:, None, :]  # (B, 1, C)
        g = torch.sigmoid(self.conv(s))[:, 0, :, None, None]  # (B, C, 1, 1)
        return x * g


# ---- model/attention/cbam.py (CBAM (Woo et al., 2018): channel gate from avg+max pooling, then a 7x7 spatial gate.)

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


ATTENTION_KINDS = ("none", "sa", "ica", "icasa", "ca", "se", "eca", "cbam")


def build_reference_attention(kind: str, channels: int, *, sa_groups: int = 4, ca_reduction: int = 32) -> nn.Module:
    """The attention block ``kind`` for ``channels`` channels (``nn.Identity`` for ``none``)."""
    if kind == "none":
        return nn.Identity()
    if kind == "ca":
        return CoordinateAttention(channels, ca_reduction)
    if kind == "ica":
        return ImprovedCoordinateAttention(channels, ca_reduction)
    if kind == "sa":
        return ShuffleAttention(channels, sa_groups)
    if kind == "icasa":
        return ICASA(channels, ca_reduction, sa_groups)
    if kind == "se":
        return SqueezeExcitation(channels)
    if kind == "eca":
        return EfficientChannelAttention(channels)
    if kind == "cbam":
        return CBAM(channels)
    raise ValueError(f"unknown attention kind {kind!r}; choose one of {', '.join(ATTENTION_KINDS)}")


# ---- model/macnn.py: MACNN.forward, verbatim, for the trunk-is-unchanged tests


def _reference_macnn_forward(self, x: torch.Tensor) -> torch.Tensor:
    x = torch.cat([self.conv1a(x), self.conv1b(x)], dim=1)  # (B, 16, 38, 199)
    x = self.pool(self.att2(self.conv2(x)))  # (B, 32, 19, 99)
    x = self.pool(self.att3(self.conv3(x)))  # (B, 48, 9, 49)
    x = self.att4(self.conv4(x))  # (B, 64, 9, 49)
    x = self.att5(self.conv5(x))  # (B, 80, 9, 49)
    heads = self.heads(x)  # (n_heads, B, hidden, 9, 49)
    if self.config.fusion:
        w = torch.softmax(self.head_logits, dim=0)[:, None, None, None, None]
        z = self.fuse((w * heads).sum(dim=0)) + x  # (B, 80, 9, 49), residual
        z = self.norm(z.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # LayerNorm over channels
    else:
        z = torch.relu(torch.cat(list(heads), dim=2))  # (B, hidden, 9 * n_heads, 49)
    return self.fc(z.mean(dim=(2, 3)))  # (B, num_classes)


def reference_model(net: nn.Module) -> nn.Module:
    """A copy of the MACNN ``net`` whose attention blocks are the frozen ones above and whose
    forward is the frozen one; same weights (the state dicts must load strictly)."""
    import copy
    import types

    ref = copy.deepcopy(net)
    c = net.config
    for name, channels in (("att2", 32), ("att3", 48), ("att4", 64), ("att5", 80)):
        block = build_reference_attention(c.attention, channels, sa_groups=c.sa_groups, ca_reduction=c.ca_reduction)
        block.load_state_dict(getattr(net, name).state_dict(), strict=True)
        block.train(net.training)
        setattr(ref, name, block)
    ref.forward = types.MethodType(_reference_macnn_forward, ref)
    return ref
