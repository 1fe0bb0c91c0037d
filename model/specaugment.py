"""SpecAugment (Park et al., 2019) on network input segments: frequency and time masks.

Masks are drawn per segment from ``(seed, epoch, segment)``, so a segment's masks do not
depend on the batch it lands in, the shuffle or the batch size; ``mask_plan`` draws them
for a whole epoch at once and ``apply_masks`` applies a batch's share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from model._seed import numpy_rng

__all__ = ["MaskPlan", "mask_plan", "apply_masks"]


@dataclass(frozen=True)
class MaskPlan:
    """Per segment ``i``: ``freq[i, m] = (start, width)`` in feature rows and ``time[i, m] =
    (start, width)`` in frames; width 0 = no mask. Arrays ``(N, masks, 2)`` int64."""

    freq: np.ndarray
    time: np.ndarray


def _draw(rng: np.random.Generator, n_masks: int, max_width: int, size: int) -> np.ndarray:
    out = np.zeros((n_masks, 2), dtype=np.int64)
    width_cap = min(max_width, size)
    for m in range(n_masks):
        width = int(rng.integers(0, width_cap + 1)) if width_cap > 0 else 0
        start = int(rng.integers(0, size - width + 1))
        out[m] = (start, width)
    return out


def mask_plan(seed: int, epoch: int, n_segments: int, rows: int, frames: int, *, freq_width: int,
              freq_masks: int, time_width: int, time_masks: int) -> MaskPlan:
    """Masks for segments ``0 .. n_segments - 1`` of ``epoch``: each segment draws from its
    own generator ``(seed, "specaug", epoch, segment)`` ``freq_masks`` widths uniform in
    ``0 .. freq_width`` (rows) then ``time_masks`` widths in ``0 .. time_width`` (frames), each
    with a uniform start that keeps the mask inside the segment."""
    freq = np.zeros((n_segments, freq_masks, 2), dtype=np.int64)
    time = np.zeros((n_segments, time_masks, 2), dtype=np.int64)
    for i in range(n_segments):
        rng = numpy_rng(seed, "specaug", epoch, i)
        freq[i] = _draw(rng, freq_masks, freq_width, rows)
        time[i] = _draw(rng, time_masks, time_width, frames)
    return MaskPlan(freq, time)


def _band(spans: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """``spans: (B, masks, 2)`` -> ``(B, size)`` bool, True inside any mask."""
    pos = torch.arange(size, device=device)[None, None, :]  # (1, 1, size)
    s = torch.as_tensor(spans, device=device)
    start, width = s[..., 0:1], s[..., 1:2]  # (B, masks, 1)
    return ((pos >= start) & (pos < start + width)).any(dim=1)


def apply_masks(x: torch.Tensor, plan: MaskPlan, index: np.ndarray) -> torch.Tensor:
    """``x: (B, 1, rows, frames)`` with segment ids ``index: (B,)`` -> masked copy (value 0,
    the mean of standardised features)."""
    _, _, rows, frames = x.shape
    keep_f = ~_band(plan.freq[index], rows, x.device)  # (B, rows)
    keep_t = ~_band(plan.time[index], frames, x.device)  # (B, frames)
    keep = keep_f[:, None, :, None] & keep_t[:, None, None, :]  # (B, 1, rows, frames)
    return x * keep.to(x.dtype)
