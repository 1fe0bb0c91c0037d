"""Pink (1/f) and brown (1/f^2) noise at an exact SNR."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations import functional as F
from perturbations._noise import NoiseAtSNR
from perturbations.base import register

__all__ = ["PinkNoise", "BrownNoise"]


@register
@dataclass(frozen=True)
class PinkNoise(NoiseAtSNR):
    """Pink noise (power spectral density ~ 1/f) at ``snr_db`` (``pink:snr_db=10``)."""

    name: ClassVar[str] = "pink"
    exponent: ClassVar[float] = 1.0

    def make_noise(self, n: int, sample_rate: int, params: dict) -> np.ndarray:
        """1/f**exponent noise (n,) from ``params["noise_seed"]``."""
        return F.colored_noise(n, np.random.default_rng(params["noise_seed"]), self.exponent)


@register
@dataclass(frozen=True)
class BrownNoise(PinkNoise):
    """Brown noise (power spectral density ~ 1/f^2) at ``snr_db`` (``brown:snr_db=10``)."""

    name: ClassVar[str] = "brown"
    exponent: ClassVar[float] = 2.0
