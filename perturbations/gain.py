"""A fixed gain in dB (level robustness: a model should not care how loud the speaker is)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations.base import Perturbation, check_waveform, register
from perturbations.errors import PerturbationError

__all__ = ["Gain"]


@register
@dataclass(frozen=True)
class Gain(Perturbation):
    """Multiply by ``10 ** (gain_db / 20)`` (``gain:gain_db=-12``); no clipping is applied.

    Parameters
    ----------
    gain_db : float
        In [-60, 40] dB.
    """

    name: ClassVar[str] = "gain"
    gain_db: float

    def _validate(self) -> None:
        if not -60.0 <= self.gain_db <= 40.0:
            raise PerturbationError(f"gain:gain_db={self.gain_db} is outside [-60, 40] dB")

    def apply(self, waveform: np.ndarray, sample_rate: int, params: dict) -> np.ndarray:
        """waveform (time,) -> scaled waveform (time,), same dtype."""
        x = check_waveform(waveform, self.name)
        return (x * np.float64(10 ** (params["gain_db"] / 20))).astype(x.dtype, copy=False)
