"""Hard clipping of the loudest samples (an overdriven microphone or ADC)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations.base import Perturbation, check_waveform, register
from perturbations.errors import PerturbationError

__all__ = ["Clipping"]


@register
@dataclass(frozen=True)
class Clipping(Perturbation):
    """Clip at the amplitude that ``clipped_pct`` percent of samples exceed (``clipping:clipped_pct=5``).

    The threshold is the (100 - clipped_pct) percentile of |x|, so the strength does not depend
    on the recording level. Records the measured ``clipped_fraction``.

    Parameters
    ----------
    clipped_pct : float
        Percentage of samples clipped, in (0, 50].
    """

    name: ClassVar[str] = "clipping"
    clipped_pct: float

    def _validate(self) -> None:
        if not 0.0 < self.clipped_pct <= 50.0:
            raise PerturbationError(f"clipping:clipped_pct={self.clipped_pct} is outside (0, 50]")

    def apply(self, waveform: np.ndarray, sample_rate: int, params: dict) -> np.ndarray:
        """waveform (time,) -> clipped waveform (time,), same dtype."""
        x = check_waveform(waveform, self.name)
        threshold = np.percentile(np.abs(x), 100.0 - params["clipped_pct"])
        return np.clip(x, -threshold, threshold).astype(x.dtype, copy=False)

    def measure(self, before: np.ndarray, after: np.ndarray, sample_rate: int,
                params: dict) -> dict:
        """``clipped_fraction``: share of samples changed by the clipping."""
        return {"clipped_fraction": float(np.mean(before != after))}
