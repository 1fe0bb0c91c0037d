"""Measured size and cost of a network: parameters, MACs, batch-1 latency."""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["PAPER_TABLE20", "count_parameters", "count_macs", "measure_latency"]

# The paper's Table 20 (parameters in millions, GMACs). Shape-preserving attention on the
# public MACNN adds only a few thousand parameters, so these cannot be reached by what the
# spec describes; they are shown for comparison, never used as targets.
PAPER_TABLE20 = {"params_m": (2.45, 2.08, 2.15), "gmacs": (0.71, 0.82)}


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_macs(model: nn.Module, input_shape: tuple[int, ...] = (1, 1, 39, 200)) -> int:
    """Multiply-accumulates of one forward pass on ``input_shape``.

    Uses ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products; MACs
    = FLOPs / 2). Elementwise work (BatchNorm, activations, gates, softmax, Q*K) is not counted.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(input_shape, device=device))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


@torch.no_grad()
def measure_latency(
    model: nn.Module, input_shape: tuple[int, ...] = (1, 1, 39, 200), *, warmup: int = 10, runs: int = 50
) -> float:
    """Median seconds of one eval-mode forward pass after ``warmup`` untimed passes."""
    device = next(model.parameters()).device
    model.eval()
    x = torch.randn(input_shape, generator=torch.Generator().manual_seed(0)).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        model(x)
    sync()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        model(x)
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
