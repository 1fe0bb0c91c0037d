"""Shape-preserving attention blocks, ``(B, C, H, W) -> (B, C, H, W)``, by kind name."""

from __future__ import annotations

from torch import nn

from model.attention.ca import CoordinateAttention
from model.attention.cbam import CBAM
from model.attention.eca import EfficientChannelAttention
from model.attention.ica import ImprovedCoordinateAttention
from model.attention.icasa import ICASA
from model.attention.sa import ShuffleAttention
from model.attention.se import SqueezeExcitation
from model.errors import ModelError

__all__ = [
    "ATTENTION_KINDS",
    "build_attention",
    "CoordinateAttention",
    "ImprovedCoordinateAttention",
    "ShuffleAttention",
    "ICASA",
    "SqueezeExcitation",
    "EfficientChannelAttention",
    "CBAM",
]

# The kinds the paper's Tables 10-12 compare; "none" is the plain MACNN.
ATTENTION_KINDS = ("none", "sa", "ica", "icasa", "ca", "se", "eca", "cbam")


def build_attention(kind: str, channels: int, *, sa_groups: int = 4, ca_reduction: int = 32) -> nn.Module:
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
    raise ModelError(f"unknown attention kind {kind!r}; choose one of {', '.join(ATTENTION_KINDS)}")
