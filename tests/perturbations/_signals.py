"""Synthetic test signals (tests build their own audio; no corpus copies in the repo)."""

from __future__ import annotations

import numpy as np


def speechlike(rng: np.random.Generator, seconds: float = 1.0, sample_rate: int = 16000
               ) -> np.ndarray:
    """Harmonic tone with a syllable-rate envelope, short silences and a little noise; (time,) float32."""
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    f0 = rng.uniform(90, 250)
    x = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * rng.uniform(2, 5) * t), 0, None) ** 0.5
    x = x * envelope + 0.01 * rng.standard_normal(n)
    x *= rng.uniform(0.05, 0.5) / np.max(np.abs(x))
    return x.astype(np.float32)


def band_energy(x: np.ndarray, sample_rate: int, lo: float, hi: float) -> float:
    """Energy of x (time,) between lo and hi Hz."""
    spec = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1.0 / sample_rate)
    return float(spec[(freqs >= lo) & (freqs < hi)].sum())


def xcorr_lag(a: np.ndarray, b: np.ndarray, max_lag: int) -> int:
    """Lag (samples, b relative to a) of the cross-correlation peak within +-max_lag."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    lags = range(-max_lag, max_lag + 1)
    scores = [np.dot(a[max(0, -k): a.size - max(0, k)], b[max(0, k): b.size - max(0, -k)])
              for k in lags]
    return list(lags)[int(np.argmax(scores))]
