"""Speed change by resampling (tempo and pitch together, like a tape played fast or slow)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations import functional as F
from perturbations.base import Perturbation, check_waveform, register
from perturbations.errors import PerturbationError

__all__ = ["Speed"]


@register
@dataclass(frozen=True)
class Speed(Perturbation):
    """Play ``factor`` times faster (``speed:factor=1.1``), then restore the input length.

    Faster speech ends early and is zero-padded at the end; slower speech is cut at the input
    length (the contract keeps lengths so items stay aligned with their labels and batches).

    Parameters
    ----------
    factor : float
        In [0.5, 2.0], used to 0.01 (the resampling ratio is ``round(100 * factor) : 100``).
    """

    name: ClassVar[str] = "speed"
    factor: float

    def _validate(self) -> None:
        if not 0.5 <= self.factor <= 2.0:
            raise PerturbationError(f"speed:factor={self.factor} is outside [0.5, 2.0]")

    def apply(self, waveform: np.ndarray, sample_rate: int, params: dict) -> np.ndarray:
        """waveform (time,) -> sped-up or slowed waveform (time,), same dtype."""
        x = check_waveform(waveform, self.name)
        # Treat x as sampled at sr * factor and resample to sr: duration / factor, pitch * factor.
        y = F.resample(x, int(round(100 * params["factor"])), 100)
        return F.fit_length(y, x.size).astype(x.dtype, copy=False)
