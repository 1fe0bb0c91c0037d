"""Decay times of a measured impulse response (ISO 3382-1): EDT, T20 and T30.

A recorded impulse response ends in a noise floor, which a plain backward integration from the
last sample would fold into the decay (too long a T30). As ISO 3382-1 (5.3.3) allows, the
integration is truncated where the decay meets the noise (Lundeby et al. 1995, one pass):

1. the squared response from the direct path on is averaged in 10 ms blocks;
2. the noise power is the mean of the last 10 % of the response;
3. a line fitted to the block levels from the peak down to 10 dB above the noise gives the decay
   rate; the truncation point is where that line meets the noise level;
4. the energy decay curve is the backward sum of h^2 minus the noise power up to the truncation
   point (Chu's subtraction), plus the energy of the fitted exponential beyond it (Lundeby's
   compensation);
5. EDT (0 to -10 dB), T20 (-5 to -25 dB) and T30 (-5 to -35 dB) are least-squares lines on that
   curve, extrapolated to 60 dB. A range whose bottom is not 10 dB above the noise floor (peak
   block to noise: 20, 35, 45 dB), or that the curve does not reach, gives ``None``.

A response without a noise floor (synthetic) is integrated over its whole length.
"""

from __future__ import annotations

import numpy as np

from perturbations._rt60 import FIT_RANGES_DB, fit_decay
from perturbations.errors import PerturbationError

__all__ = ["decay_times", "BLOCK_S", "NOISE_TAIL"]

BLOCK_S = 0.01
NOISE_TAIL = 0.1


def _truncation(h2: np.ndarray, sample_rate: int) -> tuple[int, float, float, float]:
    """(truncation index, noise power per sample, tail energy beyond it, decay range in dB
    from the peak block down to the noise) for h2 (taps,); no floor: range inf."""
    n = h2.size
    tail = h2[int(n * (1 - NOISE_TAIL)):]
    noise = float(tail.mean()) if tail.size else 0.0
    block = max(1, int(round(BLOCK_S * sample_rate)))
    n_blocks = n // block
    if noise <= 0 or n_blocks < 4:
        return n, 0.0, 0.0, float("inf")
    levels = 10 * np.log10(np.maximum(h2[: n_blocks * block].reshape(n_blocks, block).mean(axis=1),
                                      1e-300))
    noise_db = 10 * np.log10(noise)
    peak = int(np.argmax(levels))
    span = float(levels[peak] - noise_db)
    above = np.flatnonzero(levels[peak:] > noise_db + 10.0) + peak
    if above.size < 2:  # no usable decay above the noise
        return n, noise, 0.0, span
    t = (above + 0.5) * block
    slope, intercept = np.polyfit(t, levels[above], 1)  # dB per sample, negative
    if not slope < 0:
        return n, noise, 0.0, span
    cross = int(np.clip((noise_db - intercept) / slope, above[-1] * block, n))
    # energy of the fitted exponential beyond the crossing: P(cross) / k, k = -slope ln(10)/10
    k = -slope * np.log(10) / 10
    p_cross = 10 ** ((intercept + slope * cross) / 10)
    return cross, noise, float(p_cross / k), span


def decay_times(ir: np.ndarray, sample_rate: int) -> dict[str, float | None]:
    """ISO 3382-1 decay times of an impulse response (taps,) starting at its direct path.

    Returns ``{"edt_s", "t20_s", "t30_s", "truncation_s", "noise_floor_db"}``; a decay time
    the response does not reach is ``None``; ``noise_floor_db`` is relative to the peak tap
    power (``None`` without a floor).
    """
    h = np.asarray(ir, dtype=np.float64)
    h2 = h * h
    if not h2.sum() > 0:
        raise PerturbationError("decay times: the impulse response is all zeros")
    cut, noise, extra, span = _truncation(h2, sample_rate)
    # noise subtracted inside the window too (Chu): its energy would slow the late decay
    energy = np.cumsum((h2[:cut] - noise)[::-1])[::-1] + extra
    if not energy[0] > 0:
        raise PerturbationError("decay times: the impulse response is buried in its noise floor")
    energy = np.maximum(energy, energy[0] * 1e-30)
    with np.errstate(divide="ignore"):
        curve = 10.0 * np.log10(energy / energy[0])
    out: dict[str, float | None] = {}
    for method in ("EDT", "T20", "T30"):
        # ISO 3382-1: the bottom of the range must lie 10 dB above the noise floor
        if span < -FIT_RANGES_DB[method][1] + 10.0:
            out[f"{method.lower()}_s"] = None
            continue
        try:
            out[f"{method.lower()}_s"] = fit_decay(curve, sample_rate, method)
        except PerturbationError:
            out[f"{method.lower()}_s"] = None
    out["truncation_s"] = cut / sample_rate
    out["noise_floor_db"] = (float(10 * np.log10(noise / h2.max())) if noise > 0 else None)
    return out
