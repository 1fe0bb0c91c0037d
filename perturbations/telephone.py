"""A narrowband telephone channel: 8 kHz round trip, 300-3400 Hz band, optional G.711 mu-law."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import signal as sps

from perturbations import functional as F
from perturbations.base import Perturbation, check_waveform, register
from perturbations.errors import PerturbationError

__all__ = ["Telephone"]

PHONE_RATE = 8000


@register
@dataclass(frozen=True)
class Telephone(Perturbation):
    """Resample to 8 kHz, band-pass, mu-law quantise (8 bit), resample back (``telephone``).

    The band-pass is a 4th-order Butterworth applied forward and backward (zero phase), so the
    output stays aligned with the input; the length is kept.

    Parameters
    ----------
    low_hz, high_hz : float
        Pass band, default 300-3400 Hz (ITU-T narrowband), 0 < low < high < 4000.
    mulaw : bool
        Apply G.711 mu-law 8-bit companding (default true).
    """

    name: ClassVar[str] = "telephone"
    low_hz: float = 300.0
    high_hz: float = 3400.0
    mulaw: bool = True

    def _validate(self) -> None:
        if not 0.0 < self.low_hz < self.high_hz < PHONE_RATE / 2:
            raise PerturbationError(f"telephone:low_hz={self.low_hz},high_hz={self.high_hz} must "
                                    f"satisfy 0 < low_hz < high_hz < {PHONE_RATE // 2}")

    def apply(self, waveform: np.ndarray, sample_rate: int, params: dict) -> np.ndarray:
        """waveform (time,) -> narrowband waveform (time,), same dtype."""
        x = check_waveform(waveform, self.name)
        y = F.resample(x, sample_rate, PHONE_RATE).astype(np.float64)
        sos = sps.butter(4, [params["low_hz"], params["high_hz"]], btype="bandpass", output="sos",
                         fs=PHONE_RATE)
        y = sps.sosfiltfilt(sos, y) if y.size > 27 else y
        if params["mulaw"]:
            y = _mulaw_roundtrip(y)
        y = F.fit_length(F.resample(y, PHONE_RATE, sample_rate), x.size)
        return y.astype(x.dtype, copy=False)


def _mulaw_roundtrip(y: np.ndarray, mu: int = 255) -> np.ndarray:
    """G.711-style mu-law companding with 8-bit codes; signals beyond +-1 are clipped first."""
    y = np.clip(y, -1.0, 1.0)
    compressed = np.sign(y) * np.log1p(mu * np.abs(y)) / np.log1p(mu)
    codes = np.round((compressed + 1) / 2 * mu)  # 0..255
    expanded = codes / mu * 2 - 1
    return np.sign(expanded) * np.expm1(np.abs(expanded) * np.log1p(mu)) / mu
