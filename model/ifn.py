"""IFN (Zhang et al., 2025, after its abstract; docs/model.md says which parts are ours):
per-stream feature mapping, dual temporal/spectral attention, iterative feature refinement,
adaptive stream weighting and multiplicative fusion.

Input: the streams stacked on the feature axis, ``(B, 1, sum(stream_dims), T)`` (T = 200), as
``model.streams.StreamExtractor`` and the segmenter produce them. Shapes below are for the
default ``ifn`` (mfcc 39 + spectral 69 + prosodic 6 = 114 rows), d = 64, h = 128.

Each stream is "collapsed" (spec step 1, second form): a 1x1 conv maps its F_s coefficients to
d channels, so the mapped map is ``(B, d, T)`` and its channel axis carries the stream's
spectral content. The spectral gate therefore runs over those d channels, the temporal gate
over T; a 2-D ``(B, d, F_s, T)`` map would cost ~0.3 GMACs per stream, slower than MACNN.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from model.errors import ModelError

__all__ = ["IFNConfig", "IFN", "DualAttention", "RefinementBlock", "StreamEncoder", "FUSIONS"]

FUSIONS = ("multiplicative", "additive", "concat")
_KNOWN_STREAMS = ("mfcc", "spectral", "prosodic", "ssl")


@dataclass(frozen=True)
class IFNConfig:
    """IFN settings (ifn-spec defaults).

    streams, stream_dims : the input streams in stacking order and their rows (the trainer
        sets ``stream_dims`` from the feature config; ssl's is the encoder's hidden size).
    d, h : mapped channels per stream, embedding size.
    refine_blocks, refine_shared : R residual refinement blocks; shared = one block applied R
        times (the "iterative" reading).
    se_reduction : channel reduction inside the refinement's squeeze-excitation gate.
    weight_hidden : hidden width of the stream-weighting MLP.
    fusion : ``multiplicative`` (default), ``additive`` or ``concat`` (the ablations).
    (se_reduction 8 and weight_hidden 32 keep ``ifn_ssl`` with a 768-wide encoder under 0.5 M
    parameters.)
    """

    num_classes: int = 4
    streams: tuple[str, ...] = ("mfcc", "spectral", "prosodic")
    stream_dims: tuple[int, ...] = (39, 69, 6)
    d: int = 64
    h: int = 128
    temporal_kernel: int = 5
    spectral_kernel: int = 3
    refine_blocks: int = 2
    refine_shared: bool = False
    se_reduction: int = 8
    weight_hidden: int = 32
    fusion: str = "multiplicative"
    dropout: float = 0.3

    def __post_init__(self) -> None:
        for name in ("streams", "stream_dims"):  # JSON lists -> hashable tuples
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.streams or len(set(self.streams)) != len(self.streams) \
                or any(s not in _KNOWN_STREAMS for s in self.streams):
            raise ModelError(f"streams={list(self.streams)}: distinct names from {', '.join(_KNOWN_STREAMS)}")
        if len(self.stream_dims) != len(self.streams):
            raise ModelError(f"stream_dims={list(self.stream_dims)}: one per stream {list(self.streams)}")
        values = {name: getattr(self, name) for name in
                  ("num_classes", "d", "h", "temporal_kernel", "spectral_kernel", "se_reduction",
                   "weight_hidden")}
        values.update({f"stream_dims[{i}]": v for i, v in enumerate(self.stream_dims)})
        for name, value in values.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ModelError(f"{name}={value!r}: must be a positive integer")
        if self.temporal_kernel % 2 == 0 or self.spectral_kernel % 2 == 0:
            raise ModelError(f"temporal_kernel={self.temporal_kernel}, spectral_kernel="
                             f"{self.spectral_kernel}: must be odd (shape-preserving gates)")
        if not isinstance(self.refine_blocks, int) or self.refine_blocks < 0:
            raise ModelError(f"refine_blocks={self.refine_blocks!r}: must be an integer >= 0")
        if self.fusion not in FUSIONS:
            raise ModelError(f"fusion={self.fusion!r}: choose one of {', '.join(FUSIONS)}")
        if not 0 <= self.dropout < 1:
            raise ModelError(f"dropout={self.dropout}: must lie in [0, 1)")
        if self.num_classes < 2:
            raise ModelError(f"num_classes={self.num_classes}: need at least 2 classes")

    @property
    def n_features(self) -> int:
        """Rows of the stacked input (114 for the default streams)."""
        return sum(self.stream_dims)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["streams"], d["stream_dims"] = list(self.streams), list(self.stream_dims)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> IFNConfig:
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ModelError(f"model config: unknown key(s) {unknown}")
        return cls(**d)


def _conv_bn(c_in: int, c_out: int, kernel: int) -> list[nn.Module]:
    return [nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2, bias=False), nn.BatchNorm1d(c_out)]


class DualAttention(nn.Module):
    """Temporal and spectral gates on ``x: (B, d, T)``, then a conv block; shape-preserving.

    Temporal: mean over channels -> (B, 1, T), conv k=5 over T, sigmoid -> g_t (B, 1, T).
    Spectral: mean over time -> (B, 1, d), conv k=3 over channels, sigmoid -> g_f (B, d, 1).
    Output: ConvBNReLU(x * g_t * g_f).
    """

    def __init__(self, d: int, temporal_kernel: int = 5, spectral_kernel: int = 3) -> None:
        super().__init__()
        self.temporal = nn.Conv1d(1, 1, temporal_kernel, padding=temporal_kernel // 2)
        self.spectral = nn.Conv1d(1, 1, spectral_kernel, padding=spectral_kernel // 2)
        self.block = nn.Sequential(*_conv_bn(d, d, 3), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g_t = torch.sigmoid(self.temporal(x.mean(dim=1, keepdim=True)))  # (B, 1, T)
        g_f = torch.sigmoid(self.spectral(x.mean(dim=2)[:, None])).transpose(1, 2)  # (B, d, 1)
        return self.block(x * g_t * g_f)  # (B, d, T)


class RefinementBlock(nn.Module):
    """``y = x + ConvBNReLUConvBN(x) * sigmoid(SE(x))`` on ``(B, d, T)``: a squeeze-excitation
    gate computed from the input decides, per channel, how much of the correction passes."""

    def __init__(self, d: int, se_reduction: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(*_conv_bn(d, d, 3), nn.ReLU(), *_conv_bn(d, d, 3))
        hidden = max(1, d // se_reduction)
        self.se = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.se(x.mean(dim=2)))[:, :, None]  # (B, d, 1)
        return x + self.body(x) * gate  # (B, d, T)


class StreamEncoder(nn.Module):
    """One stream ``(B, F_s, T)`` -> embedding ``(B, h)``: map, dual attention, refinement,
    mean + std pooling over time, linear."""

    def __init__(self, n_features: int, c: IFNConfig) -> None:
        super().__init__()
        self.mapping = nn.Sequential(*_conv_bn(n_features, c.d, 1), nn.ReLU())
        self.attention = DualAttention(c.d, c.temporal_kernel, c.spectral_kernel)
        n_blocks = min(1, c.refine_blocks) if c.refine_shared else c.refine_blocks
        self.refine = nn.ModuleList(RefinementBlock(c.d, c.se_reduction) for _ in range(n_blocks))
        self.passes = c.refine_blocks
        self.embed = nn.Linear(2 * c.d, c.h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attention(self.mapping(x))  # (B, d, T)
        for i in range(self.passes):
            x = self.refine[i % len(self.refine)](x)  # shared: the same block each pass
        pooled = torch.cat([x.mean(dim=2), x.std(dim=2, unbiased=False)], dim=1)  # (B, 2d)
        return self.embed(pooled)  # (B, h)


class IFN(nn.Module):
    """``(B, 1, sum(stream_dims), T)`` stacked streams -> ``(B, num_classes)`` logits."""

    def __init__(self, config: IFNConfig) -> None:
        super().__init__()
        self.config = c = config
        s = len(c.streams)
        self.encoders = nn.ModuleList(StreamEncoder(f, c) for f in c.stream_dims)
        # Per-sample stream weights from all embeddings (spec step 5).
        self.weighting = nn.Sequential(nn.Linear(s * c.h, c.weight_hidden), nn.ReLU(),
                                       nn.Linear(c.weight_hidden, s))
        if c.fusion == "concat":
            self.fuse = nn.Linear(s * c.h, c.h)
        else:
            self.fuse = nn.Linear(c.h, c.h)  # W_a
        if c.fusion == "multiplicative":
            self.interact = nn.ModuleList(nn.Linear(c.h, c.h) for _ in range(s))  # one map per stream
            self.interact_gate = nn.Linear(c.h, c.h)  # W_b
        self.dropout = nn.Dropout(c.dropout)
        self.fc = nn.Linear(c.h, c.num_classes)

    def stream_weights(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``embeddings: (B, S, h)`` -> softmax weights ``(B, S)``."""
        return torch.softmax(self.weighting(embeddings.flatten(1)), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        if x.shape[-2] != c.n_features:
            raise ModelError(f"IFN expects {c.n_features} feature rows ({dict(zip(c.streams, c.stream_dims))}), "
                             f"got input of shape {tuple(x.shape)}")
        parts = torch.split(x[:, 0], list(c.stream_dims), dim=1)  # each (B, F_s, T)
        e = torch.stack([enc(p) for enc, p in zip(self.encoders, parts)], dim=1)  # (B, S, h)
        we = self.stream_weights(e)[:, :, None] * e  # (B, S, h) weighted embeddings
        if c.fusion == "concat":
            z = torch.tanh(self.fuse(we.flatten(1)))  # (B, h)
        else:
            z = torch.tanh(self.fuse(we.sum(dim=1)))  # (B, h)
        if c.fusion == "multiplicative":
            prod = self.interact[0](we[:, 0])
            for i in range(1, we.shape[1]):
                prod = prod * self.interact[i](we[:, i])  # elementwise stream interaction (B, h)
            z = z * torch.sigmoid(self.interact_gate(prod))
        return self.fc(self.dropout(z))  # (B, num_classes)
