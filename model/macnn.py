"""MACNN (Xu et al., 2020): multi-branch CNN with attention head fusion, plus the
attention blocks of AAM-ICASA-MACNN after Conv2..Conv5. Shapes are for a (B, 1, 39, 200) input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from model.attention import ATTENTION_KINDS, ICASA, build_attention
from model.errors import ModelError

__all__ = ["MACNNConfig", "MACNN", "HeadFusionAttention", "MaxPool2x2"]


@dataclass(frozen=True)
class MACNNConfig:
    """MACNN settings.

    attention : one of ``ATTENTION_KINDS``; a block after each of Conv2..Conv5.
    dropout : dropout before the classifier (0 = none, the paper's MACNN).
    fusion : False = the plain head fusion (concat heads on height, ReLU, pool); True = the
        spec's option (softmax-weighted heads, 1x1 conv back to 80 channels, residual add,
        LayerNorm over channels, pool).
    """

    num_classes: int = 4
    n_heads: int = 4
    hidden: int = 64
    attention: str = "none"
    fusion: bool = False
    sa_groups: int = 4
    ca_reduction: int = 32
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.attention not in ATTENTION_KINDS:
            raise ModelError(f"attention={self.attention!r}: choose one of {', '.join(ATTENTION_KINDS)}")
        for name in ("num_classes", "n_heads", "hidden", "sa_groups", "ca_reduction"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ModelError(f"{name}={value!r}: must be a positive integer")
        if self.num_classes < 2:
            raise ModelError(f"num_classes={self.num_classes}: need at least 2 classes")
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ModelError(f"dropout={self.dropout!r}: must lie in [0, 1)")

    def to_dict(self) -> dict:
        d = asdict(self)
        if not self.dropout:  # added later: configs without it read as before
            del d["dropout"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> MACNNConfig:
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ModelError(f"model config: unknown key(s) {unknown}")
        return cls(**d)


def _conv_bn_relu(c_in: int, c_out: int, kernel, padding) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=padding), nn.BatchNorm2d(c_out), nn.ReLU())


class MaxPool2x2(nn.MaxPool2d):
    """``nn.MaxPool2d(2)`` whose forward without autograd (prediction, AAM's difficulty pass)
    takes the larger of each pair of rows, then of each pair of columns (``torch.maximum`` on
    strided views, an odd last row or column dropped as the pool drops it), on the CPU and with
    the pool's own settings only. Max-pooling picks values, so the output is ATen's pool bit for
    bit (tested) but for two things no later layer can tell apart: a window holding a NaN gives
    a NaN, not necessarily of the same bits, and where +0 and -0 tie the other zero may come
    out. ``benchmarks/maxpool.py``, 1 thread, AVX512-BF16 EPYC, at the audit's batch of 32
    segments: the Conv2 map's pool 5.6 ms against 20.3 ms for ATen's channels-last kernel with
    its layout copies (the fast path before) and 40.4 ms NCHW; a whole no-grad ``macnn_icasa``
    forward 174 against 186 and 220 ms (AVX2 kernels: 243, 254, 288 ms); at batch 64, 345
    against 378 and 437 ms. With autograd the NCHW kernel stays (its gradient's tie rule)."""

    def __init__(self) -> None:
        super().__init__(2)

    def _plain(self) -> bool:
        """Still a 2x2 pool of stride 2 (its settings are attributes anyone may change)."""
        return (self.kernel_size in (2, (2, 2)) and self.stride in (2, (2, 2)) and self.padding in (0, (0, 0))
                and self.dilation in (1, (1, 1)) and not self.ceil_mode and not self.return_indices)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or torch.jit.is_tracing() or torch.jit.is_scripting() \
                or torch.onnx.is_in_onnx_export() or x.dim() != 4 or min(x.shape[-2:]) < 2 \
                or x.device.type != "cpu" or not self._plain():
            return super().forward(x)
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
        rows = torch.maximum(x[..., 0:h:2, :w], x[..., 1:h:2, :w])
        return torch.maximum(rows[..., 0::2], rows[..., 1::2])


class HeadFusionAttention(nn.Module):
    """Per head: 1x1 convs give Q, K, V; ``A = softmax(Q * K)`` over channels; ``O = A * V``.

    ``x: (B, C, H, W)`` -> per-head outputs ``(n_heads, B, hidden, H, W)``. The product is
    elementwise (not dot-product attention across positions), as in the MACNN reference.
    """

    def __init__(self, channels: int, n_heads: int, hidden: int) -> None:
        super().__init__()
        self.q = nn.ModuleList(nn.Conv2d(channels, hidden, 1) for _ in range(n_heads))
        self.k = nn.ModuleList(nn.Conv2d(channels, hidden, 1) for _ in range(n_heads))
        self.v = nn.ModuleList(nn.Conv2d(channels, hidden, 1) for _ in range(n_heads))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        heads = []
        for q, k, v in zip(self.q, self.k, self.v):
            a = torch.softmax((q(x) * k(x)).float(), dim=1)  # (B, hidden, H, W) over channels, float32
            heads.append(a * v(x))
        return torch.stack(heads)  # (n_heads, B, hidden, H, W)


class MACNN(nn.Module):
    """``(B, 1, 39, 200)`` MFCC segments -> ``(B, num_classes)`` logits."""

    def __init__(self, config: MACNNConfig) -> None:
        super().__init__()
        self.config = c = config
        self.conv1a = _conv_bn_relu(1, 8, (10, 2), (4, 0))
        self.conv1b = _conv_bn_relu(1, 8, (2, 8), (0, 3))
        self.conv2 = _conv_bn_relu(16, 32, 3, 1)
        self.conv3 = _conv_bn_relu(32, 48, 3, 1)
        self.conv4 = _conv_bn_relu(48, 64, 3, 1)
        self.conv5 = _conv_bn_relu(64, 80, 3, 1)
        att = dict(sa_groups=c.sa_groups, ca_reduction=c.ca_reduction)
        self.att2 = build_attention(c.attention, 32, **att)
        self.att3 = build_attention(c.attention, 48, **att)
        self.att4 = build_attention(c.attention, 64, **att)
        self.att5 = build_attention(c.attention, 80, **att)
        self.pool = MaxPool2x2()
        self.heads = HeadFusionAttention(80, c.n_heads, c.hidden)
        if c.fusion:
            self.head_logits = nn.Parameter(torch.zeros(c.n_heads))  # softmax -> equal weights
            self.fuse = nn.Conv2d(c.hidden, 80, 1)
            self.norm = nn.LayerNorm(80)
            self.fc = nn.Linear(80, c.num_classes)
        else:
            self.fc = nn.Linear(c.hidden, c.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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
        pooled = z.mean(dim=(2, 3))  # (B, channels)
        if self.config.dropout:
            pooled = nn.functional.dropout(pooled, self.config.dropout, self.training)
        return self.fc(pooled)  # (B, num_classes)

    def betas(self) -> dict[str, float]:
        """Current ``beta`` of each ICASA module, keyed ``beta_att2`` .. ``beta_att5``."""
        return {
            f"beta_{name}": float(m.beta.detach())
            for name, m in self.named_children()
            if isinstance(m, ICASA)
        }
